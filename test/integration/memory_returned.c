/*
 * Freed memory goes back to the system.  A 1 GiB workload of mixed sizes
 * (16 B .. 4 MiB; a third of the bytes each in small, large and huge blocks,
 * every page touched) is allocated, the peak RSS recorded, and everything
 * freed in random order.  Then:
 *
 * test_returned_idle: the program calls nothing and sleeps.  Within the
 *   configured decay time (opt.dirty_decay_ms + opt.muzzy_decay_ms, plus
 *   5 s of slack) RSS must fall below 10 % of the peak.
 * test_returned_trim: malloc_trim(0) right after the frees must bring RSS
 *   below 10 % of the peak at once.
 *
 * RSS is "Rss:" minus "LazyFree:" from /proc/self/smaps_rollup (pages
 * given back with MADV_FREE count as returned), or /proc/self/statm.
 * The figures are printed.  Skipped under sanitizers (shadow memory).
 */
#include "test.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)
#define WORKLOAD ((size_t)1 << 30)

/* Mapped directly so that the test's own bookkeeping is not in the heap. */
struct workload {
	void **ptrs;
	size_t n, cap;
	size_t bytes[3];
};

static void
workload_alloc(struct workload *w, uint64_t *rng) {
	memset(w, 0, sizeof(*w));
	w->cap = 2 * 1000 * 1000;
	w->ptrs = mmap(NULL, w->cap * sizeof(void *), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(w->ptrs != MAP_FAILED, "mmap for the pointer table");
	size_t total = 0;
	while (total < WORKLOAD && w->n < w->cap) {
		/* The band with the fewest bytes so far, then a log-uniform
		 * size within it: small 16 B..8 KiB, large 8 KiB..1 MiB,
		 * huge 1..4 MiB. */
		int band = 0;
		for (int b = 1; b < 3; b++) {
			if (w->bytes[b] < w->bytes[band])
				band = b;
		}
		uint64_t r = test_rand_next(rng);
		unsigned lg;
		switch (band) {
		case 0: lg = 4 + (unsigned)(r % 9); break;    /* 16 B.. */
		case 1: lg = 13 + (unsigned)(r % 7); break;   /* 8 KiB.. */
		default: lg = 20 + (unsigned)(r % 2); break;  /* 1 MiB.. */
		}
		size_t size = ((size_t)1 << lg)
		    + (size_t)(test_rand_next(rng) % ((size_t)1 << lg));
		void *p = hm_malloc(size);
		assert_true(p != NULL, "malloc(%zu) failed after %zu MiB", size,
		    total >> 20);
		memset(p, (int)(r >> 56) | 1, size);
		w->ptrs[w->n++] = p;
		w->bytes[band] += size;
		total += size;
	}
	printf("memory_returned: %zu blocks: small %zu MiB, large %zu MiB, "
	    "huge %zu MiB\n", w->n, w->bytes[0] >> 20, w->bytes[1] >> 20,
	    w->bytes[2] >> 20);
}

static void
workload_free(struct workload *w, uint64_t *rng) {
	/* Random order. */
	for (size_t i = w->n; i > 1; i--) {
		size_t j = (size_t)(test_rand_next(rng) % i);
		void *t = w->ptrs[i - 1];
		w->ptrs[i - 1] = w->ptrs[j];
		w->ptrs[j] = t;
	}
	for (size_t i = 0; i < w->n; i++) {
		uint8_t *p = w->ptrs[i];
		if (p[0] == 0)
			expect_not_reached("block %p lost its contents", (void *)p);
		hm_free(p);
	}
	munmap(w->ptrs, w->cap * sizeof(void *));
	w->ptrs = NULL;
}

/*
 * Allocates and frees the workload; the RSS before, at the peak and right
 * after the frees.
 */
static void
workload_run(uint64_t *rng, size_t *rss0, size_t *peak, size_t *after_free) {
	struct workload w;
	*rss0 = test_rss_bytes();
	workload_alloc(&w, rng);
	*peak = test_rss_bytes();
	workload_free(&w, rng);
	*after_free = test_rss_bytes();
}

/* Milliseconds of dirty plus muzzy decay, or -1 if decay is off. */
static long
decay_total_ms(void) {
	long total = 0;
	const char *names[] = {"opt.dirty_decay_ms", "opt.muzzy_decay_ms"};
	for (int i = 0; i < 2; i++) {
		ssize_t v = 0;
		size_t sz = sizeof(v);
		if (hm_mallctl(names[i], &v, &sz, NULL, 0) != 0) {
			printf("memory_returned: mallctl(\"%s\") failed; "
			    "assuming 10 s\n", names[i]);
			v = 10000;
		}
		if (v < 0)
			return -1;
		total += (long)v;
	}
	return total;
}

static double
now_s(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

TEST_BEGIN(test_returned_idle)
	if (HM_TEST_SANITIZED)
		test_skip("sanitizers keep shadow memory resident");
	uint64_t seed = test_seed();
	uint64_t rng = seed;
	long decay_ms = decay_total_ms();
	if (decay_ms < 0)
		test_skip("decay is disabled (opt.*_decay_ms < 0)");
	double wait_s = (double)decay_ms / 1000.0 + 5.0;
	const char *env = getenv("HM_RETURN_WAIT_S");
	if (env != NULL)
		wait_s = strtod(env, NULL);

	size_t rss0, peak, after_free;
	workload_run(&rng, &rss0, &peak, &after_free);
	double t0 = now_s(), t = 0;
	size_t rss = after_free;
	while (rss >= peak / 10 && (t = now_s() - t0) < wait_s) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		rss = test_rss_bytes();
	}
	t = now_s() - t0;
	printf("memory_returned: idle: RSS before %zu MiB, peak %zu MiB, "
	    "right after the frees %zu MiB, after %.1f s idle %zu MiB "
	    "(%.1f%% of peak; limit 10%%, wait up to %.1f s)\n", rss0 >> 20,
	    peak >> 20, after_free >> 20, t, rss >> 20,
	    100.0 * (double)rss / (double)peak, wait_s);
	expect_zu_ge(peak, WORKLOAD, "peak RSS below the workload?");
	expect_zu_lt(rss, peak / 10, "RSS after every block was freed and "
	    "%.1f s idle (decay %ld ms)", wait_s, decay_ms);
TEST_END

TEST_BEGIN(test_returned_trim)
	if (HM_TEST_SANITIZED)
		test_skip("sanitizers keep shadow memory resident");
	uint64_t seed = test_seed();
	uint64_t rng = seed;
	size_t rss0, peak, after_free;
	workload_run(&rng, &rss0, &peak, &after_free);
	int trimmed = hm_malloc_trim(0);
	size_t rss = test_rss_bytes();
	printf("memory_returned: trim: RSS before %zu MiB, peak %zu MiB, "
	    "after the frees %zu MiB, after malloc_trim(0) (returned %d) "
	    "%zu MiB (%.1f%% of peak; limit 10%%)\n", rss0 >> 20,
	    peak >> 20, after_free >> 20, trimmed, rss >> 20,
	    100.0 * (double)rss / (double)peak);
	expect_zu_ge(peak, WORKLOAD, "peak RSS below the workload?");
	expect_zu_lt(rss, peak / 10, "RSS after freeing everything and "
	    "malloc_trim(0)");
TEST_END

int
main(void) {
	return test(test_returned_idle, test_returned_trim);
}
