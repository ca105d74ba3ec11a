/*
 * Helpers shared by the unit tests: start-up, capture of what hmalloc
 * writes to stderr, an arena of the test's own, and the run of a block.
 *
 * Everything here is static inline: each test includes only what it uses.
 */
#ifndef HM_UNIT_UTIL_H
#define HM_UNIT_UTIL_H

#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "arena.h"
#include "tsd.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* Any allocation initialises hmalloc (options, size classes, arena 0). */
static inline void
unit_boot(void) {
	void *p = hm_malloc(1);
	assert_ptr_not_null(p, "malloc(1) to initialise hmalloc");
	hm_free(p);
}

/*
 * For the tests of exactly where blocks land and what is counted: while
 * the heap profiler samples, a random few land elsewhere (a sampled Small
 * block is served as Large, prof.h), so those skip; the others run, with
 * no guarded block (san.h) taken out of the arenas.
 */
static inline void
unit_boot_exact(void) {
	unit_boot();
	test_san_off();
	if (test_prof_on())
		test_skip("prof: exact placement and counts move while the "
		    "profiler samples");
}

/*
 * An arena for the test alone: the last one, which no thread of a
 * single-threaded test is bound to, so its counters and free runs move
 * only with what the test does.  With narenas:1 there is only the
 * thread's arena; the tests allocate nothing else between the steps they
 * check.
 */
static inline arena_t *
unit_test_arena(void) {
	unit_boot();
	arena_t *mine = tsd_arena();
	assert_ptr_not_null(mine, "tsd_arena()");
	if (hm_narenas < 2)
		return mine;
	arena_t *a = hm_arena_get(hm_narenas - 1, true);
	assert_ptr_not_null(a, "hm_arena_get(%u, true)", hm_narenas - 1);
	return a;
}

/*
 * The run (slab or large run) that holds p, which must be in a chunk of
 * arena; NULL, after a failure, when p is not in a chunk.
 */
static inline run_t *
unit_run_of(arena_t *arena, void *p) {
	uintptr_t v = rtree_get(p);
	if (v == 0 || (v & RTREE_HUGE_TAG)) {
		expect_not_reached("rtree_get(%p) = %#zx", p, (size_t)v);
		return NULL;
	}
	chunk_t *chunk = (chunk_t *)v;
	expect_ptr_eq(chunk->arena, arena, "chunk of %p", p);
	return chunk_map_get(chunk, chunk_page_index(chunk, p));
}

/*
 * Stderr capture: redirect fd 2 to a temporary file, run, restore, and
 * read back what was written (NUL-terminated, truncated to size - 1).
 */
typedef struct capture_s {
	int saved;
	int fd;
} capture_t;

static inline void
capture_begin(capture_t *c) {
	char path[] = "/tmp/hm_unit_stderr_XXXXXX";
	fflush(stderr);
	c->fd = mkstemp(path);
	assert_d_ge(c->fd, 0, "mkstemp: %s", strerror(errno));
	unlink(path);
	c->saved = dup(STDERR_FILENO);
	assert_d_ge(c->saved, 0, "dup(2)");
	dup2(c->fd, STDERR_FILENO);
}

static inline size_t
capture_end(capture_t *c, char *buf, size_t size) {
	fflush(stderr);
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	size_t len = 0;
	lseek(c->fd, 0, SEEK_SET);
	for (;;) {
		ssize_t n = read(c->fd, buf + len, size - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(c->fd);
	return len;
}

#endif /* HM_UNIT_UTIL_H */
