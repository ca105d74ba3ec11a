/*
 * malloc_usable_size: 0 for NULL; for every way of allocating, at least the
 * request, equal to nallocx/sallocx, stable, and really usable: writing
 * every usable byte of many neighbouring blocks corrupts none of them.
 */
#include "api_util.h"

#include <malloc.h>

TEST_BEGIN(test_usable_size_null)
	expect_zu_eq(hm_malloc_usable_size(NULL), 0, "malloc_usable_size(NULL)");
TEST_END

TEST_BEGIN(test_usable_size_matches_nallocx)
	for (size_t size = 1; size <= 40000; size += (size < 5000 ? 1 : 37)) {
		void *p = hm_malloc(size);
		assert_ptr_not_null(p, "malloc(%zu)", size);
		size_t usize = hm_malloc_usable_size(p);
		expect_zu_ge(usize, size, "malloc_usable_size(malloc(%zu))", size);
		expect_zu_eq(usize, hm_nallocx(size, 0), "malloc(%zu) vs nallocx",
		    size);
		expect_zu_eq(usize, hm_sallocx(p, 0), "malloc(%zu) vs sallocx",
		    size);
		expect_zu_eq(hm_malloc_usable_size(p), usize,
		    "malloc_usable_size twice");
		hm_free(p);
	}
TEST_END

TEST_BEGIN(test_usable_size_neighbours)
	/*
	 * Many blocks of one size, so they share slabs: write all usable bytes
	 * of each, then check each still holds its own pattern.
	 */
	static const size_t sizes[] = {
		1, 8, 15, 16, 17, 31, 33, 48, 63, 65, 100, 127, 129, 200, 255,
		257, 500, 1000, 1025, 2000, 3000, 4097, 7000, 10000, 14000, 14337,
		20000, 70000, 300000,
	};
	enum { N = 300 };
	static void *ptrs[N];
	static size_t usizes[N];
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		int n = sizes[s] > 10000 ? 40 : N;
		for (int i = 0; i < n; i++) {
			ptrs[i] = hm_malloc(sizes[s]);
			assert_ptr_not_null(ptrs[i], "malloc(%zu)", sizes[s]);
			usizes[i] = hm_malloc_usable_size(ptrs[i]);
			expect_zu_ge(usizes[i], sizes[s], "usable size");
			pattern_fill(ptrs[i], usizes[i], (uint64_t)i * 1000 + s);
		}
		for (int i = 0; i < n; i++) {
			size_t bad = pattern_check(ptrs[i], usizes[i],
			    (uint64_t)i * 1000 + s);
			expect_zu_eq(bad, usizes[i],
			    "block %d of size %zu (usable %zu): byte %zu changed", i,
			    sizes[s], usizes[i], bad);
			expect_zu_eq(hm_malloc_usable_size(ptrs[i]), usizes[i],
			    "usable size changed after writing");
			hm_free(ptrs[i]);
		}
	}
TEST_END

TEST_BEGIN(test_usable_size_other_calls)
	static const size_t sizes[] = {1, 24, 100, 1000, 5000, 20000, 300000,
	    5 << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t size = sizes[i];
		void *p[7];
		p[0] = hm_calloc(1, size);
		p[1] = hm_realloc(NULL, size);
		p[2] = hm_memalign(64, size);
		p[3] = hm_aligned_alloc(4096, size);
		p[4] = hm_valloc(size);
		p[5] = hm_malloc(size / 2 + 1);
		if (p[5] != NULL)
			p[5] = hm_realloc(p[5], size);
		p[6] = NULL;
		assert_d_eq(hm_posix_memalign(&p[6], 256, size), 0,
		    "posix_memalign(256, %zu)", size);
		for (int k = 0; k < 7; k++) {
			assert_ptr_not_null(p[k], "allocation %d of %zu bytes", k,
			    size);
			size_t usize = hm_malloc_usable_size(p[k]);
			expect_zu_ge(usize, size, "usable size of allocation %d of %zu",
			    k, size);
			expect_zu_eq(usize, hm_sallocx(p[k], 0),
			    "usable size vs sallocx, allocation %d of %zu", k, size);
			memset(p[k], 0x3c, usize);
		}
		for (int k = 0; k < 7; k++)
			hm_free(p[k]);
	}
TEST_END

TEST_BEGIN(test_usable_size_interior_unchanged_by_free_of_others)
	/* Freeing a neighbour must not change a block's usable size. */
	enum { N = 64 };
	void *ptrs[N];
	for (int i = 0; i < N; i++) {
		ptrs[i] = hm_malloc(48);
		assert_ptr_not_null(ptrs[i], "malloc(48)");
	}
	size_t usize = hm_malloc_usable_size(ptrs[1]);
	for (int i = 0; i < N; i += 2)
		hm_free(ptrs[i]);
	for (int i = 1; i < N; i += 2) {
		expect_zu_eq(hm_malloc_usable_size(ptrs[i]), usize,
		    "usable size of block %d after freeing neighbours", i);
		hm_free(ptrs[i]);
	}
TEST_END

int
main(void) {
	return test(test_usable_size_null, test_usable_size_matches_nallocx,
	    test_usable_size_neighbours, test_usable_size_other_calls,
	    test_usable_size_interior_unchanged_by_free_of_others);
}
