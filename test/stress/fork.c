/*
 * fork() in a multithreaded program: NTHREADS threads allocate, verify and
 * free continuously (small, large and huge sizes, handing blocks to each
 * other through a shared pool) while the main thread forks 100 times (50
 * with threads in the children; HM_STRESS_SHORT: 40 and 20).  Each child runs under an alarm(10) watchdog: it
 * frees the pool blocks it inherited (allocated by threads that do not exist
 * in the child), mallocs, verifies, reallocs and frees a mix of sizes, and
 * _exit(0)s.  HM_STRESS_SECONDS (default 90) time-boxes each test.  The parent fails on any other exit status or signal; SIGALRM
 * means the child deadlocked (a lock held across fork by another thread).
 *
 * test_fork_child_threads: the children also start threads that allocate,
 * and some children fork again.
 *
 * Skipped under sanitizers: TSan does not support fork with threads running.
 */
#include "stress_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 4
#define NSLOTS 1024
#define CHILD_WATCHDOG_S 10

/*
 * A block: word 0 holds its size; the stamped regions (bytes 8..64, the last
 * 64 bytes, one word per page) hold a pattern derived from (address, size).
 */
static _Atomic(uint64_t *) pool[NSLOTS];
static atomic_bool threads_stop;
static atomic_ulong thread_ops;
static uint64_t seed;

/* Set by a parent thread that found a bad block. */
static atomic_int parent_failed;

/* Stamps (write) or checks a block below limit, a word a page; SIZE_MAX
 * when good. */
static size_t
walk(void *p, size_t size, size_t limit, bool write) {
	return stamp_sized(p, size, limit, write, STAMP_PAGE);
}

/*
 * Sizes >= 16, log-uniform.  With huge: 1 % huge (2 .. 16 MiB), 9 % large
 * (16 KiB .. 2 MiB), the rest small (16 B .. 16 KiB).  Without, for the
 * parent's pool: 10 % large up to 512 KiB, the rest small, so that the
 * parent stays small (after each fork, every page the parent's threads
 * write is copied).
 */
static size_t
draw_size_lg(uint64_t *rng, bool huge) {
	uint64_t r = test_rand_next(rng);
	unsigned lg;
	if (huge && r % 100 < 1)
		lg = 21 + (unsigned)((r >> 8) % 3);    /* 2 .. 16 MiB */
	else if (r % 100 < 10)
		lg = 14 + (unsigned)((r >> 8) % (huge ? 7 : 5));
	else
		lg = 4 + (unsigned)((r >> 8) % 10);    /* 16 B .. 16 KiB */
	size_t base = (size_t)1 << lg;
	return base + (size_t)(test_rand_next(rng) % base);
}

static size_t
draw_size_pool(uint64_t *rng) {
	return draw_size_lg(rng, false);
}

static size_t
draw_size(uint64_t *rng) {
	return draw_size_lg(rng, true);
}

/* Child-side failure: no stdio, no malloc. */
static void
child_die(int code, const char *what, void *p, size_t size, size_t off) {
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "fork child %d: %s: block %p size "
	    "%zu offset %zu (seed HM_TEST_SEED=%" PRIu64 ")\n", (int)getpid(),
	    what, p, size, off, seed);
	if (n > 0)
		(void)!write(2, buf, (size_t)n);
	_exit(code);
}

/* A parent thread's failure: said on stderr; the test fails at the end. */
static void
parent_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
parent_fail(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	atomic_store(&parent_failed, 1);
}

static void
parent_bad_block(const void *p, size_t size, size_t bad) {
	parent_fail("fork: parent thread: block %p size %zu corrupted at "
	    "offset %zu (seed HM_TEST_SEED=%" PRIu64 ")\n", p, size, bad, seed);
}

static void *
parent_thread(void *arg) {
	uint64_t rng = seed ^ ((uintptr_t)arg * 0x9e3779b97f4a7c15ULL);
	unsigned long n = 0;
	while (!atomic_load_explicit(&threads_stop, memory_order_relaxed)) {
		_Atomic(uint64_t *) *slot = &pool[test_rand_next(&rng) % NSLOTS];
		uint64_t *p = atomic_exchange(slot, NULL);
		if (p != NULL) {
			size_t size = (size_t)p[0];
			size_t bad = walk(p, size, size, false);
			if (bad != SIZE_MAX) {
				parent_bad_block(p, size, bad);
				continue;
			}
			if (test_rand_next(&rng) % 4 == 0) {
				size_t nsize = draw_size_pool(&rng);
				uint64_t *q = hm_realloc(p, nsize);
				if (q == NULL) {
					parent_fail("fork: realloc(%p, %zu) "
					    "failed\n", (void *)p, nsize);
					continue;
				}
				walk(q, nsize, nsize, true);
				p = atomic_exchange(slot, q);
				if (p == NULL)
					continue;
			}
			hm_free(p);
		} else if (test_rand_next(&rng) % 32 == 0) {
			/* Large or huge, 256 KiB .. 16 MiB, freed at once. */
			uint64_t r = test_rand_next(&rng);
			size_t size = ((size_t)1 << (18 + r % 6))
			    + (size_t)((r >> 8) % ((size_t)1 << (18 + r % 6)));
			p = hm_malloc(size);
			if (p == NULL) {
				parent_fail("fork: malloc(%zu) failed\n", size);
				continue;
			}
			stamp_sized(p, size, size, true, 64 << 10);
			size_t bad = stamp_sized(p, size, size, false, 64 << 10);
			if (bad != SIZE_MAX) {
				parent_bad_block(p, size, bad);
				continue;
			}
			hm_free(p);
		} else {
			size_t size = draw_size_pool(&rng);
			p = hm_malloc(size);
			if (p == NULL) {
				parent_fail("fork: malloc(%zu) failed\n", size);
				continue;
			}
			walk(p, size, size, true);
			p = atomic_exchange(slot, p);
			if (p != NULL)
				hm_free(p);
		}
		n++;
	}
	atomic_fetch_add(&thread_ops, n);
	return NULL;
}

/* A child's own work: allocate a mix, verify, realloc, verify, free. */
static void
child_work(uint64_t rng) {
	enum { N = 64 };
	uint64_t *blocks[N];
	size_t sizes[N];
	for (int i = 0; i < N; i++) {
		sizes[i] = draw_size(&rng);
		blocks[i] = (i % 3 == 0) ? hm_calloc(1, sizes[i])
		    : hm_malloc(sizes[i]);
		if (blocks[i] == NULL)
			child_die(2, "allocation failed", NULL, sizes[i], 0);
		if (i % 3 == 0) {
			const uint8_t *c = (const uint8_t *)blocks[i];
			size_t lim = sizes[i] < 65536 ? sizes[i] : 65536;
			for (size_t o = 0; o < lim; o++) {
				if (c[o] != 0)
					child_die(3, "calloc not zeroed",
					    blocks[i], sizes[i], o);
			}
		}
		walk(blocks[i], sizes[i], sizes[i], true);
	}
	for (int i = 0; i < N; i++) {
		size_t bad = walk(blocks[i], sizes[i], sizes[i], false);
		if (bad != SIZE_MAX)
			child_die(4, "block corrupted", blocks[i], sizes[i], bad);
		if (i % 2 == 0) {
			size_t nsize = draw_size(&rng);
			uint64_t *q = hm_realloc(blocks[i], nsize);
			if (q == NULL)
				child_die(5, "realloc failed", blocks[i], nsize,
				    0);
			/* The size word and the bytes up to 64 survive. */
			size_t keep = nsize < sizes[i] ? nsize : sizes[i];
			keep = keep < STAMP_EDGE ? keep : STAMP_EDGE;
			uint64_t key = stamp_key(blocks[i], sizes[i], 0);
			if (q[0] != sizes[i])
				child_die(6, "realloc lost the size word", q,
				    nsize, 0);
			bad = stamp_range((uint8_t *)q, key, 8, keep, false);
			if (bad != SIZE_MAX)
				child_die(6, "realloc lost the prefix", q,
				    nsize, bad);
			blocks[i] = q;
			sizes[i] = nsize;
			walk(q, nsize, nsize, true);
		}
	}
	for (int i = 0; i < N; i++) {
		size_t bad = walk(blocks[i], sizes[i], sizes[i], false);
		if (bad != SIZE_MAX)
			child_die(7, "block corrupted", blocks[i], sizes[i], bad);
		hm_free(blocks[i]);
	}
}

static void *
child_thread(void *arg) {
	child_work((uint64_t)(uintptr_t)arg);
	return NULL;
}

static int
wait_child(pid_t pid, int i) {
	int status;
	pid_t r;
	do {
		r = waitpid(pid, &status, 0);
	} while (r < 0 && errno == EINTR);
	if (r != pid) {
		fprintf(stderr, "fork %d: waitpid: %s\n", i, strerror(errno));
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		fprintf(stderr, "fork %d: child %d killed by signal %d (%s)%s "
		    "(seed HM_TEST_SEED=%" PRIu64 ")\n", i, (int)pid, sig,
		    strsignal(sig), sig == SIGALRM ? ": watchdog, the child "
		    "deadlocked" : "", seed);
	} else {
		fprintf(stderr, "fork %d: child %d exited with status %d "
		    "(seed HM_TEST_SEED=%" PRIu64 ")\n", i, (int)pid,
		    WEXITSTATUS(status), seed);
	}
	return -1;
}

/* What a child does; with_threads adds allocating threads and a grandchild. */
static void
child_main(int i, bool with_threads) {
	alarm(CHILD_WATCHDOG_S);
	uint64_t rng = seed ^ test_mix64((uint64_t)i + 77);
	/* Free what the parent's threads left in the pool. */
	for (size_t s = 0; s < NSLOTS; s++) {
		uint64_t *p = atomic_load(&pool[s]);
		if (p == NULL || test_rand_next(&rng) % 2 != 0)
			continue;
		size_t size = (size_t)p[0];
		size_t bad = walk(p, size, size, false);
		if (bad != SIZE_MAX)
			child_die(8, "inherited block corrupted", p, size, bad);
		atomic_store(&pool[s], NULL);
		hm_free(p);
	}
	pthread_t th[2];
	if (with_threads) {
		for (int t = 0; t < 2; t++) {
			if (pthread_create(&th[t], NULL, child_thread,
			    (void *)(uintptr_t)test_rand_next(&rng)) != 0)
				child_die(9, "pthread_create failed", NULL, 0,
				    0);
		}
	}
	child_work(test_rand_next(&rng));
	if (with_threads) {
		for (int t = 0; t < 2; t++)
			pthread_join(th[t], NULL);
		if (i % 4 == 0) {
			/* A grandchild of a process that had threads. */
			pid_t pid = fork();
			if (pid == 0) {
				alarm(CHILD_WATCHDOG_S);
				child_work(test_rand_next(&rng));
				_exit(0);
			}
			if (pid < 0 || wait_child(pid, i) != 0)
				_exit(10);
		}
	}
	_exit(0);
}

static void
run_forks(bool with_threads) {
	if (HM_TEST_SANITIZED)
		test_skip("fork with threads running is not supported under "
		    "sanitizers");
	seed = test_seed();
	bool is_short = stress_short();
	int nforks = with_threads ? (is_short ? 20 : 50)
	    : (is_short ? 40 : 100);
	uint64_t rng = seed;

	/* The parent itself has a deadline: its threads must not hang. */
	alarm(300);
	atomic_store(&threads_stop, false);
	atomic_store(&thread_ops, 0);
	pthread_t th[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		assert_d_eq(pthread_create(&th[i], NULL, parent_thread,
		    (void *)(uintptr_t)(i + 1)), 0, "pthread_create");
	}
	double time_box_s = stress_time_box_s();
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int nbad = 0, nforked = 0;
	for (int i = 0; i < nforks && nbad < 5; i++, nforked++) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((double)(t1.tv_sec - t0.tv_sec) > time_box_s) {
			printf("fork: time box of %.0f s reached after %d of %d "
			    "forks\n", time_box_s, i, nforks);
			break;
		}
		/* Fork at varied moments of the threads' work. */
		struct timespec ts = {0, (long)(test_rand_next(&rng) % 3000000)};
		nanosleep(&ts, NULL);
		pid_t pid = fork();
		if (pid == 0)
			child_main(i, with_threads);
		expect_d_ge(pid, 0, "fork: %s", strerror(errno));
		if (pid < 0)
			break;
		if (wait_child(pid, i) != 0)
			nbad++;
	}
	atomic_store(&threads_stop, true);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	alarm(0);

	/* The parent's pool survived all of it. */
	size_t nlive = 0;
	for (size_t s = 0; s < NSLOTS; s++) {
		uint64_t *p = atomic_load(&pool[s]);
		if (p == NULL)
			continue;
		size_t size = (size_t)p[0];
		size_t bad = walk(p, size, size, false);
		expect_zu_eq(bad, SIZE_MAX, "parent block %p size %zu corrupted",
		    (void *)p, size);
		if (bad == SIZE_MAX)
			hm_free(p);
		atomic_store(&pool[s], NULL);
		nlive++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs_taken = (double)(t1.tv_sec - t0.tv_sec)
	    + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	printf("fork: %d forks%s in %.1f s, %lu thread operations, %zu blocks "
	    "live at the end\n", nforked, with_threads
	    ? " (children with threads)" : "", secs_taken,
	    atomic_load(&thread_ops), nlive);
	expect_d_eq(nbad, 0, "children failed (seed HM_TEST_SEED=%" PRIu64
	    ")", seed);
	/* The time box guards against a slow machine, not a slow fork: half
	 * the forks at least must have happened within it. */
	expect_d_ge(nforked, nforks / 2, "forks done within the time box of "
	    "%.0f s", time_box_s);
	int pf = atomic_load(&parent_failed);
	expect_d_eq(pf, 0, "a parent thread found a bad block");
}

TEST_BEGIN(test_fork_threads)
	run_forks(false);
TEST_END

TEST_BEGIN(test_fork_child_threads)
	run_forks(true);
TEST_END

int
main(void) {
	return test(test_fork_threads, test_fork_child_threads);
}
