/*
 * decay.c: the decay clock and the background purging thread (see
 * decay.h).  bg_lock guards the thread's state; it is never held while
 * creating or joining the thread (pthread_create allocates, and the
 * allocation may come back here).
 */
#include "decay.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "arena.h"
#include "huge.h"

ssize_t opt_dirty_decay_ms = 5000;
bool opt_background_thread = true;
atomic_bool hm_decay_wanted;

/* Dirty pages in all arenas (kept by the arenas, for the start test). */
static atomic_size_t decay_dirty_pages;

static pthread_mutex_t bg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bg_cond;
static bool bg_cond_ready;
/* Written under bg_lock; atomic because arenas read them without it. */
static atomic_bool bg_started;  /* a thread exists or is being created */
static atomic_bool bg_idle;     /* waiting with no deadline */
static bool bg_stop;            /* asked to exit */
static pthread_t bg_thread;

uint64_t
hm_decay_now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
hm_decay_dirty_added(size_t npages) {
	size_t total = atomic_fetch_add_explicit(&decay_dirty_pages, npages,
	    memory_order_relaxed) + npages;
	if (!opt_background_thread || opt_dirty_decay_ms <= 0)
		return;
	/* Racy reads: a missed poke is made up by the next free. */
	if ((!atomic_load_explicit(&bg_started, memory_order_relaxed)
	    && (total << LG_PAGE) >= BG_THREAD_MIN_DIRTY)
	    || atomic_load_explicit(&bg_idle, memory_order_relaxed))
		atomic_store_explicit(&hm_decay_wanted, true,
		    memory_order_relaxed);
}

void
hm_decay_dirty_removed(size_t npages) {
	atomic_fetch_sub_explicit(&decay_dirty_pages, npages,
	    memory_order_relaxed);
}

/* One pass over every arena; returns when the next run comes of age. */
static uint64_t
decay_pass(void) {
	uint64_t now = hm_decay_now_ms(), next = UINT64_MAX;
	for (unsigned i = 0; i < hm_narenas; i++) {
		arena_t *arena = hm_arena_get(i, false);
		if (arena == NULL)
			continue;
		uint64_t t = hm_arena_decay(arena, now);
		if (t < next)
			next = t;
		t = hm_huge_decay(arena, now, false);
		if (t < next)
			next = t;
	}
	return next;
}

static void *
bg_main(void *arg) {
	(void)arg;
	pthread_mutex_lock(&bg_lock);
	while (!bg_stop) {
		pthread_mutex_unlock(&bg_lock);
		uint64_t next = decay_pass();
		pthread_mutex_lock(&bg_lock);
		if (bg_stop)
			break;
		if (next == UINT64_MAX) {
			bg_idle = true;
			pthread_cond_wait(&bg_cond, &bg_lock);
			bg_idle = false;
			continue;
		}
		/* Never spin: at least one clock tick between passes. */
		uint64_t now = hm_decay_now_ms();
		if (next < now + 5)
			next = now + 5;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t wait_ms = next - now;
		ts.tv_sec += (time_t)(wait_ms / 1000);
		ts.tv_nsec += (long)(wait_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&bg_cond, &bg_lock, &ts);
	}
	bg_started = false;
	pthread_mutex_unlock(&bg_lock);
	return NULL;
}

static void
bg_cond_init(void) {
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&bg_cond, &attr);
	pthread_condattr_destroy(&attr);
	bg_cond_ready = true;
}

/* Starts the thread; bg_lock is not held (see the file comment). */
static void
bg_start(void) {
	sigset_t all, old;
	sigfillset(&all);
	/* The thread takes no signal meant for the program. */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t t;
	int err = pthread_create(&t, NULL, bg_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_mutex_lock(&bg_lock);
	if (err != 0)
		bg_started = false;
	else
		bg_thread = t;
	pthread_mutex_unlock(&bg_lock);
}

void
hm_decay_poke(void) {
	if (!atomic_exchange_explicit(&hm_decay_wanted, false,
	    memory_order_relaxed))
		return;
	bool start = false;
	pthread_mutex_lock(&bg_lock);
	if (!bg_cond_ready)
		bg_cond_init();
	if (!bg_started && opt_background_thread) {
		bg_started = true;
		bg_stop = false;
		start = true;
	} else if (bg_idle) {
		pthread_cond_signal(&bg_cond);
	}
	pthread_mutex_unlock(&bg_lock);
	if (start)
		bg_start();
}

int
hm_decay_background_set(bool enable) {
	pthread_mutex_lock(&bg_lock);
	if (!bg_cond_ready)
		bg_cond_init();
	opt_background_thread = enable;
	bool running = bg_started;
	pthread_t t = bg_thread;
	if (!enable && running) {
		bg_stop = true;
		pthread_cond_signal(&bg_cond);
	}
	pthread_mutex_unlock(&bg_lock);
	if (!enable && running) {
		pthread_join(t, NULL);
	} else if (enable && !running) {
		atomic_store(&hm_decay_wanted, true);
		hm_decay_poke();
	}
	return 0;
}

bool
hm_decay_background_running(void) {
	pthread_mutex_lock(&bg_lock);
	bool r = bg_started;
	pthread_mutex_unlock(&bg_lock);
	return r;
}

void
hm_decay_prefork(void) {
	pthread_mutex_lock(&bg_lock);
}

void
hm_decay_postfork_parent(void) {
	pthread_mutex_unlock(&bg_lock);
}

void
hm_decay_postfork_child(void) {
	/* The thread did not come along; the child starts one if it needs
	 * one. */
	pthread_mutex_init(&bg_lock, NULL);
	bg_cond_init();
	bg_started = false;
	bg_stop = false;
	bg_idle = false;
}
