/*
 * bench/pair: malloc+free pairs of one size in one thread, the figure
 * `make bench-instr` reads with callgrind (instructions per pair).
 * Usage: pair SIZE COUNT.  Prints a checksum so the work cannot vanish.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv) {
	size_t size = argc > 1 ? strtoull(argv[1], NULL, 0) : 64;
	long count = argc > 2 ? strtol(argv[2], NULL, 0) : 1000000;
	uintptr_t sum = 0;
	/* Warm up: the first calls initialise the allocator and its caches. */
	for (int i = 0; i < 1000; i++) {
		void *p = malloc(size);
		free(p);
	}
	for (long i = 0; i < count; i++) {
		char *p = malloc(size);
		p[0] = (char)i;
		sum += (uintptr_t)p[0];
		free(p);
	}
	printf("%zu %ld %lu\n", size, count, (unsigned long)sum);
	return 0;
}
