/*
 * tsd.h: a thread's binding.  Its state lives in hm_tsd (tls.h); this
 * module binds it to an arena and a cache on first use, and a pthread key
 * whose destructor runs at thread exit releases the binding.
 *
 * States: UNINIT (zero TLS, first call) -> NOMINAL; NOMINAL -> DEAD at
 * thread exit, which flushes the thread cache and returns it to a pool.  A thread that allocates or frees after its destructor ran
 * (later key destructors, C++ thread_local, atexit) still has its arena:
 * nothing per thread is ever torn down that such a call would need.
 */
#ifndef HM_TSD_H
#define HM_TSD_H

#include <stdint.h>

#include "arena.h"
#include "tls.h"
#include "util.h"


bool hm_tsd_boot(void);

/* The calling thread's arena, binding one on first use.  The allocator
 * is initialised: entry points reach this through thread_arena()
 * (init.h), which makes sure of it. */
arena_t *hm_tsd_arena_slow(void);

static HM_ALWAYS_INLINE arena_t *
tsd_arena(void) {
	if (likely(hm_tsd.state == TSD_NOMINAL))
		return hm_tsd.arena;
	return hm_tsd_arena_slow();
}

/* Rebinds the calling thread to arena (thread.arena). */
void hm_tsd_set_arena(arena_t *arena);

/* percpu_arena: rebinds the thread to its current CPU's arena; called
 * from slow paths (cache fills, uncached allocations). */
void hm_tsd_percpu_update(void);

/* thread.tcache.enabled: turns the calling thread's cache on or off (off
 * flushes it); returns the old setting. */
bool hm_tsd_tcache_enable(bool enable);

#endif /* HM_TSD_H */
