/*
 * Statistics (stats.c) through mallctl: after "epoch", stats.allocated
 * moves by exactly the usable size of a block this thread allocates or
 * frees (small, large and huge); the totals are consistent with each
 * other and with hm_stats_read; the per-arena figures behind them.
 *
 * The unit test is single-threaded: nothing else allocates between the
 * snapshots.  Blocks in the thread cache count as allocated, as in
 * jemalloc, so every snapshot flushes the cache first.
 */
#include "unit_util.h"

#include "stats.h"

static size_t
stat_zu(const char *name) {
	assert_d_eq(hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0,
	    "mallctl(thread.tcache.flush)");
	uint64_t epoch = 1;
	assert_d_eq(hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)), 0,
	    "mallctl(epoch) write");
	size_t v = 0, sz = sizeof(v);
	assert_d_eq(hm_mallctl(name, &v, &sz, NULL, 0), 0, "mallctl(%s)",
	    name);
	assert_zu_eq(sz, sizeof(v), "mallctl(%s) size", name);
	return v;
}

static void
check_delta(size_t size) {
	size_t a0 = stat_zu("stats.allocated");
	void *p = hm_malloc(size);
	assert_ptr_not_null(p, "malloc(%zu)", size);
	size_t usize = hm_malloc_usable_size(p);
	size_t a1 = stat_zu("stats.allocated");
	expect_zu_eq(a1 - a0, usize, "stats.allocated after malloc(%zu) "
	    "(usable %zu): %zu -> %zu", size, usize, a0, a1);
	hm_free(p);
	size_t a2 = stat_zu("stats.allocated");
	expect_zu_eq(a2, a0, "stats.allocated after free of %zu bytes", size);
}

TEST_BEGIN(test_allocated_delta)
	if (test_canary_on())
		test_skip("canary: Small classes keep a word for it");
	unit_boot_exact();
	check_delta(100 * KiB);
	check_delta(100);
	check_delta(SC_SMALL_MAXCLASS);
	check_delta(SC_LARGE_MINCLASS);
	check_delta(hm_sc_large_maxclass);
	check_delta(hm_sc_large_maxclass + 1);
	check_delta(3 * hm_chunksize + 12345);
TEST_END

/* Several blocks at once, freed in another order. */
TEST_BEGIN(test_allocated_many)
	if (test_canary_on())
		test_skip("canary: Small classes keep a word for it");
	unit_boot_exact();
	static const size_t sizes[] = {1, 17, 4000, 20000, 100 * KiB, 3 * MiB};
	void *p[HM_ARRAY_SIZE(sizes)];
	size_t a0 = stat_zu("stats.allocated"), total = 0;
	for (size_t i = 0; i < HM_ARRAY_SIZE(sizes); i++) {
		p[i] = hm_malloc(sizes[i]);
		assert_ptr_not_null(p[i], "malloc(%zu)", sizes[i]);
		total += hm_malloc_usable_size(p[i]);
	}
	expect_zu_eq(stat_zu("stats.allocated") - a0, total, "allocated");
	for (size_t i = HM_ARRAY_SIZE(sizes); i-- > 0;) {
		total -= hm_malloc_usable_size(p[i]);
		hm_free(p[i]);
		expect_zu_eq(stat_zu("stats.allocated") - a0, total,
		    "allocated after freeing block %zu", i);
	}
TEST_END

/* The snapshot changes only on "epoch". */
TEST_BEGIN(test_epoch_snapshot)
	unit_boot();
	size_t a0 = stat_zu("stats.allocated");
	void *p = hm_malloc(100 * KiB);
	assert_ptr_not_null(p, "malloc");
	size_t v = 0, sz = sizeof(v);
	assert_d_eq(hm_mallctl("stats.allocated", &v, &sz, NULL, 0), 0,
	    "stats.allocated");
	expect_zu_eq(v, a0, "stats.allocated moved without an epoch");
	uint64_t e0 = 0, e1 = 0;
	sz = sizeof(e0);
	assert_d_eq(hm_mallctl("epoch", &e0, &sz, NULL, 0), 0, "epoch read");
	uint64_t one = 1;
	sz = sizeof(e1);
	assert_d_eq(hm_mallctl("epoch", &e1, &sz, &one, sizeof(one)), 0,
	    "epoch write");
	expect_u64_eq(e1, e0 + 1, "epoch after a write");
	expect_zu_eq(stat_zu("stats.allocated") - a0,
	    hm_malloc_usable_size(p), "allocated after the epoch");
	hm_free(p);
TEST_END

TEST_BEGIN(test_totals_consistent)
	unit_boot();
	void *keep = hm_malloc(5 * MiB);
	assert_ptr_not_null(keep, "malloc");
	size_t allocated = stat_zu("stats.allocated");
	size_t active = stat_zu("stats.active");
	size_t metadata = stat_zu("stats.metadata");
	size_t resident = stat_zu("stats.resident");
	size_t mapped = stat_zu("stats.mapped");
	expect_zu_ge(active, allocated, "active >= allocated");
	expect_zu_ge(mapped, active, "mapped >= active");
	expect_zu_gt(metadata, 0, "metadata");
	expect_zu_ge(mapped, metadata, "mapped >= metadata");
	expect_zu_le(resident, mapped, "resident <= mapped");
	expect_zu_ge(resident, active, "resident >= active");
	expect_zu_eq(active % PAGE, 0, "active in pages");
	stats_t st;
	hm_stats_read(&st);
	expect_zu_eq(st.allocated, allocated, "hm_stats_read vs mallctl");
	expect_zu_eq(st.metadata, metadata, "metadata");
	/* Per arena: this thread's arena holds the huge block. */
	arena_stats_t as;
	memset(&as, 0, sizeof(as));
	hm_stats_arena_read(tsd_arena()->ind, &as);
	expect_zu_ge(as.huge_allocated, hm_malloc_usable_size(keep),
	    "arena's huge_allocated");
	expect_zu_ge(as.nthreads, 1, "arena's nthreads");
	size_t sum = 0;
	for (unsigned i = 0; i < SC_NBINS; i++)
		sum += as.bins[i].curregs * hm_sc_slab[i].size;
	expect_zu_eq(sum, as.small_allocated, "small_allocated from the bins");
	hm_free(keep);
TEST_END

int
main(void) {
	return test(test_allocated_delta, test_allocated_many,
	    test_epoch_snapshot, test_totals_consistent);
}
