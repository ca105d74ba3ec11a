/*
 * tcache.c: see tcache.h.  Nothing here runs under a lock but the pool's;
 * fills and flushes take the bin and arena locks of bin.c and arena.c.
 */
#include "tcache.h"

#include <errno.h>
#include <string.h>

#include "base.h"
#include "bin.h"
#include "check.h"
#include "chunk.h"
#include "large.h"
#include "vg.h"

bool opt_tcache = true;
size_t opt_lg_tcache_max = 15; /* 32 KiB, as jemalloc */
unsigned hm_tcache_nbins;

static mutex_t tcache_pool_lock;
static tcache_t *tcache_pool;     /* caches of exited threads */
static size_t tcache_size;        /* header and stacks */
static uint32_t tcache_nslots[TCACHE_NBINS_MAX];

#define TCACHE_NSLOTS_SMALL_MIN 20
#define TCACHE_NSLOTS_SMALL_MAX 200
#define TCACHE_SMALL_BYTES ((size_t)32 << 10)
/* What one bin may hold, in bytes, with at least TCACHE_NSLOTS_MIN
 * blocks; all that sizes the Large bins.  Twenty blocks of each class
 * from 4 to 32 KiB, 2 MiB a thread, sat in every thread's cache before
 * (thread_random's peak RSS: 10.3 MiB, 9.3 with it; realloc_growth 13.6
 * -> 11.8). */
#define TCACHE_BIN_BYTES ((size_t)64 << 10)
#define TCACHE_NSLOTS_MIN 2
/* A new cache's bin first fills an eighth of its stack, and each refill
 * twice the last, up to half, until the GC first visits it: a class a
 * thread uses a few blocks of does not take a hundred (and their slabs'
 * pages). */
#define TCACHE_LG_FILL_DIV_FIRST 3

bool
hm_tcache_boot(void) {
	if (hm_mutex_init(&tcache_pool_lock, LOCK_RANK_TCACHES, "tcaches"))
		return true;
	/* Fill patterns, zeroing and the quarantine are applied on the slow
	 * path: no caches then. */
	if (!opt_tcache || hm_junk_alloc || hm_junk_free || opt_zero
	    || hm_secure_free_hook || config_valgrind) {
		hm_tcache_nbins = 0;
		return false;
	}
	size_t max = (size_t)1 << opt_lg_tcache_max;
	if (max > hm_sc_large_maxclass)
		max = hm_sc_large_maxclass;
	if (max < SC_SMALL_MAXCLASS)
		max = SC_SMALL_MAXCLASS;
	unsigned nbins = sc_size2index(max) + 1;
	if (hm_sc_size[nbins - 1] > max)
		nbins--;
	hm_tcache_nbins = nbins;
	size_t nslots = 0;
	for (unsigned i = 0; i < nbins; i++) {
		uint32_t n = UINT32_MAX;
		if (i < SC_NBINS) {
			/* Two slabs' worth, or 32 KiB of blocks if more, so
			 * that batches of mid-sized blocks stay in the cache. */
			n = hm_sc_slab[i].nregs * 2;
			uint32_t by_bytes = (uint32_t)(TCACHE_SMALL_BYTES
			    / hm_sc_slab[i].size);
			if (n < by_bytes)
				n = by_bytes;
			if (n < TCACHE_NSLOTS_SMALL_MIN)
				n = TCACHE_NSLOTS_SMALL_MIN;
			if (n > TCACHE_NSLOTS_SMALL_MAX)
				n = TCACHE_NSLOTS_SMALL_MAX;
		}
		uint32_t cap = (uint32_t)(TCACHE_BIN_BYTES / hm_sc_size[i]);
		if (cap < TCACHE_NSLOTS_MIN)
			cap = TCACHE_NSLOTS_MIN;
		if (n > cap)
			n = cap;
		tcache_nslots[i] = n;
		nslots += n;
	}
	tcache_size = sizeof(tcache_t) + nslots * sizeof(void *);
	return false;
}

void
hm_tcache_prefork(void) {
	hm_mutex_prefork(&tcache_pool_lock);
}

void
hm_tcache_postfork_parent(void) {
	hm_mutex_postfork_parent(&tcache_pool_lock);
}

void
hm_tcache_postfork_child(void) {
	hm_mutex_postfork_child(&tcache_pool_lock);
}

tcache_t *
hm_tcache_create(arena_t *arena) {
	if (hm_tcache_nbins == 0)
		return NULL;
	mutex_lock(&tcache_pool_lock);
	tcache_t *tc = tcache_pool;
	if (tc != NULL)
		tcache_pool = tc->next;
	mutex_unlock(&tcache_pool_lock);
	if (tc == NULL) {
		tc = hm_base_alloc(tcache_size);
		if (tc == NULL)
			return NULL;
		void **slots = (void **)(tc + 1);
		for (unsigned i = 0; i < hm_tcache_nbins; i++) {
			tc->bins[i].stack = slots;
			tc->bins[i].ncached_max = tcache_nslots[i];
			tc->bins[i].ncached_lim = tcache_nslots[i];
			tc->bins[i].size = (uint32_t)hm_sc_size[i];
			slots += tcache_nslots[i];
		}
	}
	tc->next = NULL;
	tc->arena = arena;
	for (unsigned i = 0; i < hm_tcache_nbins; i++) {
		tc->bins[i].lg_fill_div = TCACHE_LG_FILL_DIV_FIRST;
		tc->bins[i].refilled = false;
		tc->bins[i].ramp = true;
	}
	/* Empty slots: should an address ever match the tag, the NULL
	 * chunk still sends free to its slow path. */
	for (unsigned i = 0; i < TCACHE_NCHUNKS; i++) {
		tc->chunks[i].tag = UINTPTR_MAX;
		tc->chunks[i].chunk = NULL;
	}
	tc->gc_ticker = TCACHE_GC_INTERVAL;
	tc->gc_bin = 0;
	return tc;
}

/* Gives back the n oldest blocks of bin ind (the bottom of the stack). */
static void
tcache_bin_flush(tcache_t *tc, unsigned ind, uint32_t n) {
	cache_bin_t *bin = &tc->bins[ind];
	if (n == 0)
		return;
	if (ind < SC_NBINS) {
		/* hm_bin_flush scribbles on stack[0, n): those slots are
		 * overwritten below anyway. */
		hm_bin_flush(ind, bin->stack, n);
	} else {
		for (uint32_t i = 0; i < n; i++) {
			void *ptr = bin->stack[i];
			chunk_t *chunk = (chunk_t *)rtree_get(ptr);
			run_t *run = chunk_map_get(chunk,
			    chunk_page_index(chunk, ptr));
			hm_large_dalloc(chunk->arena, run, ptr);
		}
	}
	bin->ncached -= n;
	memmove(bin->stack, bin->stack + n, bin->ncached * sizeof(void *));
	if (bin->low_water > bin->ncached)
		bin->low_water = bin->ncached;
}

/* Hands bin ind's parked blocks back to their arenas. */
static void
tcache_remote_flush(tcache_t *tc, unsigned ind) {
	cache_bin_t *bin = &tc->bins[ind];
	uint32_t n = cache_bin_nremote(bin);
	if (n == 0)
		return;
	void **parked = bin->stack + bin->ncached_lim;
	if (ind < SC_NBINS) {
		hm_bin_flush(ind, parked, n);
	} else {
		for (uint32_t i = 0; i < n; i++) {
			chunk_t *chunk = (chunk_t *)rtree_get(parked[i]);
			run_t *run = chunk_map_get(chunk,
			    chunk_page_index(chunk, parked[i]));
			hm_large_dalloc(chunk->arena, run, parked[i]);
		}
	}
	bin->ncached_lim = bin->ncached_max;
}

void
hm_tcache_dalloc_remote(tcache_t *tc, unsigned ind, void *ptr) {
	if (!tcache_dalloc_remote(tc, ind, ptr)) {
		tcache_remote_flush(tc, ind);
		if (!tcache_dalloc_remote(tc, ind, ptr)) {
			/* Own blocks fill the array: make room. */
			cache_bin_t *bin = &tc->bins[ind];
			tcache_bin_flush(tc, ind, bin->ncached / 2 + 1);
			tcache_dalloc_remote(tc, ind, ptr);
		}
	}
}

void
hm_tcache_stats_merge(tcache_t *tc) {
	arena_t *arena = tc->arena;
	unsigned n = hm_tcache_nbins < SC_NBINS ? hm_tcache_nbins : SC_NBINS;
	for (unsigned i = 0; i < n; i++) {
		if (tc->nrequests[i] == 0)
			continue;
		bin_t *bin = &arena->bins[i];
		mutex_lock(&bin->lock);
		bin->nrequests += tc->nrequests[i];
		mutex_unlock(&bin->lock);
		tc->nrequests[i] = 0;
	}
	if (hm_tcache_nbins <= SC_NBINS)
		return;
	mutex_lock(&arena->lock);
	for (unsigned i = SC_NBINS; i < hm_tcache_nbins; i++) {
		arena->lstats[i - SC_NBINS].nrequests += tc->nrequests[i];
		tc->nrequests[i] = 0;
	}
	mutex_unlock(&arena->lock);
}

void
hm_tcache_flush_all(tcache_t *tc) {
	for (unsigned i = 0; i < hm_tcache_nbins; i++) {
		tcache_bin_flush(tc, i, tc->bins[i].ncached);
		tcache_remote_flush(tc, i);
	}
	hm_tcache_stats_merge(tc);
}

void
hm_tcache_destroy(tcache_t *tc) {
	hm_tcache_flush_all(tc);
	mutex_lock(&tcache_pool_lock);
	tc->next = tcache_pool;
	tcache_pool = tc;
	mutex_unlock(&tcache_pool_lock);
}

static _Atomic(tcache_t *) tcache_explicit[TCACHE_EXPLICIT_MAX];

bool
hm_tcache_explicit_create(arena_t *arena, unsigned *ind) {
	tcache_t *tc = hm_tcache_create(arena);
	if (tc == NULL)
		return false;
	mutex_lock(&tcache_pool_lock);
	unsigned i = 0;
	while (i < TCACHE_EXPLICIT_MAX && atomic_load_explicit(
	    &tcache_explicit[i], memory_order_relaxed) != NULL)
		i++;
	if (i < TCACHE_EXPLICIT_MAX)
		atomic_store_explicit(&tcache_explicit[i], tc,
		    memory_order_release);
	mutex_unlock(&tcache_pool_lock);
	if (i == TCACHE_EXPLICIT_MAX) {
		hm_tcache_destroy(tc);
		return false;
	}
	*ind = i;
	return true;
}

tcache_t *
hm_tcache_explicit_get(unsigned ind) {
	if (ind >= TCACHE_EXPLICIT_MAX)
		return NULL;
	return atomic_load_explicit(&tcache_explicit[ind], memory_order_acquire);
}

bool
hm_tcache_explicit_flush(unsigned ind, bool destroy) {
	tcache_t *tc = hm_tcache_explicit_get(ind);
	if (tc == NULL)
		return false;
	if (destroy) {
		atomic_store_explicit(&tcache_explicit[ind], NULL,
		    memory_order_relaxed);
		hm_tcache_destroy(tc);
	} else {
		hm_tcache_flush_all(tc);
	}
	return true;
}

void *
hm_tcache_alloc_refill(tcache_t *tc, unsigned ind) {
	if (tc->gc_ticker < 0)
		hm_tcache_gc_event(tc);
	cache_bin_t *bin = &tc->bins[ind];
	if (ind >= SC_NBINS) {
		/* Large: one run at a time; frees fill the stack. */
		return hm_large_alloc(tc->arena, hm_sc_size[ind], PAGE, false);
	}
	bin->refilled = true;
	uint32_t want = bin->ncached_max >> bin->lg_fill_div;
	/* Emptied again before the GC first saw the bin: the next fill is
	 * twice this one, up to half the stack.  After that the GC sizes
	 * the fills: refills undoing its shrinking kept larson32's 32
	 * threads' caches full (peak RSS +12 %). */
	if (bin->ramp && bin->lg_fill_div > 1)
		bin->lg_fill_div--;
	if (want == 0)
		want = 1;
	/* When enough blocks of other arenas are parked (a thread freeing
	 * much of what others allocated), the refill takes them rather than
	 * going to the bin lock.  A few are not reused: they may sit in
	 * cache lines another thread writes; but when they fill the array
	 * (a stack shorter than TCACHE_REMOTE_REUSE), a fill would have no
	 * room, so they are taken whatever their number. */
	unsigned n;
	if (cache_bin_nremote(bin) >= TCACHE_REMOTE_REUSE
	    || bin->ncached_lim == 0) {
		n = cache_bin_nremote(bin);
		memmove(bin->stack, bin->stack + bin->ncached_lim,
		    n * sizeof(void *));
		bin->ncached_lim = bin->ncached_max;
	} else {
		if (want > bin->ncached_lim)
			want = bin->ncached_lim;
		n = hm_bin_fill(tc->arena, ind, bin->stack, want,
		    tc->nrequests[ind]);
		tc->nrequests[ind] = 0;
	}
	if (n == 0) {
		errno = ENOMEM;
		return NULL;
	}
	bin->ncached = n - 1;
	bin->low_water = bin->ncached;
	tc->nrequests[ind]++;
	return bin->stack[n - 1];
}

void
hm_tcache_dalloc_flush(tcache_t *tc, unsigned ind, void *ptr) {
	cache_bin_t *bin = &tc->bins[ind];
	/* Parked blocks go home first; then the older half of our own. */
	tcache_remote_flush(tc, ind);
	if (bin->ncached == bin->ncached_lim)
		tcache_bin_flush(tc, ind, bin->ncached / 2 + (bin->ncached & 1));
	tcache_dalloc(tc, ind, ptr);
}

void
hm_tcache_gc_event(tcache_t *tc) {
	tc->gc_ticker = TCACHE_GC_INTERVAL;
	tcache_remote_flush(tc, tc->gc_bin);
	cache_bin_t *bin = &tc->bins[tc->gc_bin];
	/* What the bin did not need since the last visit, mostly. */
	if (bin->low_water > 0) {
		uint32_t n = bin->low_water - bin->low_water / 4;
		tcache_bin_flush(tc, tc->gc_bin, n);
		if ((bin->ncached_max >> (bin->lg_fill_div + 1)) > 0)
			bin->lg_fill_div++;
	} else if (bin->refilled) {
		/* In use again: fills go back to half a stack at once. */
		bin->lg_fill_div = 1;
	}
	bin->refilled = false;
	bin->ramp = false;
	bin->low_water = bin->ncached;
	if (++tc->gc_bin >= hm_tcache_nbins)
		tc->gc_bin = 0;
}

void
hm_tcache_check_double_free(tcache_t *tc, unsigned ind, void *ptr) {
	cache_bin_t *bin = &tc->bins[ind];
	for (uint32_t i = 0; i < bin->ncached; i++) {
		if (bin->stack[i] == ptr)
			hm_check_fail("double free", ptr);
	}
	for (uint32_t i = bin->ncached_lim; i < bin->ncached_max; i++) {
		if (bin->stack[i] == ptr)
			hm_check_fail("double free", ptr);
	}
}
