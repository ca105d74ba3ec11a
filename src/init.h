/*
 * init.h: start-up.  malloc_init() is the one entry every allocation call
 * passes through: after the first call it is a single load.  The slow path
 * (hm_init_hard) runs the start-up flow once, under the init lock:
 *
 *   1. hm_conf_init      options from malloc_conf, /etc/malloc.conf,
 *                         MALLOC_CONF, HMALLOC_CONF
 *   2. hm_base_boot      metadata allocator (mmap, never malloc)
 *   3. hm_sc_boot        size-class tables
 *   4. hm_chunk_boot     chunk map; hm_huge_boot
 *   5. hm_arena_boot     arena table and arena 0 (others on first use);
 *      hm_tcache_boot    thread-cache geometry
 *   6. hm_tsd_boot       thread-exit key; then fork handlers
 *   7. post-init callbacks, outside the lock
 *
 * A call that re-enters from the initialising thread (libc may allocate in
 * pthread_atfork) is served from arena 0 instead of deadlocking.
 */
#ifndef HM_INIT_H
#define HM_INIT_H

#include <stdatomic.h>

#include "arena.h"
#include "tsd.h"
#include "util.h"

enum { INIT_NONE = 0, INIT_RUNNING = 1, INIT_DONE = 2, INIT_FAILED = 3 };
HM_EXTERN _Atomic int hm_init_state;

/* True if the allocator can serve the call. */
bool hm_init_hard(void);

static HM_ALWAYS_INLINE bool
malloc_init(void) {
	if (likely(atomic_load_explicit(&hm_init_state, memory_order_acquire)
	    == INIT_DONE))
		return true;
	return hm_init_hard();
}

static inline bool
hm_init_is_done(void) {
	return atomic_load_explicit(&hm_init_state, memory_order_acquire)
	    == INIT_DONE;
}

/* thread_arena's slow path: initialises the allocator, then binds the
 * thread (or, inside initialisation, lends it arena 0). */
arena_t *hm_init_thread_arena(void);

/*
 * The calling thread's arena for an entry point: the allocator is
 * initialised first if it is not yet.  NULL only when it could not be.
 * Modules below this one use tsd_arena(), which assumes initialisation.
 */
static HM_ALWAYS_INLINE arena_t *
thread_arena(void) {
	if (likely(hm_tsd.state == TSD_NOMINAL))
		return hm_tsd.arena;
	return hm_init_thread_arena();
}

#endif /* HM_INIT_H */
