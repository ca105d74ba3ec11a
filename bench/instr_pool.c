/*
 * bench/instr_pool: a steady pool of 4096 live blocks of random sizes,
 * 16 to 271 B (uniform: 256 sizes over about a dozen classes), in one
 * thread, for `make bench-instr`.  Each step frees a random block of the
 * pool and allocates its replacement: one malloc+free pair per step, the
 * blocks freed long after their allocation and scattered over many slabs,
 * which is what a server's heap looks like, unlike a window of a few
 * recent blocks.  Steps are drawn before the measured loop (a table of
 * 65536, cycled).  Modes:
 *   (none given)  free + malloc each step;
 *   none          the loop alone, without malloc/free (subtracted);
 *   usable        malloc_usable_size of the step's block instead: what a
 *                 program that accounts its memory (Redis does, on every
 *                 allocation and free) pays per call.
 * Usage: instr_pool COUNT [none|usable].
 */
#include <malloc.h>

#include "bench.h"

#define TABLE 65536
#define POOL 4096
#define MIN_SIZE 16
#define MAX_SIZE 271

static unsigned char buf[POOL][MAX_SIZE];

int
main(int argc, char **argv) {
	long count = argc > 1 ? strtol(argv[1], NULL, 0) : 1000000;
	const char *mode = argc > 2 ? argv[2] : "";
	bool none = strcmp(mode, "none") == 0;
	bool usable = strcmp(mode, "usable") == 0;
	static uint16_t size_tab[TABLE];
	static uint16_t slot_tab[TABLE];
	rng_t r = rng_seed(7);
	for (int i = 0; i < TABLE; i++) {
		size_tab[i] = (uint16_t)rng_range(&r, MIN_SIZE, MAX_SIZE);
		slot_tab[i] = (uint16_t)rng_below(&r, POOL);
	}
	static unsigned char *obj[POOL];
	for (int i = 0; i < POOL; i++) {
		obj[i] = none ? buf[i]
			      : xmalloc(rng_range(&r, MIN_SIZE, MAX_SIZE));
		obj[i][0] = 0;
	}
	/* One pass over the table first: the pool reaches its steady state
	 * (every class's slabs and caches warm). */
	for (int i = 0; i < TABLE && !none && !usable; i++) {
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
		if (usable) {
			sum += malloc_usable_size(obj[s]);
		} else if (!none) {
			free(obj[s]);
			obj[s] = malloc(size_tab[k]);
		}
		obj[s][0] = (unsigned char)i;
	}
	for (int i = 0; i < POOL && !none; i++)
		free(obj[i]);
	printf("checksum=%016llx\n", (unsigned long long)sum);
	return 0;
}
