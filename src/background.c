/*
 * background.c: the background purging thread (see background.h).
 * bg_lock guards the thread's state; it is never held while creating or
 * joining the thread (pthread_create allocates, and the allocation may
 * come back here).
 *
 * The thread is created only at a launch point (hm_background_launch):
 * the library constructor, the background_thread mallctl, and the exit of
 * one of the program's threads.  Never from an allocation call: malloc and
 * free are called by libc with its own locks held (an exiting thread frees
 * its TLS from inside glibc's stack cache, whose lock pthread_create
 * takes), and a thread created there would wait for its creator forever.
 * Allocation calls only wake a thread that exists (a condition variable
 * signal under bg_lock, which nothing holds while it waits for anything
 * else).
 */
#include "background.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "decay.h"
#include "huge.h"
#include "mutex.h"
#include "os.h"
#include "pages.h"

bool opt_background_thread = true;

/* The thread's stack (address space; what is touched is resident): a pass
 * needs little, but the exit handlers may run on it (bg_main). */
#define BG_STACK_SIZE ((size_t)8 << 20)

static mutex_t bg_lock = MUTEX_INITIALIZER(LOCK_RANK_BG);
static pthread_cond_t bg_cond;
static bool bg_cond_ready;
/* Written under bg_lock; atomic because arenas and thread exits read them
 * without it. */
static atomic_bool bg_started;  /* a thread exists or is being created */
static bool bg_stop;            /* asked to exit */
static bool bg_exited;          /* a thread of the program is exiting */
static bool bg_atexit;          /* the exit handler is registered */
/*
 * Held around atexit(), and taken by the fork handlers: a fork while
 * another thread is inside atexit() would leave glibc's list of exit
 * handlers locked in the child.  (The background_thread mallctl launches
 * the thread under ctl's lock, so it ranks above ctl.)
 */
static mutex_t bg_atexit_lock = MUTEX_INITIALIZER(LOCK_RANK_ATEXIT);
static bool bg_joinable;        /* bg_thread is set and not yet joined */
static pthread_t bg_thread;
/* Passes run, and the clock at the first and the latest (statistics). */
static atomic_uint_fast64_t bg_nruns;
static atomic_uint_fast64_t bg_first_ms, bg_last_ms;

/* One pass over every arena; returns when the next run comes of age. */
static uint64_t
decay_pass(void) {
	/* A limit set since the last mapping: the pool goes now. */
	hm_pages_limit_check();
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

static void
bg_count_run(void) {
	uint64_t now = hm_decay_now_ms();
	if (atomic_fetch_add_explicit(&bg_nruns, 1, memory_order_relaxed) == 0)
		atomic_store_explicit(&bg_first_ms, now, memory_order_relaxed);
	atomic_store_explicit(&bg_last_ms, now, memory_order_relaxed);
}

/*
 * The process's live threads: the kernel's count less a main thread that
 * left by pthread_exit and lingers as a zombie leader.  Read from
 * /proc/self/stat with system calls only; -1 when it cannot be read.
 */
static long
live_threads(void) {
	char buf[1024];
	ssize_t n = hm_os_read_file("/proc/self/stat", buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "pid (comm) state ppid ...": comm may hold anything, so fields
	 * are counted from the last ')'; num_threads is field 20. */
	char *p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ')
		return -1;
	char state = p[2];
	unsigned field = 3;
	p += 2;
	while (field < 20 && (p = strchr(p, ' ')) != NULL) {
		p++;
		field++;
	}
	if (p == NULL)
		return -1;
	long nthreads = strtol(p, NULL, 10);
	return state == 'Z' ? nthreads - 1 : nthreads;
}

/* Waits on bg_cond (bg_lock held) until deadline_ms, or without one. */
static void
bg_wait(uint64_t deadline_ms) {
	if (deadline_ms == UINT64_MAX) {
		atomic_store(&hm_decay_idle, true);
		pthread_cond_wait(&bg_cond, &bg_lock.lock);
		atomic_store(&hm_decay_idle, false);
		return;
	}
	uint64_t now = hm_decay_now_ms();
	uint64_t wait_ms = deadline_ms > now ? deadline_ms - now : 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(wait_ms / 1000);
	ts.tv_nsec += (long)(wait_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&bg_cond, &bg_lock.lock, &ts);
}

/*
 * After a thread exits, how long the thread watches for being the last
 * one left: checks 1, 2, 4 ... ms apart, BG_ALONE_CHECKS in all (about 8
 * s), since the exiting thread is still running when it tells us.
 */
#define BG_ALONE_CHECKS 14

static void *
bg_main(void *arg) {
	(void)arg;
	unsigned alone_checks = 0;
	uint64_t alone_next = UINT64_MAX, alone_step = 1;
	mutex_lock(&bg_lock);
	while (!bg_stop) {
		if (bg_exited) {
			/* A thread is on its way out: watch anew. */
			bg_exited = false;
			alone_checks = BG_ALONE_CHECKS;
			alone_step = 1;
			alone_next = hm_decay_now_ms() + alone_step;
		}
		mutex_unlock(&bg_lock);
		uint64_t now = hm_decay_now_ms();
		if (alone_checks > 0 && now >= alone_next) {
			/*
			 * glibc ends the process when its last thread exits;
			 * with this thread left it would wait for it forever.
			 * So this thread ends it as glibc would have: exit(0),
			 * whose handlers include bg_exit (which sees that it
			 * runs here and joins nothing).
			 */
			if (live_threads() == 1)
				exit(0);
			alone_checks--;
			alone_step *= 2;
			alone_next = alone_checks > 0 ? now + alone_step
			    : UINT64_MAX;
		}
		uint64_t next = decay_pass();
		bg_count_run();
		mutex_lock(&bg_lock);
		if (bg_stop)
			break;
		if (bg_exited)
			continue;
		/* Never spin: at least one clock tick between passes. */
		now = hm_decay_now_ms();
		if (next != UINT64_MAX && next < now + 5)
			next = now + 5;
		bg_wait(next < alone_next ? next : alone_next);
	}
	bg_started = false;
	mutex_unlock(&bg_lock);
	return NULL;
}

static bool bg_pending(void);

void
hm_background_thread_exiting(void) {
	/* A launch point (a forked child's first thread exit), unless the
	 * exiting thread is the last: its exit ends the process. */
	if (bg_pending() && live_threads() > 1)
		hm_background_launch();
	if (!atomic_load_explicit(&bg_started, memory_order_relaxed))
		return;
	mutex_lock(&bg_lock);
	bg_exited = true;
	if (bg_cond_ready)
		pthread_cond_signal(&bg_cond);
	mutex_unlock(&bg_lock);
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

/*
 * Asks the thread to stop and joins it, waiting at most a second when
 * bounded; background_thread:false is in force from here on.
 */
static void
bg_stop_thread(bool bounded) {
	mutex_lock(&bg_lock);
	if (!bg_cond_ready)
		bg_cond_init();
	opt_background_thread = false;
	bool join = bg_joinable;
	pthread_t t = bg_thread;
	bg_joinable = false;
	if (bg_started) {
		bg_stop = true;
		pthread_cond_signal(&bg_cond);
	}
	mutex_unlock(&bg_lock);
	/* (At exit, exit() may be running on the thread itself.) */
	if (!join || pthread_equal(t, pthread_self()))
		return;
	if (!bounded) {
		pthread_join(t, NULL);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1;
	pthread_timedjoin_np(t, NULL, &ts);
}

/*
 * At exit the thread is stopped, so that it is not in the middle of a
 * purge while exit handlers and destructors run (and take the allocator's
 * locks).  Registered at the first launch, after the exit-time statistics
 * report, so that it runs before that.  The wait is bounded: exit must not
 * hang on a thread held up by a stuck program.
 */
static void
bg_exit(void) {
	bg_stop_thread(true);
}

void
hm_background_launch(void) {
	if (atomic_load_explicit(&bg_started, memory_order_relaxed)
	    || !opt_background_thread)
		return;
	mutex_lock(&bg_lock);
	if (!bg_cond_ready)
		bg_cond_init();
	bool start = !bg_started && opt_background_thread;
	bool reg = start && !bg_atexit;
	if (start) {
		bg_started = true;
		bg_stop = false;
		bg_atexit = true;
	}
	mutex_unlock(&bg_lock);
	if (!start)
		return;
	if (reg) {
		mutex_lock(&bg_atexit_lock);
		atexit(bg_exit);
		mutex_unlock(&bg_atexit_lock);
	}
	pthread_attr_t attr;
	int err = pthread_attr_init(&attr);
	if (err == 0) {
		/* An explicit stack size also keeps pthread_create from
		 * reading the process-wide defaults under their lock. */
		pthread_attr_setstacksize(&attr, BG_STACK_SIZE);
		sigset_t all, old;
		sigfillset(&all);
		/* The thread takes no signal meant for the program. */
		pthread_sigmask(SIG_SETMASK, &all, &old);
		pthread_t t;
		err = pthread_create(&t, &attr, bg_main, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
		if (err == 0) {
			mutex_lock(&bg_lock);
			bg_thread = t;
			bg_joinable = true;
			mutex_unlock(&bg_lock);
			return;
		}
	}
	/* No thread (EAGAIN: too many threads, or no memory for a stack):
	 * the next launch point tries again. */
	mutex_lock(&bg_lock);
	bg_started = false;
	mutex_unlock(&bg_lock);
}

static bool
bg_pending(void) {
	return opt_background_thread
	    && !atomic_load_explicit(&bg_started, memory_order_relaxed);
}

void
hm_background_poke(void) {
	if (!atomic_exchange_explicit(&hm_decay_wanted, false,
	    memory_order_relaxed))
		return;
	mutex_lock(&bg_lock);
	if (atomic_load(&hm_decay_idle) && bg_cond_ready)
		pthread_cond_signal(&bg_cond);
	mutex_unlock(&bg_lock);
}

int
hm_background_set(bool enable) {
	if (!enable) {
		bg_stop_thread(false);
		return 0;
	}
	mutex_lock(&bg_lock);
	opt_background_thread = true;
	mutex_unlock(&bg_lock);
	hm_background_launch();
	return 0;
}

bool
hm_background_running(void) {
	mutex_lock(&bg_lock);
	bool r = bg_started;
	mutex_unlock(&bg_lock);
	return r;
}

void
hm_background_stats(uint64_t *nruns, uint64_t *interval_ns) {
	uint64_t n = atomic_load_explicit(&bg_nruns, memory_order_relaxed);
	uint64_t first = atomic_load_explicit(&bg_first_ms,
	    memory_order_relaxed);
	uint64_t last = atomic_load_explicit(&bg_last_ms, memory_order_relaxed);
	*nruns = n;
	*interval_ns = n > 1 && last > first ?
	    (last - first) * 1000000 / (n - 1) : 0;
}

void
hm_background_prefork(void) {
	hm_mutex_prefork(&bg_atexit_lock);
	hm_mutex_prefork(&bg_lock);
}

void
hm_background_postfork_parent(void) {
	hm_mutex_postfork_parent(&bg_lock);
	hm_mutex_postfork_parent(&bg_atexit_lock);
}

void
hm_background_postfork_child(void) {
	/*
	 * The thread did not come along.  The child is not given one here:
	 * fork's child handlers may run in a signal handler, and a child
	 * that only execs or that unshares namespaces must stay single-
	 * threaded.  It gets one at its next launch point (a thread of its
	 * own that exits, or the background_thread mallctl); until then its
	 * own allocation calls purge.  The exit handler registered in the
	 * parent came along and stops the child's thread.
	 */
	hm_mutex_postfork_child(&bg_atexit_lock);
	hm_mutex_postfork_child(&bg_lock);
	bg_cond_init();
	atomic_store_explicit(&hm_decay_wanted, false, memory_order_relaxed);
	bg_started = false;
	bg_joinable = false;
	bg_stop = false;
	atomic_store(&hm_decay_idle, false);
}
