/* A sized free whose size maps to another class than the block's aborts;
 * any size from the requested to the usable size is legal. */
#include "corrupt.h"

static size_t wrong_size;

static void
misuse_free_sized(void *p) {
	hm_free_sized(p, wrong_size);
}

static void
misuse_sdallocx(void *p) {
	hm_sdallocx(p, wrong_size, 0);
}

TEST_BEGIN(test_legal_sizes)
	static const size_t sizes[] = {1, 17, 100, 1000, 5000, 20000, 300000,
	    3 << 20};
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(sizes); i++) {
		size_t usize = hm_nallocx(sizes[i], 0);
		void *p = hm_malloc(sizes[i]);
		hm_free_sized(p, sizes[i]);
		p = hm_malloc(sizes[i]);
		hm_free_sized(p, usize);
		p = hm_malloc(sizes[i]);
		hm_sdallocx(p, (sizes[i] + usize) / 2, 0);
	}
TEST_END

TEST_BEGIN(test_wrong_sizes)
	static const size_t sizes[] = {16, 100, 1000, 5000, 20000, 300000,
	    3 << 20};
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(sizes); i++) {
		size_t usize = hm_nallocx(sizes[i], 0);
		void *p = hm_malloc(sizes[i]);
		wrong_size = usize + 1;
		expect_abort(misuse_free_sized, p, p,
		    "sized free with wrong size");
		wrong_size = usize * 4;
		expect_abort(misuse_sdallocx, p, p,
		    "sized free with wrong size");
		hm_free(p);
	}
TEST_END

int
main(void) {
	return test(test_legal_sizes, test_wrong_sizes);
}
