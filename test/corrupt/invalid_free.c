/* Freeing what is not the start of a live hmalloc block aborts. */
#include "corrupt.h"

static char static_buf[64];

TEST_BEGIN(test_interior_small)
	for (size_t size = 32; size <= 14336; size *= 2) {
		char *p = hm_malloc(size);
		expect_abort(misuse_free, p + 16, p + 16, "invalid free");
		hm_free(p);
	}
TEST_END

TEST_BEGIN(test_interior_large)
	char *p = hm_malloc(200000);
	expect_abort(misuse_free, p + 4096, p + 4096, "invalid free");
	expect_abort(misuse_free, p + 8, p + 8, "invalid free");
	hm_free(p);
TEST_END

TEST_BEGIN(test_interior_huge)
	char *p = hm_malloc(8 << 20);
	expect_abort(misuse_free, p + 4096, p + 4096, "invalid free");
	expect_abort(misuse_free, p + (2 << 20), p + (2 << 20), "invalid free");
	hm_free(p);
TEST_END

TEST_BEGIN(test_foreign)
	int local = 0;
	expect_abort(misuse_free, &local, &local, "invalid free");
	expect_abort(misuse_free, static_buf, static_buf, "invalid free");
	void *wild = (void *)(uintptr_t)0x1000;
	expect_abort(misuse_free, wild, wild, "invalid free");
	void *high = (void *)(uintptr_t)0xffff800000001000ULL;
	expect_abort(misuse_free, high, high, "invalid free");
TEST_END

TEST_BEGIN(test_freed_slab)
	/* Fill slabs of one class, free them all: their pages go back to the
	 * arena, and a pointer into them is no block at all. */
	enum { N = 4096 };
	static void *ptrs[N];
	for (int i = 0; i < N; i++)
		ptrs[i] = hm_malloc(3072);
	for (int i = 0; i < N; i++)
		hm_free(ptrs[i]);
	char *p = ptrs[N / 2];
	expect_abort(misuse_free, p + 16, p + 16, "invalid free");
TEST_END

TEST_BEGIN(test_usable_size_foreign)
	int local = 0;
	expect_abort(misuse_usable_size, &local, &local,
	    "malloc_usable_size of invalid pointer");
	expect_abort(misuse_usable_size, static_buf, static_buf,
	    "malloc_usable_size of invalid pointer");
	void *high = (void *)(uintptr_t)0xffff800000001000ULL;
	expect_abort(misuse_usable_size, high, high,
	    "malloc_usable_size of invalid pointer");
	expect_abort(misuse_sallocx, &local, &local,
	    "sallocx of invalid pointer");
TEST_END

/* malloc_usable_size and sallocx answer a Small block inline (block.h):
 * an interior pointer of any kind of block is refused all the same. */
TEST_BEGIN(test_usable_size_interior)
	static const size_t sizes[] = {16, 48, 1024, 3072, 14336, 200000,
	    8 << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *p = hm_malloc(sizes[i]);
		assert_ptr_not_null(p, "malloc(%zu)", sizes[i]);
		expect_zu_ge(hm_malloc_usable_size(p), sizes[i],
		    "usable size of %zu", sizes[i]);
		expect_zu_eq(hm_sallocx(p, 0), hm_malloc_usable_size(p),
		    "sallocx of %zu", sizes[i]);
		char *q = p + 8;
		expect_abort(misuse_usable_size, q, q,
		    "malloc_usable_size of invalid pointer");
		expect_abort(misuse_sallocx, q, q,
		    "sallocx of invalid pointer");
		if (sizes[i] > 4096) {
			q = p + 4096;
			expect_abort(misuse_usable_size, q, q,
			    "malloc_usable_size of invalid pointer");
		}
		hm_free(p);
	}
TEST_END

int
main(void) {
	return test(test_interior_small, test_interior_large,
	    test_interior_huge, test_foreign, test_freed_slab,
	    test_usable_size_foreign, test_usable_size_interior);
}
