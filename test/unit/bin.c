/*
 * The Small allocator (bin.h, bin.c) through its internal API, in an arena
 * of the test's own: hm_bin_alloc of every class hands out distinct,
 * region-aligned addresses inside one slab (the chunk map says RUN_SLAB of
 * that bin), fills a slab with exactly nregs regions before taking
 * another, refills from a slab with a freed region (its lowest), and an
 * emptied slab that is not the current one gives its pages back to the
 * arena.
 *
 * Every test frees what it allocated, so each bin starts a test with no
 * slab or with an empty current slab.
 */
#include "unit_util.h"

#include <limits.h>

#include "bin.h"
#include "chunk.h"
#include "secure.h"

static void *regs[SLAB_MAXREGS + 1];

/* Allocates nregs regions of bin i and checks they fill one slab. */
static run_t *
fill_slab(arena_t *arena, unsigned i) {
	const sc_slab_info_t *info = &hm_sc_slab[i];
	run_t *slab = NULL;
	uint64_t seen[SLAB_MAXREGS / 64] = {0};
	for (unsigned r = 0; r < info->nregs; r++) {
		char *p = hm_bin_alloc(arena, i);
		assert_ptr_not_null(p, "hm_bin_alloc(bin %u), region %u", i, r);
		regs[r] = p;
		run_t *run = unit_run_of(arena, p);
		assert_ptr_not_null(run, "bin %u: no run for %p", i, (void *)p);
		if (slab == NULL)
			slab = run;
		assert_ptr_eq(run, slab, "bin %u (size %u, nregs %u): region %u "
		    "in another slab", i, info->size, info->nregs, r);
		expect_d_eq(run->state, RUN_SLAB, "bin %u: run state", i);
		expect_d_eq(run->szind, i, "bin %u: slab's bin", i);
		expect_zu_eq(run->npages, info->npages, "bin %u: slab pages", i);
		size_t off = (size_t)(p - run->addr);
		assert_zu_lt(off, (size_t)info->nregs * info->size,
		    "bin %u: %p outside the slab's regions", i, (void *)p);
		assert_zu_eq(off % info->size, 0, "bin %u: %p not a region start",
		    i, (void *)p);
		size_t idx = off / info->size;
		assert_zu_eq(seen[idx / 64] >> (idx % 64) & 1, 0,
		    "bin %u: region %zu handed out twice", i, idx);
		seen[idx / 64] |= (uint64_t)1 << (idx % 64);
		/* Every page of a slab maps to it. */
		chunk_t *chunk = run->chunk;
		size_t first = chunk_page_index(chunk, run->addr);
		for (size_t pg = 0; r == 0 && pg < run->npages; pg++)
			expect_ptr_eq(chunk_map_get(chunk, first + pg), run,
			    "bin %u: page %zu of the slab", i, pg);
		memset(p, (int)(r & 0xff), info->size);
	}
	expect_d_eq(slab->nfree, 0, "bin %u: full slab's nfree", i);
	/* The fills did not overlap. */
	for (unsigned r = 0; r < info->nregs; r++) {
		unsigned char *p = regs[r];
		if (p[0] != (r & 0xff) || p[info->size - 1] != (r & 0xff))
			expect_not_reached("bin %u: region %u overwritten", i, r);
	}
	return slab;
}

/*
 * These tests watch whole slabs: they need an arena no thread is bound to
 * and no thread cache draws from, one arenas.create makes (once).
 */
static arena_t *
bin_test_arena(void) {
	unit_boot();
	static unsigned ind = UINT_MAX;
	if (ind == UINT_MAX) {
		size_t sz = sizeof(ind);
		assert_d_eq(hm_mallctl("arenas.create", &ind, &sz, NULL, 0), 0,
		    "arenas.create");
	}
	arena_t *arena = hm_arena_get(ind, false);
	assert_ptr_not_null(arena, "arena %u", ind);
	return arena;
}

TEST_BEGIN(test_every_class)
	arena_t *arena = bin_test_arena();
	for (unsigned i = 0; i < SC_NBINS; i++) {
		const sc_slab_info_t *info = &hm_sc_slab[i];
		bin_t *bin = &arena->bins[i];
		assert_true(bin->slabcur == NULL || bin->slabcur->nfree
		    == info->nregs, "bin %u does not start empty", i);
		size_t nactive0 = arena->nactive;
		size_t curslabs0 = bin->curslabs;
		run_t *slab = fill_slab(arena, i);
		/* The next region comes from another slab. */
		void *extra = hm_bin_alloc(arena, i);
		assert_ptr_not_null(extra, "hm_bin_alloc(bin %u)", i);
		run_t *other = unit_run_of(arena, extra);
		expect_ptr_ne(other, slab, "bin %u: region %u of a slab of %u",
		    i, info->nregs + 1, info->nregs);
		expect_ptr_eq(bin->slabcur, other, "bin %u: current slab", i);
		/* Free the full slab's regions: its pages go back to the
		 * arena only with the last. */
		size_t nactive1 = arena->nactive;
		for (unsigned r = 0; r + 1 < info->nregs; r++)
			hm_bin_dalloc(arena, slab, regs[r]);
		expect_zu_eq(arena->nactive, nactive1, "bin %u: pages returned "
		    "before the slab was empty", i);
		size_t curslabs1 = bin->curslabs;
		hm_bin_dalloc(arena, slab, regs[info->nregs - 1]);
		expect_zu_eq(arena->nactive, nactive1 - info->npages,
		    "bin %u: pages after emptying a non-current slab", i);
		expect_zu_eq(bin->curslabs, curslabs1 - 1, "bin %u: curslabs", i);
		uintptr_t v = rtree_get(regs[0]);
		if (v != 0) {
			chunk_t *chunk = (chunk_t *)v;
			run_t *run = chunk_map_get(chunk,
			    chunk_page_index(chunk, regs[0]));
			expect_true(run == NULL || run->state == RUN_FREE,
			    "bin %u: freed slab's first page still in use", i);
		}
		/* The current slab stays when emptied. */
		hm_bin_dalloc(arena, other, extra);
		expect_ptr_eq(bin->slabcur, other, "bin %u: current slab kept", i);
		expect_d_eq(other->nfree, info->nregs, "bin %u: nfree", i);
		expect_zu_le(arena->nactive, nactive0 + info->npages,
		    "bin %u: pages left active", i);
		expect_zu_le(bin->curslabs, curslabs0 + 1, "bin %u: curslabs", i);
	}
TEST_END

/* A freed region of a full slab is handed out again once the current
 * slab fills: the lowest free region first (slab_random: either). */
TEST_BEGIN(test_refill_from_nonfull)
	arena_t *arena = bin_test_arena();
	static const unsigned bins[] = {0, 3, 10, 20, 30, SC_NBINS - 1};
	for (size_t k = 0; k < HM_ARRAY_SIZE(bins); k++) {
		unsigned i = bins[k];
		const sc_slab_info_t *info = &hm_sc_slab[i];
		bin_t *bin = &arena->bins[i];
		/* Freeing two regions must leave the slab non-empty. */
		if (info->nregs < 3)
			continue;
		run_t *a = fill_slab(arena, i);
		static void *a_regs[SLAB_MAXREGS];
		memcpy(a_regs, regs, sizeof(void *) * info->nregs);
		run_t *b = fill_slab(arena, i); /* now current, full */
		assert_ptr_ne(a, b, "bin %u: two slabs", i);
		assert_ptr_eq(bin->slabcur, b, "bin %u: current slab", i);
		/* Free two regions of a: the lower comes back first. */
		unsigned hi = info->nregs - 1, lo = (info->nregs - 1) / 2;
		hm_bin_dalloc(arena, a, a_regs[hi]);
		hm_bin_dalloc(arena, a, a_regs[lo]);
		expect_ptr_eq(bin->nonfull, a, "bin %u: slab with free regions",
		    i);
		void *p = hm_bin_alloc(arena, i);
		expect_ptr_eq(bin->slabcur, a, "bin %u: current slab", i);
		void *q = hm_bin_alloc(arena, i);
		if (opt_slab_random && p == a_regs[hi]) {
			/* Random order: the two in either order. */
			void *t = p;
			p = q;
			q = t;
		}
		expect_ptr_eq(p, a_regs[lo], "bin %u: refill from the slab with "
		    "free regions, lowest first", i);
		expect_ptr_eq(q, a_regs[hi], "bin %u: next free region", i);
		a_regs[lo] = p;
		a_regs[hi] = q;
		/* Empty both: b (not current) goes back to the arena. */
		size_t nactive = arena->nactive;
		for (unsigned r = 0; r < info->nregs; r++)
			hm_bin_dalloc(arena, b, regs[r]);
		expect_zu_eq(arena->nactive, nactive - info->npages,
		    "bin %u: emptied slab's pages", i);
		for (unsigned r = 0; r < info->nregs; r++)
			hm_bin_dalloc(arena, a, a_regs[r]);
		expect_ptr_eq(bin->slabcur, a, "bin %u: current slab kept", i);
	}
TEST_END

/* Statistics counted by the bin. */
TEST_BEGIN(test_bin_counters)
	arena_t *arena = bin_test_arena();
	unsigned i = 5;
	bin_t *bin = &arena->bins[i];
	uint64_t nm = bin->nmalloc, nd = bin->ndalloc;
	void *p[10];
	for (int k = 0; k < 10; k++) {
		p[k] = hm_bin_alloc(arena, i);
		assert_ptr_not_null(p[k], "hm_bin_alloc");
	}
	expect_u64_eq(bin->nmalloc, nm + 10, "nmalloc");
	for (int k = 0; k < 10; k++)
		hm_bin_dalloc(arena, unit_run_of(arena, p[k]), p[k]);
	expect_u64_eq(bin->ndalloc, nd + 10, "ndalloc");
TEST_END

int
main(void) {
	return test(test_every_class, test_refill_from_nonfull,
	    test_bin_counters);
}
