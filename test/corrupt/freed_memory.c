/*
 * Frees of memory that was freed already, wherever the first free left it:
 * flushed from the freeing thread's cache, freed past the cache
 * (MALLOCX_TCACHE_NONE), freed by another thread (exited or running), in a
 * slab that went back to the arena whole, in a Large run merged with its
 * free neighbours, in a chunk that was given back, in the Huge cache; and
 * the sized forms.  double_free.c has the plain case of each range;
 * double_free_paths.c the paths a freed Small block can take.
 *
 * A pointer into freed memory that was a block's start is a double free;
 * once the slab or run is gone, what was a block's start may be no start
 * of anything, and hmalloc can only say invalid free: either message is
 * right there (expect_abort_either).
 */
#include "corrupt.h"

#include <pthread.h>

#define MiB ((size_t)1 << 20)

/* As expect_abort, for a misuse that may rightly be reported either way. */
static void
expect_abort_either(misuse_fn_t *op, void *arg, const void *addr,
    const char *what1, const char *what2) {
	struct misuse_s m = {op, arg};
	char out[4096];
	int status = test_fork_capture(misuse_run, &m, out, sizeof(out));
	expect_true(status != -1 && WIFSIGNALED(status)
	    && WTERMSIG(status) == SIGABRT,
	    "%s or %s of %p: the child should die of SIGABRT (status 0x%x)",
	    what1, what2, addr, status);
	char want1[160], want2[160];
	snprintf(want1, sizeof(want1), "<hmalloc>: %s: %p\n", what1, addr);
	snprintf(want2, sizeof(want2), "<hmalloc>: %s: %p\n", what2, addr);
	if (strcmp(out, want2) != 0)
		expect_str_eq(out, want1, "the one line on stderr (or \"%s\")",
		    want2);
}

static size_t sized_size;

static void
misuse_free_sized(void *p) {
	hm_free_sized(p, sized_size);
}

static void
misuse_sdallocx(void *p) {
	hm_sdallocx(p, sized_size, 0);
}

static void
misuse_dallocx_nocache(void *p) {
	hm_dallocx(p, MALLOCX_TCACHE_NONE);
}

static void
tcache_flush(void) {
	assert_d_eq(hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0,
	    "thread.tcache.flush");
}

/*
 * Sizes whose double frees hmalloc catches wherever the first free left
 * the block: Large runs (the run's state says it is free) and Huge blocks
 * (unregistered once freed).  Small blocks and cached Large ones are
 * in double_free_paths.c.
 */
static const size_t sizes[] = {16384, 20000, 32768, 40000, 100000, MiB,
    3 * MiB};
/* Not cached (above tcache_max, 32 KiB by default). */
static const size_t uncached[] = {40000, 100000, MiB, 3 * MiB};

static const char *
double_free_what(size_t size) {
	/* A freed Huge block is no block at all any more. */
	return size > 2 * MiB ? "invalid free" : "double free";
}

TEST_BEGIN(test_double_free_after_flush)
	/* The first free's block went from the cache to its arena. */
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(sizes); i++) {
		void *keep = hm_malloc(sizes[i]);
		void *p = hm_malloc(sizes[i]);
		hm_free(p);
		tcache_flush();
		expect_abort(misuse_free, p, p, double_free_what(sizes[i]));
		hm_free(keep);
	}
TEST_END

TEST_BEGIN(test_double_free_uncached)
	/* First free past the cache, the second through it. */
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(sizes); i++) {
		void *keep = hm_malloc(sizes[i]);
		void *p = hm_malloc(sizes[i]);
		hm_dallocx(p, MALLOCX_TCACHE_NONE);
		expect_abort(misuse_free, p, p, double_free_what(sizes[i]));
		hm_free(keep);
	}
	/* Both past the cache. */
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(uncached); i++) {
		void *keep = hm_malloc(uncached[i]);
		void *p = hm_malloc(uncached[i]);
		hm_free(p);
		expect_abort(misuse_dallocx_nocache, p, p,
		    double_free_what(uncached[i]));
		hm_free(keep);
	}
TEST_END

static void *
free_in_thread(void *p) {
	hm_free(p);
	return NULL;
}

TEST_BEGIN(test_double_free_other_thread)
	/* Freed by a thread that has exited since (its cache flushed), then
	 * freed again here. */
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(sizes); i++) {
		void *keep = hm_malloc(sizes[i]);
		void *p = hm_malloc(sizes[i]);
		pthread_t th;
		assert_d_eq(pthread_create(&th, NULL, free_in_thread, p), 0,
		    "pthread_create");
		pthread_join(th, NULL);
		expect_abort(misuse_free, p, p, double_free_what(sizes[i]));
		hm_free(keep);
	}
TEST_END

TEST_BEGIN(test_double_free_in_other_thread_alive)
	/* Freed by a thread that is still running, then freed here. */
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(uncached); i++) {
		void *keep = hm_malloc(uncached[i]);
		void *p = hm_malloc(uncached[i]);
		pthread_t th = parked_free(p);
		expect_abort(misuse_free, p, p, double_free_what(uncached[i]));
		parked_release(th);
		hm_free(keep);
	}
TEST_END

TEST_BEGIN(test_double_free_sized)
	/* Every range: the second free is a sized one, through the cache
	 * that holds the block (or through none). */
	static const size_t all[] = {16, 48, 160, 1024, 3584, 14336, 20000,
	    32768, 100000, MiB, 3 * MiB};
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(all); i++) {
		const char *what = double_free_what(all[i]);
		void *keep = hm_malloc(all[i]);
		void *p = hm_malloc(all[i]);
		sized_size = all[i];
		hm_free_sized(p, all[i]);
		expect_abort(misuse_free_sized, p, p, what);
		p = hm_malloc(all[i]);
		hm_sdallocx(p, all[i], 0);
		expect_abort(misuse_sdallocx, p, p, what);
		hm_free(keep);
	}
TEST_END

TEST_BEGIN(test_freed_slab_regions)
	/* Whole slabs of one class allocated, all freed and flushed: the
	 * slabs go back to the arena.  A former region start is a double
	 * free (or, once the pages are a free run's inside, no start of
	 * anything); an inside pointer is an invalid free. */
	static const size_t classes[] = {16, 96, 640, 3072, 14336};
	enum { N = 2048 };
	static char *ptrs[N];
	for (size_t c = 0; c < HM_TEST_ARRAY_LEN(classes); c++) {
		size_t size = classes[c];
		for (int i = 0; i < N; i++)
			ptrs[i] = hm_malloc(size);
		for (int i = 0; i < N; i++)
			hm_free(ptrs[i]);
		tcache_flush();
		/* (Blocks from the middle: their slabs held nothing else.) */
		size_t inside = size > 16 ? 24 : 8;
		for (int i = N / 2; i < N / 2 + 3; i++) {
			expect_abort_either(misuse_free, ptrs[i], ptrs[i],
			    "double free", "invalid free");
			expect_abort(misuse_free, ptrs[i] + inside,
			    ptrs[i] + inside, "invalid free");
		}
	}
TEST_END

TEST_BEGIN(test_freed_large_run)
	/* Three neighbouring Large runs freed: they merge into one free run,
	 * inside which the middle block's start is nothing. */
	char *a = hm_mallocx(100000, MALLOCX_TCACHE_NONE);
	char *b = hm_mallocx(100000, MALLOCX_TCACHE_NONE);
	char *c = hm_mallocx(100000, MALLOCX_TCACHE_NONE);
	char *keep = hm_mallocx(100000, MALLOCX_TCACHE_NONE);
	hm_dallocx(a, MALLOCX_TCACHE_NONE);
	hm_dallocx(b, MALLOCX_TCACHE_NONE);
	hm_dallocx(c, MALLOCX_TCACHE_NONE);
	expect_abort_either(misuse_free, b, b, "double free", "invalid free");
	expect_abort(misuse_free, b + 4096, b + 4096, "invalid free");
	expect_abort(misuse_free, a + 40, a + 40, "invalid free");
	hm_dallocx(keep, MALLOCX_TCACHE_NONE);
TEST_END

TEST_BEGIN(test_freed_huge)
	/* A freed Huge block waits in its arena's cache, unregistered: its
	 * start and its inside are nobody's. */
	char *p = hm_malloc(5 * MiB);
	hm_free(p);
	expect_abort(misuse_free, p, p, "invalid free");
	expect_abort(misuse_free, p + 4096, p + 4096, "invalid free");
	expect_abort(misuse_free, p + 2 * MiB, p + 2 * MiB, "invalid free");
TEST_END

TEST_BEGIN(test_freed_chunk)
	/* A block of a chunk that was given back whole: an arena of its own,
	 * one Large block, freed, the arena purged. */
	unsigned a = 0;
	size_t len = sizeof(a);
	assert_d_eq(hm_mallctl("arenas.create", &a, &len, NULL, 0), 0,
	    "arenas.create");
	char *p = hm_mallocx(MiB, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
	assert_ptr_not_null(p, "mallocx");
	hm_dallocx(p, MALLOCX_TCACHE_NONE);
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.purge", a);
	assert_d_eq(hm_mallctl(name, NULL, NULL, NULL, 0), 0, "%s", name);
	expect_abort_either(misuse_free, p, p, "double free", "invalid free");
	expect_abort(misuse_free, p + 8192, p + 8192, "invalid free");
TEST_END

int
main(void) {
	return test(test_double_free_after_flush, test_double_free_uncached,
	    test_double_free_other_thread,
	    test_double_free_in_other_thread_alive,
	    test_double_free_sized, test_freed_slab_regions,
	    test_freed_large_run, test_freed_huge, test_freed_chunk);
}
