/*
 * Statistics against the kernel: stats.resident moves as RSS (smaps_rollup
 * Rss - LazyFree) moves over a known workload, and an arena's pdirty is
 * the memory a purge gives back.  Tolerance: what hmalloc counts as
 * resident is an upper bound (a slab's untouched pages, a run's split
 * dirty count), at most 3 % + 2 MiB here; everything else in the process
 * (stdio, the test's own stack) stays put while we measure.
 */
#include "test.h"

#define MiB ((size_t)1 << 20)
#define KiB ((size_t)1 << 10)

static size_t
stat_zu(const char *name) {
	uint64_t e = 1;
	assert_d_eq(hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0,
	    "flush");
	assert_d_eq(hm_mallctl("epoch", NULL, NULL, &e, sizeof(e)), 0, "epoch");
	size_t v = 0, sz = sizeof(v);
	assert_d_eq(hm_mallctl(name, &v, &sz, NULL, 0), 0, "%s", name);
	return v;
}

static void
expect_close(size_t got, size_t want, const char *what) {
	size_t tol = want / 33 + 2 * MiB;
	expect_true(got + tol >= want && got <= want + tol,
	    "%s: hmalloc says %zu KiB, the kernel %zu KiB", what, got / KiB,
	    want / KiB);
}

#define NSMALL 60000
#define NLARGE 64
#define NHUGE 6

TEST_BEGIN(test_resident_follows_rss)
	if (test_prof_on())
		test_skip("prof: a sampled Small block's Large run is counted "
		    "resident whole");
	/* Decay off in this arena: nothing moves behind our back. */
	unsigned a = 0;
	size_t sz = sizeof(a);
	assert_d_eq(hm_mallctl("thread.arena", &a, &sz, NULL, 0), 0, "arena");
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", a);
	ssize_t never = -1;
	assert_d_eq(hm_mallctl(name, NULL, NULL, &never, sizeof(never)), 0,
	    "%s", name);
	assert_d_eq(hm_mallctl("arena.4096.purge", NULL, NULL, NULL, 0), 0,
	    "purge");
	size_t rss0 = test_rss_bytes(), res0 = stat_zu("stats.resident");

	/* Small, large and huge blocks, every byte touched. */
	static void *small[NSMALL], *large[NLARGE], *huge[NHUGE];
	size_t bytes = 0;
	for (int i = 0; i < NSMALL; i++) {
		size_t s = 16 + (size_t)(i % 40) * 48;
		small[i] = hm_malloc(s);
		assert_ptr_not_null(small[i], "malloc");
		memset(small[i], 1, s);
		bytes += s;
	}
	for (int i = 0; i < NLARGE; i++) {
		size_t s = (size_t)(20 + i % 5 * 60) * KiB;
		large[i] = hm_malloc(s);
		assert_ptr_not_null(large[i], "malloc");
		memset(large[i], 2, s);
		bytes += s;
	}
	for (int i = 0; i < NHUGE; i++) {
		size_t s = (size_t)(3 + i) * MiB;
		huge[i] = hm_malloc(s);
		assert_ptr_not_null(huge[i], "malloc");
		memset(huge[i], 3, s);
		bytes += s;
	}
	size_t rss1 = test_rss_bytes(), res1 = stat_zu("stats.resident");
	printf("resident: +%zu MiB allocated; RSS +%zu KiB, stats.resident "
	    "+%zu KiB\n", bytes / MiB, (rss1 - rss0) / KiB, (res1 - res0) / KiB);
	expect_close(res1 - res0, rss1 - rss0, "after allocating");

	/* Freed with decay off: still resident, for both, and counted
	 * dirty. */
	size_t pd0 = 0;
	snprintf(name, sizeof(name), "stats.arenas.%u.pdirty", a);
	pd0 = stat_zu(name);
	for (int i = 0; i < NLARGE; i++)
		hm_free(large[i]);
	for (int i = 0; i < NSMALL; i += 2)
		hm_free(small[i]);
	size_t rss2 = test_rss_bytes(), res2 = stat_zu("stats.resident");
	size_t pd = stat_zu(name) - pd0;
	expect_close(res2 - res0, rss2 - rss0, "after freeing, decay off");
	/* A purge gives back what pdirty said (and the huge cache: none
	 * here, the huge blocks are live). */
	assert_d_eq(hm_mallctl("arena.4096.purge", NULL, NULL, NULL, 0), 0,
	    "purge");
	size_t rss3 = test_rss_bytes(), res3 = stat_zu("stats.resident");
	printf("resident: pdirty %zu KiB; the purge gave back %zu KiB\n",
	    pd * 4, (rss2 - rss3) / KiB);
	expect_close(pd << 12, rss2 - rss3, "pdirty against the purge");
	expect_close(res3 - res0, rss3 - rss0, "after the purge");
	for (int i = 1; i < NSMALL; i += 2)
		hm_free(small[i]);
	for (int i = 0; i < NHUGE; i++)
		hm_free(huge[i]);
	assert_d_eq(hm_mallctl("arena.4096.purge", NULL, NULL, NULL, 0), 0,
	    "purge");
	size_t rss4 = test_rss_bytes(), res4 = stat_zu("stats.resident");
	expect_close(res4 > res0 ? res4 - res0 : 0,
	    rss4 > rss0 ? rss4 - rss0 : 0, "everything freed and purged");
	ssize_t back = 5000;
	snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", a);
	hm_mallctl(name, NULL, NULL, &back, sizeof(back));
TEST_END

int
main(void) {
	return test(test_resident_follows_rss);
}
