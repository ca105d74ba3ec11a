/*
 * large_churn: large-object churn.  A set of SLOTS live blocks of
 * 64 KiB - 8 MiB (log-uniform); each step frees a random block and
 * allocates a new one, touching every page of it, so an allocator that
 * hands pages back to the kernel too eagerly pays for page faults over and
 * over.  Usage: large_churn [SCALE].
 */
#include "bench.h"

#define SLOTS 16

int
main(int argc, char **argv) {
	long steps = (long)(bench_scale(argc, argv) * 4000);
	rng_t r = rng_seed(77);
	void *obj[SLOTS] = {0};
	size_t sz[SLOTS] = {0};
	uint64_t h = 0;
	for (long s = 0; s < steps; s++) {
		unsigned i = (unsigned)rng_below(&r, SLOTS);
		if (obj[i] != NULL) {
			h = mix(h, check(obj[i], sz[i]));
			free(obj[i]);
		}
		sz[i] = rng_log_size(&r, 64 << 10, 8 << 20);
		obj[i] = xmalloc(sz[i]);
		touch(obj[i], sz[i], stamp(5, (uint64_t)s));
	}
	for (int i = 0; i < SLOTS; i++) {
		if (obj[i] != NULL) {
			h = mix(h, check(obj[i], sz[i]));
			free(obj[i]);
		}
	}
	print_checksum(h);
	return 0;
}
