/* A second free of a block, in each range, aborts naming the address. */
#include "corrupt.h"

static void
check_double_free(size_t size, const char *what) {
	void *p = hm_malloc(size);
	assert_ptr_not_null(p, "malloc(%zu)", size);
	/* Keep a neighbour live so that a small slab stays a slab. */
	void *keep = hm_malloc(size);
	hm_free(p);
	expect_abort(misuse_free, p, p, what);
	hm_free(keep);
}

TEST_BEGIN(test_double_free_small)
	for (size_t size = 1; size <= 14336; size = size * 2 + 3)
		check_double_free(size, "double free");
TEST_END

TEST_BEGIN(test_double_free_large)
	check_double_free(16384, "double free");
	check_double_free(100000, "double free");
	check_double_free(1 << 20, "double free");
TEST_END

TEST_BEGIN(test_double_free_huge)
	/* A freed huge block is unmapped and forgotten: what is left is a
	 * pointer hmalloc does not know. */
	check_double_free(4 << 20, "invalid free");
TEST_END

TEST_BEGIN(test_realloc_after_free)
	void *p = hm_malloc(100000);
	void *keep = hm_malloc(100000);
	hm_free(p);
	expect_abort(misuse_realloc, p, p, "double free");
	hm_free(keep);
TEST_END

int
main(void) {
	return test(test_double_free_small, test_double_free_large,
	    test_double_free_huge, test_realloc_after_free);
}
