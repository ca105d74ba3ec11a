/*
 * st_fixed: one thread, malloc/free of one size, 64 B (and 16 B, 256 B).
 * Two patterns per size: an immediate pair (the fast path at its purest),
 * and a batch of 100 allocated then freed in allocation order (the cache
 * filling and draining).  Usage: st_fixed [SCALE].
 */
#include "bench.h"

#define BATCH 100

static uint64_t
run_size(size_t size, long n) {
	uint64_t h = size;
	for (long i = 0; i < n; i++) {
		uint64_t *p = xmalloc(size);
		p[0] = (uint64_t)i;
		h += p[0];
		free(p);
	}
	uint64_t *batch[BATCH];
	for (long r = 0; r < n / BATCH; r++) {
		for (int j = 0; j < BATCH; j++) {
			batch[j] = xmalloc(size);
			batch[j][0] = stamp((uint64_t)r, (uint64_t)j);
		}
		for (int j = 0; j < BATCH; j++) {
			h = mix(h, batch[j][0]);
			free(batch[j]);
		}
	}
	return h;
}

int
main(int argc, char **argv) {
	long n = (long)(bench_scale(argc, argv) * 10e6);
	uint64_t h = 0;
	h = mix(h, run_size(64, n));
	h = mix(h, run_size(16, n / 2));
	h = mix(h, run_size(256, n / 2));
	print_checksum(h);
	return 0;
}
