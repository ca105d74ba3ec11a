/*
 * Aligned allocation: posix_memalign, aligned_alloc, memalign, valloc,
 * pvalloc.  hmalloc follows glibc 2.36 (the system glibc here), checked
 * against its source and behaviour:
 *
 *   function        alignment accepted            on a bad alignment     size / result
 *   --------------  ----------------------------  ---------------------  -----------------------------
 *   posix_memalign  power of two and a multiple   returns EINVAL,        returns ENOMEM when too
 *                   of sizeof(void *)             *memptr untouched      large, *memptr untouched
 *   aligned_alloc   a power of two (C17 DR 460,   NULL + EINVAL for 0    any size (no multiple-of-
 *                   glibc 2.38, jemalloc);        or a non-power of two  alignment rule); NULL +
 *                   <= 16: malloc's                                      ENOMEM when too large
 *   memalign        <= 16 (incl. 0): malloc; a    NULL + EINVAL when     NULL + ENOMEM when too large
 *                   non-power of two is rounded   alignment >
 *                   up to the next power of two   SIZE_MAX/2 + 1
 *   valloc          page size                     -                      NULL + ENOMEM when too large
 *   pvalloc         page size; size rounded up    -                      NULL + ENOMEM when too large
 *                   to a page multiple                                   or the rounding overflows;
 *                                                                        pvalloc(0) is a valid block
 *
 * An alignment that is a power of two but impossible to satisfy (2^63)
 * fails with ENOMEM everywhere.
 */
#include "api_util.h"

#include <malloc.h>

#define POISON_PTR ((void *)(uintptr_t)0x5ca1ab1e)

static size_t
next_pow2(size_t x) {
	size_t a = 1;
	while (a < x)
		a <<= 1;
	return a;
}

/* Checks an aligned block: alignment, usable size, all of it writable. */
static void
check_aligned_block(void *p, size_t align, size_t size, const char *what) {
	expect_zu_eq((uintptr_t)p % align, 0, "%s(%zu, %zu) = %p misaligned",
	    what, align, size, p);
	size_t usize = hm_malloc_usable_size(p);
	expect_zu_ge(usize, size, "usable size of %s(%zu, %zu)", what, align,
	    size);
	/* Write the whole block (capped: usable size can be large). */
	size_t n = usize < 8 * MiB ? usize : size;
	pattern_fill(p, n, align ^ size);
	size_t bad = pattern_check(p, n, align ^ size);
	expect_zu_eq(bad, n, "%s(%zu, %zu) = %p: byte %zu reads back wrong",
	    what, align, size, p, bad);
}

TEST_BEGIN(test_posix_memalign_einval)
	static const size_t bad[] = {
		0, 1, 2, 4, 3, 5, 12, 20, 24, 40, 48, 96, 100, 4095, 4097,
		3 * 4096, (1 << 20) + 8, SIZE_MAX, SIZE_MAX - 7,
		SIZE_MAX / 2 + 1 + 8, ((size_t)1 << 40) + 16,
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *p = POISON_PTR;
		errno = 0;
		int r = hm_posix_memalign(&p, opaque_zu(bad[i]), 16);
		expect_d_eq(r, EINVAL, "posix_memalign(&p, %#zx, 16)", bad[i]);
		expect_ptr_eq(p, POISON_PTR,
		    "posix_memalign(&p, %#zx, 16) changed *memptr", bad[i]);
		if (r == 0)
			hm_free(p);
	}
TEST_END

TEST_BEGIN(test_posix_memalign_enomem)
	static const size_t cases[][2] = {
		{64, SIZE_MAX}, {64, SIZE_MAX - 100}, {64, (size_t)PTRDIFF_MAX + 1},
		{4096, SIZE_MAX - 4096}, {16, (size_t)1 << 62},
		{(size_t)1 << 30, SIZE_MAX - ((size_t)1 << 30) + 1},
		{SIZE_MAX / 2 + 1, 1}, {(size_t)1 << 62, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t align = opaque_zu(cases[i][0]), size = opaque_zu(cases[i][1]);
		void *p = POISON_PTR;
		errno = 0;
		int r = hm_posix_memalign(&p, align, size);
		int err = errno;
		expect_d_eq(r, ENOMEM, "posix_memalign(&p, %#zx, %#zx)", align,
		    size);
		/* As glibc, jemalloc, mimalloc and tcmalloc leave it. */
		expect_d_eq(err, ENOMEM, "errno after posix_memalign(&p, %#zx, "
		    "%#zx)", align, size);
		expect_ptr_eq(p, POISON_PTR, "posix_memalign(&p, %#zx, %#zx) "
		    "changed *memptr", align, size);
		if (r == 0)
			hm_free(p);
	}
TEST_END

TEST_BEGIN(test_posix_memalign_alignments)
	for (unsigned lg = 3; lg <= 30; lg++) {
		size_t align = (size_t)1 << lg;
		size_t sizes[6];
		int n = 0;
		sizes[n++] = 1;
		sizes[n++] = 17;
		if (align <= 64 * MiB) {
			sizes[n++] = align;
			sizes[n++] = align + 1;
		}
		if (align <= MiB) {
			sizes[n++] = align - 1 > 0 ? align - 1 : 1;
			sizes[n++] = 3 * align;
		}
		for (int i = 0; i < n; i++) {
			/* Two live at once: they must not coincide either. */
			void *p = POISON_PTR, *q = POISON_PTR;
			int r = hm_posix_memalign(&p, align, sizes[i]);
			assert_d_eq(r, 0, "posix_memalign(&p, %zu, %zu)", align,
			    sizes[i]);
			r = hm_posix_memalign(&q, align, sizes[i]);
			assert_d_eq(r, 0, "posix_memalign(&q, %zu, %zu)", align,
			    sizes[i]);
			check_aligned_block(p, align, sizes[i], "posix_memalign");
			check_aligned_block(q, align, sizes[i], "posix_memalign");
			uintptr_t a = (uintptr_t)p, b = (uintptr_t)q;
			expect_true(a + sizes[i] <= b || b + sizes[i] <= a,
			    "posix_memalign(%zu, %zu) blocks %p and %p overlap",
			    align, sizes[i], p, q);
			hm_free(p);
			hm_free(q);
		}
	}
TEST_END

TEST_BEGIN(test_posix_memalign_zero_size)
	void *p = POISON_PTR;
	int r = hm_posix_memalign(&p, 64, opaque_zu(0));
	expect_d_eq(r, 0, "posix_memalign(&p, 64, 0)");
	expect_ptr_ne(p, POISON_PTR, "*memptr not set");
	if (r == 0) {
		expect_zu_eq((uintptr_t)p % 64, 0, "posix_memalign(64, 0) = %p", p);
		hm_free(p);
	}
TEST_END

/* aligned_alloc and memalign differ only on alignments that are not
 * powers of two (strict: aligned_alloc). */
typedef void *align_fn_t(size_t, size_t);

static void
check_memalign_like(align_fn_t *fn, const char *what, bool strict) {
	/* Powers of two, sizes that are not multiples of the alignment. */
	for (unsigned lg = 0; lg <= 26; lg++) {
		size_t align = (size_t)1 << lg;
		const size_t sizes[] = {1, 10, align + 3, 3 * align / 2 + 1};
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			void *p = fn(align, sizes[i]);
			assert_ptr_not_null(p, "%s(%zu, %zu)", what, align, sizes[i]);
			check_aligned_block(p, align, sizes[i], what);
			hm_free(p);
		}
	}
	/* Not a power of two: memalign rounds up to the next one, and
	 * takes 0 as malloc; aligned_alloc fails with EINVAL. */
	static const size_t odd[] = {0, 3, 24, 48, 100, 1000, 3000, 5000,
	    12345, (1 << 20) + 1, 3 << 20};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		errno = 0;
		void *p = fn(opaque_zu(odd[i]), 100);
		int err = errno;
		if (strict) {
			expect_ptr_null(p, "%s(%zu, 100)", what, odd[i]);
			expect_d_eq(err, EINVAL, "errno after %s(%zu, 100)",
			    what, odd[i]);
			if (p != NULL)
				hm_free(p);
			continue;
		}
		assert_ptr_not_null(p, "%s(%zu, 100) (glibc 2.36 rounds the "
		    "alignment up)", what, odd[i]);
		check_aligned_block(p, odd[i] == 0 ? 16 : next_pow2(odd[i]),
		    100, what);
		hm_free(p);
	}
	void *p;
	/* Larger than SIZE_MAX/2 + 1 cannot be a power of two: EINVAL. */
	static const size_t inval[] = {SIZE_MAX, SIZE_MAX / 2 + 2,
	    SIZE_MAX - 4095};
	for (size_t i = 0; i < sizeof(inval) / sizeof(inval[0]); i++) {
		errno = 0;
		p = fn(opaque_zu(inval[i]), 16);
		int err = errno;
		expect_ptr_null(p, "%s(%#zx, 16)", what, inval[i]);
		expect_d_eq(err, EINVAL, "errno after %s(%#zx, 16)", what,
		    inval[i]);
		if (p != NULL)
			hm_free(p);
	}
	/* Possible alignments, impossible blocks: ENOMEM. */
	static const size_t nomem[][2] = {
		{SIZE_MAX / 2 + 1, 16}, {((size_t)1 << 62) + 1, 16},
		{(size_t)1 << 62, 16}, {64, SIZE_MAX}, {4096, SIZE_MAX - 4096},
		{64, (size_t)PTRDIFF_MAX + 1}, {1 << 20, (size_t)1 << 62},
	};
	for (size_t i = 0; i < sizeof(nomem) / sizeof(nomem[0]); i++) {
		errno = 0;
		p = fn(opaque_zu(nomem[i][0]), opaque_zu(nomem[i][1]));
		int err = errno;
		expect_ptr_null(p, "%s(%#zx, %#zx)", what, nomem[i][0],
		    nomem[i][1]);
		bool pow2 = (nomem[i][0] & (nomem[i][0] - 1)) == 0;
		expect_d_eq(err, strict && !pow2 ? EINVAL : ENOMEM,
		    "errno after %s(%#zx, %#zx)", what, nomem[i][0],
		    nomem[i][1]);
		if (p != NULL)
			hm_free(p);
	}
}

static void *
call_aligned_alloc(size_t align, size_t size) {
	return hm_aligned_alloc(align, size);
}

static void *
call_memalign(size_t align, size_t size) {
	return hm_memalign(align, size);
}

TEST_BEGIN(test_aligned_alloc)
	check_memalign_like(call_aligned_alloc, "aligned_alloc", true);
TEST_END

TEST_BEGIN(test_memalign)
	check_memalign_like(call_memalign, "memalign", false);
TEST_END

TEST_BEGIN(test_valloc)
	size_t page = page_size();
	const size_t sizes[] = {0, 1, 100, page - 1, page, page + 1,
	    10 * page + 7, MiB, 5 * MiB + 3};
	void *ptrs[sizeof(sizes) / sizeof(sizes[0])];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ptrs[i] = hm_valloc(sizes[i]);
		assert_ptr_not_null(ptrs[i], "valloc(%zu)", sizes[i]);
		check_aligned_block(ptrs[i], page, sizes[i], "valloc");
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		hm_free(ptrs[i]);
	static const size_t nomem[] = {SIZE_MAX, SIZE_MAX - 4096,
	    (size_t)PTRDIFF_MAX + 1, (size_t)1 << 62};
	expect_enomem_sizes(hm_valloc, "valloc", nomem,
	    HM_TEST_ARRAY_LEN(nomem));
TEST_END

TEST_BEGIN(test_pvalloc)
	size_t page = page_size();
	const size_t sizes[] = {1, 100, page - 1, page, page + 1,
	    3 * page + 5, MiB + 1, 5 * MiB + 1};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = hm_pvalloc(sizes[i]);
		assert_ptr_not_null(p, "pvalloc(%zu)", sizes[i]);
		size_t rounded = (sizes[i] + page - 1) / page * page;
		/* The rounded-up size is what the caller may use. */
		check_aligned_block(p, page, rounded, "pvalloc");
		hm_free(p);
	}
	void *p = hm_pvalloc(opaque_zu(0));
	assert_ptr_not_null(p, "pvalloc(0)");
	expect_zu_eq((uintptr_t)p % page, 0, "pvalloc(0) = %p", p);
	hm_free(p);
	/* Too large, or too large once rounded up to a page. */
	const size_t nomem[] = {SIZE_MAX, SIZE_MAX - page + 2, SIZE_MAX - 1,
	    (size_t)PTRDIFF_MAX + 1, (size_t)1 << 62};
	expect_enomem_sizes(hm_pvalloc, "pvalloc", nomem,
	    HM_TEST_ARRAY_LEN(nomem));
TEST_END

TEST_BEGIN(test_aligned_many_live)
	/* Mixed alignments, all live, none overlapping, all contents kept. */
	enum { N = 2000 };
	static void *ptrs[N];
	static size_t usizes[N];
	uint64_t rng = test_seed();
	for (int i = 0; i < N; i++) {
		uint64_t r = test_rand_next(&rng);
		size_t align = (size_t)1 << (r % 17);
		size_t size = 1 + (size_t)((r >> 8) % 9000);
		ptrs[i] = hm_aligned_alloc(align, size);
		assert_ptr_not_null(ptrs[i], "aligned_alloc(%zu, %zu)", align, size);
		expect_zu_eq((uintptr_t)ptrs[i] % align, 0, "aligned_alloc(%zu, %zu)",
		    align, size);
		usizes[i] = hm_malloc_usable_size(ptrs[i]);
		expect_zu_ge(usizes[i], size, "usable size");
		pattern_fill(ptrs[i], usizes[i], (uint64_t)i);
	}
	for (int i = 0; i < N; i++) {
		size_t bad = pattern_check(ptrs[i], usizes[i], (uint64_t)i);
		expect_zu_eq(bad, usizes[i], "block %d (%p): byte %zu changed", i,
		    ptrs[i], bad);
		hm_free(ptrs[i]);
	}
TEST_END

int
main(void) {
	return test(test_posix_memalign_einval, test_posix_memalign_enomem,
	    test_posix_memalign_alignments, test_posix_memalign_zero_size,
	    test_aligned_alloc, test_memalign, test_valloc, test_pvalloc,
	    test_aligned_many_live);
}
