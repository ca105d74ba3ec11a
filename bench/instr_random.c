/*
 * bench/instr_random: malloc+free pairs of random small sizes (8 B - 1 KiB,
 * log-uniform, as st_random) in one thread, for `make bench-instr`.  A
 * window of 64 live objects: each step frees one and allocates one, so it
 * is one pair per step.  The sizes and slots are drawn before the measured
 * loop (a table of 4096 steps, cycled), so the loop adds few instructions;
 * with the mode "none" the loop runs without malloc/free, and the
 * difference between the two is the allocator's share.
 * Usage: instr_random COUNT [none].
 */
#include "bench.h"

#define TABLE 4096
#define WINDOW 64

static unsigned char buf[WINDOW][1024];

int
main(int argc, char **argv) {
	long count = argc > 1 ? strtol(argv[1], NULL, 0) : 1000000;
	bool none = argc > 2 && strcmp(argv[2], "none") == 0;
	static uint16_t size_tab[TABLE];
	static uint8_t slot_tab[TABLE];
	rng_t r = rng_seed(5);
	for (int i = 0; i < TABLE; i++) {
		size_tab[i] = (uint16_t)rng_log_size(&r, 8, 1024);
		slot_tab[i] = (uint8_t)rng_below(&r, WINDOW);
	}
	unsigned char *obj[WINDOW];
	for (int i = 0; i < WINDOW; i++) {
		obj[i] = none ? buf[i] : xmalloc(1024);
		obj[i][0] = 0;
	}
	/* Warm up the caches for every class in the table. */
	for (int i = 0; i < TABLE && !none; i++) {
		unsigned s = slot_tab[i];
		free(obj[s]);
		obj[s] = xmalloc(size_tab[i]);
		obj[s][0] = 0;
	}
	uint64_t sum = 0;
	for (long i = 0; i < count; i++) {
		unsigned k = (unsigned)i & (TABLE - 1);
		unsigned s = slot_tab[k];
		sum += obj[s][0];
		if (!none) {
			free(obj[s]);
			obj[s] = malloc(size_tab[k]);
		}
		obj[s][0] = (unsigned char)i;
	}
	for (int i = 0; i < WINDOW && !none; i++)
		free(obj[i]);
	printf("checksum=%016llx\n", (unsigned long long)sum);
	return 0;
}
