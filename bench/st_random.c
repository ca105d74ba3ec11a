/*
 * st_random: one thread, random small sizes 8 B - 1 KiB (log-uniform),
 * with a window of live objects: each step frees a random slot and puts a
 * new object there, so lifetimes are random and the heap stays near
 * WINDOW objects.  Every object is written at both ends and checked when
 * it is freed.  Usage: st_random [SCALE].
 */
#include "bench.h"

#define WINDOW 4096

int
main(int argc, char **argv) {
	long steps = (long)(bench_scale(argc, argv) * 10e6);
	rng_t r = rng_seed(42);
	void *obj[WINDOW];
	size_t sz[WINDOW];
	uint64_t h = 0;
	for (int i = 0; i < WINDOW; i++) {
		sz[i] = rng_log_size(&r, 8, 1024);
		obj[i] = xmalloc(sz[i]);
		touch(obj[i], sz[i], stamp(1, (uint64_t)i));
	}
	for (long s = 0; s < steps; s++) {
		unsigned i = (unsigned)rng_below(&r, WINDOW);
		h = mix(h, check(obj[i], sz[i]));
		free(obj[i]);
		sz[i] = rng_log_size(&r, 8, 1024);
		obj[i] = xmalloc(sz[i]);
		touch(obj[i], sz[i], stamp(2, (uint64_t)s));
	}
	for (int i = 0; i < WINDOW; i++) {
		h = mix(h, check(obj[i], sz[i]));
		free(obj[i]);
	}
	print_checksum(h);
	return 0;
}
