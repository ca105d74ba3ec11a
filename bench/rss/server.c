/*
 * server: a pool of 2 worker threads serving requests in bursts, with idle
 * periods between them.  Each cycle: the workers serve requests (each
 * allocates a few buffers, 16 B - 256 KiB, touches them, reads them back
 * and frees them; its response goes into a session cache that grows to
 * about 200 MiB in all, and once full replaces a random entry), then free
 * the cache but for 1 entry in 50 (a long-lived remnant that stays to the
 * end), and the whole process idles: the workers wait on a barrier, the
 * main thread sleeps, nobody calls the allocator.  3 cycles; the last idle
 * is the longer one, and the workers exit only after it.  Checks the
 * remnant after the last idle.
 * Usage: server [SCALE [IDLE_S [FINAL_IDLE_S]]] (defaults 1, 3, 6).
 */
#include <pthread.h>

#include "rss.h"

#define NTHREADS 2
#define CYCLES 3

typedef struct {
	void *p;
	size_t size;
	uint64_t tag;
} obj_t;

typedef struct {
	int id;
	pthread_t thr;
	obj_t *cache;    /* session cache, ncache slots */
	obj_t *keep;     /* remnant, kept to the end */
	long nkeep;
	size_t keep_bytes;
	uint64_t h;
} worker_t;

static long ncache, nreq;
static pthread_barrier_t start_bar, done_bar;
static worker_t workers[NTHREADS];

/* Request and response sizes: mostly small, a tail up to 256 KiB. */
static size_t
req_size(rng_t *r) {
	uint64_t p = rng_below(r, 100);
	if (p < 75)
		return rng_log_size(r, 16, 1024);
	if (p < 97)
		return rng_log_size(r, 1024, 32 << 10);
	return rng_log_size(r, 32 << 10, 256 << 10);
}

static void
burst(worker_t *w, int cycle) {
	rng_t r = rng_seed(1000 + 10 * (uint64_t)cycle + (uint64_t)w->id);
	long filled = 0;
	uint64_t h = w->h;
	for (long q = 0; q < nreq; q++) {
		uint64_t tag = ((uint64_t)cycle << 40) ^ ((uint64_t)w->id << 32) ^
		    (uint64_t)q;
		/* The request: a few buffers live while it is served. */
		obj_t tmp[8];
		int n = (int)rng_range(&r, 2, 8);
		for (int k = 0; k < n; k++) {
			tmp[k].size = req_size(&r);
			tmp[k].p = xmalloc(tmp[k].size);
			touch(tmp[k].p, tmp[k].size, stamp(tag, (uint64_t)k));
		}
		/* Freed in an order of their own: half LIFO, half FIFO. */
		for (int k = 0; k < n; k++) {
			int i = (q & 1) ? n - 1 - k : k;
			h = mix(h, check(tmp[i].p, tmp[i].size));
			free(tmp[i].p);
		}
		/* The response goes into the session cache. */
		if (rng_below(&r, 2) == 0) {
			long slot = filled < ncache ? filled++ :
			    (long)rng_below(&r, (uint64_t)ncache);
			obj_t *o = &w->cache[slot];
			if (o->p != NULL) {
				h = mix(h, check(o->p, o->size));
				free(o->p);
			}
			o->size = req_size(&r);
			o->tag = tag;
			o->p = xmalloc(o->size);
			touch(o->p, o->size, stamp(tag, 99));
		}
	}
	/* End of the burst: drop the cache but for 1 entry in 50. */
	for (long i = 0; i < filled; i++) {
		obj_t *o = &w->cache[i];
		if (i % 50 == 0) {
			w->keep[w->nkeep++] = *o;
			w->keep_bytes += o->size;
		} else {
			h = mix(h, check(o->p, o->size));
			free(o->p);
		}
		o->p = NULL;
	}
	w->h = h;
}

static void *
worker_main(void *arg) {
	worker_t *w = arg;
	for (int c = 0; c < CYCLES; c++) {
		pthread_barrier_wait(&start_bar);
		burst(w, c);
		pthread_barrier_wait(&done_bar);
	}
	/* Exit only after the last idle: a thread's exit flushes its cache. */
	pthread_barrier_wait(&start_bar);
	return NULL;
}

int
main(int argc, char **argv) {
	double scale = bench_scale(argc, argv);
	double idle_s = arg_double(argc, argv, 2, 3);
	double final_s = arg_double(argc, argv, 3, 6);
	/* Mean response about 5.5 KiB: 18,000 slots a thread make 100 MiB. */
	ncache = (long)(18000 * scale);
	nreq = (long)(400000 * scale);
	pthread_barrier_init(&start_bar, NULL, NTHREADS + 1);
	pthread_barrier_init(&done_bar, NULL, NTHREADS + 1);
	for (int i = 0; i < NTHREADS; i++) {
		worker_t *w = &workers[i];
		w->id = i;
		w->cache = xmalloc((size_t)ncache * sizeof(obj_t));
		memset(w->cache, 0, (size_t)ncache * sizeof(obj_t));
		w->keep = xmalloc((size_t)(ncache / 50 + 1) * CYCLES *
		    sizeof(obj_t));
		pthread_create(&w->thr, NULL, worker_main, w);
	}
	for (int c = 0; c < CYCLES; c++) {
		mark("burst");
		pthread_barrier_wait(&start_bar);
		pthread_barrier_wait(&done_bar);
		size_t live = 0;
		for (int i = 0; i < NTHREADS; i++)
			live += workers[i].keep_bytes;
		idle(c == CYCLES - 1 ? final_s : idle_s, live);
	}
	pthread_barrier_wait(&start_bar); /* the workers may exit now */
	uint64_t sum = 0;
	for (int i = 0; i < NTHREADS; i++) {
		worker_t *w = &workers[i];
		pthread_join(w->thr, NULL);
		uint64_t h = w->h;
		for (long k = 0; k < w->nkeep; k++) {
			h = mix(h, check(w->keep[k].p, w->keep[k].size));
			free(w->keep[k].p);
		}
		sum += fin(h);
		free(w->keep);
		free(w->cache);
	}
	out_checksum(sum);
	return 0;
}
