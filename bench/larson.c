/*
 * larson: a server-like load in the manner of Larson and Krishnan's test.
 * A shared array of blocks is cut into one slice per thread; in each round
 * every thread replaces random blocks of one slice (free the old block,
 * malloc a new one of random size 8-512 B, write it), and between rounds
 * the slices rotate, so most blocks are freed by a thread other than the
 * one that allocated them.  The blocks a slice sees in a round are drawn
 * from a generator seeded by (slice, round), so the result does not depend
 * on which thread ran the slice.
 * Usage: larson NTHREADS [SCALE].
 */
#include <pthread.h>

#include "bench.h"

#define TOTAL_SLOTS 65536
#define ROUNDS 64

typedef struct {
	void *p;
	uint32_t size;
} slot_t;

static slot_t slots[TOTAL_SLOTS];
static int nthreads;
static long ops_per_round; /* replacements per slice per round */
static pthread_barrier_t barrier;
static uint64_t results[ROUNDS][1024];

static void
slice_work(int slice, int round) {
	int per = TOTAL_SLOTS / nthreads;
	slot_t *s = &slots[slice * per];
	rng_t r = rng_seed((uint64_t)slice * 1000003 + (uint64_t)round);
	uint64_t h = (uint64_t)slice;
	for (long k = 0; k < ops_per_round; k++) {
		unsigned i = (unsigned)rng_below(&r, (uint64_t)per);
		if (s[i].p != NULL) {
			h = mix(h, check(s[i].p, s[i].size));
			free(s[i].p);
		}
		size_t size = rng_log_size(&r, 8, 512);
		s[i].p = xmalloc(size);
		s[i].size = (uint32_t)size;
		touch(s[i].p, size, stamp((uint64_t)round << 32 | (uint64_t)slice,
		    (uint64_t)k));
	}
	results[round][slice] = fin(h);
}

static void *
thread_main(void *arg) {
	int t = (int)(intptr_t)arg;
	for (int round = 0; round < ROUNDS; round++) {
		slice_work((t + round) % nthreads, round);
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

int
main(int argc, char **argv) {
	nthreads = bench_nthreads(argc, argv, 1, 2);
	double scale = bench_scale(argc - 1, argv + 1);
	ops_per_round = (long)(scale * 6e6 / ROUNDS / nthreads);
	pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
	bench_run_threads(nthreads, thread_main);
	uint64_t h = 0;
	for (int round = 0; round < ROUNDS; round++)
		for (int s = 0; s < nthreads; s++)
			h = mix(h, results[round][s]);
	for (int i = 0; i < TOTAL_SLOTS; i++) {
		if (slots[i].p != NULL) {
			h = mix(h, check(slots[i].p, slots[i].size));
			free(slots[i].p);
		}
	}
	print_checksum(h);
	return 0;
}
