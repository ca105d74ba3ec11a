/*
 * Helpers for the corruption tests.  The test prepares the heap in the
 * parent; a forked child makes the one faulty call and must die of SIGABRT
 * after printing exactly the line `<hmalloc>: <what>: <address>`.
 */
#ifndef HM_CORRUPT_H
#define HM_CORRUPT_H

#include "test.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* The misuse is to meet the checks of the arenas' blocks, not a guarded
 * block's (san.h; their own tests are integration/san_guard). */
__attribute__((constructor)) static void
corrupt_san_off(void) {
	test_san_off();
}

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

static inline void
misuse_sallocx(void *p) {
	hm_sallocx(p, 0);
}

/* realloc and rallocx of a pointer to misuse_new_size bytes. */
static size_t misuse_new_size;

static inline void
misuse_realloc_to(void *p) {
	void *r = hm_realloc(p, misuse_new_size);
	(void)r;
}

static inline void
misuse_rallocx_to(void *p) {
	void *r = hm_rallocx(p, misuse_new_size, 0);
	(void)r;
}

/*
 * A thread that frees p and stays alive (its cache holding p, if cached)
 * until parked_release(): parked_free() returns once the free is done.
 */
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static int park_state;

static inline void *
park_main(void *p) {
	hm_free(p);
	pthread_mutex_lock(&park_lock);
	park_state = 1;
	pthread_cond_broadcast(&park_cond);
	while (park_state != 2)
		pthread_cond_wait(&park_cond, &park_lock);
	pthread_mutex_unlock(&park_lock);
	return NULL;
}

static inline pthread_t
parked_free(void *p) {
	park_state = 0;
	pthread_t th;
	assert_d_eq(pthread_create(&th, NULL, park_main, p), 0,
	    "pthread_create");
	pthread_mutex_lock(&park_lock);
	while (park_state != 1)
		pthread_cond_wait(&park_cond, &park_lock);
	pthread_mutex_unlock(&park_lock);
	return th;
}

static inline void
parked_release(pthread_t th) {
	pthread_mutex_lock(&park_lock);
	park_state = 2;
	pthread_cond_broadcast(&park_cond);
	pthread_mutex_unlock(&park_lock);
	pthread_join(th, NULL);
}

#endif /* HM_CORRUPT_H */
