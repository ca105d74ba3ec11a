/*
 * Destroyed arenas are recycled by arenas.create while the background
 * thread's decay passes walk every arena: the walk may hold a recycled
 * arena, so recycling must never re-initialise its locks (arena.c,
 * arena_recycle).  The debug build's lock-order check catches a lock
 * re-initialised while held; the test runs for a few seconds.
 */
#include "test.h"

#include <time.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static double
now_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

TEST_BEGIN(test_recycle_under_decay)
	/* Dirty memory, so that the background thread runs. */
	void *big[8];
	for (int i = 0; i < 8; i++) {
		big[i] = hm_malloc(MiB);
		assert_ptr_not_null(big[i], "malloc(1 MiB)");
		memset(big[i], 1, MiB);
	}
	for (int i = 0; i < 8; i++)
		hm_free(big[i]);
	double end = now_s() + (HM_TEST_SANITIZED ? 2.0 : 4.0);
	long rounds = 0;
	while (now_s() < end) {
		unsigned ind;
		size_t len = sizeof(ind);
		assert_d_eq(hm_mallctl("arenas.create", &ind, &len, NULL, 0), 0,
		    "arenas.create");
		char name[64];
		ssize_t ms = 1;
		snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", ind);
		assert_d_eq(hm_mallctl(name, NULL, NULL, &ms, sizeof(ms)), 0,
		    "%s", name);
		int flags = MALLOCX_ARENA(ind) | MALLOCX_TCACHE_NONE;
		unsigned char *p = hm_mallocx(64 * KiB, flags);
		assert_ptr_not_null(p, "mallocx in arena %u", ind);
		memset(p, 2, 64 * KiB);
		hm_dallocx(p, MALLOCX_TCACHE_NONE);
		void *q = hm_malloc(5 * MiB);
		hm_free(q);
		snprintf(name, sizeof(name), "arena.%u.destroy", ind);
		assert_d_eq(hm_mallctl(name, NULL, NULL, NULL, 0), 0, "%s",
		    name);
		rounds++;
	}
	printf("arena_recycle: %ld arenas created and destroyed\n", rounds);
	expect_d_gt(rounds, 100, "rounds");
TEST_END

int
main(void) {
	return test(test_recycle_under_decay);
}
