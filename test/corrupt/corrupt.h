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

static inline void
expect_abort(misuse_fn_t *op, void *arg, const void *addr, const char *what) {
	int fds[2];
	assert_d_eq(pipe(fds), 0, "pipe");
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	assert_d_ge(pid, 0, "fork");
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		alarm(20);
		op(arg);
		_exit(0); /* reached only if the misuse went unnoticed */
	}
	close(fds[1]);
	char out[4096];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(out) - 1
	    && (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	int status;
	assert_d_eq(waitpid(pid, &status, 0), pid, "waitpid");
	expect_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
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
