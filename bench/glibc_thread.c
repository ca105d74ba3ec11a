/*
 * glibc_thread: the shape of glibc's bench-malloc-thread.  Each thread
 * keeps its own working set of 4096 slots and, for a fixed number of
 * steps, frees the block in a random slot and puts a new one there.
 * Sizes follow an inverse-square law over 8 B - 4 KiB (half of them under
 * 16 B, 3 % over 256 B), so the small classes take nearly all the traffic
 * while the larger ones keep being visited.  Every byte of a new block is
 * written, as in the original, and its ends are stamped and read back
 * before it is freed.  No block changes threads.
 * Usage: glibc_thread [NTHREADS] [SCALE].
 */
#include <pthread.h>

#include "bench.h"

#define SLOTS 4096
#define MIN_SIZE 8
#define MAX_SIZE 4096
/* Sizes are drawn ahead of the loop, so the loop costs the allocator and
 * the writes; a table this long does not repeat in step with the slots. */
#define SIZE_TABLE 8191

static long steps;
static uint64_t results[1024];

/* Inverse square on [MIN_SIZE, MAX_SIZE]: invert the distribution
 * function, 1/s falls uniformly from 1/MIN_SIZE to 1/MAX_SIZE. */
static uint32_t
draw_size(rng_t *r) {
	double u = (double)(rng_next(r) >> 11) * 0x1p-53;
	double inv = 1.0 / MIN_SIZE - u * (1.0 / MIN_SIZE - 1.0 / MAX_SIZE);
	double s = 1.0 / inv;
	return s < MIN_SIZE ? MIN_SIZE : s > MAX_SIZE ? MAX_SIZE : (uint32_t)s;
}

static void *
thread_main(void *arg) {
	int t = (int)(intptr_t)arg;
	rng_t r = rng_seed(0x61bc + (uint64_t)t);
	uint32_t *sizes = xmalloc(SIZE_TABLE * sizeof(*sizes));
	for (int i = 0; i < SIZE_TABLE; i++)
		sizes[i] = draw_size(&r);
	void **p = xmalloc(SLOTS * sizeof(*p));
	uint32_t *len = xmalloc(SLOTS * sizeof(*len));
	for (int i = 0; i < SLOTS; i++) {
		p[i] = NULL;
		len[i] = 0;
	}
	uint64_t h = (uint64_t)t;
	unsigned k = 0;
	for (long s = 0; s < steps; s++) {
		unsigned i = (unsigned)rng_below(&r, SLOTS);
		if (p[i] != NULL) {
			h = mix(h, check(p[i], len[i]));
			h = mix(h, ((unsigned char *)p[i])[len[i] / 2]);
			free(p[i]);
		}
		size_t size = sizes[k];
		k = k + 1 < SIZE_TABLE ? k + 1 : 0;
		p[i] = xmalloc(size);
		len[i] = (uint32_t)size;
		memset(p[i], (int)(s & 0xff), size);
		touch(p[i], size, stamp((uint64_t)t, (uint64_t)s));
	}
	for (int i = 0; i < SLOTS; i++) {
		if (p[i] != NULL) {
			h = mix(h, check(p[i], len[i]));
			h = mix(h, ((unsigned char *)p[i])[len[i] / 2]);
			free(p[i]);
		}
	}
	h = mix(h, sizes[SIZE_TABLE / 2]);
	free(len);
	free(p);
	free(sizes);
	results[t] = fin(h);
	return NULL;
}

int
main(int argc, char **argv) {
	int nthreads = bench_nthreads(argc, argv, 1, 2);
	double scale = bench_scale(argc - 1, argv + 1);
	steps = (long)(scale * 30e6 / nthreads);
	bench_run_threads(nthreads, thread_main);
	uint64_t h = 0;
	for (int t = 0; t < nthreads; t++)
		h = mix(h, results[t]);
	print_checksum(h);
	return 0;
}
