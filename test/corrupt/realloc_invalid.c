/*
 * realloc and rallocx of pointers that are not a live block's start:
 * interior pointers of each range abort with "realloc of invalid pointer"
 * (xallocx with "xallocx of invalid pointer"), freed blocks with "double
 * free" (or, once the block's memory is no block at all, "realloc of
 * invalid pointer").  Foreign pointers are in foreign_free.c; freed
 * blocks by the path they took in double_free_paths.c.
 */
#include "corrupt.h"

#define MiB ((size_t)1 << 20)


static void
misuse_xallocx_to(void *p) {
	size_t r = hm_xallocx(p, misuse_new_size, 0, 0);
	(void)r;
}

/* A Huge size: its class is the chunk size or more. */
static bool
is_huge(size_t size) {
	size_t chunk = 0, len = sizeof(chunk);
	if (hm_mallctl("arenas.chunksize", &chunk, &len, NULL, 0) != 0)
		chunk = 2 * MiB;
	return hm_nallocx(size, 0) >= chunk;
}

/* One size per range, and the Small/Large and Large/Huge edges. */
static const size_t sizes[] = {16, 48, 1000, 14336, 16384, 20000, 100000,
    MiB, 2 * MiB, 3 * MiB, 9 * MiB};

TEST_BEGIN(test_realloc_interior)
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(sizes); i++) {
		size_t size = sizes[i];
		char *p = hm_malloc(size);
		assert_ptr_not_null(p, "malloc(%zu)", size);
		/* Inside the block: the next word, the middle, the last
		 * byte; and a page in, past the first page's map entry. */
		size_t offs[] = {8, size / 2 + 8, size - 1, 4096 + 16};
		for (size_t k = 0; k < HM_TEST_ARRAY_LEN(offs); k++) {
			if (offs[k] >= size)
				continue;
			char *q = p + offs[k];
			/* To the same class, a larger one, a smaller one. */
			size_t to[] = {size, 2 * size + 1, 8};
			for (size_t t = 0; t < HM_TEST_ARRAY_LEN(to); t++) {
				misuse_new_size = to[t];
				expect_abort(misuse_realloc_to, q, q,
				    "realloc of invalid pointer");
				expect_abort(misuse_rallocx_to, q, q,
				    "realloc of invalid pointer");
				expect_abort(misuse_xallocx_to, q, q,
				    "xallocx of invalid pointer");
			}
		}
		hm_free(p);
	}
TEST_END

TEST_BEGIN(test_realloc_freed_moving)
	/*
	 * A freed block given to realloc for another range's size: the new
	 * block is allocated and the old one freed, which finds it free (in
	 * this thread's cache, or its run free), or no block (Huge).
	 */
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(sizes); i++) {
		size_t size = sizes[i];
		void *keep = hm_malloc(size);
		char *p = hm_malloc(size);
		hm_free(p);
		const char *what = is_huge(size) ? "realloc of invalid pointer"
		    : "double free";
		/* Small and Huge to a larger class (neither grows in place
		 * from a Small class or into a Huge one here), Large to a
		 * Small one. */
		misuse_new_size = size <= 14336 || is_huge(size) ? 2 * size + 1 : 8;
		expect_abort(misuse_realloc_to, p, p, what);
		expect_abort(misuse_rallocx_to, p, p, what);
		hm_free(keep);
	}
TEST_END

TEST_BEGIN(test_realloc_freed_uncached)
	/* Large blocks above the cache's limit and Huge ones: caught by the
	 * run's state (or the missing registration) at any new size. */
	static const size_t big[] = {40000, 100000, MiB, 3 * MiB};
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(big); i++) {
		size_t size = big[i];
		void *keep = hm_malloc(size);
		char *p = hm_malloc(size);
		hm_free(p);
		const char *what = is_huge(size) ? "realloc of invalid pointer"
		    : "double free";
		size_t to[] = {size, size + 1, 2 * size, size / 2, 8};
		for (size_t t = 0; t < HM_TEST_ARRAY_LEN(to); t++) {
			misuse_new_size = to[t];
			expect_abort(misuse_realloc_to, p, p, what);
			expect_abort(misuse_rallocx_to, p, p, what);
		}
		misuse_new_size = size + 1;
		expect_abort(misuse_xallocx_to, p, p, is_huge(size)
		    ? "xallocx of invalid pointer" : "double free");
		hm_free(keep);
	}
TEST_END

int
main(void) {
	return test(test_realloc_interior, test_realloc_freed_moving,
	    test_realloc_freed_uncached);
}
