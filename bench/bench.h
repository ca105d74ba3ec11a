/*
 * bench/bench.h: what every workload shares — a seeded generator, a
 * checksum mixer, page touching and the result line.
 *
 * The workloads use plain malloc/free: the allocator under test arrives by
 * LD_PRELOAD (bench/run.py).  Every program ends with one line
 * "checksum=<16 hex digits>" computed from the data it wrote and read back,
 * never from addresses or timing, so it is the same under every correct
 * allocator and every thread schedule; the runner rejects a run whose
 * checksum differs from the others.
 */
#ifndef BENCH_H
#define BENCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xoshiro-style state is overkill here: splitmix64 is small and good. */
typedef struct {
	uint64_t s;
} rng_t;

static inline uint64_t
rng_next(rng_t *r) {
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline rng_t
rng_seed(uint64_t seed) {
	rng_t r = {seed * 0x2545f4914f6cdd1dULL + 1};
	rng_next(&r);
	return r;
}

/* Uniform in [0, n). */
static inline uint64_t
rng_below(rng_t *r, uint64_t n) {
	return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline uint64_t
rng_range(rng_t *r, uint64_t lo, uint64_t hi) {
	return lo + rng_below(r, hi - lo + 1);
}

/* Log-uniform in [lo, hi]: as many sizes in 8-16 as in 512K-1M. */
static inline size_t
rng_log_size(rng_t *r, size_t lo, size_t hi) {
	unsigned lg_lo = 63 - (unsigned)__builtin_clzll(lo);
	unsigned lg_hi = 63 - (unsigned)__builtin_clzll(hi);
	unsigned lg = (unsigned)rng_range(r, lg_lo, lg_hi);
	size_t base = (size_t)1 << lg;
	size_t s = base + (size_t)rng_below(r, base);
	return s < lo ? lo : s > hi ? hi : s;
}

/* Order-dependent mix, for one thread's stream of values. */
static inline uint64_t
mix(uint64_t h, uint64_t v) {
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

/* Order-independent combination of per-thread results: a sum of hashes. */
static inline uint64_t
fin(uint64_t h) {
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

/* A value that depends on (tag, index) only: what an object should hold. */
static inline uint64_t
stamp(uint64_t tag, uint64_t i) {
	return fin(tag * 0x9e3779b97f4a7c15ULL ^ i);
}

/* Write v at the start, the end and once per page of [p, p+size). */
static inline void
touch(void *p, size_t size, uint64_t v) {
	unsigned char *c = p;
	for (size_t off = 0; off + 8 <= size; off += 4096)
		memcpy(c + off, &v, 8);
	if (size >= 8)
		memcpy(c + size - 8, &v, 8);
	else
		memset(c, (int)(v & 0xff), size);
}

/* Read back what touch() wrote, folded into one word. */
static inline uint64_t
check(const void *p, size_t size) {
	const unsigned char *c = p;
	uint64_t h = size, v;
	if (size < 8)
		return mix(h, c[0]);
	for (size_t off = 0; off + 8 <= size; off += 4096) {
		memcpy(&v, c + off, 8);
		h = mix(h, v);
	}
	memcpy(&v, c + size - 8, 8);
	return mix(h, v);
}

static inline void *
xmalloc(size_t size) {
	void *p = malloc(size);
	if (p == NULL) {
		fprintf(stderr, "out of memory (%zu bytes)\n", size);
		exit(2);
	}
	return p;
}

/* Resident set size now, in KiB, from /proc/self/statm (0 if unknown). */
static inline long
rss_now_kb(void) {
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f != NULL) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * 4;
}

/* Optional scale from the command line: argv[1] multiplies the work. */
static inline double
bench_scale(int argc, char **argv) {
	double s = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	return s > 0 ? s : 1.0;
}

/* A thread count from the command line: argv[1], or def when absent or
 * outside [min, 1024]. */
static inline int
bench_nthreads(int argc, char **argv, int min, int def) {
	int n = argc > 1 ? atoi(argv[1]) : def;
	return n < min || n > 1024 ? def : n;
}

/* Runs fn(t), t = 0 .. n - 1 as a pointer-sized integer, in n threads
 * and waits for them all; a thread that cannot be created ends the
 * program with status 2. */
static inline void
bench_run_threads(int n, void *(*fn)(void *)) {
	pthread_t th[1024];
	for (int t = 0; t < n; t++) {
		if (pthread_create(&th[t], NULL, fn, (void *)(intptr_t)t)) {
			fprintf(stderr, "pthread_create failed\n");
			exit(2);
		}
	}
	for (int t = 0; t < n; t++)
		pthread_join(th[t], NULL);
}

static inline void
print_checksum(uint64_t sum) {
	printf("checksum=%016llx\n", (unsigned long long)sum);
}

#endif
