/*
 * false_sharing: does the allocator put small objects used by different
 * threads on the same cache line?  Two phases, each with NTHREADS threads:
 *   active  - each thread allocates its own 8-32 B objects and hammers
 *             writes into them (an allocator that interleaves threads'
 *             objects in one slab makes the cores fight over lines);
 *   passive - the main thread allocates adjacent 16 B objects and hands
 *             one to each thread; the thread frees it, allocates the same size
 *             again (a cache may hand back the very same block) and
 *             hammers that.
 * Every OBJ_WRITES writes a thread frees its object and takes a new one.
 * Usage: false_sharing [NTHREADS [SCALE]].
 */
#include <pthread.h>
#include <time.h>

#include "bench.h"

#define OBJ_WRITES 20000

typedef struct {
	int id;
	long writes;
	size_t size;
	void *given; /* passive phase: a block from the main thread */
	uint64_t h;
} job_t;

static void
hammer(volatile uint64_t *w, long n, uint64_t seed) {
	for (long i = 0; i < n; i++)
		*w = *w * 6364136223846793005ULL + seed;
}

static void *
worker(void *arg) {
	job_t *j = arg;
	uint64_t h = (uint64_t)j->id;
	if (j->given != NULL) {
		free(j->given);
		j->given = NULL;
	}
	for (long done = 0; done < j->writes; done += OBJ_WRITES) {
		uint64_t *p = xmalloc(j->size);
		p[0] = (uint64_t)j->id;
		hammer(p, OBJ_WRITES, (uint64_t)j->id * 2 + 1);
		h = mix(h, p[0]);
		free(p);
	}
	j->h = fin(h);
	return NULL;
}

static uint64_t
phase(int nthreads, long writes, bool passive) {
	job_t jobs[64];
	pthread_t th[64];
	uint64_t h = 0;
	for (int t = 0; t < nthreads; t++) {
		jobs[t].id = t;
		jobs[t].writes = writes;
		/* Passive: one size for all, so that every allocator hands out
		 * the blocks side by side, as a program's setup code would get
		 * them; active: sizes differ, to show whether threads share. */
		jobs[t].size = passive ? 16 : 8 + 8 * (size_t)(t % 3);
		jobs[t].given = passive ? xmalloc(jobs[t].size) : NULL;
	}
	for (int t = 0; t < nthreads; t++)
		pthread_create(&th[t], NULL, worker, &jobs[t]);
	for (int t = 0; t < nthreads; t++) {
		pthread_join(th[t], NULL);
		h += jobs[t].h;
	}
	return h;
}

int
main(int argc, char **argv) {
	int nthreads = argc > 1 ? atoi(argv[1]) : 2;
	if (nthreads < 1 || nthreads > 64)
		nthreads = 2;
	long writes = (long)(bench_scale(argc - 1, argv + 1) * 150e6);
	uint64_t h = 0;
	struct timespec t0, t1, t2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	h = mix(h, phase(nthreads, writes, false));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	h = mix(h, phase(nthreads, writes, true));
	clock_gettime(CLOCK_MONOTONIC, &t2);
	printf("active_s=%.3f passive_s=%.3f\n",
	    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9,
	    (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) * 1e-9);
	print_checksum(h);
	return 0;
}
