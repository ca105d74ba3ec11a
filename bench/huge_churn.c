/*
 * huge_churn: a program that keeps 20 large buffers of 5-25 MiB (uniform)
 * and replaces a random one each step, the new buffer allocated before
 * the old one goes and every page of it written (a program that zeroes
 * its buffers, as C++'s make_unique<char[]> does, touches them all the
 * same).  The allocator's part is where each new buffer comes from: kept
 * memory, resident, or the kernel, page fault by page fault.
 * Usage: huge_churn [SCALE].
 */
#include "bench.h"

#define SLOTS 20
#define MIN_SIZE ((size_t)5 << 20)
#define MAX_SIZE ((size_t)25 << 20)

int
main(int argc, char **argv) {
	long steps = (long)(bench_scale(argc, argv) * 300);
	rng_t r = rng_seed(447);
	void *obj[SLOTS] = {0};
	size_t sz[SLOTS] = {0};
	uint64_t h = 0;
	for (long s = 0; s < steps; s++) {
		unsigned i = (unsigned)rng_below(&r, SLOTS);
		size_t n = rng_range(&r, MIN_SIZE, MAX_SIZE);
		void *p = xmalloc(n);
		touch(p, n, stamp(9, (uint64_t)s));
		if (obj[i] != NULL) {
			h = mix(h, check(obj[i], sz[i]));
			free(obj[i]);
		}
		obj[i] = p;
		sz[i] = n;
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
