/*
 * thread_random: threads that each keep a working set of 1024 blocks of
 * their own and replace a random one at each step, sizes drawn over many
 * classes (three blocks in four of 16-256 B, one in five of 256 B-4 KiB,
 * the rest up to 32 KiB, log-uniform within each band), the first and
 * last words of each written.  The shape of glibc's per-thread malloc
 * benchmark: no block changes threads, so the cost is the allocator's own
 * path for many size classes spread over many slabs and chunks.
 * Usage: thread_random NTHREADS [SCALE].
 */
#include <pthread.h>

#include "bench.h"

#define WORKING_SET 1024

static long steps;
static uint64_t results[1024];

static size_t
draw_size(rng_t *r) {
	uint64_t band = rng_below(r, 20);
	if (band < 15)
		return rng_log_size(r, 16, 256);
	if (band < 19)
		return rng_log_size(r, 256, 4096);
	return rng_log_size(r, 4096, 32768);
}

static void *
thread_main(void *arg) {
	int t = (int)(intptr_t)arg;
	rng_t r = rng_seed(0x7e57 + (uint64_t)t);
	void *p[WORKING_SET] = {0};
	size_t len[WORKING_SET] = {0}; /* bytes written: the first page */
	uint64_t h = (uint64_t)t;
	for (long s = 0; s < steps; s++) {
		unsigned i = (unsigned)rng_below(&r, WORKING_SET);
		if (p[i] != NULL) {
			h = mix(h, check(p[i], len[i]));
			free(p[i]);
		}
		size_t size = draw_size(&r);
		p[i] = xmalloc(size);
		len[i] = size < 4096 ? size : 4096;
		touch(p[i], len[i], stamp((uint64_t)t, (uint64_t)s));
	}
	for (unsigned i = 0; i < WORKING_SET; i++) {
		if (p[i] != NULL) {
			h = mix(h, check(p[i], len[i]));
			free(p[i]);
		}
	}
	results[t] = fin(h);
	return NULL;
}

int
main(int argc, char **argv) {
	int nthreads = bench_nthreads(argc, argv, 1, 2);
	double scale = bench_scale(argc - 1, argv + 1);
	steps = (long)(scale * 20e6 / nthreads);
	bench_run_threads(nthreads, thread_main);
	uint64_t h = 0;
	for (int t = 0; t < nthreads; t++)
		h = mix(h, results[t]);
	print_checksum(h);
	return 0;
}
