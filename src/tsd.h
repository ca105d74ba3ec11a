/*
 * tsd.h: thread-specific data.  Each thread has a few words of
 * initial-exec TLS (so that a library dlopen()ed later still finds room in
 * the static TLS block) holding its state and its arena.  A pthread key
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
#include "util.h"

typedef enum {
	TSD_UNINIT = 0,
	TSD_NOMINAL = 1,
	TSD_BINDING = 2,  /* inside the slow path (pthread_setspecific may
			     allocate and re-enter) */
	TSD_DEAD = 3,
} tsd_state_t;

struct tcache_s;

typedef struct tsd_s {
	/* The thread cache; NULL unless the thread is bound (TSD_NOMINAL)
	 * and caching, so malloc's fast path tests this alone. */
	struct tcache_s *tcache;
	arena_t *arena;
	uint8_t state;
	bool tcache_disabled;   /* thread.tcache.enabled set to false */
	/* Usable bytes this thread allocated and freed, ever
	 * (thread.allocated, thread.deallocated).  Only this thread writes
	 * them; mallctl hands out their addresses. */
	uint64_t allocated;
	uint64_t deallocated;
	/* The heap profiler (prof.h): the next sample is due when allocated
	 * passes prof_next (PROF_NEVER with profiling off; 0 before the
	 * thread is bound, which sends it to hm_prof_event once). */
	uint64_t prof_next;
	uint64_t prof_last;     /* allocated at the last event */
	uint64_t prof_prng;
	struct prof_thread_s *prof_thread; /* names and counts, or NULL */
	bool prof_inactive;     /* thread.prof.active set to false */
	bool prof_busy;         /* inside the profiler: no nested samples */
} tsd_t;

HM_EXTERN __thread tsd_t hm_tsd __attribute__((tls_model("initial-exec")));

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
