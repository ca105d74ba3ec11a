/*
 * frag: sparse survivors.  One thread allocates about 300 MiB in many
 * sizes (95 % of the objects 16 B - 4 KiB, 5 % 4 - 64 KiB), frees 90 %
 * of them in random order and keeps a random 10 %, idles; then allocates
 * about 150 MiB in another mix (80 % 1 - 16 KiB, 20 % 16 - 256 KiB), which
 * fits in what was freed only if the allocator can reuse it across size
 * classes, frees 90 % of that too and idles again (longer).  Survivors of
 * both generations are checked after the last idle.
 * Usage: frag [SCALE [IDLE_S [FINAL_IDLE_S]]] (defaults 1, 3, 6).
 */
#include "rss.h"

typedef struct {
	void *p;
	size_t size;
} obj_t;

static size_t
size_a(rng_t *r) {
	return rng_below(r, 20) < 19 ? rng_log_size(r, 16, 4096) :
	    rng_log_size(r, 4096, 64 << 10);
}

static size_t
size_b(rng_t *r) {
	return rng_below(r, 10) < 8 ? rng_log_size(r, 1024, 16 << 10) :
	    rng_log_size(r, 16 << 10, 256 << 10);
}

/* Allocates objects of sizer's sizes until bytes; returns how many. */
static long
generation(rng_t *r, obj_t **objs, size_t bytes, size_t (*sizer)(rng_t *),
    uint64_t gen) {
	long cap = 1 << 16, n = 0;
	obj_t *o = xmalloc((size_t)cap * sizeof(obj_t));
	for (size_t total = 0; total < bytes; n++) {
		if (n == cap) {
			cap *= 2;
			obj_t *o2 = realloc(o, (size_t)cap * sizeof(obj_t));
			if (o2 == NULL) {
				fprintf(stderr, "out of memory\n");
				exit(2);
			}
			o = o2;
		}
		o[n].size = sizer(r);
		o[n].p = xmalloc(o[n].size);
		touch(o[n].p, o[n].size, stamp(gen, (uint64_t)n));
		total += o[n].size;
	}
	*objs = o;
	return n;
}

/* Frees 9 in 10 of objs[0..n), in random order; returns the bytes left. */
static size_t
thin(rng_t *r, obj_t *o, long n, uint64_t *h) {
	long *perm = xmalloc((size_t)n * sizeof(long));
	for (long i = 0; i < n; i++)
		perm[i] = i;
	for (long i = n - 1; i > 0; i--) {
		long j = (long)rng_below(r, (uint64_t)i + 1);
		long t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	long nfree = n - n / 10;
	for (long k = 0; k < nfree; k++) {
		obj_t *x = &o[perm[k]];
		*h = mix(*h, check(x->p, x->size));
		free(x->p);
		x->p = NULL;
	}
	free(perm);
	size_t left = 0;
	for (long i = 0; i < n; i++)
		if (o[i].p != NULL)
			left += o[i].size;
	return left;
}

int
main(int argc, char **argv) {
	double scale = bench_scale(argc, argv);
	double idle_s = arg_double(argc, argv, 2, 3);
	double final_s = arg_double(argc, argv, 3, 6);
	rng_t r = rng_seed(4242);
	uint64_t h = 0;
	obj_t *a, *b;

	mark("gen1");
	long na = generation(&r, &a, (size_t)(scale * (300 << 20)), size_a, 1);
	mark("thin1");
	size_t live_a = thin(&r, a, na, &h);
	idle(idle_s, live_a);

	mark("gen2");
	long nb = generation(&r, &b, (size_t)(scale * (150 << 20)), size_b, 2);
	mark("thin2");
	size_t live_b = thin(&r, b, nb, &h);
	idle(final_s, live_a + live_b);

	for (long i = 0; i < na; i++)
		if (a[i].p != NULL) {
			h = mix(h, check(a[i].p, a[i].size));
			free(a[i].p);
		}
	for (long i = 0; i < nb; i++)
		if (b[i].p != NULL) {
			h = mix(h, check(b[i].p, b[i].size));
			free(b[i].p);
		}
	free(a);
	free(b);
	out("objects_gen1=%ld objects_gen2=%ld\n", na, nb);
	out_checksum(h);
	return 0;
}
