/*
 * mixed: one thread, mixed sizes 8 B - 1 MiB with a heavy tail (most
 * objects small, a few large), random lifetimes: half the objects are
 * temporaries freed at once, the rest replace a random member of a window
 * of long-lived objects.  Every page of every object is written and read
 * back.  Usage: mixed [SCALE].
 */
#include "bench.h"

#define WINDOW 8192

static size_t
heavy_tail_size(rng_t *r) {
	uint64_t u = rng_below(r, 1000);
	if (u < 900)
		return rng_log_size(r, 8, 256);
	if (u < 980)
		return rng_log_size(r, 257, 16384);
	if (u < 998)
		return rng_log_size(r, 16385, 262144);
	return rng_log_size(r, 262145, 1048576);
}

int
main(int argc, char **argv) {
	long steps = (long)(bench_scale(argc, argv) * 6e6);
	rng_t r = rng_seed(1234);
	static void *obj[WINDOW];
	static size_t sz[WINDOW];
	uint64_t h = 0;
	for (long s = 0; s < steps; s++) {
		size_t size = heavy_tail_size(&r);
		void *p = xmalloc(size);
		touch(p, size, stamp(3, (uint64_t)s));
		if (rng_below(&r, 2) == 0) {
			h = mix(h, check(p, size));
			free(p);
			continue;
		}
		unsigned i = (unsigned)rng_below(&r, WINDOW);
		if (obj[i] != NULL) {
			h = mix(h, check(obj[i], sz[i]));
			free(obj[i]);
		}
		obj[i] = p;
		sz[i] = size;
	}
	for (int i = 0; i < WINDOW; i++) {
		if (obj[i] != NULL) {
			h = mix(h, check(obj[i], sz[i]));
			free(obj[i]);
		}
	}
	print_checksum(h);
	return 0;
}
