/*
 * init.c: the start-up flow (see init.h), fork handlers and post-init
 * callbacks.
 */
#include "init.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <hmalloc.h>

#include "arena.h"
#include "background.h"
#include "base.h"
#include "chunk.h"
#include "conf.h"
#include "ctl.h"
#include "huge.h"
#include "log.h"
#include "mutex.h"
#include "os.h"
#include "pages.h"
#include "prof.h"
#include "san.h"
#include "sc.h"
#include "secure.h"
#include "stats.h"
#include "tcache.h"
#include "trace.h"
#include "tsd.h"

_Atomic int hm_init_state;
static mutex_t init_lock = MUTEX_INITIALIZER(LOCK_RANK_INIT);
static _Atomic(pthread_t) init_thread;

/*
 * glibc's lock of its list of streams (exported since glibc 2.2.5; weak,
 * for other C libraries).  glibc's fork takes it after the prepare
 * handlers; a thread in fflush(NULL) holds it while it waits for a
 * stream whose lock is held by a thread in getline(), which is waiting in
 * realloc for an arena lock.  So the prepare handler takes it before any
 * lock of the allocator's, as glibc's own malloc is locked after it.
 */
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));
extern void _IO_list_resetlock(void) __attribute__((weak));

/* A program may define hmalloc_post_init(); see hmalloc.h. */
extern void HM_PUBLIC(hmalloc_post_init)(void) __attribute__((weak));

static void
init_each_arena(void (*fn)(arena_t *)) {
	for (unsigned i = 0; i < hm_narenas; i++) {
		arena_t *arena = hm_arena_get(i, false);
		if (arena != NULL)
			fn(arena);
	}
}

/* Each arena's source's lock, after the Huge and san locks. */
static void
ehooks_prefork(arena_t *arena) {
	hm_ehooks_prefork(&arena->ehooks);
}

static void
ehooks_postfork_parent(arena_t *arena) {
	hm_ehooks_postfork_parent(&arena->ehooks);
}

static void
ehooks_postfork_child(arena_t *arena) {
	hm_ehooks_postfork_child(&arena->ehooks);
}

static void
init_prefork(void) {
	/* (A recursive lock: a fork from a signal handler that interrupted
	 * this thread inside stdio takes it again.) */
	if (_IO_list_lock != NULL)
		_IO_list_lock();
	hm_mutex_prefork(&init_lock);
	hm_lock_order_off = true;
	/* ctl before the background thread's lock: ctl_refresh takes
	 * bg_lock under ctl_lock. */
	hm_ctl_prefork();
	hm_background_prefork();
	hm_arenas_prefork();
	hm_tcache_prefork();
	hm_secure_prefork();
	hm_prof_prefork();
	hm_trace_prefork();
	init_each_arena(hm_arena_prefork);
	hm_huge_prefork();
	hm_san_prefork();
	init_each_arena(ehooks_prefork);
	hm_chunk_prefork();
	hm_base_prefork();
	hm_os_prefork();
	hm_pages_prefork();
}

static void
init_postfork_parent(void) {
	hm_pages_postfork_parent();
	hm_os_postfork_parent();
	hm_base_postfork_parent();
	hm_chunk_postfork_parent();
	init_each_arena(ehooks_postfork_parent);
	hm_san_postfork_parent();
	hm_huge_postfork_parent();
	init_each_arena(hm_arena_postfork_parent);
	hm_trace_postfork_parent();
	hm_prof_postfork_parent();
	hm_secure_postfork_parent();
	hm_tcache_postfork_parent();
	hm_arenas_postfork_parent();
	hm_background_postfork_parent();
	hm_ctl_postfork_parent();
	hm_lock_order_off = false;
	hm_mutex_postfork_parent(&init_lock);
	if (_IO_list_unlock != NULL)
		_IO_list_unlock();
}

static void
init_postfork_child(void) {
	hm_pages_postfork_child();
	hm_os_postfork_child();
	hm_base_postfork_child();
	hm_chunk_postfork_child();
	init_each_arena(ehooks_postfork_child);
	hm_san_postfork_child();
	hm_huge_postfork_child();
	init_each_arena(hm_arena_postfork_child);
	hm_trace_postfork_child();
	hm_prof_postfork_child();
	hm_secure_postfork_child();
	hm_tcache_postfork_child();
	hm_arenas_postfork_child();
	hm_background_postfork_child();
	hm_ctl_postfork_child();
	hm_lock_order_off = false;
	hm_mutex_postfork_child(&init_lock);
	/* (glibc resets it too, but only when the parent had threads.) */
	if (_IO_list_resetlock != NULL)
		_IO_list_resetlock();
}

static void
init_stats_print_atexit(void) {
	HM_PUBLIC(malloc_stats_print)(NULL, NULL, opt_stats_print_opts);
}

/* Steps 1-6 of the start-up flow; false on failure. */
static bool
init_boot(void) {
	if (sysconf(_SC_PAGESIZE) != (long)PAGE) {
		hm_write("<hmalloc>: unsupported page size\n");
		return false;
	}
	hm_conf_init();
	if (hm_base_boot())
		return false;
	hm_sc_boot((size_t)1 << opt_lg_chunk);
	if (hm_secure_boot() || hm_chunk_boot() || hm_huge_boot()
	    || hm_ctl_boot() || hm_arena_boot() || hm_tcache_boot()
	    || hm_prof_boot())
		return false;
	if (hm_tsd_boot())
		return false;
	/* Before any thread is bound: a bound thread's fast paths stay
	 * closed while tracing (tsd.c). */
	hm_trace_boot();
	/* From here on a re-entrant call is served from arena 0. */
	if (pthread_atfork(init_prefork, init_postfork_parent,
	    init_postfork_child) != 0)
		return false;
	return true;
}

/* Step 7: outside the init lock; callbacks may allocate. */
static void
init_post(void) {
	if (opt_stats_print)
		atexit(init_stats_print_atexit);
	hm_prof_post_init();
	if (HM_PUBLIC(hmalloc_post_init) != NULL)
		HM_PUBLIC(hmalloc_post_init)();
}

bool
hm_init_hard(void) {
	int state = atomic_load_explicit(&hm_init_state, memory_order_acquire);
	if (state == INIT_RUNNING
	    && pthread_equal(atomic_load(&init_thread), pthread_self()))
		return hm_arenas != NULL && hm_arena_get(0, false) != NULL;
	if (state == INIT_FAILED) {
		errno = ENOMEM;
		return false;
	}
	mutex_lock(&init_lock);
	state = atomic_load_explicit(&hm_init_state, memory_order_acquire);
	if (state != INIT_NONE) {
		mutex_unlock(&init_lock);
		if (state == INIT_FAILED)
			errno = ENOMEM;
		return state == INIT_DONE;
	}
	atomic_store(&init_thread, pthread_self());
	atomic_store_explicit(&hm_init_state, INIT_RUNNING,
	    memory_order_release);
	bool ok = init_boot();
	atomic_store_explicit(&hm_init_state, ok ? INIT_DONE : INIT_FAILED,
	    memory_order_release);
	mutex_unlock(&init_lock);
	if (!ok) {
		errno = ENOMEM;
		return false;
	}
	init_post();
	return true;
}

/*
 * Initialise at load time too, so that the first malloc is not the one
 * paying for it, whichever comes first.  Load time is also where the
 * purging thread is started: the constructor runs before main, outside
 * any lock of libc's, where an allocation call never may.
 */
__attribute__((constructor)) static void
init_constructor(void) {
	if (malloc_init())
		hm_background_launch();
}

arena_t *
hm_init_thread_arena(void) {
	if (!malloc_init())
		return NULL;
	if (!hm_init_is_done()) {
		/* A call from inside initialisation: served from arena 0,
		 * without binding the thread yet. */
		return hm_arena_get(0, false);
	}
	return hm_tsd_arena_slow();
}

HM_EXPORT int
HM_PUBLIC(hmalloc_atinit)(void (*fn)(void *), void *arg) {
	if (fn == NULL)
		return EINVAL;
	if (!malloc_init())
		return ENOMEM;
	/* Initialisation has finished: the callback runs now. */
	fn(arg);
	return 0;
}
