/*
 * C23 sized frees: free_sized(p, size) accepts any size from the request up
 * to the usable size, free_aligned_sized(p, alignment, size) the same for
 * blocks from aligned_alloc; both take NULL, keep errno, and really free
 * (the bytes in use go back down).
 */
#include "api_util.h"

#include <malloc.h>

static const size_t test_sizes[] = {
	1, 8, 16, 17, 24, 100, 128, 129, 1000, 4096, 5000, 14336, 14337, 16384,
	20000, 65536, 100000, 1 << 20, (1 << 20) + 1, 4 << 20, (5 << 20) + 3,
	17 << 20,
};
#define NSIZES (sizeof(test_sizes) / sizeof(test_sizes[0]))

TEST_BEGIN(test_free_sized_any_size_in_range)
	for (size_t i = 0; i < NSIZES; i++) {
		size_t size = test_sizes[i];
		/* Three frees per size: request, usable, halfway between. */
		for (int how = 0; how < 3; how++) {
			void *p = hm_malloc(size);
			assert_ptr_not_null(p, "malloc(%zu)", size);
			size_t usize = hm_malloc_usable_size(p);
			memset(p, 0x77, size < 4096 ? size : 4096);
			size_t s = how == 0 ? size : how == 1 ? usize
			    : size + (usize - size) / 2;
			errno = 2468;
			hm_free_sized(p, s);
			expect_d_eq(errno, 2468, "errno after free_sized(p, %zu)", s);
		}
		/* calloc'd and realloc'd blocks: their latest request size. */
		void *c = hm_calloc(3, size);
		assert_ptr_not_null(c, "calloc(3, %zu)", size);
		hm_free_sized(c, 3 * size);
		void *r = hm_malloc(size / 3 + 1);
		assert_ptr_not_null(r, "malloc(%zu)", size / 3 + 1);
		r = hm_realloc(r, size);
		assert_ptr_not_null(r, "realloc(p, %zu)", size);
		hm_free_sized(r, size);
	}
	hm_free_sized(NULL, 0);
	hm_free_sized(NULL, 100);
	/* Still working. */
	void *p = hm_malloc(100);
	assert_ptr_not_null(p, "malloc(100) after sized frees");
	hm_free(p);
TEST_END

TEST_BEGIN(test_free_aligned_sized_any_size_in_range)
	for (unsigned lg = 4; lg <= 21; lg++) {
		size_t align = (size_t)1 << lg;
		const size_t sizes[] = {1, align / 2 + 1, align, 3 * align + 5};
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			for (int how = 0; how < 3; how++) {
				void *p = hm_aligned_alloc(align, sizes[i]);
				assert_ptr_not_null(p, "aligned_alloc(%zu, %zu)",
				    align, sizes[i]);
				size_t usize = hm_malloc_usable_size(p);
				size_t s = how == 0 ? sizes[i] : how == 1 ? usize
				    : sizes[i] + (usize - sizes[i]) / 2;
				errno = 1357;
				hm_free_aligned_sized(p, align, s);
				expect_d_eq(errno, 1357,
				    "errno after free_aligned_sized(p, %zu, %zu)",
				    align, s);
			}
		}
	}
	hm_free_aligned_sized(NULL, 64, 0);
	void *p = hm_malloc(100);
	assert_ptr_not_null(p, "malloc(100) after aligned sized frees");
	hm_free(p);
TEST_END

TEST_BEGIN(test_sized_frees_release_memory)
	/* 1000 blocks of 10000 bytes freed by size: in-use bytes fall. */
	enum { N = 1000, SIZE = 10000 };
	static void *ptrs[N];
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			ptrs[i] = round == 0 ? hm_malloc(SIZE)
			    : hm_aligned_alloc(256, SIZE);
			assert_ptr_not_null(ptrs[i], "allocation of %d bytes", SIZE);
			memset(ptrs[i], 1, SIZE);
		}
		size_t before = bytes_in_use();
		for (int i = 0; i < N; i++) {
			if (round == 0)
				hm_free_sized(ptrs[i], SIZE);
			else
				hm_free_aligned_sized(ptrs[i], 256, SIZE);
		}
		size_t after = bytes_in_use();
		expect_zu_ge(before, after + (size_t)N * SIZE / 2,
		    "bytes in use before/after %s of %d x %d bytes",
		    round == 0 ? "free_sized" : "free_aligned_sized", N, SIZE);
	}
TEST_END

int
main(void) {
	return test(test_free_sized_any_size_in_range,
	    test_free_aligned_sized_any_size_in_range,
	    test_sized_frees_release_memory);
}
