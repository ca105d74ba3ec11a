/*
 * calloc: memory is zero, fresh or recycled from blocks that were dirtied
 * and freed (small, large and huge sizes), calloc with a zero count or
 * size, and NULL + ENOMEM when n * size overflows or is too large.
 */
#include "api_util.h"

static void
expect_zeroed(const void *p, size_t n, size_t count, size_t size) {
	size_t bad = bytes_check(p, 0, n, 0);
	expect_zu_eq(bad, n, "calloc(%zu, %zu) = %p: byte %zu is not zero",
	    count, size, p, bad);
}

TEST_BEGIN(test_calloc_fresh)
	static const size_t shapes[][2] = {
		{1, 1}, {1, 16}, {3, 7}, {16, 1}, {10, 100}, {100, 10},
		{1, 4096}, {7, 1000}, {1, 14 * 1024}, {1, 16 * 1024},
		{1000, 100}, {1, 1 << 20}, {1 << 20, 3}, {1, 4 << 20},
		{5, 1 << 20}, {1, 33 << 20},
	};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		size_t n = shapes[i][0], size = shapes[i][1];
		void *p = hm_calloc(n, size);
		assert_ptr_not_null(p, "calloc(%zu, %zu)", n, size);
		expect_zu_ge(hm_malloc_usable_size(p), n * size,
		    "usable size of calloc(%zu, %zu)", n, size);
		expect_zeroed(p, n * size, n, size);
		hm_free(p);
	}
TEST_END

/*
 * Dirty k blocks of `size` with 0xff, free them, calloc k blocks of the same
 * size (which an allocator will serve from what was just freed) and check
 * every requested byte is zero.  Repeated, alternating the n/size split.
 */
static void
dirty_then_calloc(size_t size, int k) {
	void *ptrs[64];
	assert_d_le(k, 64, "too many blocks");
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < k; i++) {
			ptrs[i] = hm_malloc(size);
			assert_ptr_not_null(ptrs[i], "malloc(%zu)", size);
			memset(ptrs[i], 0xff, hm_malloc_usable_size(ptrs[i]));
		}
		for (int i = k - 1; i >= 0; i--)
			hm_free(ptrs[i]);
		for (int i = 0; i < k; i++) {
			size_t n = 1, sz = size;
			if (round == 1 && size % 16 == 0) {
				n = size / 16;
				sz = 16;
			} else if (round == 2) {
				n = size;
				sz = 1;
			}
			ptrs[i] = hm_calloc(n, sz);
			assert_ptr_not_null(ptrs[i], "calloc(%zu, %zu)", n, sz);
			expect_zeroed(ptrs[i], size, n, sz);
		}
		/* Dirty the calloc'd blocks too, so the next round reuses them. */
		for (int i = 0; i < k; i++) {
			memset(ptrs[i], 0xff, hm_malloc_usable_size(ptrs[i]));
			hm_free(ptrs[i]);
		}
	}
}

TEST_BEGIN(test_calloc_after_dirty_free_small)
	static const size_t sizes[] = {
		1, 8, 15, 16, 17, 24, 48, 100, 128, 200, 512, 1000, 1024, 3000,
		4096, 5000, 10000, 14 * 1024,
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		dirty_then_calloc(sizes[i], 64);
TEST_END

TEST_BEGIN(test_calloc_after_dirty_free_large)
	static const size_t sizes[] = {
		16 * 1024, 20000, 64 * 1024, 100 * 1024, 128 * 1024,
		200 * 1024 + 1, 512 * 1024, 1 << 20, (1 << 20) + 4096,
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		dirty_then_calloc(sizes[i], 8);
TEST_END

TEST_BEGIN(test_calloc_after_dirty_free_huge)
	static const size_t sizes[] = {
		4 << 20, (4 << 20) + 1, 6 << 20, (8 << 20) + 12345, 32 << 20,
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		dirty_then_calloc(sizes[i], 2);
TEST_END

TEST_BEGIN(test_calloc_mixed_recycling)
	/* Dirty a big block, free it, then carve calloc'd smaller ones. */
	size_t sizes[] = {8 << 20, 1 << 20, 64 * 1024};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *big = hm_malloc(sizes[i]);
		assert_ptr_not_null(big, "malloc(%zu)", sizes[i]);
		memset(big, 0xff, sizes[i]);
		hm_free(big);
		void *ptrs[32];
		for (int j = 0; j < 32; j++) {
			size_t sz = sizes[i] / 40 + (size_t)j * 16;
			ptrs[j] = hm_calloc(1, sz);
			assert_ptr_not_null(ptrs[j], "calloc(1, %zu)", sz);
			expect_zeroed(ptrs[j], sz, 1, sz);
		}
		for (int j = 0; j < 32; j++)
			hm_free(ptrs[j]);
	}
TEST_END

TEST_BEGIN(test_calloc_zero)
	/* As glibc: a unique, freeable pointer, never NULL. */
	void *a = hm_calloc(opaque_zu(0), 10);
	void *b = hm_calloc(10, opaque_zu(0));
	void *c = hm_calloc(opaque_zu(0), opaque_zu(0));
	expect_ptr_not_null(a, "calloc(0, 10)");
	expect_ptr_not_null(b, "calloc(10, 0)");
	expect_ptr_not_null(c, "calloc(0, 0)");
	expect_ptr_ne(a, b, "two live calloc(0) blocks");
	expect_ptr_ne(b, c, "two live calloc(0) blocks");
	hm_free(a);
	hm_free(b);
	hm_free(c);
TEST_END

TEST_BEGIN(test_calloc_overflow)
	static const size_t shapes[][2] = {
		{SIZE_MAX, SIZE_MAX}, {SIZE_MAX, 2}, {2, SIZE_MAX},
		{SIZE_MAX / 2 + 1, 2}, {(size_t)1 << 32, (size_t)1 << 32},
		{SIZE_MAX / 16 + 1, 16}, {3, SIZE_MAX / 3 + 1},
		{(size_t)1 << 33, ((size_t)1 << 31) + 1},
		/* Wraps to 131073: a truncated product would look harmless. */
		{65537, 281470681808897},
		/* No overflow, but too large. */
		{1, SIZE_MAX}, {SIZE_MAX, 1}, {(size_t)PTRDIFF_MAX / 2 + 1, 2},
		{1, (size_t)PTRDIFF_MAX + 1}, {(size_t)1 << 31, (size_t)1 << 31},
	};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		size_t n = opaque_zu(shapes[i][0]), size = opaque_zu(shapes[i][1]);
		errno = 0;
		void *p = hm_calloc(n, size);
		int err = errno;
		expect_ptr_null(p, "calloc(%#zx, %#zx)", n, size);
		expect_d_eq(err, ENOMEM, "errno after calloc(%#zx, %#zx)", n, size);
		if (p != NULL)
			hm_free(p);
	}
	void *p = hm_calloc(4, 4);
	assert_ptr_not_null(p, "calloc(4, 4) after failures");
	expect_zeroed(p, 16, 4, 4);
	hm_free(p);
TEST_END

int
main(void) {
	return test(test_calloc_fresh, test_calloc_after_dirty_free_small,
	    test_calloc_after_dirty_free_large, test_calloc_after_dirty_free_huge,
	    test_calloc_mixed_recycling, test_calloc_zero, test_calloc_overflow);
}
