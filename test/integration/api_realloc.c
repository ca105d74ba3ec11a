/*
 * realloc and reallocarray: contents survive growing and shrinking across
 * small, large and huge sizes; realloc(NULL, n) is malloc(n); realloc(p, 0)
 * frees p and returns NULL, as glibc (REALLOC_ZERO_BYTES_FREES), unless
 * opt.zero_realloc says alloc (a block of size 0) or abort; an
 * impossible size fails with ENOMEM and leaves the block as it was;
 * reallocarray checks n * size for overflow.
 */
#include "api_util.h"

#include <malloc.h>
#include <stdlib.h>
#include <sys/wait.h>

/*
 * Resizes p (holding `size` bytes of pattern gen) to new_size, checks the
 * common prefix and the new usable size, refills with gen + 1.
 */
static void *
resize_checked(void *p, size_t size, size_t new_size, uint64_t gen) {
	void *q = hm_realloc(p, new_size);
	assert_ptr_not_null(q, "realloc(%p, %zu) from %zu", p, new_size, size);
	size_t keep = size < new_size ? size : new_size;
	size_t bad = pattern_check(q, keep, gen);
	expect_zu_eq(bad, keep, "realloc %zu -> %zu: byte %zu lost", size,
	    new_size, bad);
	size_t usize = hm_malloc_usable_size(q);
	expect_zu_ge(usize, new_size, "usable size after realloc to %zu",
	    new_size);
	expect_zu_eq(usize, hm_nallocx(new_size, 0),
	    "usable size after realloc to %zu vs nallocx", new_size);
	pattern_fill(q, usize, gen + 1);
	return q;
}

TEST_BEGIN(test_realloc_null_is_malloc)
	static const size_t sizes[] = {1, 16, 100, 4096, 20000, 1 << 20, 5 << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = hm_realloc(NULL, sizes[i]);
		assert_ptr_not_null(p, "realloc(NULL, %zu)", sizes[i]);
		size_t usize = hm_malloc_usable_size(p);
		expect_zu_eq(usize, hm_nallocx(sizes[i], 0),
		    "usable size of realloc(NULL, %zu)", sizes[i]);
		pattern_fill(p, usize, i);
		expect_zu_eq(pattern_check(p, usize, i), usize, "block readback");
		hm_free(p);
	}
	/* realloc(NULL, 0) is malloc(0): a real block. */
	void *p = hm_realloc(NULL, opaque_zu(0));
	expect_ptr_not_null(p, "realloc(NULL, 0)");
	hm_free(p);
TEST_END

TEST_BEGIN(test_realloc_zero_frees)
	static const size_t sizes[] = {1, 100, 5000, 100000, 3 << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = hm_malloc(sizes[i]);
		assert_ptr_not_null(p, "malloc(%zu)", sizes[i]);
		memset(p, 0x5a, sizes[i]);
		void *q = hm_realloc(p, opaque_zu(0));
		expect_ptr_null(q, "realloc(%zu-byte block, 0)", sizes[i]);
		if (q != NULL)
			hm_free(q);
	}
	/*
	 * That the block was freed, not leaked: 64 blocks of 1 MiB released by
	 * realloc(p, 0) bring the bytes in use down by at least half of that.
	 */
	enum { N = 64 };
	void *ptrs[N];
	for (int i = 0; i < N; i++) {
		ptrs[i] = hm_malloc(MiB);
		assert_ptr_not_null(ptrs[i], "malloc(1 MiB)");
		memset(ptrs[i], 1, MiB);
	}
	size_t before = bytes_in_use();
	for (int i = 0; i < N; i++)
		expect_ptr_null(hm_realloc(ptrs[i], opaque_zu(0)), "realloc(p, 0)");
	size_t after = bytes_in_use();
	expect_zu_ge(before, after + N * MiB / 2,
	    "mallinfo2 in-use bytes before/after realloc(p, 0) of %d MiB", N);
TEST_END

static const char *
zero_realloc_mode(void) {
	const char *mode = NULL;
	size_t sz = sizeof(mode);
	if (hm_mallctl("opt.zero_realloc", &mode, &sz, NULL, 0) != 0)
		return "(none)";
	return mode;
}

/* The default is glibc's answer, counted in stats.zero_reallocs. */
TEST_BEGIN(test_zero_realloc_default)
	expect_str_eq(zero_realloc_mode(), "free", "opt.zero_realloc");
	size_t before = test_stat_size("stats.zero_reallocs");
	for (int i = 0; i < 3; i++) {
		void *p = hm_malloc(50);
		assert_ptr_not_null(p, "malloc");
		expect_ptr_null(hm_realloc(p, opaque_zu(0)), "realloc(p, 0)");
	}
	expect_zu_eq(test_stat_size("stats.zero_reallocs"), before + 3,
	    "stats.zero_reallocs");
TEST_END

/*
 * The other modes need the option from start-up: the program runs itself
 * again with HMALLOC_CONF=zero_realloc:<mode> and "--zero-realloc".
 */
static char *self_name;

static void
zero_realloc_exec(void *mode) {
	char conf[64];
	snprintf(conf, sizeof(conf), "zero_realloc:%s", (const char *)mode);
	setenv("HMALLOC_CONF", conf, 1);
	char *argv[] = {self_name, "--zero-realloc", NULL};
	execv("/proc/self/exe", argv);
	_exit(23);
}

/* The child's side: exit status 0 when alloc behaves, else the check
 * that failed; under abort it should not return from realloc. */
static int
zero_realloc_child(void) {
	alarm(20);
	const char *mode = zero_realloc_mode();
	char *p = hm_malloc(100);
	if (p == NULL)
		return 2;
	memset(p, 0x33, 100);
	printf("block %p\n", (void *)p);
	fflush(stdout);
	char *q = hm_realloc(p, opaque_zu(0));
	if (strcmp(mode, "alloc") != 0)
		return 3; /* abort did not abort */
	if (q == NULL)
		return 4;
	/* A live block of the smallest class: usable, freeable, and
	 * counted. */
	size_t usize = hm_malloc_usable_size(q);
	if (usize == 0 || usize != hm_nallocx(0, 0))
		return 5;
	memset(q, 0x44, usize);
	/* (Outside any test function: plain calls, the exit code says.) */
	uint64_t epoch = 1;
	size_t n = 0, sz = sizeof(n);
	if (hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)) != 0
	    || hm_mallctl("stats.zero_reallocs", &n, &sz, NULL, 0) != 0
	    || n != 1)
		return 6;
	hm_free(q);
	/* Repeated: no leak (a block per call would grow the heap). */
	for (int i = 0; i < 100000; i++) {
		void *r = hm_realloc(hm_malloc(1000), opaque_zu(0));
		if (r == NULL)
			return 7;
		hm_free(r);
	}
	return 0;
}

TEST_BEGIN(test_zero_realloc_alloc)
	char out[4096];
	int status = test_fork_capture(zero_realloc_exec, "alloc", out,
	    sizeof(out));
	expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "zero_realloc:alloc child: status 0x%x (exit code names the "
	    "check), output:\n%s", status, out);
TEST_END

TEST_BEGIN(test_zero_realloc_abort)
	char out[4096];
	int status = test_fork_capture(zero_realloc_exec, "abort", out,
	    sizeof(out));
	expect_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	    "zero_realloc:abort child: status 0x%x, output:\n%s", status, out);
	void *p = NULL;
	const char *line = strstr(out, "block ");
	assert_ptr_not_null(line, "the child's block address:\n%s", out);
	sscanf(line, "block %p", &p);
	char want[128];
	snprintf(want, sizeof(want),
	    "<hmalloc>: realloc with size 0 (opt.zero_realloc:abort): %p\n", p);
	expect_ptr_not_null(strstr(out, want), "the message \"%s\" in:\n%s",
	    want, out);
TEST_END

TEST_BEGIN(test_realloc_across_ranges)
	static const size_t seq[] = {
		1, 10, 16, 17, 100, 1000, 4096, 10000, 14336, 14337, 16384,
		100000, 1 << 20, 3 << 20, (4 << 20) + 1, 9 << 20, 40 << 20,
		(40 << 20) - 4096, 12 << 20, 3 << 20, 300 * 1024, 20000, 3000,
		200, 30, 1, 65 << 20, 2,
	};
	size_t size = 1;
	uint64_t gen = 1;
	void *p = hm_malloc(size);
	assert_ptr_not_null(p, "malloc(1)");
	pattern_fill(p, hm_malloc_usable_size(p), gen);
	for (size_t i = 1; i < sizeof(seq) / sizeof(seq[0]); i++) {
		/* The block holds gen over its whole usable size. */
		size_t usize = hm_malloc_usable_size(p);
		p = resize_checked(p, usize, seq[i], gen);
		gen++;
	}
	hm_free(p);
TEST_END

TEST_BEGIN(test_realloc_random_walk)
	uint64_t rng = test_seed();
	uint64_t gen = 1;
	size_t size = 1;
	void *p = hm_malloc(size);
	assert_ptr_not_null(p, "malloc(1)");
	pattern_fill(p, hm_malloc_usable_size(p), gen);
	for (int i = 0; i < 3000; i++) {
		uint64_t r = test_rand_next(&rng);
		/* Log-uniform up to 2 MiB, occasionally up to 8 MiB. */
		unsigned lg = (unsigned)(r % ((r >> 60) == 0 ? 23 : 21));
		size_t new_size = 1 + (size_t)((r >> 8) & (((size_t)2 << lg) - 1));
		size_t usize = hm_malloc_usable_size(p);
		p = resize_checked(p, usize, new_size, gen);
		gen++;
		if (test_status_current == test_status_fail)
			break;
	}
	hm_free(p);
TEST_END

TEST_BEGIN(test_realloc_enomem_keeps_block)
	static const size_t start[] = {100, 20000, 6 << 20};
	static const size_t huge[] = {
		SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4095, (size_t)PTRDIFF_MAX + 1,
		(size_t)PTRDIFF_MAX, (size_t)1 << 62,
	};
	for (size_t i = 0; i < sizeof(start) / sizeof(start[0]); i++) {
		void *p = hm_malloc(start[i]);
		assert_ptr_not_null(p, "malloc(%zu)", start[i]);
		size_t usize = hm_malloc_usable_size(p);
		pattern_fill(p, usize, 99);
		for (size_t j = 0; j < sizeof(huge) / sizeof(huge[0]); j++) {
			errno = 0;
			void *q = hm_realloc(opaque_ptr(p), opaque_zu(huge[j]));
			int err = errno;
			expect_ptr_null(q, "realloc(%zu-byte block, %#zx)", start[i],
			    huge[j]);
			expect_d_eq(err, ENOMEM, "errno after realloc(p, %#zx)",
			    huge[j]);
			if (q != NULL) {
				/* p is gone; nothing left to check. */
				hm_free(q);
				return;
			}
			expect_zu_eq(hm_malloc_usable_size(p), usize,
			    "usable size after failed realloc");
			size_t bad = pattern_check(p, usize, 99);
			expect_zu_eq(bad, usize,
			    "byte %zu changed by failed realloc(p, %#zx)", bad,
			    huge[j]);
		}
		/* The original is still a live, resizable, freeable block. */
		p = resize_checked(p, usize, start[i] * 2, 99);
		hm_free(p);
	}
TEST_END

TEST_BEGIN(test_realloc_huge_grow_shrink)
	/* In-place candidates: by a page, by a chunk, to double, to half. */
	size_t page = page_size();
	const size_t seq[] = {
		8 * MiB, 8 * MiB + page, 8 * MiB + 2 * page, 16 * MiB, 12 * MiB,
		12 * MiB - page, 9 * MiB, 64 * MiB, 4 * MiB + 1, 5 * MiB,
		4 * MiB + 1, 20 * MiB,
	};
	void *p = hm_malloc(seq[0]);
	assert_ptr_not_null(p, "malloc(8 MiB)");
	uint64_t gen = 1;
	pattern_fill(p, hm_malloc_usable_size(p), gen);
	for (size_t i = 1; i < sizeof(seq) / sizeof(seq[0]); i++) {
		p = resize_checked(p, hm_malloc_usable_size(p), seq[i], gen);
		gen++;
	}
	hm_free(p);
TEST_END

TEST_BEGIN(test_realloc_same_class)
	/* Resizing within the usable size keeps everything. */
	static const size_t sizes[] = {20, 100, 5000, 50000, 5 << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = hm_malloc(sizes[i]);
		assert_ptr_not_null(p, "malloc(%zu)", sizes[i]);
		size_t usize = hm_malloc_usable_size(p);
		pattern_fill(p, usize, 5);
		void *q = hm_realloc(p, usize);
		assert_ptr_not_null(q, "realloc(p, %zu)", usize);
		expect_zu_eq(pattern_check(q, usize, 5), usize,
		    "realloc to own usable size %zu", usize);
		expect_zu_eq(hm_malloc_usable_size(q), usize,
		    "usable size after realloc to own usable size");
		hm_free(q);
	}
TEST_END

TEST_BEGIN(test_reallocarray)
	void *p = hm_reallocarray(NULL, 10, 100);
	assert_ptr_not_null(p, "reallocarray(NULL, 10, 100)");
	expect_zu_ge(hm_malloc_usable_size(p), 1000, "usable size");
	pattern_fill(p, 1000, 3);
	void *q = hm_reallocarray(p, 1000, 100);
	assert_ptr_not_null(q, "reallocarray(p, 1000, 100)");
	expect_zu_eq(pattern_check(q, 1000, 3), 1000, "contents after growth");
	expect_zu_ge(hm_malloc_usable_size(q), 100000, "usable size");
	p = q;
	pattern_fill(p, 100000, 4);

	static const size_t shapes[][2] = {
		{SIZE_MAX, 2}, {2, SIZE_MAX}, {SIZE_MAX / 2 + 1, 2},
		{(size_t)1 << 32, (size_t)1 << 32}, {65537, 281470681808897},
		{SIZE_MAX, SIZE_MAX}, {1, SIZE_MAX}, {(size_t)PTRDIFF_MAX / 2 + 1, 2},
	};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		size_t n = opaque_zu(shapes[i][0]), size = opaque_zu(shapes[i][1]);
		errno = 0;
		q = hm_reallocarray(opaque_ptr(p), n, size);
		int err = errno;
		expect_ptr_null(q, "reallocarray(p, %#zx, %#zx)", n, size);
		expect_d_eq(err, ENOMEM, "errno after reallocarray(p, %#zx, %#zx)",
		    n, size);
		if (q != NULL) {
			hm_free(q);
			return;
		}
		expect_zu_eq(pattern_check(p, 100000, 4), 100000,
		    "block changed by failed reallocarray(p, %#zx, %#zx)", n, size);
		/* With no block the same failure applies. */
		errno = 0;
		q = hm_reallocarray(NULL, n, size);
		err = errno;
		expect_ptr_null(q, "reallocarray(NULL, %#zx, %#zx)", n, size);
		expect_d_eq(err, ENOMEM, "errno after reallocarray(NULL, ...)");
		if (q != NULL)
			hm_free(q);
	}
	q = hm_reallocarray(p, 50, 10);
	assert_ptr_not_null(q, "reallocarray(p, 50, 10)");
	expect_zu_eq(pattern_check(q, 500, 4), 500, "contents after shrinking");
	/* A zero product is realloc(p, 0), as glibc: frees, returns NULL. */
	expect_ptr_null(hm_reallocarray(q, opaque_zu(0), 8),
	    "reallocarray(p, 0, 8)");
	/* With no block, it is malloc(0). */
	q = hm_reallocarray(NULL, opaque_zu(0), 8);
	expect_ptr_not_null(q, "reallocarray(NULL, 0, 8)");
	hm_free(q);
TEST_END

TEST_BEGIN(test_realloc_aligned_blocks)
	/* Blocks from the aligned calls resize like any other. */
	static const size_t aligns[] = {64, 4096, 65536, 2 << 20};
	static const size_t sizes[] = {100, 5000, 100000, 5 << 20};
	for (size_t a = 0; a < sizeof(aligns) / sizeof(aligns[0]); a++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			void *p = NULL;
			assert_d_eq(hm_posix_memalign(&p, aligns[a], sizes[i]), 0,
			    "posix_memalign(%zu, %zu)", aligns[a], sizes[i]);
			size_t usize = hm_malloc_usable_size(p);
			pattern_fill(p, usize, 11);
			p = resize_checked(p, usize, sizes[i] * 3, 11);
			usize = hm_malloc_usable_size(p);
			p = resize_checked(p, usize, sizes[i] / 2, 12);
			hm_free(p);
		}
	}
TEST_END

int
main(int argc, char **argv) {
	self_name = argv[0];
	if (argc > 1 && strcmp(argv[1], "--zero-realloc") == 0)
		return zero_realloc_child();
	return test(test_realloc_null_is_malloc, test_realloc_zero_frees,
	    test_zero_realloc_default, test_zero_realloc_alloc,
	    test_zero_realloc_abort,
	    test_realloc_across_ranges, test_realloc_random_walk,
	    test_realloc_enomem_keeps_block, test_realloc_huge_grow_shrink,
	    test_realloc_same_class, test_reallocarray,
	    test_realloc_aligned_blocks);
}
