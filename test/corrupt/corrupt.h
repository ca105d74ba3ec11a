/*
 * Helpers for the corruption tests.  The test prepares the heap in the
 * parent; a forked child makes the one faulty call and must die of SIGABRT
 * after printing exactly the line `<hmalloc>: <what>: <address>`.
 */
#ifndef HM_CORRUPT_H
#define HM_CORRUPT_H

#include "test.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void misuse_fn_t(void *arg);

struct misuse_s {
	misuse_fn_t *op;
	void *arg;
};

static inline void
misuse_run(void *m) {
	alarm(20);
	((struct misuse_s *)m)->op(((struct misuse_s *)m)->arg);
	/* Returning means the misuse went unnoticed: exit 0. */
}

static inline void
expect_abort(misuse_fn_t *op, void *arg, const void *addr, const char *what) {
	struct misuse_s m = {op, arg};
	char out[4096];
	int status = test_fork_capture(misuse_run, &m, out, sizeof(out));
	expect_true(status != -1 && WIFSIGNALED(status)
	    && WTERMSIG(status) == SIGABRT,
	    "%s of %p: the child should die of SIGABRT (status 0x%x)", what,
	    addr, status);
	char want[160];
	snprintf(want, sizeof(want), "<hmalloc>: %s: %p\n", what, addr);
	expect_str_eq(out, want, "the one line on stderr");
}

static inline void
misuse_free(void *p) {
	hm_free(p);
}

static inline void
misuse_realloc(void *p) {
	void *r = hm_realloc(p, 100);
	(void)r;
}

static inline void
misuse_usable_size(void *p) {
	hm_malloc_usable_size(p);
}

#endif /* HM_CORRUPT_H */
