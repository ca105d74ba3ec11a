/*
 * jemalloc's non-standard allocation calls, with jemalloc 5.3 semantics:
 *   mallocx   MALLOCX_ZERO zeroes, MALLOCX_ALIGN / MALLOCX_LG_ALIGN honoured
 *             (up to 64 MiB here), NULL for impossible sizes;
 *   sallocx   the usable size, == nallocx(size, flags) of the allocation;
 *   nallocx   >= size, monotone, idempotent, 0 past the largest class;
 *   rallocx   keeps contents, honours alignment, zeroes the grown part
 *             beyond the old usable size with MALLOCX_ZERO, NULL on failure
 *             with the block intact;
 *   xallocx   never moves, returns the resulting usable size (the old one
 *             when it cannot resize), keeps contents;
 *   dallocx / sdallocx  free, sdallocx with any size from the request to
 *             the usable size and the allocation's flags.
 */
#include "api_util.h"

#include <malloc.h>

/* One per class up to 64 MiB, plus the sizes either side. */
static size_t
next_test_size(size_t size) {
	size_t c = hm_nallocx(size, 0);
	if (size + 1 < c)
		return c - 1 > size ? c - 1 : size + 1;
	return size + 1;
}

TEST_BEGIN(test_mallocx_plain)
	unsigned n = 0;
	for (size_t size = 1; size <= 64 * MiB; size = next_test_size(size)) {
		void *p = hm_mallocx(size, 0);
		assert_ptr_not_null(p, "mallocx(%zu, 0)", size);
		size_t usize = hm_sallocx(p, 0);
		expect_zu_ge(usize, size, "sallocx(mallocx(%zu))", size);
		expect_zu_eq(usize, hm_nallocx(size, 0), "mallocx(%zu) vs nallocx",
		    size);
		expect_zu_eq(usize, hm_malloc_usable_size(p),
		    "sallocx vs malloc_usable_size for mallocx(%zu)", size);
		pattern_fill(p, usize, size);
		expect_zu_eq(pattern_check(p, usize, size), usize,
		    "mallocx(%zu) block readback", size);
		hm_dallocx(p, 0);
		assert_d_lt(++n, 5000, "size walk does not end");
	}
TEST_END

TEST_BEGIN(test_mallocx_zero)
	static const size_t sizes[] = {
		1, 16, 17, 100, 1000, 4096, 10000, 14336, 16384, 20000,
		100 * 1024, 1 << 20, 4 << 20, (4 << 20) + 5, 9 << 20,
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		/* Dirty blocks of this size first, so recycling is tested. */
		void *d[8];
		int k = sizes[i] >= MiB ? 2 : 8;
		for (int j = 0; j < k; j++) {
			d[j] = hm_mallocx(sizes[i], 0);
			assert_ptr_not_null(d[j], "mallocx(%zu)", sizes[i]);
			memset(d[j], 0xff, hm_sallocx(d[j], 0));
		}
		for (int j = 0; j < k; j++)
			hm_dallocx(d[j], 0);
		for (int j = 0; j < k; j++) {
			d[j] = hm_mallocx(sizes[i], MALLOCX_ZERO);
			assert_ptr_not_null(d[j], "mallocx(%zu, MALLOCX_ZERO)",
			    sizes[i]);
			size_t bad = bytes_check(d[j], 0, sizes[i], 0);
			expect_zu_eq(bad, sizes[i],
			    "mallocx(%zu, MALLOCX_ZERO): byte %zu not zero", sizes[i],
			    bad);
		}
		for (int j = 0; j < k; j++) {
			memset(d[j], 0xff, sizes[i]);
			hm_dallocx(d[j], 0);
		}
	}
TEST_END

TEST_BEGIN(test_mallocx_align)
	for (unsigned lg = 0; lg <= 26; lg++) {
		size_t align = (size_t)1 << lg;
		const size_t sizes[] = {1, 17, align > 1 ? align - 1 : 1, align,
		    align + 1, 5000};
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t size = sizes[i];
			for (int variant = 0; variant < 3; variant++) {
				int flags = variant == 0 ? MALLOCX_ALIGN(align)
				    : variant == 1 ? MALLOCX_LG_ALIGN(lg)
				    : MALLOCX_ALIGN(align) | MALLOCX_ZERO;
				void *p = hm_mallocx(size, flags);
				assert_ptr_not_null(p, "mallocx(%zu, align %zu, "
				    "variant %d)", size, align, variant);
				expect_zu_eq((uintptr_t)p % align, 0,
				    "mallocx(%zu, MALLOCX_ALIGN(%zu)) = %p", size,
				    align, p);
				size_t usize = hm_sallocx(p, flags);
				expect_zu_ge(usize, size, "sallocx");
				expect_zu_eq(usize, hm_nallocx(size, flags),
				    "mallocx(%zu, MALLOCX_ALIGN(%zu)) vs nallocx",
				    size, align);
				expect_zu_eq(usize, hm_sallocx(p, 0),
				    "sallocx with and without flags");
				if (variant == 2) {
					size_t bad = bytes_check(p, 0, size, 0);
					expect_zu_eq(bad, size,
					    "mallocx(%zu, ALIGN(%zu)|ZERO): byte "
					    "%zu", size, align, bad);
				}
				size_t n = usize < 8 * MiB ? usize : size;
				memset(p, 0x42, n);
				hm_sdallocx(p, size, flags);
			}
		}
	}
TEST_END

TEST_BEGIN(test_nallocx)
	size_t prev = 0;
	unsigned count = 0;
	for (size_t size = 1; size <= 64 * MiB; size = next_test_size(size)) {
		assert_d_lt(++count, 5000, "size walk does not end");
		size_t n = hm_nallocx(size, 0);
		expect_zu_ge(n, size, "nallocx(%zu)", size);
		expect_zu_ge(n, prev, "nallocx(%zu) below nallocx(%zu - 1)", size,
		    size);
		expect_zu_eq(hm_nallocx(n, 0), n, "nallocx(nallocx(%zu))", size);
		/* An alignment no larger than the quantum changes nothing. */
		expect_zu_eq(hm_nallocx(size, MALLOCX_ALIGN(16)), n,
		    "nallocx(%zu, MALLOCX_ALIGN(16))", size);
		/* A bigger alignment never shrinks the usable size. */
		expect_zu_ge(hm_nallocx(size, MALLOCX_ALIGN(4096)), n,
		    "nallocx(%zu, MALLOCX_ALIGN(4096))", size);
		/* ZERO does not change the size either. */
		expect_zu_eq(hm_nallocx(size, MALLOCX_ZERO), n,
		    "nallocx(%zu, MALLOCX_ZERO)", size);
		prev = n;
	}
	static const size_t too_big[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4095,
	    (size_t)PTRDIFF_MAX + 1};
	for (size_t i = 0; i < sizeof(too_big) / sizeof(too_big[0]); i++) {
		expect_zu_eq(hm_nallocx(opaque_zu(too_big[i]), 0), 0,
		    "nallocx(%#zx, 0)", too_big[i]);
		expect_zu_eq(hm_nallocx(opaque_zu(too_big[i]), MALLOCX_ALIGN(4096)), 0,
		    "nallocx(%#zx, MALLOCX_ALIGN(4096))", too_big[i]);
	}
TEST_END

TEST_BEGIN(test_mallocx_fails_cleanly)
	static const size_t too_big[] = {SIZE_MAX, SIZE_MAX - 4095,
	    (size_t)PTRDIFF_MAX + 1, (size_t)1 << 62};
	for (size_t i = 0; i < sizeof(too_big) / sizeof(too_big[0]); i++) {
		void *p = hm_mallocx(opaque_zu(too_big[i]), 0);
		expect_ptr_null(p, "mallocx(%#zx, 0)", too_big[i]);
		if (p != NULL)
			hm_dallocx(p, 0);
		p = hm_mallocx(opaque_zu(too_big[i]), MALLOCX_ALIGN(64) | MALLOCX_ZERO);
		expect_ptr_null(p, "mallocx(%#zx, ALIGN(64)|ZERO)", too_big[i]);
		if (p != NULL)
			hm_dallocx(p, 0);
	}
	void *p = hm_mallocx(1, MALLOCX_LG_ALIGN(62));
	expect_ptr_null(p, "mallocx(1, MALLOCX_LG_ALIGN(62))");
	if (p != NULL)
		hm_dallocx(p, 0);
TEST_END

/* rallocx p (whose whole usable size holds gen) to size; checks; refills. */
static void *
rallocx_checked(void *p, size_t size, int flags, uint64_t gen) {
	size_t old_usize = hm_sallocx(p, 0);
	void *q = hm_rallocx(p, size, flags);
	assert_ptr_not_null(q, "rallocx(%p, %zu, %#x)", p, size, flags);
	size_t usize = hm_sallocx(q, 0);
	expect_zu_eq(usize, hm_nallocx(size, flags),
	    "rallocx(%zu -> %zu, %#x) usable size vs nallocx", old_usize, size,
	    flags);
	size_t keep = old_usize < size ? old_usize : size;
	size_t bad = pattern_check(q, keep, gen);
	expect_zu_eq(bad, keep, "rallocx(%zu -> %zu, %#x): byte %zu lost",
	    old_usize, size, flags, bad);
	if ((flags & MALLOCX_ZERO) && size > old_usize) {
		bad = bytes_check(q, old_usize, size, 0);
		expect_zu_eq(bad, size, "rallocx(%zu -> %zu, ZERO): byte %zu "
		    "not zero", old_usize, size, bad);
	}
	int lg = flags & 0x3f;
	if (lg != 0)
		expect_zu_eq((uintptr_t)q % ((size_t)1 << lg), 0,
		    "rallocx(.., %zu, %#x) = %p misaligned", size, flags, q);
	pattern_fill(q, usize, gen + 1);
	return q;
}

TEST_BEGIN(test_rallocx)
	static const size_t seq[] = {
		1, 17, 200, 3000, 14336, 14337, 50000, 1 << 20, 5 << 20,
		(9 << 20) + 1, 30 << 20, 7 << 20, 100000, 5000, 64, 1, 6 << 20, 2,
	};
	for (int variant = 0; variant < 3; variant++) {
		int flags = variant == 0 ? 0 : variant == 1 ? MALLOCX_ZERO
		    : MALLOCX_LG_ALIGN(12);
		void *p = hm_mallocx(seq[0], flags);
		assert_ptr_not_null(p, "mallocx(1, %#x)", flags);
		uint64_t gen = 10 * (uint64_t)variant;
		pattern_fill(p, hm_sallocx(p, 0), gen);
		for (size_t i = 1; i < sizeof(seq) / sizeof(seq[0]); i++) {
			p = rallocx_checked(p, seq[i], flags, gen);
			gen++;
		}
		hm_dallocx(p, flags);
	}
TEST_END

TEST_BEGIN(test_rallocx_zero_after_dirty)
	/*
	 * Grow into memory that was dirty: free 0xff blocks first, then grow a
	 * block with MALLOCX_ZERO; bytes past the old usable size are zero.
	 */
	static const size_t grow[][2] = {
		{16, 100}, {100, 3000}, {3000, 14336}, {10000, 60000},
		{60000, 900000}, {900000, 6 << 20}, {5 << 20, 12 << 20},
	};
	for (size_t i = 0; i < sizeof(grow) / sizeof(grow[0]); i++) {
		void *d[4];
		for (int j = 0; j < 4; j++) {
			d[j] = hm_malloc(grow[i][1]);
			assert_ptr_not_null(d[j], "malloc(%zu)", grow[i][1]);
			memset(d[j], 0xff, grow[i][1]);
		}
		for (int j = 0; j < 4; j++)
			hm_free(d[j]);
		void *p = hm_mallocx(grow[i][0], 0);
		assert_ptr_not_null(p, "mallocx(%zu)", grow[i][0]);
		pattern_fill(p, hm_sallocx(p, 0), 77);
		p = rallocx_checked(p, grow[i][1], MALLOCX_ZERO, 77);
		hm_dallocx(p, 0);
	}
TEST_END

TEST_BEGIN(test_rallocx_failure_keeps_block)
	static const size_t start[] = {100, 50000, 5 << 20};
	static const size_t too_big[] = {(size_t)PTRDIFF_MAX + 1, (size_t)1 << 62,
	    SIZE_MAX - 4095};
	for (size_t i = 0; i < sizeof(start) / sizeof(start[0]); i++) {
		void *p = hm_mallocx(start[i], 0);
		assert_ptr_not_null(p, "mallocx(%zu)", start[i]);
		size_t usize = hm_sallocx(p, 0);
		pattern_fill(p, usize, 5);
		for (size_t j = 0; j < sizeof(too_big) / sizeof(too_big[0]); j++) {
			void *q = hm_rallocx(opaque_ptr(p), opaque_zu(too_big[j]), 0);
			expect_ptr_null(q, "rallocx(p, %#zx)", too_big[j]);
			if (q != NULL) {
				hm_dallocx(q, 0);
				return;
			}
			expect_zu_eq(hm_sallocx(p, 0), usize,
			    "usable size after failed rallocx");
			expect_zu_eq(pattern_check(p, usize, 5), usize,
			    "contents after failed rallocx(p, %#zx)", too_big[j]);
		}
		hm_dallocx(p, 0);
	}
TEST_END

/*
 * Every resize path keeps the alignment asked for: in place (large runs,
 * huge blocks shrunk or grown), a cached huge block split, a huge block
 * moved by mremap, a copy.  Random sizes from 1 byte to 16 MiB against
 * alignments up to 8 MiB, growing and shrinking, on the same blocks.
 */
TEST_BEGIN(test_rallocx_keeps_alignment)
	uint64_t rng = 0x5eed;
	enum { NLIVE = 8, NSTEPS = 800 };
	void *live[NLIVE] = {0};
	int live_flags[NLIVE] = {0};
	uint64_t gen[NLIVE] = {0};
	for (unsigned step = 0; step < NSTEPS; step++) {
		unsigned i = (unsigned)(test_rand_next(&rng) % NLIVE);
		unsigned lg = (unsigned)(test_rand_next(&rng) % 24);
		/* Sizes spread over every order of magnitude, some near the
		 * chunk boundaries where the paths change. */
		unsigned lgsize = (unsigned)(test_rand_next(&rng) % 24);
		size_t size = ((size_t)1 << lgsize)
		    + (size_t)(test_rand_next(&rng) % ((size_t)1 << lgsize));
		int flags = lg == 0 ? 0 : MALLOCX_LG_ALIGN(lg);
		if (live[i] == NULL) {
			live[i] = hm_mallocx(size, flags);
			assert_ptr_not_null(live[i], "mallocx(%zu, lg %u)", size,
			    lg);
			gen[i] = step * 100;
			pattern_fill(live[i], hm_sallocx(live[i], 0), gen[i]);
		} else if (test_rand_next(&rng) % 16 == 0) {
			hm_dallocx(live[i], live_flags[i]);
			live[i] = NULL;
			continue;
		} else {
			live[i] = rallocx_checked(live[i], size, flags, gen[i]);
			gen[i]++;
		}
		live_flags[i] = flags;
		expect_zu_eq((uintptr_t)live[i] & (((size_t)1 << lg) - 1), 0,
		    "step %u: %p of %zu not aligned to 2^%u", step, live[i], size,
		    lg);
	}
	for (unsigned i = 0; i < NLIVE; i++)
		if (live[i] != NULL)
			hm_dallocx(live[i], live_flags[i]);
TEST_END

/* The case a shrink of a huge block aligned beyond the chunk once lost. */
TEST_BEGIN(test_rallocx_huge_shrink_keeps_alignment)
	for (int round = 0; round < 64; round++) {
		void *p = hm_mallocx(12 * MiB, MALLOCX_LG_ALIGN(22));
		assert_ptr_not_null(p, "mallocx(12 MiB, 4 MiB aligned)");
		expect_zu_eq((uintptr_t)p & (4 * MiB - 1), 0, "mallocx misaligned");
		pattern_fill(p, 2 * MiB + 1, (uint64_t)round);
		void *q = hm_rallocx(p, 2 * MiB + 1, MALLOCX_LG_ALIGN(22));
		assert_ptr_not_null(q, "rallocx(2 MiB + 1, 4 MiB aligned)");
		expect_zu_eq((uintptr_t)q & (4 * MiB - 1), 0,
		    "round %d: rallocx gave %p", round, q);
		expect_zu_eq(pattern_check(q, 2 * MiB + 1, (uint64_t)round),
		    2 * MiB + 1, "contents");
		/* Grow again, still aligned: in place or moved. */
		q = hm_rallocx(q, 20 * MiB, MALLOCX_LG_ALIGN(22));
		assert_ptr_not_null(q, "rallocx(20 MiB, 4 MiB aligned)");
		expect_zu_eq((uintptr_t)q & (4 * MiB - 1), 0,
		    "round %d: grown to %p", round, q);
		hm_dallocx(q, 0);
	}
TEST_END

/*
 * An alignment no allocation can have (beyond the address space, or so
 * large that size plus alignment overflows): nallocx 0, mallocx and
 * rallocx NULL with the block intact, xallocx leaves it as it is.
 */
TEST_BEGIN(test_impossible_alignment)
#if defined(__x86_64__)
	unsigned lg_first = 47;
#else
	unsigned lg_first = 57;
#endif
	for (unsigned lg = lg_first; lg < 64; lg++) {
		int flags = MALLOCX_LG_ALIGN(lg);
		expect_zu_eq(hm_nallocx(1, flags), 0, "nallocx(1, LG_ALIGN(%u))",
		    lg);
		void *p = hm_mallocx(1, flags);
		expect_ptr_null(p, "mallocx(1, LG_ALIGN(%u))", lg);
		if (p != NULL)
			hm_dallocx(p, 0);
		void *b = hm_mallocx(100, 0);
		assert_ptr_not_null(b, "mallocx(100)");
		pattern_fill(b, 100, lg);
		void *q = hm_rallocx(opaque_ptr(b), 50, flags);
		expect_ptr_null(q, "rallocx(50, LG_ALIGN(%u))", lg);
		if (q != NULL) {
			hm_dallocx(q, 0);
			continue;
		}
		size_t usize = hm_sallocx(b, 0);
		expect_zu_eq(hm_xallocx(b, 200, 0, flags), usize,
		    "xallocx(200, LG_ALIGN(%u)) changed the block", lg);
		expect_zu_eq(hm_sallocx(b, 0), usize, "usable size after xallocx");
		expect_zu_eq(pattern_check(b, 100, lg), 100, "contents");
		hm_dallocx(b, 0);
	}
TEST_END

/* One xallocx call with its invariants; returns the new usable size. */
static size_t
xallocx_checked(void *p, size_t size, size_t extra, int flags, uint64_t gen) {
	size_t old_usize = hm_sallocx(p, 0);
	size_t r = hm_xallocx(p, size, extra, flags);
	expect_zu_eq(r, hm_sallocx(p, 0),
	    "xallocx(%zu -> %zu + %zu) result vs sallocx", old_usize, size, extra);
	if (r != old_usize) {
		/* It resized: to at least size, at most the class of size+extra. */
		expect_zu_ge(r, size, "xallocx(%zu -> %zu + %zu) resized short",
		    old_usize, size, extra);
		expect_zu_le(r, hm_nallocx(size + extra, flags),
		    "xallocx(%zu -> %zu + %zu) resized past size + extra",
		    old_usize, size, extra);
	}
	size_t keep = old_usize < r ? old_usize : r;
	size_t bad = pattern_check(p, keep, gen);
	expect_zu_eq(bad, keep, "xallocx(%zu -> %zu + %zu): byte %zu lost",
	    old_usize, size, extra, bad);
	if ((flags & MALLOCX_ZERO) && r > old_usize) {
		size_t end = r < size ? r : size;
		bad = bytes_check(p, old_usize, end, 0);
		expect_zu_eq(bad, end, "xallocx(%zu -> %zu, ZERO): byte %zu not zero",
		    old_usize, size, bad);
	}
	pattern_fill(p, r, gen + 1);
	expect_zu_eq(pattern_check(p, r, gen + 1), r, "xallocx result writable");
	return r;
}

TEST_BEGIN(test_xallocx)
	static const size_t start[] = {16, 100, 3000, 14336, 20000, 100000,
	    1 << 20, 5 << 20, 20 << 20};
	for (size_t i = 0; i < sizeof(start) / sizeof(start[0]); i++) {
		for (int zero = 0; zero < 2; zero++) {
			int flags = zero ? MALLOCX_ZERO : 0;
			void *p = hm_mallocx(start[i], flags);
			assert_ptr_not_null(p, "mallocx(%zu)", start[i]);
			uint64_t gen = 1;
			size_t usize = hm_sallocx(p, 0);
			pattern_fill(p, usize, gen);
			/* Same size: nothing to do. */
			expect_zu_eq(hm_xallocx(p, usize, 0, flags), usize,
			    "xallocx to the same size %zu", usize);
			/* Grow a little, a lot, with extra; shrink; grow back. */
			size_t sizes[][2] = {
				{usize + 1, 0}, {usize * 2, 0}, {usize * 2, usize},
				{usize + usize / 4, usize}, {usize / 2 + 1, 0},
				{1, 0}, {1, usize}, {usize * 3, 0},
				{usize, 0},
			};
			for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
				xallocx_checked(p, sizes[j][0], sizes[j][1], flags, gen);
				gen++;
			}
			hm_dallocx(p, flags);
		}
	}
TEST_END

TEST_BEGIN(test_xallocx_shrinks_large_in_place)
	/*
	 * jemalloc always manages to shrink a large or huge block in place;
	 * here at least the result must never exceed the old usable size.
	 */
	static const size_t sizes[] = {100000, 1 << 20, 8 << 20, 40 << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = hm_mallocx(sizes[i], 0);
		assert_ptr_not_null(p, "mallocx(%zu)", sizes[i]);
		size_t usize = hm_sallocx(p, 0);
		pattern_fill(p, usize, 3);
		size_t r = xallocx_checked(p, sizes[i] / 2, 0, 0, 3);
		expect_zu_le(r, usize, "xallocx shrink of %zu grew", sizes[i]);
		hm_dallocx(p, 0);
	}
TEST_END

TEST_BEGIN(test_sdallocx)
	static const size_t sizes[] = {1, 17, 100, 1000, 4097, 14336, 14337,
	    50000, 1 << 20, (4 << 20) + 1, 9 << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int how = 0; how < 3; how++) {
			void *p = hm_mallocx(sizes[i], 0);
			assert_ptr_not_null(p, "mallocx(%zu)", sizes[i]);
			size_t usize = hm_sallocx(p, 0);
			size_t s = how == 0 ? sizes[i] : how == 1 ? usize
			    : sizes[i] + (usize - sizes[i]) / 2;
			errno = 4444;
			hm_sdallocx(p, s, 0);
			expect_d_eq(errno, 4444, "errno after sdallocx(p, %zu)", s);
		}
		/* With the allocation's alignment flag. */
		void *p = hm_mallocx(sizes[i], MALLOCX_LG_ALIGN(10));
		assert_ptr_not_null(p, "mallocx(%zu, LG_ALIGN(10))", sizes[i]);
		hm_sdallocx(p, sizes[i], MALLOCX_LG_ALIGN(10));
		/* Blocks from malloc free with sdallocx too. */
		p = hm_malloc(sizes[i]);
		assert_ptr_not_null(p, "malloc(%zu)", sizes[i]);
		hm_sdallocx(p, sizes[i], 0);
	}
	/* And they are really freed: in-use bytes fall. */
	enum { N = 1000, SIZE = 10000 };
	static void *ptrs[N];
	for (int i = 0; i < N; i++) {
		ptrs[i] = hm_mallocx(SIZE, 0);
		assert_ptr_not_null(ptrs[i], "mallocx(%d)", SIZE);
		memset(ptrs[i], 1, SIZE);
	}
	struct mallinfo2 before = hm_mallinfo2();
	for (int i = 0; i < N; i++)
		hm_sdallocx(ptrs[i], SIZE, 0);
	struct mallinfo2 after = hm_mallinfo2();
	expect_zu_ge(before.uordblks, after.uordblks + (size_t)N * SIZE / 2,
	    "mallinfo2().uordblks before/after sdallocx of %d x %d bytes", N,
	    SIZE);
TEST_END

TEST_BEGIN(test_arena_and_tcache_flags)
	/* jemalloc's flag bits for arena 0 and no thread cache are accepted. */
	static const size_t sizes[] = {16, 1000, 20000, 1 << 20, 5 << 20};
	const int flag_sets[] = {MALLOCX_TCACHE_NONE, MALLOCX_ARENA(0),
	    MALLOCX_ARENA(0) | MALLOCX_TCACHE_NONE | MALLOCX_ZERO};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++) {
			int flags = flag_sets[f];
			void *p = hm_mallocx(sizes[i], flags);
			assert_ptr_not_null(p, "mallocx(%zu, %#x)", sizes[i], flags);
			size_t usize = hm_sallocx(p, 0);
			expect_zu_eq(usize, hm_nallocx(sizes[i], flags),
			    "mallocx(%zu, %#x) vs nallocx", sizes[i], flags);
			if (flags & MALLOCX_ZERO)
				expect_zu_eq(bytes_check(p, 0, sizes[i], 0), sizes[i],
				    "mallocx(%zu, %#x) zeroed", sizes[i], flags);
			pattern_fill(p, usize, 9);
			p = rallocx_checked(p, sizes[i] * 2, flags & ~MALLOCX_ZERO, 9);
			hm_sdallocx(p, sizes[i] * 2, flags & ~MALLOCX_ZERO);
		}
	}
TEST_END

TEST_BEGIN(test_sallocx_of_standard_blocks)
	static const size_t sizes[] = {1, 500, 9000, 70000, 3 << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = hm_calloc(1, sizes[i]);
		assert_ptr_not_null(p, "calloc(1, %zu)", sizes[i]);
		expect_zu_eq(hm_sallocx(p, 0), hm_malloc_usable_size(p),
		    "sallocx of a calloc block");
		expect_zu_eq(hm_sallocx(p, 0), hm_nallocx(sizes[i], 0),
		    "calloc(1, %zu) vs nallocx", sizes[i]);
		hm_dallocx(p, 0);
		p = hm_aligned_alloc(4096, sizes[i]);
		assert_ptr_not_null(p, "aligned_alloc(4096, %zu)", sizes[i]);
		expect_zu_eq(hm_sallocx(p, 0), hm_nallocx(sizes[i], MALLOCX_ALIGN(4096)),
		    "aligned_alloc(4096, %zu) vs nallocx(MALLOCX_ALIGN(4096))",
		    sizes[i]);
		hm_dallocx(p, MALLOCX_ALIGN(4096));
	}
TEST_END

int
main(void) {
	return test(test_mallocx_plain, test_mallocx_zero, test_mallocx_align,
	    test_nallocx, test_mallocx_fails_cleanly, test_rallocx,
	    test_rallocx_zero_after_dirty, test_rallocx_failure_keeps_block,
	    test_rallocx_keeps_alignment, test_rallocx_huge_shrink_keeps_alignment,
	    test_impossible_alignment,
	    test_xallocx, test_xallocx_shrinks_large_in_place, test_sdallocx,
	    test_arena_and_tcache_flags, test_sallocx_of_standard_blocks);
}
