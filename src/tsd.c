/* tsd.c: see tsd.h. */
#include "tsd.h"

#include <pthread.h>

#include "background.h"
#include "prof.h"
#include "san.h"
#include "tcache.h"
#include "trace.h"

static pthread_key_t tsd_key;

/* The thread's cache, and the fast paths' view of it (tls.h). */
static void
tsd_tcache_set(tsd_t *tsd, struct tcache_s *tc) {
	tsd->tcache = tc;
	tsd->tcache_fast = hm_trace_on ? NULL : tc;
}

static void
tsd_cleanup(void *arg) {
	tsd_t *tsd = arg;
	if (tsd->state == TSD_NOMINAL && tsd->arena != NULL)
		atomic_fetch_sub_explicit(&tsd->arena->nthreads, 1,
		    memory_order_relaxed);
	tsd->state = TSD_DEAD;
	hm_prof_thread_exit();
	hm_san_thread_exit();
	hm_trace_thread_exit();
	/* Later calls (other destructors, atexit) take the slow paths. */
	struct tcache_s *tc = tsd->tcache;
	tsd_tcache_set(tsd, NULL);
	if (tc != NULL)
		hm_tcache_destroy(tc);
	/* glibc runs key destructors holding none of its locks: a launch
	 * point (the purging thread of a forked child starts here). */
	hm_background_thread_exiting();
}

bool
hm_tsd_boot(void) {
	return pthread_key_create(&tsd_key, tsd_cleanup) != 0;
}

arena_t *
hm_tsd_arena_slow(void) {
	tsd_t *tsd = &hm_tsd;
	switch (tsd->state) {
	case TSD_NOMINAL:
		return tsd->arena;
	case TSD_UNINIT:
		break;
	default:
		/* Binding in progress (re-entered) or thread exiting. */
		return tsd->arena != NULL ? tsd->arena : hm_arena_get(0, false);
	}
	tsd->state = TSD_BINDING;
	arena_t *arena = hm_arena_choose_new();
	tsd->arena = arena;
	/* May allocate (glibc grows its key table with calloc); the
	 * re-entrant call sees TSD_BINDING and uses tsd->arena. */
	pthread_setspecific(tsd_key, tsd);
	tsd->state = TSD_NOMINAL;
	hm_prof_thread_start();
	hm_san_thread_start();
	if (!tsd->tcache_disabled)
		tsd_tcache_set(tsd, hm_tcache_create(arena));
	return arena;
}

bool
hm_tsd_tcache_enable(bool enable) {
	tsd_t *tsd = &hm_tsd;
	bool old = !tsd->tcache_disabled;
	if (tsd_arena() == NULL || tsd->state != TSD_NOMINAL)
		return old;
	tsd->tcache_disabled = !enable;
	if (!enable && tsd->tcache != NULL) {
		struct tcache_s *tc = tsd->tcache;
		tsd_tcache_set(tsd, NULL);
		hm_tcache_destroy(tc);
	} else if (enable && tsd->tcache == NULL) {
		tsd_tcache_set(tsd, hm_tcache_create(tsd->arena));
	}
	return old;
}

void
hm_tsd_set_arena(arena_t *arena) {
	tsd_t *tsd = &hm_tsd;
	arena_t *old = tsd_arena();
	if (old == arena || old == NULL)
		return;
	atomic_fetch_add_explicit(&arena->nthreads, 1, memory_order_relaxed);
	if (tsd->state == TSD_NOMINAL)
		atomic_fetch_sub_explicit(&old->nthreads, 1,
		    memory_order_relaxed);
	tsd->arena = arena;
	if (tsd->tcache != NULL) {
		hm_tcache_stats_merge(tsd->tcache);
		tsd->tcache->arena = arena;
	}
}

void
hm_tsd_percpu_update(void) {
	if (opt_percpu_arena == PERCPU_DISABLED || hm_tsd.state != TSD_NOMINAL)
		return;
	arena_t *arena = hm_arena_percpu();
	if (arena != NULL && arena != hm_tsd.arena)
		hm_tsd_set_arena(arena);
}
