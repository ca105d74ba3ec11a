/*
 * fork() 500 times (HM_STRESS_SHORT: 200) while NTHREADS threads keep the
 * allocator's locks busy, and check that no child deadlocks.  fork.c runs
 * fewer, heavier children over random sizes; here the children are many
 * and light, and each one goes through every lock the parent's threads
 * were taking when it was forked:
 *   - every Small class's bin lock: one block of each class, and a burst of
 *     one class that fills and flushes the thread cache;
 *   - the arena lock (Large runs), the huge lock, chunk and base (a Huge
 *     block; realloc from Small through Large to Huge and back);
 *   - the ctl lock and, through "epoch", every bin and arena lock again;
 *     the arenas and tcaches locks (a thread started in the child); the
 *     decay path (malloc_trim) — these on some of the children;
 *   - blocks the parent's threads allocated, left in shared slots, checked
 *     and freed by the child (frees to bins of arenas it never used).
 * The parent's threads allocate, check and free Small bursts of every
 * class, Large and Huge blocks, trade blocks through the slots, call
 * mallctl("epoch"), flush their caches, trim, and one of them starts and
 * joins short-lived threads, so that fork() lands inside each of those.
 *
 * Every child runs under alarm(CHILD_WATCHDOG_S) with SIGALRM's default
 * action: a deadlocked child dies of SIGALRM, and the test fails naming the
 * fork.  The parent has a watchdog too, re-armed at each fork: fork()
 * itself hanging (a prefork handler waiting for a lock that a thread holds
 * while it waits for one the handler took) or a parent thread stuck after
 * a fork ends the test with the fork's number.  Skipped under sanitizers,
 * as fork.c.
 */
#include "stress_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 3
#define NSLOTS 256
#define NFORKS 500
#define NFORKS_SHORT 200
#define CHILD_WATCHDOG_S 10
#define PARENT_WATCHDOG_S 30
#define MAX_CLASSES 64

static size_t small_sizes[MAX_CLASSES];  /* usable size of each Small class */
static unsigned nsmall;

/* Blocks in flight between threads: word 0 is the size, then the stamp. */
static _Atomic(uint64_t *) slots[NSLOTS];
static atomic_bool threads_stop;
static atomic_ulong thread_ops[NTHREADS];
static atomic_int parent_failed;
static atomic_int fork_index;  /* the fork in progress, for the watchdog */
static atomic_int child_pid;   /* its child, once fork() has returned */
static int nforks_total;
static uint64_t seed;

/* Stamps (write) or checks a block: size word, edges, a word a page. */
static size_t
walk(void *p, size_t size, bool write) {
	/* Huge blocks get a word every 64 KiB: fewer pages touched, fewer
	 * copied at each fork. */
	return stamp_sized(p, size, size, write, size > (1 << 20) ? 64 << 10
	    : STAMP_PAGE);
}

/* ---- The parent's threads. */

static void
parent_fail(const char *what, const void *p, size_t size, size_t off) {
	fprintf(stderr, "fork_many: parent thread: %s: block %p size %zu "
	    "offset %zu (seed HM_TEST_SEED=%" PRIu64 ")\n", what, p, size, off,
	    seed);
	atomic_store(&parent_failed, 1);
}

/* Allocates, stamps, checks and frees one block of size; false if bad. */
static bool
alloc_check_free(size_t size) {
	void *p = hm_malloc(size);
	if (p == NULL) {
		parent_fail("malloc failed", NULL, size, 0);
		return false;
	}
	walk(p, size, true);
	size_t bad = walk(p, size, false);
	if (bad != SIZE_MAX) {
		parent_fail("block corrupted", p, size, bad);
		return false;
	}
	hm_free(p);
	return true;
}

/* A burst of n blocks of one Small class: the cache fills and flushes. */
static void
small_burst(uint64_t *rng, unsigned n) {
	enum { NMAX = 256 };
	void *b[NMAX];
	size_t size = small_sizes[test_rand_next(rng) % nsmall];
	n = n < NMAX ? n : NMAX;
	for (unsigned i = 0; i < n; i++) {
		b[i] = hm_malloc(size);
		if (b[i] == NULL) {
			parent_fail("malloc failed", NULL, size, 0);
			n = i;
			break;
		}
		walk(b[i], size, true);
	}
	for (unsigned i = 0; i < n; i++) {
		size_t bad = walk(b[i], size, false);
		if (bad != SIZE_MAX)
			parent_fail("block corrupted", b[i], size, bad);
		else
			hm_free(b[i]);
	}
}

/* Puts a fresh Small or Large block in a random slot, frees what was there. */
static void
slot_trade(uint64_t *rng) {
	uint64_t r = test_rand_next(rng);
	size_t size = (r % 8 == 0) ? (16 << 10) + (size_t)(r >> 8) % (200 << 10)
	    : small_sizes[(r >> 8) % nsmall];
	uint64_t *p = hm_malloc(size);
	if (p == NULL) {
		parent_fail("malloc failed", NULL, size, 0);
		return;
	}
	walk(p, size, true);
	uint64_t *old = atomic_exchange(&slots[(r >> 32) % NSLOTS], p);
	if (old != NULL) {
		size_t osize = (size_t)old[0];
		size_t bad = walk(old, osize, false);
		if (bad != SIZE_MAX)
			parent_fail("slot block corrupted", old, osize, bad);
		else
			hm_free(old);
	}
}

static void *
churn_thread(void *arg) {
	uint64_t rng = (uint64_t)(uintptr_t)arg;
	small_burst(&rng, 40);
	alloc_check_free((32 << 10) + (size_t)(test_rand_next(&rng) % 4096));
	return NULL;
}

static void *
parent_thread(void *arg) {
	unsigned tid = (unsigned)(uintptr_t)arg;
	uint64_t rng = seed ^ test_mix64(tid + 1);
	unsigned long n = 0;
	while (!atomic_load_explicit(&threads_stop, memory_order_relaxed)) {
		uint64_t r = test_rand_next(&rng) % 1024;
		if (tid == 0 && r < 16) {
			/* Thread creation and exit: the arenas and tcaches
			 * locks, and the thread-exit flush. */
			pthread_t th;
			if (pthread_create(&th, NULL, churn_thread,
			    (void *)(uintptr_t)test_rand_next(&rng)) == 0)
				pthread_join(th, NULL);
		} else if (r < 500) {
			small_burst(&rng, 1 + (unsigned)(r % 200));
		} else if (r < 800) {
			slot_trade(&rng);
		} else if (r < 950) {
			/* Large: 16 KiB .. 1.5 MiB. */
			alloc_check_free((16 << 10) + (size_t)
			    (test_rand_next(&rng) % (1536 << 10)));
		} else if (r < 980) {
			/* Huge: 2 .. 10 MiB. */
			alloc_check_free((2 << 20) + (size_t)
			    (test_rand_next(&rng) % (8 << 20)));
		} else if (r < 1000) {
			/* Across the ranges: the arena and huge locks. */
			uint64_t *p = hm_malloc(100);
			static const size_t steps[] = {20000, 3 << 20, 300000,
			    64};
			size_t size = 100;
			if (p != NULL)
				walk(p, size, true);
			for (size_t i = 0; p != NULL && i < 4; i++) {
				size_t bad = walk(p, size, false);
				if (bad != SIZE_MAX) {
					parent_fail("realloc lost data", p,
					    size, bad);
					p = NULL;
					break;
				}
				uint64_t *q = hm_realloc(p, steps[i]);
				if (q == NULL) {
					parent_fail("realloc failed", p,
					    steps[i], 0);
					break;
				}
				p = q;
				size = steps[i];
				walk(p, size, true);
			}
			hm_free(p);
		} else if (r < 1012) {
			uint64_t epoch = 1;
			hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
		} else if (r < 1020) {
			hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
		} else {
			hm_malloc_trim(0);
		}
		n++;
		atomic_store_explicit(&thread_ops[tid], n,
		    memory_order_relaxed);
	}
	return NULL;
}

/* ---- The children: no stdio, no exit handlers. */

static void
child_die(int fork_i, int code, const char *what, const void *p,
    size_t size, size_t off) {
	char buf[256];
	int len = snprintf(buf, sizeof(buf), "fork_many: fork %d (child %d): "
	    "%s: block %p size %zu offset %zu (seed HM_TEST_SEED=%" PRIu64
	    ")\n", fork_i, (int)getpid(), what, p, size, off, seed);
	if (len > 0)
		(void)!write(2, buf, (size_t)len);
	_exit(code);
}

/* Allocates (calloc if zero), stamps and checks a block; the caller frees. */
static void *
child_alloc(int fi, size_t size, bool zero) {
	uint8_t *p = zero ? hm_calloc(1, size) : hm_malloc(size);
	if (p == NULL)
		child_die(fi, 2, "allocation failed", NULL, size, 0);
	if (zero) {
		/* The first and last 4 KiB (the pages most likely reused). */
		for (size_t o = 0; o < size; o++) {
			if (p[o] != 0)
				child_die(fi, 3, "calloc not zero", p, size, o);
			if (o == 4095 && size > 8192)
				o = size - 4097;
		}
	}
	walk(p, size, true);
	return p;
}

static void
child_check_free(int fi, void *p, size_t size) {
	size_t bad = walk(p, size, false);
	if (bad != SIZE_MAX)
		child_die(fi, 4, "block corrupted", p, size, bad);
	hm_free(p);
}

static void *
child_thread(void *arg) {
	int fi = (int)(intptr_t)arg;
	for (unsigned c = 0; c < nsmall; c += 3)
		child_check_free(fi, child_alloc(fi, small_sizes[c], false),
		    small_sizes[c]);
	child_check_free(fi, child_alloc(fi, 50000, false), 50000);
	return NULL;
}

static void
child_main(int fi) {
	signal(SIGALRM, SIG_DFL);  /* the parent's watchdog is not ours */
	alarm(CHILD_WATCHDOG_S);
	uint64_t rng = seed ^ test_mix64((uint64_t)fi + 1000);

	/* Blocks the parent's threads allocated: a quarter of the slots. */
	for (size_t s = test_rand_next(&rng) % 4; s < NSLOTS; s += 4) {
		uint64_t *p = atomic_exchange(&slots[s], NULL);
		if (p != NULL)
			child_check_free(fi, p, (size_t)p[0]);
	}

	/* One block of every Small class, all live at once. */
	void *blocks[MAX_CLASSES];
	for (unsigned c = 0; c < nsmall; c++)
		blocks[c] = child_alloc(fi, small_sizes[c], c % 5 == 0);
	for (unsigned c = 0; c < nsmall; c++)
		child_check_free(fi, blocks[c], small_sizes[c]);

	/* A burst in one class (each child another): fill and flush. */
	enum { NBURST = 300 };
	void *burst[NBURST];
	size_t bsize = small_sizes[(unsigned)fi % nsmall];
	for (int k = 0; k < NBURST; k++)
		burst[k] = child_alloc(fi, bsize, false);
	for (int k = 0; k < NBURST; k++)
		child_check_free(fi, burst[k], bsize);

	/* Large and Huge. */
	static const size_t big[] = {16 << 10, 100000, 1 << 20, 4 << 20};
	void *bigp[4];
	for (int k = 0; k < 4; k++)
		bigp[k] = child_alloc(fi, big[k] + (size_t)fi, k == 1);
	for (int k = 0; k < 4; k++)
		child_check_free(fi, bigp[k], big[k] + (size_t)fi);

	/* realloc across the ranges keeps the prefix. */
	static const size_t steps[] = {100, 20000, 3 << 20, 200, 40};
	uint64_t *p = child_alloc(fi, steps[0], false);
	uint64_t key = stamp_key(p, steps[0], 0);
	for (int k = 1; k < 5; k++) {
		p = hm_realloc(p, steps[k]);
		if (p == NULL)
			child_die(fi, 5, "realloc failed", NULL, steps[k], 0);
		size_t keep = steps[k] < STAMP_EDGE ? steps[k] : STAMP_EDGE;
		size_t bad = stamp_range((uint8_t *)p, key, 8, keep, false);
		if (p[0] != steps[0] || bad != SIZE_MAX)
			child_die(fi, 6, "realloc lost the prefix", p, steps[k],
			    bad);
	}
	hm_free(p);

	void *a = NULL;
	if (hm_posix_memalign(&a, 4096, 10000) != 0
	    || ((uintptr_t)a & 4095) != 0)
		child_die(fi, 7, "posix_memalign failed", a, 10000, 0);
	hm_free(a);

	if (fi % 8 == 0) {
		uint64_t epoch = 1;
		size_t allocated = 0, len = sizeof(allocated);
		if (hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)) != 0
		    || hm_mallctl("stats.allocated", &allocated, &len, NULL,
		    0) != 0 || allocated == 0)
			child_die(fi, 8, "mallctl epoch/stats.allocated",
			    NULL, allocated, 0);
		if (hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0)
		    != 0)
			child_die(fi, 8, "mallctl thread.tcache.flush", NULL,
			    0, 0);
	}
	if (fi % 16 == 1) {
		pthread_t th;
		if (pthread_create(&th, NULL, child_thread,
		    (void *)(intptr_t)fi) != 0)
			child_die(fi, 9, "pthread_create failed", NULL, 0, 0);
		pthread_join(th, NULL);
	}
	if (fi % 64 == 2)
		hm_malloc_trim(0);
	_exit(0);
}

/* ---- The parent's main thread. */

static void
parent_watchdog(int sig) {
	(void)sig;
	char buf[256];
	int pid = atomic_load(&child_pid);
	int fi = atomic_load(&fork_index);
	int len = fi == nforks_total
	    ? snprintf(buf, sizeof(buf), "fork_many: parent watchdog: the "
	    "parent's threads did not stop within %d s after the last fork: "
	    "one is stuck (seed HM_TEST_SEED=%" PRIu64 ")\n",
	    PARENT_WATCHDOG_S, seed)
	    : snprintf(buf, sizeof(buf), "fork_many: parent watchdog: fork %d "
	    "took more than %d s: %s (seed HM_TEST_SEED=%" PRIu64 ")\n", fi,
	    PARENT_WATCHDOG_S, pid > 0 ? "its child never finished (stuck "
	    "before its own watchdog, in fork's child handlers?)"
	    : "fork() itself deadlocked in the parent", seed);
	if (len > 0)
		(void)!write(2, buf, (size_t)len);
	if (pid > 0)
		kill(pid, SIGKILL);
	_exit(1);
}

/* 0 if fork fi's child exited 0; else says why, and -1. */
static int
wait_child(pid_t pid, int fi) {
	int status;
	pid_t r;
	do {
		r = waitpid(pid, &status, 0);
	} while (r < 0 && errno == EINTR);
	if (r != pid) {
		fprintf(stderr, "fork_many: fork %d: waitpid: %s\n", fi,
		    strerror(errno));
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		fprintf(stderr, "fork_many: fork %d: child %d killed by signal "
		    "%d (%s)%s (seed HM_TEST_SEED=%" PRIu64 ")\n", fi, (int)pid,
		    sig, strsignal(sig), sig == SIGALRM ? ": watchdog, the "
		    "child deadlocked" : "", seed);
	} else {
		fprintf(stderr, "fork_many: fork %d: child %d exited with "
		    "status %d (seed HM_TEST_SEED=%" PRIu64 ")\n", fi, (int)pid,
		    WEXITSTATUS(status), seed);
	}
	return -1;
}

TEST_BEGIN(test_fork_many)
	if (HM_TEST_SANITIZED)
		test_skip("fork with threads running is not supported under "
		    "sanitizers");
	seed = test_seed();
	int nforks = stress_short() ? NFORKS_SHORT : NFORKS;
	nforks_total = nforks;

	/* The Small classes, from the allocator's own rounding. */
	nsmall = stress_small_classes(small_sizes, MAX_CLASSES);

	signal(SIGALRM, parent_watchdog);
	pthread_t th[NTHREADS];
	for (int t = 0; t < NTHREADS; t++) {
		assert_d_eq(pthread_create(&th[t], NULL, parent_thread,
		    (void *)(uintptr_t)t), 0, "pthread_create");
	}
	uint64_t rng = seed;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int nbad = 0, first_bad = -1, nforked = 0;
	unsigned long ops_before[NTHREADS];
	for (int t = 0; t < NTHREADS; t++)
		ops_before[t] = atomic_load(&thread_ops[t]);
	for (int fi = 0; fi < nforks && nbad < 5; fi++) {
		atomic_store(&fork_index, fi);
		atomic_store(&child_pid, 0);
		alarm(PARENT_WATCHDOG_S);
		/* Fork at varied moments of the threads' work. */
		struct timespec ts = {0, (long)(test_rand_next(&rng) % 400000)};
		nanosleep(&ts, NULL);
		pid_t pid = fork();
		if (pid == 0)
			child_main(fi);
		if (pid < 0) {
			expect_not_reached("fork %d: %s", fi, strerror(errno));
			break;
		}
		atomic_store(&child_pid, pid);
		nforked++;
		if (wait_child(pid, fi) != 0) {
			nbad++;
			if (first_bad < 0)
				first_bad = fi;
		}
	}
	/* The parent's threads kept working through every fork. */
	atomic_store(&fork_index, nforks);
	atomic_store(&child_pid, 0);
	alarm(PARENT_WATCHDOG_S);
	test_sleep_ms(50);
	for (int t = 0; t < NTHREADS; t++) {
		expect_zu_gt(atomic_load(&thread_ops[t]), ops_before[t],
		    "parent thread %d made no progress", t);
	}
	atomic_store(&threads_stop, true);
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	alarm(0);

	size_t nlive = 0;
	for (size_t s = 0; s < NSLOTS; s++) {
		uint64_t *p = atomic_exchange(&slots[s], NULL);
		if (p == NULL)
			continue;
		size_t size = (size_t)p[0];
		size_t bad = walk(p, size, false);
		expect_zu_eq(bad, SIZE_MAX, "slot block %p size %zu corrupted",
		    (void *)p, size);
		if (bad == SIZE_MAX)
			hm_free(p);
		nlive++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	unsigned long ops = 0;
	for (int t = 0; t < NTHREADS; t++)
		ops += atomic_load(&thread_ops[t]);
	printf("fork_many: %d forks in %.1f s, %lu thread operations, %u Small "
	    "classes, %zu slot blocks at the end\n", nforked,
	    (double)(t1.tv_sec - t0.tv_sec)
	    + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9, ops, nsmall, nlive);
	expect_d_eq(nforked, nforks, "every fork happened");
	expect_d_eq(nbad, 0, "children failed, the first at fork %d (seed "
	    "HM_TEST_SEED=%" PRIu64 ")", first_bad, seed);
	expect_d_eq(atomic_load(&parent_failed), 0,
	    "a parent thread found a bad block");
TEST_END

int
main(void) {
	return test(test_fork_many);
}
