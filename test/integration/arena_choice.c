/*
 * Arena choice for new threads: threads that start together, while every
 * one of them is alive, are bound to different arenas as long as there
 * are arenas enough (the choice and the thread's count in the arena are
 * made as one step).
 */
#include "test.h"

#include <pthread.h>

#define NTHREADS 4
#define ROUNDS 100

static pthread_barrier_t start, alive;
static unsigned bound[NTHREADS];

static void *
thread_main(void *arg) {
	unsigned t = (unsigned)(uintptr_t)arg;
	pthread_barrier_wait(&start);
	/* The first allocation binds the thread. */
	void *p = hm_malloc(64);
	assert_ptr_not_null(p, "malloc");
	size_t sz = sizeof(bound[t]);
	assert_d_eq(hm_mallctl("thread.arena", &bound[t], &sz, NULL, 0), 0,
	    "thread.arena");
	pthread_barrier_wait(&alive);
	hm_free(p);
	return NULL;
}

TEST_BEGIN(test_threads_started_together)
	unsigned narenas;
	size_t sz = sizeof(narenas);
	assert_d_eq(hm_mallctl("arenas.narenas", &narenas, &sz, NULL, 0), 0,
	    "arenas.narenas");
	const char *percpu = NULL;
	sz = sizeof(percpu);
	assert_d_eq(hm_mallctl("opt.percpu_arena", &percpu, &sz, NULL, 0), 0,
	    "opt.percpu_arena");
	if (narenas < NTHREADS + 1 || strcmp(percpu, "disabled") != 0)
		test_skip("needs %d arenas and percpu_arena disabled: %u, %s",
		    NTHREADS + 1, narenas, percpu);
	void *mine = hm_malloc(64); /* the main thread is bound too */
	unsigned shared = 0;
	for (int r = 0; r < ROUNDS; r++) {
		pthread_barrier_init(&start, NULL, NTHREADS);
		pthread_barrier_init(&alive, NULL, NTHREADS);
		pthread_t th[NTHREADS];
		for (unsigned t = 0; t < NTHREADS; t++)
			assert_d_eq(pthread_create(&th[t], NULL, thread_main,
			    (void *)(uintptr_t)t), 0, "pthread_create");
		for (unsigned t = 0; t < NTHREADS; t++)
			pthread_join(th[t], NULL);
		pthread_barrier_destroy(&start);
		pthread_barrier_destroy(&alive);
		for (unsigned a = 0; a < NTHREADS; a++) {
			for (unsigned b = a + 1; b < NTHREADS; b++)
				shared += bound[a] == bound[b];
		}
	}
	expect_u_eq(shared, 0, "pairs of live threads sharing an arena in %d "
	    "rounds of %d threads started together", ROUNDS, NTHREADS);
	hm_free(mine);
TEST_END

int
main(void) {
	return test(test_threads_started_together);
}
