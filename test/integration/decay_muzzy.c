/*
 * The two purging stages and the curve, on a live process
 * (decay_muzzy.env: dirty_decay_ms:200, muzzy_decay_ms:1500): freed pages
 * are purged lazily (MADV_FREE: smaps counts them LazyFree) once their
 * dirty time is up, and for good on a smooth curve over the muzzy time,
 * so that RSS falls gradually, by the background thread while the
 * program idles.
 */
#include "test.h"


#define MiB ((size_t)1 << 20)
#define NBLOCKS 40

static unsigned
my_arena(void) {
	unsigned a = 0;
	size_t sz = sizeof(a);
	assert_d_eq(hm_mallctl("thread.arena", &a, &sz, NULL, 0), 0,
	    "thread.arena");
	return a;
}

static size_t
arena_stat(unsigned a, const char *what) {
	uint64_t e = 1;
	assert_d_eq(hm_mallctl("epoch", NULL, NULL, &e, sizeof(e)), 0, "epoch");
	char name[96];
	snprintf(name, sizeof(name), "stats.arenas.%u.%s", a, what);
	size_t v = 0, sz = sizeof(v);
	assert_d_eq(hm_mallctl(name, &v, &sz, NULL, 0), 0, "%s", name);
	return v;
}

/* LazyFree in smaps_rollup, bytes (0 where the kernel does not say). */
static size_t
lazyfree_bytes(void) {
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	if (f == NULL)
		return 0;
	char line[256];
	size_t kb = 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "LazyFree: %zu kB", &kb) == 1)
			break;
	fclose(f);
	return kb << 10;
}

TEST_BEGIN(test_dirty_then_muzzy_then_gone)
	ssize_t dirty = 0, muzzy = 0;
	size_t sz = sizeof(dirty);
	assert_d_eq(hm_mallctl("opt.dirty_decay_ms", &dirty, &sz, NULL, 0), 0,
	    "opt.dirty_decay_ms");
	assert_d_eq(hm_mallctl("opt.muzzy_decay_ms", &muzzy, &sz, NULL, 0), 0,
	    "opt.muzzy_decay_ms");
	if (dirty != 200 || muzzy != 1500)
		test_skip("needs dirty_decay_ms:200,muzzy_decay_ms:1500");
	if (test_frees_altered())
		test_skip("zero_free, quarantine or guard: frees are not plain");
	bool bg = false;
	sz = sizeof(bg);
	assert_d_eq(hm_mallctl("opt.background_thread", &bg, &sz, NULL, 0), 0,
	    "opt.background_thread");
	if (!bg)
		test_skip("background_thread:false");
	unsigned a = my_arena();
	/* Large runs in the thread's arena: 40 x 256 KiB, touched. */
	void *p[NBLOCKS];
	for (int i = 0; i < NBLOCKS; i++) {
		p[i] = hm_mallocx(256 << 10, MALLOCX_TCACHE_NONE);
		assert_ptr_not_null(p[i], "mallocx");
		memset(p[i], 0x3c, 256 << 10);
	}
	/* Every other block first, so that the freed runs do not coalesce
	 * into whole chunks (those are unmapped, not purged). */
	for (int i = 0; i < NBLOCKS; i += 2)
		hm_dallocx(p[i], MALLOCX_TCACHE_NONE);
	size_t freed = (NBLOCKS / 2) * (256 << 10);
	size_t pages = freed >> 12;
	/* Upper bounds on pages split between runs: nearly all. */
	size_t most = pages * 9 / 10;
	expect_zu_ge(arena_stat(a, "pdirty"), most, "freed pages are dirty");
	/* Dirty time up: the pages become muzzy, still resident. */
	size_t pdirty = pages, pmuzzy = 0;
	for (int i = 0; i < 100 && pdirty > 0; i++) {
		test_sleep_ms(10);
		pdirty = arena_stat(a, "pdirty");
	}
	pmuzzy = arena_stat(a, "pmuzzy");
	expect_zu_eq(pdirty, 0, "the dirty stage empties");
	expect_zu_ge(pmuzzy, most, "into the muzzy stage");
	expect_zu_gt(arena_stat(a, "muzzy_decay_ms"), 0, "muzzy_decay_ms");
	size_t lazy = lazyfree_bytes();
	printf("decay_muzzy: %zu pages muzzy, LazyFree %zu KiB\n", pmuzzy,
	    lazy >> 10);
	expect_zu_ge(lazy, (pmuzzy << 12) / 2,
	    "smaps counts them LazyFree (MADV_FREE)");
	/* The muzzy stage empties on a curve: some samples in between. */
	int between = 0;
	for (int i = 0; i < 150 && pmuzzy > 0; i++) {
		test_sleep_ms(40);
		pmuzzy = arena_stat(a, "pmuzzy");
		if (pmuzzy > most / 10 && pmuzzy < most * 9 / 10)
			between++;
	}
	printf("decay_muzzy: %d samples between 10%% and 90%%\n", between);
	expect_zu_eq(pmuzzy, 0, "the muzzy stage empties");
	expect_true(between >= 3, "gradually (%d samples between)", between);
	expect_zu_gt(arena_stat(a, "muzzy_purged"), 0, "muzzy_purged counts");
	for (int i = 1; i < NBLOCKS; i += 2)
		hm_dallocx(p[i], MALLOCX_TCACHE_NONE);
TEST_END

int
main(void) {
	return test(test_dirty_then_muzzy_then_gone);
}
