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
TEST_END

int
main(void) {
	return test(test_interior_small, test_interior_large,
	    test_interior_huge, test_foreign, test_freed_slab,
	    test_usable_size_foreign);
}
