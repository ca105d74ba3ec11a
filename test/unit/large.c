/*
 * The Large allocator (large.h, large.c) and the page runs under it
 * (arena.c), through the internal API in an arena of the test's own:
 * aligned runs for alignments 4 KiB .. 1 MiB, the chunk map's head and
 * tail entries, zeroing, resizing in place (grow into a free neighbour,
 * shrink, refuse when the neighbour is taken) with contents preserved,
 * coalescing of adjacent free runs, and the arena's counters.
 *
 * Every test frees what it allocated, so the arena's chunk is wholly free
 * (kept as the spare) between tests.
 */
#include <string.h>

#include "unit_util.h"

#include "chunk.h"
#include "large.h"
#include "stats.h"

/* p is a live large run of usize bytes: map head and tail, state, size. */
/* Bytes in the arena's Large runs, from its statistics. */
static size_t
large_bytes(arena_t *arena) {
	static arena_stats_t as;
	memset(&as, 0, sizeof(as));
	hm_stats_arena_read(arena->ind, &as);
	return as.large_allocated - as.huge_allocated;
}

static run_t *
check_large(arena_t *arena, void *p, size_t usize) {
	run_t *run = unit_run_of(arena, p);
	assert_ptr_not_null(run, "no run for %p", p);
	expect_d_eq(run->state, RUN_LARGE, "run state of %p", p);
	expect_ptr_eq(run->addr, p, "run start");
	expect_zu_eq((size_t)run->npages << LG_PAGE, usize, "run size of %p", p);
	expect_d_eq(run->szind, sc_size2index(usize), "run class of %p", p);
	size_t head = chunk_page_index(run->chunk, p);
	expect_ptr_eq(chunk_map_get(run->chunk, head + run->npages - 1), run,
	    "tail page of %p", p);
	for (size_t pg = 1; pg + 1 < run->npages; pg++) {
		if (chunk_map_get(run->chunk, head + pg) != NULL) {
			expect_not_reached("interior page %zu of %p mapped", pg, p);
			break;
		}
	}
	return run;
}

static bool
all_bytes(const unsigned char *p, size_t n, unsigned char c) {
	for (size_t i = 0; i < n; i++) {
		if (p[i] != c)
			return false;
	}
	return true;
}

static void
fill_pattern(unsigned char *p, size_t n, unsigned seed) {
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 7 + seed);
}

static bool
check_pattern(const unsigned char *p, size_t n, unsigned seed) {
	for (size_t i = 0; i < n; i++) {
		if (p[i] != (unsigned char)(i * 7 + seed))
			return false;
	}
	return true;
}

/* The guard option gives some Large runs a page more than their class. */
static bool
large_guarded(void) {
	bool g = false;
	size_t sz = sizeof(g);
	return hm_mallctl("opt.guard", &g, &sz, NULL, 0) == 0 && g;
}

TEST_BEGIN(test_aligned)
	if (large_guarded())
		test_skip("guard: one Large run in 16 has a guard page");
	arena_t *arena = unit_test_arena();
	static const size_t sizes[] = {16 * KiB, 20 * KiB, 64 * KiB, 112 * KiB,
	    256 * KiB};
	for (size_t align = PAGE; align <= MiB; align <<= 1) {
		void *ps[HM_ARRAY_SIZE(sizes)] = {NULL};
		size_t nactive0 = arena->nactive, pages = 0;
		size_t alloc0 = large_bytes(arena);
		for (size_t i = 0; i < HM_ARRAY_SIZE(sizes); i++) {
			size_t usize = sizes[i];
			if (usize > hm_sc_large_maxclass
			    || usize + align - PAGE > hm_chunksize)
				continue;
			assert_zu_eq(sc_s2u(usize), usize, "%zu is a class", usize);
			ps[i] = hm_large_alloc(arena, usize, align, false);
			assert_ptr_not_null(ps[i], "hm_large_alloc(%zu, align %zu)",
			    usize, align);
			expect_zu_eq((uintptr_t)ps[i] % align, 0,
			    "hm_large_alloc(%zu, align %zu) = %p", usize, align,
			    ps[i]);
			check_large(arena, ps[i], usize);
			fill_pattern(ps[i], usize, (unsigned)i);
			pages += usize >> LG_PAGE;
		}
		expect_zu_eq(arena->nactive, nactive0 + pages, "align %zu: "
		    "nactive", align);
		expect_zu_eq(large_bytes(arena), alloc0 + (pages << LG_PAGE),
		    "align %zu: large_allocated", align);
		for (size_t i = 0; i < HM_ARRAY_SIZE(sizes); i++) {
			if (ps[i] != NULL)
				expect_true(check_pattern(ps[i], sizes[i],
				    (unsigned)i), "align %zu: run %p (%zu) "
				    "overwritten", align, ps[i], sizes[i]);
		}
		for (size_t i = 0; i < HM_ARRAY_SIZE(sizes); i++) {
			if (ps[i] != NULL)
				hm_large_dalloc(arena, unit_run_of(arena, ps[i]),
				    ps[i]);
		}
		expect_zu_eq(arena->nactive, nactive0, "align %zu: nactive after "
		    "freeing", align);
		expect_zu_eq(large_bytes(arena), alloc0,
		    "align %zu: large_allocated after freeing", align);
	}
TEST_END

TEST_BEGIN(test_zero)
	arena_t *arena = unit_test_arena();
	size_t usize = 64 * KiB;
	unsigned char *p = hm_large_alloc(arena, usize, PAGE, false);
	assert_ptr_not_null(p, "hm_large_alloc");
	memset(p, 0xa5, usize);
	hm_large_dalloc(arena, unit_run_of(arena, p), p);
	/* The same (dirty) pages come back; zero must clear them. */
	unsigned char *q = hm_large_alloc(arena, usize, PAGE, true);
	assert_ptr_not_null(q, "hm_large_alloc(zero)");
	expect_true(all_bytes(q, usize, 0), "zeroed run %p has non-zero bytes "
	    "(previous run %p)", (void *)q, (void *)p);
	hm_large_dalloc(arena, unit_run_of(arena, q), q);
TEST_END

TEST_BEGIN(test_resize)
	if (large_guarded())
		test_skip("guard: one Large run in 16 has a guard page");
	arena_t *arena = unit_test_arena();
	size_t s16 = 16 * KiB, s20 = 20 * KiB, s32 = 32 * KiB, s64 = 64 * KiB;
	unsigned char *a = hm_large_alloc(arena, s16, PAGE, false);
	assert_ptr_not_null(a, "hm_large_alloc");
	run_t *run = check_large(arena, a, s16);
	size_t head = chunk_page_index(run->chunk, a);
	assert_zu_lt(head + 16, hm_chunk_npages, "room after the run");
	run_t *next = chunk_map_get(run->chunk, head + 4);
	assert_ptr_not_null(next, "no run after %p", (void *)a);
	assert_d_eq(next->state, RUN_FREE, "the run after %p is not free",
	    (void *)a);
	assert_zu_ge(next->npages, 12, "free pages after %p", (void *)a);
	fill_pattern(a, s16, 1);
	size_t nactive = arena->nactive, allocated = large_bytes(arena);

	/* Same size: nothing to do. */
	expect_true(hm_large_resize(arena, run, s16, s16, false), "same size");
	expect_zu_eq(arena->nactive, nactive, "nactive");

	/* Grow into the free neighbour. */
	expect_true(hm_large_resize(arena, run, s16, s64, false),
	    "grow 16 KiB -> 64 KiB into a free neighbour");
	check_large(arena, a, s64);
	expect_true(check_pattern(a, s16, 1), "contents after growing");
	expect_zu_eq(arena->nactive, nactive + 12, "nactive after growing");
	expect_zu_eq(large_bytes(arena), allocated + 48 * KiB,
	    "large_allocated after growing");
	memset(a + s16, 0xee, s64 - s16); /* dirty the tail */

	/* Shrink in place: the tail becomes a free run. */
	expect_true(hm_large_resize(arena, run, s64, s20, false),
	    "shrink 64 KiB -> 20 KiB");
	check_large(arena, a, s20);
	expect_true(check_pattern(a, s16, 1), "contents after shrinking");
	expect_true(all_bytes(a + s16, s20 - s16, 0xee),
	    "contents after shrinking");
	next = chunk_map_get(run->chunk, head + 5);
	assert_ptr_not_null(next, "no run after the shrunk run");
	expect_d_eq(next->state, RUN_FREE, "page after the shrunk run");
	expect_ptr_eq(next->addr, a + s20, "free run start");
	expect_zu_eq(arena->nactive, nactive + 1, "nactive after shrinking");
	expect_zu_eq(large_bytes(arena), allocated + 4 * KiB,
	    "large_allocated after shrinking");

	/* Grow again with zero: the dirty tail reads zero. */
	expect_true(hm_large_resize(arena, run, s20, s32, true),
	    "grow 20 KiB -> 32 KiB with zero");
	check_large(arena, a, s32);
	expect_true(check_pattern(a, s16, 1), "contents after growing");
	expect_true(all_bytes(a + s16, s20 - s16, 0xee),
	    "contents after growing");
	expect_true(all_bytes(a + s20, s32 - s20, 0), "grown tail not zeroed");

	/* A taken neighbour blocks growing. */
	unsigned char *b = hm_large_alloc(arena, s16, PAGE, false);
	assert_ptr_not_null(b, "hm_large_alloc");
	assert_ptr_eq(b, a + s32, "second run not right after the first");
	fill_pattern(b, s16, 2);
	size_t nactive2 = arena->nactive;
	expect_false(hm_large_resize(arena, run, s32, s64, false),
	    "grow into a taken neighbour");
	check_large(arena, a, s32);
	check_large(arena, b, s16);
	expect_true(check_pattern(b, s16, 2), "neighbour's contents");
	expect_zu_eq(arena->nactive, nactive2, "nactive after a failed grow");

	/* More than the chunk holds. */
	run_t *brun = unit_run_of(arena, b);
	size_t too_big = hm_sc_large_maxclass;
	if ((size_t)(head + 12) * PAGE + too_big > hm_chunksize)
		expect_false(hm_large_resize(arena, brun, s16, too_big, false),
		    "grow past the chunk's end");
	check_large(arena, b, s16);

	hm_large_dalloc(arena, brun, b);
	hm_large_dalloc(arena, run, a);
	expect_zu_eq(arena->nactive, nactive - 4, "nactive after freeing");
	expect_zu_eq(large_bytes(arena), allocated - s16,
	    "large_allocated after freeing");
TEST_END

/* The counters of the 16 KiB class. */
#define L16(arena) ((arena)->lstats[sc_size2index(16 * KiB) - SC_NBINS])

TEST_BEGIN(test_coalesce)
	arena_t *arena = unit_test_arena();
	size_t sz = 16 * KiB, np = sz >> LG_PAGE;
	size_t nactive0 = arena->nactive;
	uint64_t nmalloc0 = L16(arena).nmalloc, ndalloc0 = L16(arena).ndalloc;
	unsigned char *x = hm_large_alloc(arena, sz, PAGE, false);
	unsigned char *y = hm_large_alloc(arena, sz, PAGE, false);
	unsigned char *z = hm_large_alloc(arena, sz, PAGE, false);
	unsigned char *w = hm_large_alloc(arena, sz, PAGE, false); /* guard */
	assert_true(x && y && z && w, "hm_large_alloc");
	assert_ptr_eq(y, x + sz, "runs not adjacent");
	assert_ptr_eq(z, y + sz, "runs not adjacent");
	assert_ptr_eq(w, z + sz, "runs not adjacent");
	expect_zu_eq(arena->nactive, nactive0 + 4 * np, "nactive");
	expect_u64_eq(L16(arena).nmalloc, nmalloc0 + 4, "large_nmalloc");
	chunk_t *chunk = unit_run_of(arena, x)->chunk;
	size_t px = chunk_page_index(chunk, x);

	hm_large_dalloc(arena, unit_run_of(arena, x), x);
	hm_large_dalloc(arena, unit_run_of(arena, z), z);
	run_t *rx = chunk_map_get(chunk, px);
	run_t *rz = chunk_map_get(chunk, px + 2 * np);
	assert_ptr_not_null(rx, "freed x");
	assert_ptr_not_null(rz, "freed z");
	expect_d_eq(rx->state, RUN_FREE, "freed x");
	expect_d_eq(rz->state, RUN_FREE, "freed z");
	expect_ptr_ne(rx, rz, "x and z are apart");
	expect_zu_eq(arena->nactive, nactive0 + 2 * np, "nactive");

	/* The middle: all three become one free run. */
	hm_large_dalloc(arena, unit_run_of(arena, y), y);
	expect_u64_eq(L16(arena).ndalloc, ndalloc0 + 3, "large_ndalloc");
	expect_zu_eq(arena->nactive, nactive0 + np, "nactive");
	run_t *r = chunk_map_get(chunk, px);
	assert_ptr_not_null(r, "no run at x after freeing x, y, z");
	expect_d_eq(r->state, RUN_FREE, "merged run state");
	expect_ptr_eq(r->addr, x, "merged run start");
	expect_zu_eq(r->npages, 3 * np, "merged run pages");
	expect_ptr_eq(chunk_map_get(chunk, px + 3 * np - 1), r,
	    "merged run's tail entry");
	for (size_t pg = 1; pg + 1 < 3 * np; pg++)
		expect_ptr_null(chunk_map_get(chunk, px + pg),
		    "interior page %zu of the merged run", pg);

	/* The combined size fits exactly there. */
	unsigned char *c = hm_large_alloc(arena, 3 * sz, PAGE, false);
	expect_ptr_eq(c, x, "48 KiB allocation after coalescing");
	if (c != NULL) {
		check_large(arena, c, 3 * sz);
		hm_large_dalloc(arena, unit_run_of(arena, c), c);
	}
	hm_large_dalloc(arena, unit_run_of(arena, w), w);
	expect_zu_eq(arena->nactive, nactive0, "nactive after freeing all");
	/* With everything free the run before w merged too: x's page maps
	 * to a free run reaching past w, or the chunk was released. */
	if (rtree_get(x) != 0 && chunk_map_get(chunk, px) != NULL) {
		r = chunk_map_get(chunk, px);
		expect_d_eq(r->state, RUN_FREE, "run at x");
		expect_true(r->addr + ((size_t)r->npages << LG_PAGE)
		    >= (char *)w + sz, "free run at x ends before w's end");
	}
TEST_END

int
main(void) {
	return test(test_aligned, test_zero, test_resize, test_coalesce);
}
