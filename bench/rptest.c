/*
 * rptest: the shape of rpmalloc's rptest.  Each thread owns 4096 slots
 * and works in rounds: it frees the blocks of some random slots, frees
 * whatever other threads handed it, then allocates blocks into random
 * slots (an occupied slot's block is freed first).  Every second round it
 * also allocates a batch of blocks and hands it to another thread, which
 * frees them: those frees are all remote.  The working set grows and
 * shrinks: for 128 rounds a thread allocates more than it frees, for the
 * next 128 the reverse, so it swings between about a third and two thirds
 * of its slots.  Sizes: four in five 16 B - 1 KiB, three in twenty
 * 1 - 8 KiB, one in twenty 8 - 32 KiB (log-uniform in each band); every
 * page of a block is written and read back before the block is freed.
 * A batch's blocks are checked by the thread that frees them, and each
 * thread adds up its batches' hashes, so the checksum does not depend on
 * when a batch arrives.  Usage: rptest [NTHREADS] [SCALE].
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "bench.h"

#define SLOTS 4096
#define PHASE 128

typedef struct {
	void *p;
	uint64_t size;
} entry_t;

typedef struct batch {
	struct batch *next;
	uint32_t from;
	uint32_t round;
	uint32_t count;
	entry_t *ent;
} batch_t;

typedef struct {
	_Alignas(64) _Atomic(batch_t *) inbox;
	uint64_t local;  /* own frees, in program order */
	uint64_t remote; /* sum over batches received, in any order */
} worker_t;

static worker_t workers[1024];
static int nthreads;
static long rounds;
static _Atomic int finished;

static size_t
draw_size(rng_t *r) {
	uint64_t band = rng_below(r, 20);
	if (band < 16)
		return rng_log_size(r, 16, 1024);
	if (band < 19)
		return rng_log_size(r, 1024, 8192);
	return rng_log_size(r, 8192, 32768);
}

static void
push(worker_t *w, batch_t *b) {
	batch_t *old = atomic_load_explicit(&w->inbox, memory_order_relaxed);
	do
		b->next = old;
	while (!atomic_compare_exchange_weak_explicit(&w->inbox, &old, b,
	    memory_order_release, memory_order_relaxed));
}

/* Taking the whole list at once leaves no room for ABA. */
static void
drain(worker_t *w) {
	batch_t *b = atomic_exchange_explicit(&w->inbox, NULL,
	    memory_order_acquire);
	while (b != NULL) {
		batch_t *next = b->next;
		uint64_t h = mix(b->from, b->round);
		for (uint32_t k = 0; k < b->count; k++) {
			h = mix(h, check(b->ent[k].p, b->ent[k].size));
			free(b->ent[k].p);
		}
		free(b->ent);
		free(b);
		w->remote += fin(h);
		b = next;
	}
}

static void *
thread_main(void *arg) {
	int t = (int)(intptr_t)arg;
	worker_t *self = &workers[t];
	rng_t r = rng_seed(0x4270 + (uint64_t)t);
	entry_t *slot = xmalloc(SLOTS * sizeof(*slot));
	for (int i = 0; i < SLOTS; i++)
		slot[i] = (entry_t){NULL, 0};
	uint64_t h = (uint64_t)t;
	for (long round = 0; round < rounds; round++) {
		bool growing = (round / PHASE) % 2 == 0;
		long nalloc = (long)(growing ? rng_range(&r, 48, 96) :
		    rng_range(&r, 16, 48));
		long nfree = (long)(growing ? rng_range(&r, 16, 48) :
		    rng_range(&r, 48, 96));
		for (long k = 0; k < nfree; k++) {
			entry_t *e = &slot[rng_below(&r, SLOTS)];
			if (e->p != NULL) {
				h = mix(h, check(e->p, e->size));
				free(e->p);
				e->p = NULL;
			}
		}
		drain(self);
		uint64_t tag = (uint64_t)t << 32 | (uint64_t)round;
		for (long k = 0; k < nalloc; k++) {
			entry_t *e = &slot[rng_below(&r, SLOTS)];
			if (e->p != NULL) {
				h = mix(h, check(e->p, e->size));
				free(e->p);
			}
			e->size = draw_size(&r);
			e->p = xmalloc(e->size);
			touch(e->p, e->size, stamp(tag, (uint64_t)k));
		}
		if (nthreads > 1 && round % 2 == 1) {
			batch_t *b = xmalloc(sizeof(*b));
			b->from = (uint32_t)t;
			b->round = (uint32_t)round;
			b->count = (uint32_t)rng_range(&r, 16, 64);
			b->ent = xmalloc(b->count * sizeof(*b->ent));
			for (uint32_t k = 0; k < b->count; k++) {
				b->ent[k].size = draw_size(&r);
				b->ent[k].p = xmalloc(b->ent[k].size);
				touch(b->ent[k].p, b->ent[k].size,
				    stamp(tag | 1ULL << 63, k));
			}
			/* Round robin over the other threads. */
			int to = (t + 1 + (int)((round / 2) % (nthreads - 1))) %
			    nthreads;
			push(&workers[to], b);
		}
	}
	/* Batches may still be on their way to this thread: free them as
	 * they come until every thread has stopped handing any out. */
	atomic_fetch_add(&finished, 1);
	while (atomic_load(&finished) < nthreads) {
		drain(self);
		sched_yield();
	}
	drain(self);
	for (int i = 0; i < SLOTS; i++) {
		if (slot[i].p != NULL) {
			h = mix(h, check(slot[i].p, slot[i].size));
			free(slot[i].p);
		}
	}
	free(slot);
	self->local = fin(h);
	return NULL;
}

int
main(int argc, char **argv) {
	nthreads = bench_nthreads(argc, argv, 1, 2);
	double scale = bench_scale(argc - 1, argv + 1);
	rounds = (long)(scale * 32000 / nthreads);
	bench_run_threads(nthreads, thread_main);
	uint64_t h = 0;
	for (int t = 0; t < nthreads; t++)
		h = mix(mix(h, workers[t].local), workers[t].remote);
	print_checksum(h);
	return 0;
}
