/*
 * chunk.c: see chunk.h.  chunk_lock guards creating radix-tree leaves and
 * the descriptor pool; lookups take no lock.
 */
#include "chunk.h"

#include <errno.h>

#include "base.h"
#include "mutex.h"
#include "os.h"
#include "pages.h"

size_t opt_lg_chunk = 21;
size_t hm_chunksize;
uintptr_t hm_chunk_mask;
size_t hm_chunk_npages;

_Atomic(_Atomic(uintptr_t) *) *hm_rtree_root;
_Atomic uintptr_t hm_chunk_epoch;

static mutex_t chunk_lock;
static base_pool_t chunk_pool; /* chunk_t descriptors (chunk_lock) */
static _Atomic(char *) chunk_reserve; /* chunk.h */

bool
hm_chunk_boot(void) {
	hm_chunksize = (size_t)1 << opt_lg_chunk;
	hm_chunk_mask = hm_chunksize - 1;
	hm_chunk_npages = hm_chunksize >> LG_PAGE;
	chunk_pool.size = sizeof(chunk_t) + hm_chunk_npages * sizeof(void *);
	if (hm_mutex_init(&chunk_lock, LOCK_RANK_CHUNK, "chunk"))
		return true;
	/* The root is mapped, not touched: only the pages holding used
	 * entries ever become resident (metadata: never THP-advised). */
	size_t nroot = (size_t)1 << (RTREE_ADDR_BITS - RTREE_LG_KEY - RTREE_LG_LEAF);
	bool zeroed;
	hm_rtree_root = hm_pages_map_metadata(PAGE_CEILING(nroot * sizeof(void *)),
	    PAGE, &zeroed);
	if (hm_rtree_root == NULL)
		return true;
	/* Without room for it, hmalloc works without it. */
	atomic_store_explicit(&chunk_reserve, hm_pages_map(hm_chunksize,
	    hm_chunksize, DSS_DISABLED, &zeroed), memory_order_relaxed);
	return false;
}

/* The reserve, if it is there and the caller may have it. */
static char *
chunk_reserve_take(bool for_slab) {
	return for_slab ? atomic_exchange_explicit(&chunk_reserve, NULL,
	    memory_order_acquire) : NULL;
}

/* Keeps addr (a chunk nobody uses) as the reserve if there is none. */
static bool
chunk_reserve_fill(char *addr) {
	if (atomic_load_explicit(&chunk_reserve, memory_order_relaxed) != NULL)
		return false;
	/* Purged first: the reserve holds no memory, and reads as zero. */
	hm_os_purge(addr, hm_chunksize);
	char *none = NULL;
	return atomic_compare_exchange_strong_explicit(&chunk_reserve, &none,
	    addr, memory_order_release, memory_order_relaxed);
}

static bool
rtree_set_one(uintptr_t key, uintptr_t val) {
	_Atomic(_Atomic(uintptr_t) *) *slot = &hm_rtree_root[key >> RTREE_LG_LEAF];
	_Atomic(uintptr_t) *leaf = atomic_load_explicit(slot, memory_order_acquire);
	if (leaf == NULL) {
		mutex_lock(&chunk_lock);
		leaf = atomic_load_explicit(slot, memory_order_relaxed);
		if (leaf == NULL) {
			leaf = hm_base_alloc(sizeof(uintptr_t) << RTREE_LG_LEAF);
			if (leaf == NULL) {
				mutex_unlock(&chunk_lock);
				return false;
			}
			atomic_store_explicit(slot, leaf, memory_order_release);
		}
		mutex_unlock(&chunk_lock);
	}
	atomic_store_explicit(&leaf[key & (((uintptr_t)1 << RTREE_LG_LEAF) - 1)],
	    val, memory_order_release);
	return true;
}

bool
hm_rtree_set(const void *addr, size_t size, uintptr_t val) {
	uintptr_t key = (uintptr_t)addr >> RTREE_LG_KEY;
	uintptr_t end = key + (size >> RTREE_LG_KEY);
	for (; key < end; key++) {
		if (!rtree_set_one(key, val))
			return false;
	}
	return true;
}

/* Gives a chunk's range back where it came from. */
static void
chunk_unmap(chunk_t *chunk) {
	if (chunk->hooks != NULL)
		hm_ehooks_dalloc(chunk->eh, chunk->hooks, chunk->addr,
		    hm_chunksize);
	else if (hm_os_in_dss(chunk->addr) || !chunk_reserve_fill(chunk->addr))
		hm_pages_unmap(chunk->addr, hm_chunksize);
}

chunk_t *
hm_chunk_alloc(struct arena_s *arena, ehooks_t *eh, unsigned dss,
    bool for_slab, bool *zeroed) {
	mutex_lock(&chunk_lock);
	chunk_t *chunk = hm_base_pool_get(&chunk_pool);
	mutex_unlock(&chunk_lock);
	if (chunk == NULL)
		return NULL;
	ehooks_table_t *hooks = ehooks_get(eh);
	char *addr;
	if (hooks != NULL) {
		addr = hm_ehooks_alloc(eh, hooks, hm_chunksize, hm_chunksize,
		    zeroed);
	} else {
		addr = hm_pages_map(hm_chunksize, hm_chunksize, dss, zeroed);
		if (addr == NULL) {
			addr = chunk_reserve_take(for_slab);
			*zeroed = true;
		}
	}
	if (addr == NULL)
		goto fail;
	chunk->arena = arena;
	chunk->addr = addr;
	chunk->hooks = hooks;
	chunk->eh = eh;
	if (!hm_rtree_set(addr, hm_chunksize, (uintptr_t)chunk)) {
		hm_rtree_set(addr, hm_chunksize, 0);
		if (hooks != NULL)
			hm_ehooks_dalloc(eh, hooks, addr, hm_chunksize);
		else
			hm_pages_unmap(addr, hm_chunksize);
		goto fail;
	}
	return chunk;
fail:
	mutex_lock(&chunk_lock);
	hm_base_pool_put(&chunk_pool, chunk);
	mutex_unlock(&chunk_lock);
	errno = ENOMEM;
	return NULL;
}

void
hm_chunk_dalloc(chunk_t *chunk) {
	/* Before the range can be mapped again: a thread that finds a new
	 * block there must not take this chunk for its home. */
	atomic_fetch_add_explicit(&hm_chunk_epoch, CHUNK_EPOCH_STEP,
	    memory_order_seq_cst);
	hm_rtree_set(chunk->addr, hm_chunksize, 0);
	chunk_unmap(chunk);
	mutex_lock(&chunk_lock);
	hm_base_pool_put(&chunk_pool, chunk);
	mutex_unlock(&chunk_lock);
}

void
hm_chunk_prefork(void) {
	hm_mutex_prefork(&chunk_lock);
}

void
hm_chunk_postfork_parent(void) {
	hm_mutex_postfork_parent(&chunk_lock);
}

void
hm_chunk_postfork_child(void) {
	hm_mutex_postfork_child(&chunk_lock);
}
