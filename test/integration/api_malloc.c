/*
 * malloc and free through the built library: every size up to 4 KiB and
 * around every size-class boundary up to 64 MiB (usable size, alignment,
 * whole block writable), malloc(0), no overlap between many live blocks,
 * ENOMEM for impossible sizes, free(NULL) and errno across free.
 */
#include "api_util.h"

#include <malloc.h>
#include <pthread.h>

/* The alignment malloc(size) must give: fundamental, but no more than size. */
static size_t
min_align_for(size_t size) {
	size_t a = 16;
	while (a > 1 && a > size)
		a >>= 1;
	return a;
}

TEST_BEGIN(test_malloc_every_small_size)
	/* All of 0..4096 live at once, so neighbours would clobber each other. */
	enum { N = 4097 };
	static void *ptrs[N];
	static size_t usable[N];
	for (size_t size = 0; size < N; size++) {
		void *p = hm_malloc(size);
		assert_ptr_not_null(p, "malloc(%zu)", size);
		ptrs[size] = p;
		usable[size] = hm_malloc_usable_size(p);
		expect_zu_ge(usable[size], size, "usable size of malloc(%zu)", size);
		if (size > 0) {
			expect_zu_eq(usable[size], hm_nallocx(size, 0),
			    "usable size of malloc(%zu) vs nallocx", size);
		}
		expect_zu_ge(ptr_align(p), min_align_for(size),
		    "alignment of malloc(%zu) = %p", size, p);
		pattern_fill(p, usable[size], size);
	}
	for (size_t size = 0; size < N; size++) {
		size_t bad = pattern_check(ptrs[size], usable[size], size);
		expect_zu_eq(bad, usable[size],
		    "malloc(%zu) = %p: byte %zu changed", size, ptrs[size], bad);
		hm_free(ptrs[size]);
	}
TEST_END

/* One size: allocate, check usable size and alignment, write all, free. */
static void
check_one_size(size_t size) {
	void *p = hm_malloc(size);
	assert_ptr_not_null(p, "malloc(%zu)", size);
	size_t usize = hm_malloc_usable_size(p);
	expect_zu_ge(usize, size, "usable size of malloc(%zu)", size);
	expect_zu_eq(usize, hm_nallocx(size, 0), "malloc(%zu) vs nallocx", size);
	expect_zu_ge(ptr_align(p), min_align_for(size), "malloc(%zu) = %p",
	    size, p);
	pattern_fill(p, usize, size);
	size_t bad = pattern_check(p, usize, size);
	expect_zu_eq(bad, usize, "malloc(%zu) = %p: byte %zu reads back wrong",
	    size, p, bad);
	hm_free(p);
}

TEST_BEGIN(test_malloc_class_boundaries)
	/* Walk the classes through nallocx: c-1, c, c+1 for each class c. */
	size_t c = hm_nallocx(1, 0);
	unsigned nclasses = 0;
	assert_zu_ge(c, 1, "nallocx(1, 0)");
	while (c <= 64 * MiB) {
		check_one_size(c - 1 > 0 ? c - 1 : 1);
		check_one_size(c);
		check_one_size(c + 1);
		size_t next = hm_nallocx(c + 1, 0);
		assert_zu_gt(next, c, "nallocx(%zu + 1) after class %zu", c, c);
		c = next;
		assert_d_lt(++nclasses, 1000, "too many classes below 64 MiB");
	}
TEST_END

TEST_BEGIN(test_size_classes_are_jemalloc_ladder)
	if (test_canary_on())
		test_skip("canary: Small classes keep a word for it");
	/* Each size up to 16 KiB, then each boundary of the reference ladder. */
	for (size_t size = 1; size <= 16 * KiB; size++) {
		size_t got = hm_nallocx(size, 0);
		if (got != ref_size_class(size)) {
			expect_zu_eq(got, ref_size_class(size), "nallocx(%zu)",
			    size);
			return;
		}
	}
	for (size_t c = ref_size_class(16 * KiB); c <= 64 * MiB;
	    c = ref_size_class(c + 1)) {
		expect_zu_eq(hm_nallocx(c - 1, 0), c, "nallocx(%zu)", c - 1);
		expect_zu_eq(hm_nallocx(c, 0), c, "nallocx(%zu)", c);
		expect_zu_eq(hm_nallocx(c + 1, 0), ref_size_class(c + 1),
		    "nallocx(%zu)", c + 1);
	}
	/* The usable size of a real block follows the same ladder. */
	void *p = hm_malloc(17);
	assert_ptr_not_null(p, "malloc(17)");
	expect_zu_eq(hm_malloc_usable_size(p), 32, "usable size of malloc(17)");
	hm_free(p);
TEST_END

TEST_BEGIN(test_malloc_zero)
	enum { N = 200 };
	void *ptrs[N];
	for (int i = 0; i < N; i++) {
		ptrs[i] = hm_malloc(opaque_zu(0));
		assert_ptr_not_null(ptrs[i], "malloc(0) #%d", i);
		/* Whatever it says is usable must be writable. */
		memset(ptrs[i], 0xa5, hm_malloc_usable_size(ptrs[i]));
	}
	qsort(ptrs, N, sizeof(ptrs[0]), test_cmp_addr);
	for (int i = 1; i < N; i++)
		expect_ptr_ne(ptrs[i - 1], ptrs[i], "malloc(0) returned a live pointer twice");
	for (int i = 0; i < N; i++)
		hm_free(ptrs[i]);
TEST_END

struct block {
	unsigned char *p;     /* first, for test_cmp_addr */
	size_t usize;
	uint64_t seed;
};

static size_t
random_size(uint64_t *rng) {
	uint64_t r = test_rand_next(rng);
	unsigned kind = (unsigned)(r % 1000);
	r >>= 10;
	if (kind < 2)
		return 1 + (size_t)(r % (4 * MiB));     /* up to huge */
	if (kind < 40)
		return 1 + (size_t)(r % (256 * KiB));   /* large */
	return (size_t)(r % 1024);                  /* small, 0 too */
}

/* A new block of random size in b, filled with the next pattern seed. */
static void
block_new(struct block *b, uint64_t *rng, uint64_t *seed) {
	size_t size = random_size(rng);
	b->p = hm_malloc(size);
	assert_ptr_not_null(b->p, "malloc(%zu)", size);
	b->usize = hm_malloc_usable_size(b->p);
	b->seed = (*seed)++;
	pattern_fill(b->p, b->usize, b->seed);
}

static void
check_disjoint(struct block *b, int n) {
	qsort(b, (size_t)n, sizeof(*b), test_cmp_addr);
	for (int i = 1; i < n; i++) {
		if (b[i - 1].p + b[i - 1].usize > b[i].p) {
			expect_not_reached("blocks %p (usable %zu) and %p overlap",
			    (void *)b[i - 1].p, b[i - 1].usize, (void *)b[i].p);
			return;
		}
	}
	for (int i = 0; i < n; i++) {
		size_t bad = pattern_check(b[i].p, b[i].usize, b[i].seed);
		if (bad != b[i].usize) {
			expect_not_reached("block %p (usable %zu): byte %zu changed",
			    (void *)b[i].p, b[i].usize, bad);
			return;
		}
	}
}

TEST_BEGIN(test_malloc_no_overlap)
	enum { N = 20000 };
	static struct block b[N];
	uint64_t rng = test_seed();
	uint64_t seed = 1;
	for (int i = 0; i < N; i++)
		block_new(&b[i], &rng, &seed);
	check_disjoint(b, N);
	/* Free a random half, refill the holes, check again. */
	for (int i = 0; i < N; i++) {
		if (test_rand_next(&rng) & 1) {
			hm_free(b[i].p);
			block_new(&b[i], &rng, &seed);
		}
	}
	check_disjoint(b, N);
	for (int i = 0; i < N; i++)
		hm_free(b[i].p);
TEST_END

TEST_BEGIN(test_malloc_enomem)
	static const size_t sizes[] = {
		SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 15, SIZE_MAX - 4095,
		SIZE_MAX - (1 << 20), SIZE_MAX - (1ULL << 32),
		(size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX,
		(size_t)PTRDIFF_MAX - 4095, (size_t)1 << 62, (size_t)3 << 61,
	};
	expect_enomem_sizes(hm_malloc, "malloc", sizes,
	    HM_TEST_ARRAY_LEN(sizes));
	/* Failure leaves the allocator working. */
	void *p = hm_malloc(100);
	assert_ptr_not_null(p, "malloc(100) after failures");
	pattern_fill(p, 100, 7);
	expect_zu_eq(pattern_check(p, 100, 7), 100, "block after failures");
	hm_free(p);
TEST_END

TEST_BEGIN(test_free_null)
	errno = 4321;
	hm_free(NULL);
	expect_d_eq(errno, 4321, "errno after free(NULL)");
TEST_END

TEST_BEGIN(test_free_preserves_errno)
	static const size_t sizes[] = {
		1, 16, 100, 1000, 14 * 1024, 16 * 1024, 100 * 1024, 1 << 20,
		4 << 20, (8 << 20) + 1, 40 << 20,
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		/* Several of each, so frees go past any thread cache. */
		void *ptrs[64];
		int n = sizes[i] >= MiB ? 4 : 64;
		for (int j = 0; j < n; j++) {
			ptrs[j] = hm_malloc(sizes[i]);
			assert_ptr_not_null(ptrs[j], "malloc(%zu)", sizes[i]);
			memset(ptrs[j], 1, sizes[i] < 4096 ? sizes[i] : 4096);
		}
		for (int j = 0; j < n; j++) {
			errno = 1234;
			hm_free(ptrs[j]);
			expect_d_eq(errno, 1234, "errno after free of a %zu-byte block",
			    sizes[i]);
		}
	}
	/* Trimming after frees returns memory: free must still keep errno. */
	void *big = hm_malloc(64 * MiB);
	assert_ptr_not_null(big, "malloc(64 MiB)");
	memset(big, 1, 64 * MiB);
	errno = 1234;
	hm_free(big);
	expect_d_eq(errno, 1234, "errno after free of 64 MiB");
TEST_END

/*
 * Blocks allocated by one thread and freed by another (and the reverse)
 * go back to a usable state: afterwards, fresh blocks do not overlap.
 */
enum { XTHREAD_N = 5000 };
static struct block xthread_blocks[XTHREAD_N];

static void *
xthread_alloc(void *arg) {
	uint64_t rng = (uint64_t)(uintptr_t)arg;
	for (int i = 0; i < XTHREAD_N; i++) {
		size_t size = random_size(&rng);
		xthread_blocks[i].p = hm_malloc(size);
		if (xthread_blocks[i].p == NULL)
			return (void *)1;
		xthread_blocks[i].usize = hm_malloc_usable_size(xthread_blocks[i].p);
		xthread_blocks[i].seed = (uint64_t)i + 1;
		pattern_fill(xthread_blocks[i].p, xthread_blocks[i].usize,
		    xthread_blocks[i].seed);
	}
	return NULL;
}

static void *
xthread_free(void *arg) {
	(void)arg;
	for (int i = 0; i < XTHREAD_N; i++)
		hm_free(xthread_blocks[i].p);
	return NULL;
}

TEST_BEGIN(test_free_from_other_thread)
	uint64_t seed = test_seed();
	for (int round = 0; round < 4; round++) {
		pthread_t t;
		void *ret = (void *)1;
		assert_d_eq(pthread_create(&t, NULL, xthread_alloc,
		    (void *)(uintptr_t)(seed + (uint64_t)round)), 0, "pthread_create");
		pthread_join(t, &ret);
		assert_ptr_null(ret, "allocation failed in the thread");
		check_disjoint(xthread_blocks, XTHREAD_N);
		if (round % 2 == 0) {
			/* Main frees the thread's blocks. */
			xthread_free(NULL);
		} else {
			/* Another (new) thread frees them. */
			assert_d_eq(pthread_create(&t, NULL, xthread_free, NULL), 0,
			    "pthread_create");
			pthread_join(t, NULL);
		}
		/* Main allocates into what was freed remotely, then checks. */
		ret = xthread_alloc((void *)(uintptr_t)(seed ^ 0xabcdef));
		assert_ptr_null(ret, "allocation failed in the main thread");
		check_disjoint(xthread_blocks, XTHREAD_N);
		for (int i = 0; i < XTHREAD_N; i++)
			hm_free(xthread_blocks[i].p);
	}
TEST_END

int
main(void) {
	return test(test_malloc_every_small_size, test_malloc_class_boundaries,
	    test_size_classes_are_jemalloc_ladder, test_malloc_zero,
	    test_malloc_no_overlap, test_malloc_enomem, test_free_null,
	    test_free_preserves_errno, test_free_from_other_thread);
}
