/*
 * opt.retain through the public API.
 *
 * test_retain_reuse: a freed huge block, once purged (mallctl
 *   "arena.4096.purge" empties the huge cache), stays mapped, stats.retained
 *   grows by its size and stats.mapped does not count it; the next huge
 *   block of that size gets the same address and reads as zero (calloc
 *   trusts the mapping to be zero and does not clear it).
 * test_retain_rss: the freed and purged block leaves RSS (smaps_rollup),
 *   polled with a deadline.
 * test_retain_churn: a long churn of huge blocks of varying sizes, with
 *   reallocs that grow (in place over retained ranges, or moving) and
 *   shrink them: contents survive, and the address space (stats.mapped +
 *   stats.retained, and the sum of /proc/self/maps) stops growing.
 * test_retain_off: with retain:false (run again in a new process when the
 *   options have retain:true) the freed block's range is unmapped, and
 *   nothing is retained.
 *
 * retain.env turns the background thread off: its purges would change the
 * pool between the steps checked.
 */
#include "test.h"

#include <time.h>

#include "proc_maps.h"

#define MiB ((size_t)1 << 20)

static bool
opt_bool(const char *name) {
	bool v = false;
	size_t sz = sizeof(v);
	assert_d_eq(hm_mallctl(name, &v, &sz, NULL, 0), 0, "mallctl(%s)", name);
	return v;
}

static void
purge(void) {
	assert_d_eq(hm_mallctl("arena.4096.purge", NULL, NULL, NULL, 0), 0,
	    "arena.4096.purge");
}

static size_t
stat_zu(const char *name) {
	uint64_t epoch = 1;
	assert_d_eq(hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)), 0,
	    "epoch");
	size_t v = 0, sz = sizeof(v);
	assert_d_eq(hm_mallctl(name, &v, &sz, NULL, 0), 0, "mallctl(%s)", name);
	return v;
}

static bool
all_zero(const void *p, size_t size) {
	const uint64_t *w = p;
	for (size_t i = 0; i < size / sizeof(*w); i++) {
		if (w[i] != 0)
			return false;
	}
	return true;
}

TEST_BEGIN(test_retain_reuse)
	if (!opt_bool("opt.retain"))
		test_skip("retain:false");
	proc_init();
	const size_t size = 24 * MiB;
	purge();
	size_t retained0 = stat_zu("stats.retained");
	char *p = hm_malloc(size);
	assert_ptr_not_null(p, "malloc(%zu)", size);
	size_t usize = hm_malloc_usable_size(p);
	memset(p, 0xa5, usize);
	size_t mapped1 = stat_zu("stats.mapped");
	size_t meta1 = stat_zu("stats.metadata");
	hm_free(p);
	purge();
	size_t retained1 = stat_zu("stats.retained");
	size_t mapped2 = stat_zu("stats.mapped");
	/* The pool's first range may map a page of its nodes (metadata). */
	size_t meta_growth = stat_zu("stats.metadata") - meta1;
	expect_zu_ge(retained1, retained0 + usize, "stats.retained after the "
	    "free and purge");
	expect_zu_le(mapped2 - meta_growth, mapped1 - usize, "stats.mapped "
	    "still counts the retained block");
	expect_zu_le(meta_growth, (size_t)64 << 10, "metadata growth");
	proc_map_t m;
	expect_true(proc_map_find(p, false, &m), "retained range %p unmapped",
	    (void *)p);

	char *q = hm_calloc(1, size);
	assert_ptr_not_null(q, "calloc(%zu)", size);
	expect_ptr_eq(q, p, "the retained range was not reused");
	expect_true(all_zero(q, usize), "block from the retained range not "
	    "zero");
	expect_zu_le(stat_zu("stats.retained"), retained1 - usize,
	    "stats.retained after the reuse");
	printf("retain: %zu MiB block at %p: retained %zu -> %zu -> %zu KiB\n",
	    usize >> 20, (void *)p, retained0 >> 10, retained1 >> 10,
	    stat_zu("stats.retained") >> 10);
	hm_free(q);
	purge();
TEST_END

static double
now_s(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

TEST_BEGIN(test_retain_rss)
	const size_t size = 48 * MiB;
	purge();
	char *p = hm_malloc(size);
	assert_ptr_not_null(p, "malloc(%zu)", size);
	memset(p, 0x3c, size);
	size_t rss1 = test_rss_bytes();
	hm_free(p);
	purge();
	/* The purge is synchronous; the poll only allows for a slow
	 * /proc. */
	double t0 = now_s();
	size_t rss2 = test_rss_bytes();
	while (rss2 + size - size / 10 > rss1 && now_s() - t0 < 10.0) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
		rss2 = test_rss_bytes();
	}
	printf("retain: RSS with the %zu MiB block %zu KiB, after free and "
	    "purge %zu KiB (%.2f s)\n", size >> 20, rss1 >> 10, rss2 >> 10,
	    now_s() - t0);
	expect_zu_le(rss2 + size - size / 10, rss1, "RSS did not fall by the "
	    "freed block");
TEST_END

#define SLOTS 12

/* One word every 64 KiB: enough to see pages lost in a move, without
 * faulting in every page of every block. */
#define STAMP_STRIDE ((size_t)64 << 10)

static void
stamp(char *p, size_t size, uint64_t tag) {
	for (size_t o = 0; o < size; o += STAMP_STRIDE)
		memcpy(p + o, &tag, sizeof(tag));
}

static bool
stamp_ok(const char *p, size_t size, uint64_t tag) {
	for (size_t o = 0; o < size; o += STAMP_STRIDE) {
		if (memcmp(p + o, &tag, sizeof(tag)) != 0)
			return false;
	}
	return true;
}

TEST_BEGIN(test_retain_churn)
	if (!opt_bool("opt.retain"))
		test_skip("retain:false");
	proc_init();
	uint64_t seed = test_seed(), st = seed;
	struct {
		char *p;
		size_t size;
		uint64_t tag;
	} slot[SLOTS] = {{NULL, 0, 0}};
	size_t live = 0, peak_live = 0, peak_va = 0, va_half = 0;
	size_t peak_maps = 0, maps_half = 0, maps0 = proc_maps_total();
	/* Junk and zeroing fill every block, tens of MiB each: fewer
	 * rounds there (the address-space bounds hold for any number). */
	const char *junk = "false";
	size_t sz = sizeof(junk);
	assert_d_eq(hm_mallctl("opt.junk", &junk, &sz, NULL, 0), 0, "opt.junk");
	const unsigned iters = strcmp(junk, "false") != 0
	    || test_frees_altered() ? 800 : 3000;
	for (unsigned it = 0; it < iters; it++) {
		if (it == iters / 2) {
			va_half = peak_va;
			maps_half = peak_maps;
		}
		unsigned i = (unsigned)(test_rand_next(&st) % SLOTS);
		uint64_t r = test_rand_next(&st);
		/* 2 .. 40 MiB, page multiples. */
		size_t size = 2 * MiB + (size_t)(r % (38 * MiB)) / 4096 * 4096;
		if (slot[i].p == NULL) {
			slot[i].p = hm_malloc(size);
			assert_ptr_not_null(slot[i].p, "malloc(%zu)", size);
			slot[i].size = size;
			slot[i].tag = r;
			stamp(slot[i].p, size, r);
			live += size;
		} else if ((r >> 60) < 6) {
			char *q = hm_realloc(slot[i].p, size);
			assert_ptr_not_null(q, "realloc(%zu)", size);
			size_t keep = size < slot[i].size ? size : slot[i].size;
			if (!stamp_ok(q, keep, slot[i].tag))
				expect_not_reached("realloc %zu -> %zu lost "
				    "the contents", slot[i].size, size);
			live = live - slot[i].size + size;
			slot[i].p = q;
			slot[i].size = size;
			stamp(q, size, slot[i].tag);
		} else {
			if (!stamp_ok(slot[i].p, slot[i].size, slot[i].tag))
				expect_not_reached("block of %zu lost its "
				    "contents", slot[i].size);
			hm_free(slot[i].p);
			live -= slot[i].size;
			slot[i].p = NULL;
		}
		if (live > peak_live)
			peak_live = live;
		if (it % 50 == 0) {
			size_t va = stat_zu("stats.mapped")
			    + stat_zu("stats.retained");
			if (va > peak_va)
				peak_va = va;
			size_t maps = proc_maps_total() - maps0;
			if ((ssize_t)maps > 0 && maps > peak_maps)
				peak_maps = maps;
		}
	}
	for (unsigned i = 0; i < SLOTS; i++)
		hm_free(slot[i].p);
	printf("retain: churn: peak in use %zu MiB; mapped + retained: peak "
	    "%zu MiB (%zu at half-time); /proc/self/maps growth: peak %zu MiB "
	    "(%zu at half-time)\n", peak_live >> 20, peak_va >> 20,
	    va_half >> 20, peak_maps >> 20, maps_half >> 20);
	/*
	 * Without reuse the address space would grow by some 20 GiB in each
	 * half.  Measured over 50 seeds: at most 2.3x the peak in use, and
	 * at most 0.4x the peak in use added in the second half.
	 */
	expect_zu_le(peak_va - va_half, peak_live + 128 * MiB,
	    "mapped + retained still growing in the second half");
	expect_zu_le(peak_maps - maps_half, peak_live + 128 * MiB,
	    "address space still growing in the second half");
	expect_zu_le(peak_va, 4 * peak_live + 512 * MiB,
	    "mapped + retained against the peak in use");
TEST_END

TEST_BEGIN(test_retain_off)
	if (opt_bool("opt.retain")) {
		if (proc_is_child())
			assert_not_reached("child has retain:true");
		int st = proc_rerun("test_retain_off", "retain:false");
		expect_d_eq(st, 0, "the retain:false run failed");
		return;
	}
	proc_init();
	const size_t size = 24 * MiB;
	char *p = hm_malloc(size);
	assert_ptr_not_null(p, "malloc(%zu)", size);
	memset(p, 1, size);
	proc_map_t m;
	expect_true(proc_map_find(p, false, &m), "live block unmapped");
	hm_free(p);
	purge();
	bool mapped = proc_map_find(p, false, &m);
	expect_false(mapped, "freed block's range %p still mapped (%#zx-%#zx)",
	    (void *)p, (size_t)m.start, (size_t)m.end);
	expect_zu_eq(stat_zu("stats.retained"), 0, "stats.retained");
TEST_END

int
main(void) {
	return test(test_retain_reuse, test_retain_rss, test_retain_churn,
	    test_retain_off);
}
