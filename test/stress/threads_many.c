/*
 * 10,000 threads created and exited over time (HM_STRESS_SHORT: 3,000),
 * in waves of 1 to 32 running at once.  Each thread is bound to an arena
 * and fills its thread cache: it allocates a mix of Small blocks (every
 * class, bursts that fill and flush the cache), a Large block, now and then
 * a Huge one, checks them, frees most, and leaves a few for the main thread
 * to free after the join (frees of another thread's blocks, whose cache is
 * gone).  What a thread takes (its cache, its binding, its metadata) must
 * be given back or reused when it exits: from thread 1,000 to thread 10,000
 * the resident memory may grow by less than 16 MiB.
 *
 * RSS is the kernel's (smaps_rollup Rss less LazyFree, so MADV_FREE'd
 * pages do not count), measured twice at each point: as it is, with the
 * dirty pages decay has not purged yet, and after malloc_trim(0), which
 * leaves only what is allocated or held by hmalloc's own structures.  Both
 * must grow by less than the bound (not under sanitizers, whose own
 * per-thread state counts there too).  stats.allocated must come back to
 * where it was (the leftovers are freed at each point), and the growth of
 * stats.metadata (thread caches are pooled, not made per thread) is
 * bounded too.  The wave sizes follow a fixed cycle that has reached its
 * largest wave long before thread 1,000, so the peak footprint is in the
 * first figure already.
 */
#include "stress_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define MiB ((size_t)1 << 20)
#define NTHREADS 10000
#define NTHREADS_SHORT 3000
#define NFIRST 1000
#define RSS_GROWTH_MAX (16 * MiB)
#define METADATA_GROWTH_MAX (4 * MiB)
#define WAVE_MAX 32
#define NLEFT 4          /* blocks each thread leaves to the main thread */
#define MAX_CLASSES 64

static const unsigned wave_cycle[] = {1, 8, 32, 3, 16, 2, 24, 5, 12, 1, 32, 7};

static size_t small_sizes[MAX_CLASSES];
static unsigned nsmall;
static uint64_t seed;
static atomic_int nbad;

struct thread_arg {
	unsigned index;      /* 0-based number of the thread */
	void *left[NLEFT];   /* blocks for the main thread to free */
	size_t left_size[NLEFT];
};

static size_t
walk(void *p, size_t size, bool write) {
	return stamp_walk(p, stamp_key(p, size, 0x7e), 0, size, size,
	    size > MiB ? 64 << 10 : STAMP_PAGE, write);
}

static void
report_bad(unsigned ti, const char *what, const void *p, size_t size,
    size_t off) {
	fprintf(stderr, "threads_many: thread %u: %s: block %p size %zu offset "
	    "%zu (seed HM_TEST_SEED=%" PRIu64 ")\n", ti, what, p, size, off,
	    seed);
	atomic_fetch_add(&nbad, 1);
}

static void *
alloc_stamped(unsigned ti, size_t size) {
	void *p = hm_malloc(size);
	if (p == NULL)
		report_bad(ti, "malloc failed", NULL, size, 0);
	else
		walk(p, size, true);
	return p;
}

static void
check_free(unsigned ti, void *p, size_t size) {
	if (p == NULL)
		return;
	size_t bad = walk(p, size, false);
	if (bad != SIZE_MAX) {
		report_bad(ti, "block corrupted", p, size, bad);
		return;
	}
	hm_free(p);
}

static void *
thread_main(void *argp) {
	struct thread_arg *arg = argp;
	unsigned ti = arg->index;
	uint64_t rng = seed ^ test_mix64(ti + 1);
	enum { NB = 96 };
	void *b[NB];
	size_t bs[NB];

	/* A mix over every Small class, live together. */
	for (int i = 0; i < NB; i++) {
		bs[i] = small_sizes[(ti + (unsigned)i * 7) % nsmall];
		b[i] = alloc_stamped(ti, bs[i]);
	}
	/* A burst in one class: the cache fills from the bin and, freed,
	 * flushes back. */
	size_t bsize = small_sizes[test_rand_next(&rng) % 20];
	void *burst[200];
	unsigned nburst = 50 + (unsigned)(test_rand_next(&rng) % 150);
	for (unsigned i = 0; i < nburst; i++)
		burst[i] = alloc_stamped(ti, bsize);
	for (unsigned i = 0; i < nburst; i++)
		check_free(ti, burst[i], bsize);
	/* Large, and Huge for one thread in 64. */
	size_t lsize = (16 << 10) + (size_t)(test_rand_next(&rng) % (240 << 10));
	check_free(ti, alloc_stamped(ti, lsize), lsize);
	if (ti % 64 == 0) {
		size_t hsize = 3 * MiB + (size_t)(test_rand_next(&rng) % MiB);
		check_free(ti, alloc_stamped(ti, hsize), hsize);
	}
	/* Most blocks freed here, some left in the cache at exit, a few
	 * left to the main thread. */
	for (int i = 0; i < NB; i++) {
		if (i < NLEFT) {
			arg->left[i] = b[i];
			arg->left_size[i] = bs[i];
		} else {
			check_free(ti, b[i], bs[i]);
		}
	}
	return NULL;
}

/* Frees what a joined thread left. */
static void
collect(struct thread_arg *arg) {
	for (int i = 0; i < NLEFT; i++) {
		check_free(arg->index, arg->left[i], arg->left_size[i]);
		arg->left[i] = NULL;
	}
}

struct figures {
	size_t rss;          /* as it is */
	size_t rss_trimmed;  /* after malloc_trim(0) */
	size_t allocated;
	size_t metadata;
};

static size_t
stat_read(const char *name) {
	uint64_t epoch = 1;
	size_t v = 0, len = sizeof(v);
	hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
	if (hm_mallctl(name, &v, &len, NULL, 0) != 0)
		return 0;
	return v;
}

static struct figures
measure(void) {
	struct figures f;
	/* The main thread's cache holds the leftovers it freed last. */
	hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	f.rss = test_rss_bytes();
	f.allocated = stat_read("stats.allocated");
	f.metadata = stat_read("stats.metadata");
	hm_malloc_trim(0);
	f.rss_trimmed = test_rss_bytes();
	return f;
}

TEST_BEGIN(test_threads_many)
	seed = test_seed();
	unsigned nthreads = stress_short() ? NTHREADS_SHORT : NTHREADS;

	nsmall = stress_small_classes(small_sizes, MAX_CLASSES);

	/* Small stacks: the threads' own stacks are not what is measured. */
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 128 << 10);

	static struct thread_arg args[WAVE_MAX];
	pthread_t th[WAVE_MAX];
	struct figures first = {0}, last;
	unsigned started = 0, wave = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (started < nthreads) {
		unsigned w = wave_cycle[wave++ % HM_TEST_ARRAY_LEN(wave_cycle)];
		/* A wave ends exactly at thread NFIRST, and at the last. */
		if (started < NFIRST && started + w > NFIRST)
			w = NFIRST - started;
		if (started + w > nthreads)
			w = nthreads - started;
		unsigned n = 0;
		for (; n < w; n++) {
			args[n].index = started + n;
			int err = pthread_create(&th[n], &attr, thread_main,
			    &args[n]);
			if (err != 0) {
				expect_not_reached("pthread_create (thread %u): "
				    "%s", started + n, strerror(err));
				break;
			}
		}
		/* Joined newest first: exits overlap with the others' work. */
		for (unsigned k = n; k-- > 0;) {
			pthread_join(th[k], NULL);
			collect(&args[k]);
		}
		if (n < w)
			break;
		started += n;
		if (started == NFIRST)
			first = measure();
		if (atomic_load(&nbad) > 10)
			break;
	}
	last = measure();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_attr_destroy(&attr);

	printf("threads_many: %u threads in %u waves, %.1f s; at thread %u / "
	    "%u: RSS %.2f / %.2f MiB (after malloc_trim %.2f / %.2f MiB), "
	    "allocated %zu / %zu B, metadata %.2f / %.2f MiB\n", started, wave,
	    (double)(t1.tv_sec - t0.tv_sec)
	    + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9, NFIRST, started,
	    (double)first.rss / MiB, (double)last.rss / MiB,
	    (double)first.rss_trimmed / MiB, (double)last.rss_trimmed / MiB,
	    first.allocated, last.allocated, (double)first.metadata / MiB,
	    (double)last.metadata / MiB);
	expect_u_eq(started, nthreads, "every thread ran");
	expect_d_eq(atomic_load(&nbad), 0, "bad blocks (seed HM_TEST_SEED=%"
	    PRIu64 ")", seed);
	/* A sanitizer keeps state per thread of its own (ASan's thread
	 * registry and fake stacks, TSan's shadow): RSS is not hmalloc's
	 * there. */
	if (!HM_TEST_SANITIZED) {
		assert_zu_gt(first.rss, 0, "RSS readable");
		expect_zu_lt(last.rss, first.rss + RSS_GROWTH_MAX,
		    "RSS grew by 16 MiB or more from thread %u to thread %u",
		    NFIRST, started);
		expect_zu_lt(last.rss_trimmed, first.rss_trimmed
		    + RSS_GROWTH_MAX, "RSS after malloc_trim grew by 16 MiB or "
		    "more from thread %u to thread %u", NFIRST, started);
	}
	/* Everything the threads allocated was freed at both points; what is
	 * left is the harness's and stdio's, the same at both. */
	expect_zu_le(last.allocated, first.allocated + 4096,
	    "allocated bytes grew: blocks lost at thread exit");
	expect_zu_lt(last.metadata, first.metadata + METADATA_GROWTH_MAX,
	    "metadata grew by 4 MiB or more: thread state not reused");
TEST_END

int
main(void) {
	return test(test_threads_many);
}
