/*
 * threads_churn: many short-lived threads.  Threads are started in waves
 * of WAVE; each allocates a few hundred objects of random size 8 B - 4 KiB,
 * frees most of them itself and leaves KEEP to the main thread, which frees
 * them after the thread has exited (memory of a dead thread's cache).
 * Measures thread start-up and exit cost inside the allocator (TLS set-up,
 * cache flush, arena binding).  Usage: threads_churn [SCALE].
 */
#include <pthread.h>

#include "bench.h"

#define WAVE 4
#define PER_THREAD 400
#define KEEP 16

typedef struct {
	int id;
	uint64_t h;
	void *keep[KEEP];
	size_t keep_size[KEEP];
} job_t;

static void *
worker(void *arg) {
	job_t *j = arg;
	rng_t r = rng_seed((uint64_t)j->id);
	void *obj[PER_THREAD];
	size_t sz[PER_THREAD];
	uint64_t h = (uint64_t)j->id;
	for (int i = 0; i < PER_THREAD; i++) {
		sz[i] = rng_log_size(&r, 8, 4096);
		obj[i] = xmalloc(sz[i]);
		touch(obj[i], sz[i], stamp((uint64_t)j->id, (uint64_t)i));
	}
	for (int i = KEEP; i < PER_THREAD; i++) {
		h = mix(h, check(obj[i], sz[i]));
		free(obj[i]);
	}
	for (int i = 0; i < KEEP; i++) {
		j->keep[i] = obj[i];
		j->keep_size[i] = sz[i];
	}
	j->h = fin(h);
	return NULL;
}

int
main(int argc, char **argv) {
	int nthreads = (int)(bench_scale(argc, argv) * 5000);
	uint64_t h = 0;
	job_t jobs[WAVE];
	pthread_t th[WAVE];
	for (int base = 0; base < nthreads; base += WAVE) {
		int n = nthreads - base < WAVE ? nthreads - base : WAVE;
		for (int k = 0; k < n; k++) {
			jobs[k].id = base + k;
			if (pthread_create(&th[k], NULL, worker, &jobs[k])) {
				fprintf(stderr, "pthread_create failed\n");
				return 2;
			}
		}
		for (int k = 0; k < n; k++) {
			pthread_join(th[k], NULL);
			h = mix(h, jobs[k].h);
			for (int i = 0; i < KEEP; i++) {
				h = mix(h, check(jobs[k].keep[i], jobs[k].keep_size[i]));
				free(jobs[k].keep[i]);
			}
		}
	}
	print_checksum(h);
	return 0;
}
