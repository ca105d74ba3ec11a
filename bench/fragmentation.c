/*
 * fragmentation: allocate many objects of many sizes (8 B - 4 KiB,
 * interleaved), free 95 % of them at random so a sparse set of survivors
 * pins pages everywhere, then allocate a second generation of different,
 * larger sizes (1-64 KiB) that can only reuse the freed memory if the
 * allocator gets whole pages back out of the holes.  Prints the resident
 * set size after the free and at the end; the runner adds the peak.
 * Usage: fragmentation [SCALE].
 */
#include "bench.h"

int
main(int argc, char **argv) {
	double scale = bench_scale(argc, argv);
	long n1 = (long)(scale * 400000);
	rng_t r = rng_seed(2024);
	void **obj = xmalloc((size_t)n1 * sizeof(void *));
	size_t *sz = xmalloc((size_t)n1 * sizeof(size_t));
	size_t bytes1 = 0, survivors = 0;
	uint64_t h = 0;
	for (long i = 0; i < n1; i++) {
		sz[i] = rng_log_size(&r, 8, 4096);
		obj[i] = xmalloc(sz[i]);
		touch(obj[i], sz[i], stamp(6, (uint64_t)i));
		bytes1 += sz[i];
	}
	for (long i = 0; i < n1; i++) {
		if (rng_below(&r, 100) < 95) {
			h = mix(h, check(obj[i], sz[i]));
			free(obj[i]);
			obj[i] = NULL;
		} else {
			survivors += sz[i];
		}
	}
	long rss_after_free = rss_now_kb();
	/* Second generation: as many bytes as were freed, but fewer, larger. */
	size_t target = bytes1 - survivors, bytes2 = 0;
	long n2max = (long)(target / 1024) + 1, n2 = 0;
	void **obj2 = xmalloc((size_t)n2max * sizeof(void *));
	size_t *sz2 = xmalloc((size_t)n2max * sizeof(size_t));
	while (bytes2 < target && n2 < n2max) {
		sz2[n2] = rng_log_size(&r, 1024, 65536);
		obj2[n2] = xmalloc(sz2[n2]);
		touch(obj2[n2], sz2[n2], stamp(7, (uint64_t)n2));
		bytes2 += sz2[n2];
		n2++;
	}
	long rss_final = rss_now_kb();
	for (long i = 0; i < n1; i++) {
		if (obj[i] != NULL) {
			h = mix(h, check(obj[i], sz[i]));
			free(obj[i]);
		}
	}
	for (long i = 0; i < n2; i++) {
		h = mix(h, check(obj2[i], sz2[i]));
		free(obj2[i]);
	}
	free(obj);
	free(sz);
	free(obj2);
	free(sz2);
	printf("live_bytes_gen1=%zu survivors=%zu live_bytes_final=%zu\n",
	    bytes1, survivors, survivors + bytes2);
	printf("rss_after_free_kb=%ld rss_final_kb=%ld\n", rss_after_free, rss_final);
	print_checksum(h);
	return 0;
}
