/*
 * tcache.h: thread caches.  Each thread keeps, per size class up to
 * tcache_max, a small stack of free blocks: malloc pops, free pushes, with
 * no lock and no atomic operation.  The stacks fill from and flush to the
 * arenas' bins in batches, under one bin lock per batch; a block freed by a
 * thread other than its arena's goes into the freeing thread's cache and
 * back to its own arena with the next flush, so producer/consumer patterns
 * do not serialise on the owner's lock.
 *
 * A cache that goes unused shrinks: every TCACHE_GC_INTERVAL events one
 * bin is visited and three quarters of the blocks it did not need since
 * the last visit (its low-water mark) are flushed, and its fills halve
 * (as jemalloc's lg_fill_div); a bin that needed every block and a refill
 * since the last visit fills half its stack again.  A new cache's fills
 * start at an eighth of a stack and double at each refill, up to half,
 * until the GC first visits the bin.
 * At thread exit the whole cache is flushed and the tcache_t goes to a
 * pool for the next thread.
 *
 * A block freed by a thread bound to another arena than the block's does
 * not go where malloc pops (it would share cache lines with the other
 * thread's blocks): it is parked at the other end of the same array, and
 * goes back to its arena in a batch when the array fills, at each GC
 * visit, or at a flush; when the thread's own blocks run out and enough
 * are parked (TCACHE_REMOTE_REUSE), the refill takes them instead of going
 * to the bin lock.
 *
 * A block sitting in a cache carries a tag in its first word (its address
 * xor a per-process secret), written on the way in and cleared on the way
 * out (every allocation path clears a tag it finds), so that only a free
 * block carries it: free finds the tag on a second free of the same block,
 * looks for it in the thread's caches and its slab's bitmap to name the
 * place, and aborts even when it is in another thread's cache.
 */
#ifndef HM_TCACHE_H
#define HM_TCACHE_H

#include <stdint.h>

#include "arena.h"
#include "chunk.h"
#include "secure.h"
#include "sc.h"
#include "util.h"

/* Classes up to 1.75 MiB could be cached; opt.lg_tcache_max picks. */
#define TCACHE_NBINS_MAX (SC_NBINS + 28)
#define TCACHE_GC_INTERVAL 1024

/* 32 bytes: the fast paths index the array with a shift. */
typedef struct cache_bin_s {
	uint32_t ncached;      /* own blocks in stack[0, ncached) */
	uint32_t ncached_lim;  /* own blocks fit below this: parked blocks
				  of other arenas are in
				  stack[ncached_lim, ncached_max) */
	uint32_t ncached_max;  /* slots in stack[] */
	uint32_t low_water;    /* least ncached since the last GC visit */
	uint32_t size;         /* the class's size, for the thread's byte
				  counters (tsd.h) on the fast paths */
	uint16_t lg_fill_div;  /* a fill takes ncached_max >> lg_fill_div */
	bool refilled;         /* refilled since the last GC visit */
	bool ramp;             /* no GC visit yet: each refill doubles */
	void **stack;          /* own blocks: most recently freed on top */
} cache_bin_t;

_Static_assert(sizeof(cache_bin_t) == 32, "cache_bin_t is 32 bytes");

static inline uint32_t
cache_bin_nremote(const cache_bin_t *bin) {
	return bin->ncached_max - bin->ncached_lim;
}

/* Parked blocks a refill reuses rather than going to the bin. */
#define TCACHE_REMOTE_REUSE 8

/*
 * Which chunk the thread's recent frees fell in, direct-mapped by chunk
 * number: free reads the chunk from here instead of walking the radix
 * tree, so the block's run is one load from the chunk.  tag is the chunk
 * number xor hm_chunk_epoch at the time (chunk.h).
 */
#define TCACHE_NCHUNKS 32

typedef struct chunk_slot_s {
	uintptr_t tag;
	chunk_t *chunk;
} chunk_slot_t;

typedef struct tcache_s tcache_t;
struct tcache_s {
	int32_t gc_ticker;     /* events until the next GC visit */
	unsigned gc_bin;       /* bin the next visit looks at */
	arena_t *arena;        /* fills come from this arena */
	tcache_t *next;        /* free pool */
	chunk_slot_t chunks[TCACHE_NCHUNKS];
	cache_bin_t bins[TCACHE_NBINS_MAX];
	/* Allocations each bin served from its stack since the last merge
	 * into the arena's statistics. */
	uint64_t nrequests[TCACHE_NBINS_MAX];
	/* the stacks follow */
};

HM_EXTERN bool opt_tcache;
HM_EXTERN size_t opt_lg_tcache_max;
HM_EXTERN unsigned hm_tcache_nbins;   /* classes cached: [0, nbins) */

bool hm_tcache_boot(void);
/* The pool's lock, for the fork handlers. */
void hm_tcache_prefork(void);
void hm_tcache_postfork_parent(void);
void hm_tcache_postfork_child(void);

/* A cache for a thread bound to arena; NULL when out of memory. */
tcache_t *hm_tcache_create(arena_t *arena);
/* Flushes everything and gives the cache back to the pool. */
void hm_tcache_destroy(tcache_t *tc);
/* Flushes every bin (thread.tcache.flush), merging the statistics. */
void hm_tcache_flush_all(tcache_t *tc);
/* Adds the cache's request counts to its arena's statistics (done by
 * fills, flushes, at thread exit, before the cache changes arena, and by
 * the owning thread's "epoch"). */
void hm_tcache_stats_merge(tcache_t *tc);

/*
 * Explicit caches (tcache.create / flush / destroy, MALLOCX_TCACHE(n)):
 * numbered caches a program hands to mallocx and friends, one thread at
 * a time.  Indexes run below TCACHE_EXPLICIT_MAX (what the flag's field
 * holds).
 */
#define TCACHE_EXPLICIT_MAX 4094
/* Creates one bound to arena; false (EAGAIN) when none is left. */
bool hm_tcache_explicit_create(arena_t *arena, unsigned *ind);
/* The cache numbered ind, NULL if none. */
tcache_t *hm_tcache_explicit_get(unsigned ind);
/* Flushes (destroy: and frees) cache ind; false if there is none. */
bool hm_tcache_explicit_flush(unsigned ind, bool destroy);

/* Slow paths: the stack was empty / full, or the GC is due. */
void *hm_tcache_alloc_refill(tcache_t *tc, unsigned ind);
void hm_tcache_dalloc_flush(tcache_t *tc, unsigned ind, void *ptr);
void hm_tcache_gc_event(tcache_t *tc);
/* Called when a freed block carries the cached tag: aborts if it is in
 * this thread's cache, else returns. */
void hm_tcache_check_double_free(tcache_t *tc, unsigned ind, void *ptr);

/* A block of another arena, of cached class ind, freed by this thread. */
void hm_tcache_dalloc_remote(tcache_t *tc, unsigned ind, void *ptr);

static HM_ALWAYS_INLINE uintptr_t
tcache_chunk_tag(uintptr_t a) {
	return (a >> opt_lg_chunk)
	    ^ atomic_load_explicit(&hm_chunk_epoch, memory_order_relaxed);
}

static HM_ALWAYS_INLINE chunk_slot_t *
tcache_chunk_slot(tcache_t *tc, uintptr_t a) {
	return &tc->chunks[(a >> opt_lg_chunk) & (TCACHE_NCHUNKS - 1)];
}

/*
 * The arena chunk the slots remember for ptr, NULL if none.  A slot may
 * name a chunk unmapped since (should the epoch have wrapped), or, for an
 * address outside the radix tree's range, a chunk the address is not in:
 * callers check that the run they find spans ptr, and descriptors are
 * never unmapped, so reading a stale one is safe.
 */
static HM_ALWAYS_INLINE chunk_t *
tcache_chunk(tcache_t *tc, const void *ptr) {
	uintptr_t a = (uintptr_t)ptr;
	chunk_slot_t *slot = tcache_chunk_slot(tc, a);
	return slot->tag == tcache_chunk_tag(a) ? slot->chunk : NULL;
}

/* Remembers chunk for ptr, under tag: tcache_chunk_tag() read before
 * the chunk was looked up, or at any time while ptr is a live block of
 * the chunk (which cannot go away meanwhile, so no epoch passes unseen). */
static HM_ALWAYS_INLINE void
tcache_chunk_remember(tcache_t *tc, const void *ptr, uintptr_t tag,
    chunk_t *chunk) {
	chunk_slot_t *slot = tcache_chunk_slot(tc, (uintptr_t)ptr);
	slot->tag = tag;
	slot->chunk = chunk;
}

static HM_ALWAYS_INLINE uintptr_t
tcache_tag(const void *ptr) {
	return (uintptr_t)ptr ^ hm_secret;
}

/* Pops a block of class ind into *ret; false when the stack is empty. */
static HM_ALWAYS_INLINE bool
tcache_alloc(tcache_t *tc, size_t ind, void **ret) {
	cache_bin_t *bin = &tc->bins[ind];
	uint32_t n = bin->ncached;
	if (unlikely(n == 0))
		return false;
	n--;
	void *p = bin->stack[n];
	/* The tag goes with the block's free life: a tagged block is then
	 * always a free one (hm_block_tagged_fail, block.c). */
	if (config_fast_checks)
		*(uintptr_t *)p = 0;
	*ret = p;
	bin->ncached = n;
	if (unlikely(n < bin->low_water))
		bin->low_water = n;
	tc->nrequests[ind]++;
	return true;
}

/* Pushes a block of class ind; false when the array is full. */
static HM_ALWAYS_INLINE bool
tcache_dalloc(tcache_t *tc, size_t ind, void *ptr) {
	cache_bin_t *bin = &tc->bins[ind];
	uint32_t n = bin->ncached;
	if (unlikely(n == bin->ncached_lim))
		return false;
	if (config_fast_checks)
		*(uintptr_t *)ptr = tcache_tag(ptr);
	bin->stack[n] = ptr;
	bin->ncached = n + 1;
	return true;
}

/* Parks a block of another arena; false when the array is full. */
static HM_ALWAYS_INLINE bool
tcache_dalloc_remote(tcache_t *tc, size_t ind, void *ptr) {
	cache_bin_t *bin = &tc->bins[ind];
	uint32_t lim = bin->ncached_lim;
	if (unlikely(bin->ncached == lim))
		return false;
	if (config_fast_checks)
		*(uintptr_t *)ptr = tcache_tag(ptr);
	bin->stack[lim - 1] = ptr;
	bin->ncached_lim = lim - 1;
	return true;
}

#endif /* HM_TCACHE_H */
