/*
 * realloc_growth: buffers that grow by realloc, as strings and vectors do.
 * GROUP buffers grow at once, interleaved (so a buffer's neighbour is often
 * another growing buffer and growth in place is not free):
 *   strings - append 1-64 bytes at a time, realloc to the exact new length;
 *   vectors - append 8-byte elements, realloc to double the capacity when
 *             full (and shrink to fit at the end).
 * Final lengths are 1 KiB - 1 MiB, log-uniform.  The contents are hashed
 * before each buffer is freed.  Usage: realloc_growth [SCALE].
 */
#include "bench.h"

#define GROUP 8

typedef struct {
	unsigned char *p;
	size_t len, cap, target;
} buf_t;

static uint64_t
hash_bytes(const unsigned char *p, size_t n) {
	uint64_t h = n;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		h = (h ^ v) * 0x100000001b3ULL;
	}
	for (; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return fin(h);
}

static void *
xrealloc(void *p, size_t size) {
	void *q = realloc(p, size);
	if (q == NULL) {
		fprintf(stderr, "out of memory (realloc %zu)\n", size);
		exit(2);
	}
	return q;
}

/* One round: GROUP buffers grown to their targets, hashed and freed. */
static uint64_t
round_strings(rng_t *r) {
	buf_t b[GROUP] = {0};
	for (int k = 0; k < GROUP; k++)
		b[k].target = rng_log_size(r, 1024, 1 << 20);
	uint64_t h = 0;
	for (int live = GROUP; live > 0;) {
		live = 0;
		for (int k = 0; k < GROUP; k++) {
			if (b[k].len >= b[k].target)
				continue;
			live++;
			size_t add = (size_t)rng_range(r, 1, 64);
			b[k].p = xrealloc(b[k].p, b[k].len + add + 1);
			for (size_t i = 0; i < add; i++)
				b[k].p[b[k].len + i] = (unsigned char)('a' + (b[k].len + i) % 26);
			b[k].len += add;
			b[k].p[b[k].len] = 0;
		}
	}
	for (int k = 0; k < GROUP; k++) {
		h += hash_bytes(b[k].p, b[k].len);
		free(b[k].p);
	}
	return h;
}

static uint64_t
round_vectors(rng_t *r) {
	buf_t b[GROUP] = {0};
	for (int k = 0; k < GROUP; k++)
		b[k].target = rng_log_size(r, 1024, 1 << 20) / 8;
	uint64_t h = 0;
	for (int live = GROUP; live > 0;) {
		live = 0;
		for (int k = 0; k < GROUP; k++) {
			/* Several elements per turn, as a loop filling a vector. */
			for (int e = 0; e < 16 && b[k].len < b[k].target; e++) {
				if (b[k].len == b[k].cap) {
					b[k].cap = b[k].cap ? b[k].cap * 2 : 4;
					b[k].p = xrealloc(b[k].p, b[k].cap * 8);
				}
				uint64_t v = stamp((uint64_t)k, b[k].len);
				memcpy(b[k].p + b[k].len * 8, &v, 8);
				b[k].len++;
			}
			if (b[k].len < b[k].target)
				live++;
		}
	}
	for (int k = 0; k < GROUP; k++) {
		b[k].p = xrealloc(b[k].p, b[k].len * 8); /* shrink to fit */
		h += hash_bytes(b[k].p, b[k].len * 8);
		free(b[k].p);
	}
	return h;
}

int
main(int argc, char **argv) {
	long rounds = (long)(bench_scale(argc, argv) * 60);
	rng_t r = rng_seed(99);
	uint64_t h = 0;
	for (long i = 0; i < rounds; i++) {
		h = mix(h, round_strings(&r));
		h = mix(h, round_vectors(&r));
	}
	print_checksum(h);
	return 0;
}
