/*
 * Size classes (sc.h, sc.c): the size -> class maps, the class table, the
 * bound on rounding waste, the slab geometry of every small class and the
 * aligned-size rounding.
 *
 * The tables are filled by hm_sc_boot() during initialisation; each test
 * allocates first so that it has run.
 */
#include "unit_util.h"

#include "chunk.h"
#include "sc.h"
#include "bin.h"

#define boot unit_boot

/* Checks that ind is the smallest class holding size. */
static bool
check_class(size_t size, unsigned ind) {
	if (ind >= SC_NSIZES) {
		expect_not_reached("sc_size2index(%zu) = %u, past SC_NSIZES %d",
		    size, ind, SC_NSIZES);
		return false;
	}
	if (hm_sc_size[ind] < size) {
		expect_not_reached("size %zu: class %u holds only %zu", size,
		    ind, hm_sc_size[ind]);
		return false;
	}
	if (ind > 0 && hm_sc_size[ind - 1] >= size) {
		expect_not_reached("size %zu: class %u (%zu) is not the "
		    "smallest; class %u holds %zu", size, ind, hm_sc_size[ind],
		    ind - 1, hm_sc_size[ind - 1]);
		return false;
	}
	return true;
}

TEST_BEGIN(test_table_shape)
	boot();
	expect_zu_eq(hm_sc_size[0], QUANTUM, "smallest class");
	expect_zu_eq(hm_sc_size[1], 32, "class 1");
	expect_zu_eq(hm_sc_size[2], 48, "class 2");
	expect_zu_eq(hm_sc_size[3], 64, "class 3");
	expect_zu_eq(hm_sc_size[SC_NBINS - 1], SC_SMALL_MAXCLASS,
	    "last small class");
	expect_zu_eq(hm_sc_size[SC_NBINS], SC_LARGE_MINCLASS,
	    "first large class");
	expect_zu_eq(hm_sc_size[SC_NSIZES - 1], SC_MAXCLASS, "last class");
	for (unsigned i = 1; i < SC_NSIZES; i++) {
		expect_zu_gt(hm_sc_size[i], hm_sc_size[i - 1],
		    "classes %u and %u do not increase", i - 1, i);
	}
	/* Every class is a multiple of the quantum; Large and Huge classes
	 * (page runs and mappings) are multiples of the page. */
	for (unsigned i = 0; i < SC_NSIZES; i++) {
		expect_zu_eq(hm_sc_size[i] % QUANTUM, 0, "class %u", i);
		if (i >= SC_NBINS)
			expect_zu_eq(hm_sc_size[i] % PAGE, 0, "class %u", i);
		expect_d_eq(sc_index2size(i) == hm_sc_size[i], 1,
		    "sc_index2size(%u)", i);
	}
	/* The Large range ends below the chunk; the next class does not. */
	expect_zu_lt(hm_sc_large_maxclass, hm_chunksize, "large maxclass");
	unsigned last_large = SC_NBINS + hm_sc_nlarge - 1;
	expect_zu_eq(hm_sc_size[last_large], hm_sc_large_maxclass,
	    "hm_sc_nlarge %u", hm_sc_nlarge);
	expect_zu_ge(hm_sc_size[last_large + 1], hm_chunksize,
	    "class after the last Large one");
TEST_END

/* Spacing: 16 up to 64, then four classes per doubling, each group
 * (2^k, 2^(k+1)] spaced by 2^(k-2). */
TEST_BEGIN(test_spacing)
	boot();
	for (unsigned i = 1; i < 4; i++)
		expect_zu_eq(hm_sc_size[i] - hm_sc_size[i - 1], QUANTUM,
		    "class %u", i);
	unsigned groups = 0;
	for (unsigned k = 6; k < 63; k++) {
		size_t lo = (size_t)1 << k, hi = (size_t)1 << (k + 1);
		unsigned n = 0;
		for (unsigned i = 0; i < SC_NSIZES; i++) {
			if (hm_sc_size[i] > lo && hm_sc_size[i] <= hi) {
				expect_zu_eq(hm_sc_size[i] - hm_sc_size[i - 1],
				    lo >> 2, "class %u in (2^%u, 2^%u]", i, k,
				    k + 1);
				n++;
			}
		}
		if (hi <= SC_MAXCLASS) {
			expect_d_eq(n, 4, "classes in (2^%u, 2^%u]", k, k + 1);
			groups++;
		} else {
			/* The last group stops at SC_MAXCLASS = 7 << 60. */
			expect_d_eq(n, 3, "classes in (2^%u, 2^%u]", k, k + 1);
		}
	}
	expect_d_eq(groups, 56, "full groups from 2^6 to 2^62");
TEST_END

TEST_BEGIN(test_size2index_exhaustive)
	boot();
	size_t nbad = 0;
	for (size_t s = 1; s <= ((size_t)1 << 22) && nbad < 10; s++) {
		unsigned ind = sc_size2index(s);
		unsigned ind_c = sc_size2index_compute(s);
		if (ind != ind_c) {
			expect_d_eq(ind, ind_c, "size %zu: lookup vs compute", s);
			nbad++;
		}
		if (!check_class(s, ind))
			nbad++;
		if (s <= SC_LOOKUP_MAX && hm_sc_lookup[(s - 1) >> LG_QUANTUM]
		    != ind_c) {
			expect_d_eq(hm_sc_lookup[(s - 1) >> LG_QUANTUM], ind_c,
			    "lookup table entry for %zu", s);
			nbad++;
		}
		if (sc_s2u(s) != hm_sc_size[ind_c]) {
			expect_zu_eq(sc_s2u(s), hm_sc_size[ind_c], "sc_s2u(%zu)",
			    s);
			nbad++;
		}
	}
	expect_zu_eq(nbad, 0, "mismatches (stopped after 10)");
TEST_END

TEST_BEGIN(test_size2index_large)
	boot();
	uint64_t seed = test_seed(), st = seed;
	size_t nbad = 0;
	/* Each class, its neighbours, and random sizes of every magnitude. */
	for (unsigned i = 0; i < SC_NSIZES && nbad < 10; i++) {
		size_t c = hm_sc_size[i];
		size_t probes[] = {c - 1, c, c + 1};
		for (unsigned j = 0; j < 3; j++) {
			size_t s = probes[j];
			if (s == 0 || s > SC_MAXCLASS)
				continue;
			if (!check_class(s, sc_size2index(s)))
				nbad++;
		}
	}
	for (unsigned n = 0; n < 1000000 && nbad < 10; n++) {
		unsigned lg = 22 + (unsigned)(test_rand_next(&st) % 41);
		size_t s = (size_t)(test_rand_next(&st)
		    & (((uint64_t)1 << (lg + 1)) - 1));
		if (s == 0 || s > SC_MAXCLASS)
			continue;
		unsigned ind = sc_size2index(s);
		if (!check_class(s, ind)) {
			nbad++;
			continue;
		}
		if (sc_s2u(s) != hm_sc_size[ind]) {
			expect_zu_eq(sc_s2u(s), hm_sc_size[ind], "sc_s2u(%zu)", s);
			nbad++;
		}
	}
	expect_zu_eq(nbad, 0, "mismatches (stopped after 10), seed %" PRIu64,
	    seed);
	expect_d_eq(sc_size2index(SC_MAXCLASS), SC_NSIZES - 1, "SC_MAXCLASS");
	expect_zu_eq(sc_s2u(SC_MAXCLASS), SC_MAXCLASS, "sc_s2u(SC_MAXCLASS)");
	expect_zu_eq(sc_s2u(SC_MAXCLASS + 1), 0, "sc_s2u(SC_MAXCLASS + 1)");
	expect_zu_eq(sc_s2u(SIZE_MAX), 0, "sc_s2u(SIZE_MAX)");
	expect_zu_eq(sc_s2u(0), QUANTUM, "sc_s2u(0)");
TEST_END

/*
 * Rounding waste.  Above 64 bytes a request s in (2^k, 2^(k+1)] rounds up
 * by less than the spacing 2^(k-2), and s > 2^k, so
 *     (class - s) / s     < 2^(k-2) / 2^k               = 25 %
 *     (class - s) / class < 2^(k-2) / (2^k + 2^(k-2))   = 20 %
 * (the worst case is s = 2^k + 1).  From 17 to 64 bytes the 16-byte
 * quantum governs instead: 17 rounds to 32, a waste of 15/17 = 88 % of
 * the request, so the percentage bounds cannot hold there; the waste is
 * below one quantum.  Both maxima are printed, over all sizes > 16 and
 * over sizes > 64, where sc.h promises the bounds.
 */
TEST_BEGIN(test_fragmentation)
	boot();
	double max_req = 0, max_cls = 0, max_req16 = 0, max_cls16 = 0;
	size_t at_req = 0, at_cls = 0;
	for (size_t s = 17; s <= ((size_t)1 << 22); s++) {
		size_t c = sc_s2u(s);
		double wr = (double)(c - s) / (double)s;
		double wc = (double)(c - s) / (double)c;
		if (wr > max_req16)
			max_req16 = wr;
		if (wc > max_cls16)
			max_cls16 = wc;
		if (s <= 64) {
			expect_zu_lt(c - s, QUANTUM, "waste for size %zu", s);
			continue;
		}
		if (wr > max_req) {
			max_req = wr;
			at_req = s;
		}
		if (wc > max_cls) {
			max_cls = wc;
			at_cls = s;
		}
		/* Exact integer forms of the bounds. */
		if (!((c - s) * 4 < s))
			expect_not_reached("size %zu -> %zu: waste >= 25%% of "
			    "the request", s, c);
		if (!((c - s) * 5 < c))
			expect_not_reached("size %zu -> %zu: waste >= 20%% of "
			    "the class", s, c);
	}
	/* Past 4 MiB: the first size of each group, the worst case. */
	for (unsigned k = 22; k < 62; k++) {
		size_t s = ((size_t)1 << k) + 1, c = sc_s2u(s);
		unsigned __int128 w = c - s;
		expect_true(w * 4 < s && w * 5 < c, "size %zu -> %zu", s, c);
	}
	printf("worst waste, sizes > 16: %.4f%% of request, %.4f%% of class\n",
	    max_req16 * 100, max_cls16 * 100);
	printf("worst waste, sizes > 64: %.4f%% of request (size %zu), "
	    "%.4f%% of class (size %zu)\n", max_req * 100, at_req,
	    max_cls * 100, at_cls);
	expect_true(max_req < 0.25, "max waste/request %f", max_req);
	expect_true(max_cls < 0.20, "max waste/class %f", max_cls);
TEST_END

TEST_BEGIN(test_slab_info)
	boot();
	for (unsigned i = 0; i < SC_NBINS; i++) {
		const sc_slab_info_t *s = &hm_sc_slab[i];
		expect_zu_eq(s->size, hm_sc_size[i], "bin %u size", i);
		expect_zu_ge(s->npages, 1, "bin %u npages", i);
		expect_zu_le(s->npages, SLAB_MAXPAGES, "bin %u npages", i);
		expect_zu_ge(s->nregs, 1, "bin %u nregs", i);
		expect_zu_le(s->nregs, SLAB_MAXREGS, "bin %u nregs", i);
		size_t slab = (size_t)s->npages << LG_PAGE;
		expect_zu_le((size_t)s->nregs * s->size, slab, "bin %u", i);
		/* nregs is all that fits. */
		expect_zu_gt((size_t)(s->nregs + 1) * s->size, slab,
		    "bin %u: another region fits", i);
		/* recip turns any offset in the slab into the index of the
		 * region holding it; region starts map exactly. */
		size_t nbad = 0;
		for (size_t r = 0; r < s->nregs; r++) {
			uint64_t off = (uint64_t)r * s->size;
			uint64_t idx = (off * s->recip) >> 32;
			if (idx != r && nbad++ < 3)
				expect_u64_eq(idx, r, "bin %u (size %u) region "
				    "start, recip %u", i, s->size, s->recip);
		}
		for (uint64_t off = 0; off < (uint64_t)s->nregs * s->size;
		    off++) {
			uint64_t idx = (off * s->recip) >> 32;
			if (idx != off / s->size && nbad++ < 3)
				expect_u64_eq(idx, off / s->size, "bin %u offset "
				    "%" PRIu64, i, off);
		}
		expect_zu_eq(nbad, 0, "bin %u recip mismatches", i);
	}
TEST_END

TEST_BEGIN(test_sa2u)
	boot();
	size_t nbad = 0;
	for (size_t align = 32; align <= PAGE; align <<= 1) {
		for (size_t s = 0; s <= 3 * PAGE + 1 && nbad < 10; s++) {
			size_t u = sc_sa2u(s, align);
			if (u < (s == 0 ? 1 : s) || sc_s2u(u) != u) {
				expect_not_reached("sc_sa2u(%zu, %zu) = %zu is "
				    "not a class holding the size", s, align, u);
				nbad++;
				continue;
			}
			if (u <= SC_SMALL_MAXCLASS && u % align != 0) {
				expect_not_reached("sc_sa2u(%zu, %zu) = %zu: a "
				    "small class not a multiple of the alignment",
				    s, align, u);
				nbad++;
			}
			/* Large runs start on a page; pages are aligned. */
			if (u > SC_SMALL_MAXCLASS && u % PAGE != 0) {
				expect_not_reached("sc_sa2u(%zu, %zu) = %zu", s,
				    align, u);
				nbad++;
			}
		}
		/* Every small class that is a multiple of align is its own
		 * answer. */
		for (unsigned i = 0; i < SC_NBINS; i++) {
			if (hm_sc_size[i] % align == 0)
				expect_zu_eq(sc_sa2u(hm_sc_size[i], align),
				    hm_sc_size[i], "align %zu", align);
		}
		expect_zu_eq(sc_sa2u(SC_MAXCLASS + 1, align), 0, "align %zu",
		    align);
		expect_zu_eq(sc_sa2u(SIZE_MAX - 10, align), 0,
		    "align %zu: rounding up overflows", align);
	}
	expect_zu_eq(nbad, 0, "sc_sa2u mismatches");
	/* Bigger alignments: at least a Large class. */
	for (size_t align = 2 * PAGE; align <= ((size_t)1 << 24); align <<= 1) {
		expect_zu_eq(sc_sa2u(1, align), SC_LARGE_MINCLASS, "align %zu",
		    align);
		expect_zu_eq(sc_sa2u(100000, align), sc_s2u(100000),
		    "align %zu", align);
	}
	/* Alignments up to the quantum change nothing. */
	for (size_t s = 0; s < 1000; s++)
		expect_zu_eq(sc_sa2u(s, QUANTUM), sc_s2u(s), "size %zu", s);
	expect_zu_eq(sc_sa2u(SC_MAXCLASS + 1, 8), 0, "sc_sa2u(MAX+1, 8)");
TEST_END

/*
 * slab_is_region_start (bin.h) accepts exactly the region starts: every
 * offset in and past every class's slab, against plain division.
 */
TEST_BEGIN(test_region_start_exhaustive)
	unit_boot();
	for (unsigned i = 0; i < SC_NBINS; i++) {
		const sc_slab_info_t *info = &hm_sc_slab[i];
		run_t slab;
		memset(&slab, 0, sizeof(slab));
		slab.addr = (char *)(uintptr_t)0x10000000;
		slab.recip = info->recip;
		slab.limit = info->nregs * info->size;
		size_t end = ((size_t)info->npages << LG_PAGE) + 4 * info->size;
		for (size_t off = 0; off < end; off++) {
			bool want = off < slab.limit && off % info->size == 0;
			bool got = slab_is_region_start(&slab, slab.addr + off);
			if (want != got) {
				expect_d_eq(got, want, "class %u offset %zu",
				    info->size, off);
				break;
			}
		}
		/* Below the slab: a huge unsigned offset. */
		expect_false(slab_is_region_start(&slab, slab.addr - info->size),
		    "class %u: one region before the slab", info->size);
	}
TEST_END

int
main(void) {
	return test(test_region_start_exhaustive, test_table_shape, test_spacing, test_size2index_exhaustive,
	    test_size2index_large, test_fragmentation, test_slab_info,
	    test_sa2u);
}
