/*
 * Double frees that reach hmalloc by every path a block can take after its
 * first free: flushed from the cache to its bin, freed past the cache,
 * freed by a thread that has exited, sitting in another running thread's
 * cache, and realloc of a freed block.  Each must abort with one line
 * (`<hmalloc>: double free: 0x...`).  A freed block carries a tag in its
 * first word (tcache.h), written by the caches and by frees to the bin
 * and cleared by every allocation; a free that finds it looks in the
 * thread's caches and the slab's bitmap (api.c, free_check_tagged), and a
 * block found in neither is in another thread's cache.
 *
 * A case the allocator misses (the child returns: the call went unnoticed)
 * fails, printed as "missed: ..."; HM_MISUSE_STRICT=0 turns misses into a
 * skip naming how many (to survey a build that catches less).  A case
 * caught with the wrong message, or a crash, fails in any case.
 *
 * The block's slab keeps other live regions throughout (NLIVE blocks of
 * the class, allocated together, stay live around the one misused), so
 * the slab is not given back, which would make the case detectable.
 */
#include "corrupt.h"

#include <pthread.h>

#define MiB ((size_t)1 << 20)

static const size_t small_sizes[] = {16, 48, 160, 1024, 3584, 14336};
/* Cached Large sizes (tcache_max is 32 KiB by default). */
static const size_t cached_large[] = {16384, 20000, 32768};

static int ngaps;    /* cases missed in the current test */
static int ncases;   /* cases tried in the current test */

static bool
strict(void) {
	const char *s = getenv("HM_MISUSE_STRICT");
	return s == NULL || strcmp(s, "0") != 0;
}

/* As expect_abort; a misuse that went unnoticed fails (or is counted). */
static void
expect_caught(const char *label, size_t size, misuse_fn_t *op, void *arg,
    const void *addr, const char *what) {
	struct misuse_s m = {op, arg};
	char out[4096];
	ncases++;
	int status = test_fork_capture(misuse_run, &m, out, sizeof(out));
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0
	    && out[0] == '\0') {
		fprintf(stderr, "missed: %s (size %zu): %s of %p not "
		    "detected, the call returned\n", label, size, what, addr);
		if (strict())
			expect_not_reached("%s (size %zu): not detected", label,
			    size);
		else
			ngaps++;
		return;
	}
	expect_true(status != -1 && WIFSIGNALED(status)
	    && WTERMSIG(status) == SIGABRT, "%s (size %zu): the child should "
	    "die of SIGABRT (status 0x%x)", label, size, status);
	char want[160];
	snprintf(want, sizeof(want), "<hmalloc>: %s: %p\n", what, addr);
	expect_str_eq(out, want, "%s (size %zu): the one line on stderr",
	    label, size);
}

static void
gaps_begin(void) {
	ngaps = 0;
	ncases = 0;
}

/* Ends a test: skipped, naming the count, if cases were missed. */
static void
gaps_end(void) {
	if (ngaps > 0)
		test_skip("NOT DETECTED by hmalloc: %d of %d cases (listed "
		    "above as \"missed\")", ngaps, ncases);
}

/* NLIVE blocks of one size; the middle one is returned for the misuse,
 * the others stay live (and keep its slab) until live_free(). */
enum { NLIVE = 64 };
static void *live[NLIVE];

static void *
live_alloc(size_t size) {
	for (int i = 0; i < NLIVE; i++) {
		live[i] = hm_malloc(size);
		assert_ptr_not_null(live[i], "malloc(%zu)", size);
	}
	void *p = live[NLIVE / 2];
	live[NLIVE / 2] = NULL;
	return p;
}

static void
live_free(void) {
	for (int i = 0; i < NLIVE; i++) {
		hm_free(live[i]);
		live[i] = NULL;
	}
}

static void
tcache_flush(void) {
	assert_d_eq(hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0,
	    "thread.tcache.flush");
}

static void
misuse_dallocx_nocache(void *p) {
	hm_dallocx(p, MALLOCX_TCACHE_NONE);
}


TEST_BEGIN(test_small_double_free_after_flush)
	/* free(p); the cache is flushed (p goes to its bin); free(p). */
	gaps_begin();
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(small_sizes); i++) {
		void *p = live_alloc(small_sizes[i]);
		hm_free(p);
		tcache_flush();
		expect_caught("small double free after a cache flush",
		    small_sizes[i], misuse_free, p, p, "double free");
		live_free();
	}
	gaps_end();
TEST_END

TEST_BEGIN(test_small_double_free_after_uncached_free)
	/* dallocx(p, MALLOCX_TCACHE_NONE) (p goes to its bin); free(p). */
	gaps_begin();
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(small_sizes); i++) {
		void *p = live_alloc(small_sizes[i]);
		hm_dallocx(p, MALLOCX_TCACHE_NONE);
		expect_caught("small double free after an uncached free",
		    small_sizes[i], misuse_free, p, p, "double free");
		live_free();
	}
	gaps_end();
TEST_END

TEST_BEGIN(test_uncached_free_of_cached_block)
	/* free(p) (p goes to the cache); dallocx(p, MALLOCX_TCACHE_NONE):
	 * the bin or arena frees a block the cache still holds. */
	gaps_begin();
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(small_sizes); i++) {
		void *p = live_alloc(small_sizes[i]);
		hm_free(p);
		expect_caught("uncached free of a block in the cache",
		    small_sizes[i], misuse_dallocx_nocache, p, p,
		    "double free");
		live_free();
	}
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(cached_large); i++) {
		void *p = live_alloc(cached_large[i]);
		hm_free(p);
		expect_caught("uncached free of a block in the cache",
		    cached_large[i], misuse_dallocx_nocache, p, p,
		    "double free");
		live_free();
	}
	gaps_end();
TEST_END

static void *
free_in_thread(void *p) {
	hm_free(p);
	return NULL;
}

TEST_BEGIN(test_small_double_free_after_exited_thread)
	/* Another thread frees p and exits (its cache is flushed); free(p)
	 * here. */
	gaps_begin();
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(small_sizes); i++) {
		void *p = live_alloc(small_sizes[i]);
		pthread_t th;
		assert_d_eq(pthread_create(&th, NULL, free_in_thread, p), 0,
		    "pthread_create");
		pthread_join(th, NULL);
		expect_caught("small double free after another thread's free",
		    small_sizes[i], misuse_free, p, p, "double free");
		live_free();
	}
	gaps_end();
TEST_END

static void
double_free_in_other_cache(size_t size) {
	void *p = live_alloc(size);
	pthread_t th = parked_free(p);
	expect_caught("double free of a block in a running thread's cache",
	    size, misuse_free, p, p, "double free");
	parked_release(th);
	live_free();
}

TEST_BEGIN(test_double_free_in_running_thread_cache)
	gaps_begin();
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(small_sizes); i++)
		double_free_in_other_cache(small_sizes[i]);
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(cached_large); i++)
		double_free_in_other_cache(cached_large[i]);
	gaps_end();
TEST_END

TEST_BEGIN(test_realloc_freed_in_place)
	/*
	 * free(p) (p in the cache); realloc(p, n) with n of p's class (or,
	 * for a cached Large block followed by free pages, a little larger:
	 * it grows in place) returns p, which the cache still holds.
	 */
	gaps_begin();
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(small_sizes); i++) {
		void *p = live_alloc(small_sizes[i]);
		hm_free(p);
		misuse_new_size = small_sizes[i];
		expect_caught("realloc of a freed block to its own class",
		    small_sizes[i], misuse_realloc_to, p, p, "double free");
		expect_caught("rallocx of a freed block to its own class",
		    small_sizes[i], misuse_rallocx_to, p, p, "double free");
		live_free();
	}
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(cached_large); i++) {
		size_t size = cached_large[i];
		void *p = live_alloc(size);
		hm_free(p);
		misuse_new_size = size;
		expect_caught("realloc of a freed block to its own class", size,
		    misuse_realloc_to, p, p, "double free");
		live_free();
		/* Room to grow: the run after p's is freed (past the cache,
		 * so that it is free in its arena). */
		p = hm_malloc(size);
		void *next = hm_malloc(size);
		void *keep = hm_malloc(size);
		hm_dallocx(next, MALLOCX_TCACHE_NONE);
		hm_free(p);
		misuse_new_size = size + 4096;
		expect_caught("realloc growing a freed cached Large block",
		    size, misuse_realloc_to, p, p, "double free");
		expect_caught("rallocx growing a freed cached Large block",
		    size, misuse_rallocx_to, p, p, "double free");
		hm_free(keep);
	}
	gaps_end();
TEST_END

TEST_BEGIN(test_realloc_freed_after_flush)
	/* free(p); the cache is flushed; realloc(p, larger): p is copied
	 * and freed again. */
	gaps_begin();
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(small_sizes); i++) {
		void *p = live_alloc(small_sizes[i]);
		hm_free(p);
		tcache_flush();
		misuse_new_size = 2 * small_sizes[i] + 1;
		expect_caught("realloc of a freed block after a cache flush",
		    small_sizes[i], misuse_realloc_to, p, p, "double free");
		live_free();
	}
	gaps_end();
TEST_END

int
main(void) {
	return test(test_small_double_free_after_flush,
	    test_small_double_free_after_uncached_free,
	    test_uncached_free_of_cached_block,
	    test_small_double_free_after_exited_thread,
	    test_double_free_in_running_thread_cache,
	    test_realloc_freed_in_place,
	    test_realloc_freed_after_flush);
}
