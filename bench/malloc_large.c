/*
 * malloc_large: the shape of mimalloc-bench's malloc-large.  One thread
 * keeps 20 large blocks live and replaces them in turn, oldest first,
 * each by a block of uniform random size between 64 KiB and 5 MiB (so
 * most are megabytes, past every size-class allocator's small range).
 * Only a random part of each new block is written, one word per page of
 * a prefix of 1/8 to all of it, and its last word: the pages that are
 * never written should cost nothing, and the written ones cost a page
 * fault each whenever the allocator has handed them back to the kernel.
 * Usage: malloc_large [SCALE].
 */
#include "bench.h"

#define LIVE 20
#define MIN_SIZE ((size_t)64 << 10)
#define MAX_SIZE ((size_t)5 << 20)

typedef struct {
	unsigned char *p;
	size_t size;
	size_t written; /* the prefix that touch() covered */
} block_t;

static uint64_t
check_block(uint64_t h, const block_t *b) {
	uint64_t last;
	memcpy(&last, b->p + b->size - 8, 8);
	return mix(mix(h, check(b->p, b->written)), last);
}

int
main(int argc, char **argv) {
	long steps = (long)(bench_scale(argc, argv) * 1600);
	rng_t r = rng_seed(0x1a46e);
	block_t blk[LIVE] = {{0}};
	uint64_t h = 0;
	for (long s = 0; s < steps; s++) {
		block_t *b = &blk[s % LIVE];
		if (b->p != NULL) {
			h = check_block(h, b);
			free(b->p);
		}
		b->size = (size_t)rng_range(&r, MIN_SIZE, MAX_SIZE);
		b->written = b->size / 8 * (size_t)rng_range(&r, 1, 8);
		b->p = xmalloc(b->size);
		uint64_t v = stamp(9, (uint64_t)s);
		touch(b->p, b->written, v);
		memcpy(b->p + b->size - 8, &v, 8);
	}
	for (int i = 0; i < LIVE; i++) {
		if (blk[i].p != NULL) {
			h = check_block(h, &blk[i]);
			free(blk[i].p);
		}
	}
	print_checksum(h);
	return 0;
}
