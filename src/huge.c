/*
 * huge.c: see huge.h.  The owning arena's huge_lock guards its huge list,
 * statistics and descriptor pool; system calls happen outside it.
 */
#include "huge.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "decay.h"
#include "os.h"
#include "pages.h"
#include "secure.h"
#include "vg.h"

/* A huge block is registered under the key of its first byte only. */
#define HUGE_KEY_SIZE ((size_t)1 << RTREE_LG_KEY)

/* Descriptors are shared by all arenas: the pool has its own lock. */
static base_pool_t huge_pool = {NULL, sizeof(huge_t)};
static mutex_t huge_pool_lock;

bool
hm_huge_boot(void) {
	return hm_mutex_init(&huge_pool_lock, LOCK_RANK_CHUNK, "huge_pool");
}

void
hm_huge_prefork(void) {
	hm_mutex_prefork(&huge_pool_lock);
}

void
hm_huge_postfork_parent(void) {
	hm_mutex_postfork_parent(&huge_pool_lock);
}

void
hm_huge_postfork_child(void) {
	hm_mutex_postfork_child(&huge_pool_lock);
}

static huge_t *
huge_desc_get(void) {
	mutex_lock(&huge_pool_lock);
	huge_t *h = hm_base_pool_get(&huge_pool);
	mutex_unlock(&huge_pool_lock);
	return h;
}

static void
huge_desc_put(huge_t *h) {
	mutex_lock(&huge_pool_lock);
	hm_base_pool_put(&huge_pool, h);
	mutex_unlock(&huge_pool_lock);
}

/*
 * Counts a huge block of usize in its class's statistics (n: 1 allocated,
 * -1 freed), under the lock that guards the entry: a block of a Large
 * class (one aligned beyond the chunk) shares it with Large runs, under
 * the arena lock (arena.h).  No arena lock is held by the caller.
 */
static void
huge_count(arena_t *arena, size_t usize, int n) {
	unsigned ind = sc_size2index(usize);
	mutex_t *lock = ind < SC_NBINS + hm_sc_nlarge ? &arena->lock
						       : &arena->huge_lock;
	mutex_lock(lock);
	arena_lstats_count(arena, ind, n);
	mutex_unlock(lock);
}

static void
huge_link(arena_t *arena, huge_t *h) {
	h->prof = NULL;
	mutex_lock(&arena->huge_lock);
	DLIST_PUSH(arena->huge, h);
	arena->huge_allocated += h->usize;
	mutex_unlock(&arena->huge_lock);
	huge_count(arena, h->usize, 1);
}

static void
huge_unlink(arena_t *arena, huge_t *h) {
	mutex_lock(&arena->huge_lock);
	DLIST_REMOVE(arena->huge, h);
	arena->huge_allocated -= h->usize;
	mutex_unlock(&arena->huge_lock);
	huge_count(arena, h->usize, -1);
}

static void
cache_remove(arena_t *arena, huge_t *h) {
	DLIST_REMOVE(arena->huge_cached, h);
	arena->huge_cached_bytes -= h->usize;
}

/* Puts h on the cache (the caller holds huge_lock; h->freed_ms set) and
 * counts it as dirty. */
static void
cache_insert(arena_t *arena, huge_t *h) {
	DLIST_PUSH(arena->huge_cached, h);
	arena->huge_cached_bytes += h->usize;
	hm_decay_dirty_added();
}

/*
 * A cached block for usize (aligned to align): the smallest that fits.  A
 * larger one is split: its tail stays cached, resident, for the next
 * request (aligned to HUGE_KEY_SIZE only; fresh mappings are
 * chunk-aligned), and is unmapped if no descriptor can be had for it.
 * NULL if none.
 */
static huge_t *
cache_take(arena_t *arena, size_t usize, size_t align) {
	huge_t *best = NULL;
	mutex_lock(&arena->huge_lock);
	for (huge_t *h = arena->huge_cached; h != NULL; h = h->next) {
		if (h->usize >= usize
		    && ((uintptr_t)h->addr & (align - 1)) == 0
		    && (best == NULL || h->usize < best->usize))
			best = h;
	}
	if (best != NULL)
		cache_remove(arena, best);
	mutex_unlock(&arena->huge_lock);
	if (best == NULL || best->usize == usize)
		return best;
	/* The tail starts on a key of its own: no two blocks ever start
	 * under one key (HUGE_KEY_SIZE).  Huge classes are multiples of
	 * it; a small block aligned beyond the chunk gives up the rest of
	 * its key. */
	size_t cut = ALIGN_UP(usize, HUGE_KEY_SIZE);
	huge_t *tail = cut < best->usize ? huge_desc_get() : NULL;
	if (tail == NULL) {
		hm_pages_unmap(best->addr + usize, best->usize - usize);
	} else {
		if (cut > usize)
			hm_pages_unmap(best->addr + usize, cut - usize);
		tail->addr = best->addr + cut;
		tail->usize = best->usize - cut;
		tail->arena = arena;
		tail->freed_ms = best->freed_ms;
		mutex_lock(&arena->huge_lock);
		cache_insert(arena, tail);
		mutex_unlock(&arena->huge_lock);
	}
	best->usize = usize;
	return best;
}

/*
 * Joins h, being cached, with the cached blocks either side of it: a
 * request larger than each of them fits then without a new mapping.  The
 * caller holds huge_lock; the descriptors freed are chained on *spare.
 */
static void
cache_coalesce(arena_t *arena, huge_t *h, huge_t **spare) {
	for (huge_t *c = arena->huge_cached, *next; c != NULL; c = next) {
		next = c->next;
		if (c->addr + c->usize == h->addr) {
			h->addr = c->addr;
		} else if (h->addr + h->usize != c->addr) {
			continue;
		}
		cache_remove(arena, c);
		h->usize += c->usize;
		c->next = *spare;
		*spare = c;
	}
}

/* Guarded huge blocks now (guard option): each splits its mapping in
 * two, so they are bounded well below the kernel's limit of mappings. */
static atomic_uint huge_nguards;

/* Unmaps and forgets a block (a cached one, taken off the cache). */
static void
cache_drop(huge_t *h) {
	if (h->guard != 0) {
		hm_os_unguard(h->addr + h->usize, h->guard);
		atomic_fetch_sub_explicit(&huge_nguards, 1,
		    memory_order_relaxed);
	}
	hm_pages_unmap(h->addr, h->usize + h->guard);
	huge_desc_put(h);
}

/*
 * A new mapping for a guarded block: usize and an inaccessible page after
 * it; *guard is PAGE, or 0 past GUARD_HUGE_MAX guards or if the kernel
 * refused one (the block is then an ordinary one).
 */
static char *
huge_map_guarded(size_t usize, size_t align, bool *zeroed, size_t *guard) {
	*guard = 0;
	if (atomic_fetch_add_explicit(&huge_nguards, 1, memory_order_relaxed)
	    >= GUARD_HUGE_MAX) {
		atomic_fetch_sub_explicit(&huge_nguards, 1,
		    memory_order_relaxed);
		return hm_pages_map(usize, align, DSS_DISABLED, zeroed);
	}
	char *addr = hm_pages_map(usize + PAGE, align, DSS_DISABLED, zeroed);
	if (addr != NULL && hm_os_guard(addr + usize, PAGE)) {
		*guard = PAGE;
		return addr;
	}
	atomic_fetch_sub_explicit(&huge_nguards, 1, memory_order_relaxed);
	if (addr != NULL)
		hm_pages_unmap(addr + usize, PAGE);
	return addr;
}

uint64_t
hm_huge_decay(arena_t *arena, uint64_t now, bool all) {
	huge_t *drop = NULL;
	uint64_t next = UINT64_MAX;
	ssize_t decay_ms = arena_dirty_decay_ms(arena);
	mutex_lock(&arena->huge_lock);
	size_t limit = SIZE_MAX;
	if (all || decay_ms == 0)
		limit = 0;
	else if (decay_ms > 0 && arena->huge_cached != NULL)
		limit = hm_decay_limit(&arena->huge_decay, now,
		    (uint64_t)decay_ms, arena->huge_cached_bytes >> LG_PAGE);
	size_t before = arena->huge_cached_bytes >> LG_PAGE;
	/* The oldest go first (the list is newest first, and short: the
	 * cache holds at most HUGE_CACHE_MAX). */
	while (arena->huge_cached != NULL
	    && (arena->huge_cached_bytes >> LG_PAGE) > limit) {
		huge_t *old = arena->huge_cached;
		while (old->next != NULL)
			old = old->next;
		cache_remove(arena, old);
		old->next = drop;
		drop = old;
	}
	hm_decay_purged(&arena->huge_decay,
	    before - (arena->huge_cached_bytes >> LG_PAGE));
	if (decay_ms > 0 && arena->huge_cached != NULL)
		next = decay_next_step(&arena->huge_decay);
	atomic_store_explicit(&arena->huge_decay_next_ms, next,
	    memory_order_relaxed);
	mutex_unlock(&arena->huge_lock);
	/* System calls outside the lock. */
	while (drop != NULL) {
		huge_t *n = drop->next;
		cache_drop(drop);
		drop = n;
	}
	return next;
}

void *
hm_huge_alloc(arena_t *arena, size_t usize, size_t align, bool zero) {
	/* Guarded blocks are never cached: the cache splits blocks. */
	huge_t *h = opt_guard ? NULL : cache_take(arena, usize,
	    align < PAGE ? PAGE : align);
	if (h != NULL) {
		if (!hm_rtree_set(h->addr, HUGE_KEY_SIZE,
		    (uintptr_t)h | RTREE_HUGE_TAG)) {
			cache_drop(h);
			errno = ENOMEM;
			return NULL;
		}
		/* Reused pages hold old data; fresh ones below are zero. */
		if (zero) {
			vg_undefined(h->addr, usize);
			memset(h->addr, 0, usize);
		}
		huge_link(arena, h);
		return h->addr;
	}
	h = huge_desc_get();
	if (h == NULL)
		return NULL;
	/* Fresh mappings are chunk-aligned: whole huge pages (opt.thp). */
	if (align < hm_chunksize)
		align = hm_chunksize;
	bool zeroed;
	size_t guard = 0;
	char *addr = opt_guard ? huge_map_guarded(usize, align, &zeroed, &guard)
			       : hm_pages_map(usize, align, DSS_DISABLED, &zeroed);
	if (addr == NULL) {
		huge_desc_put(h);
		return NULL;
	}
	h->addr = addr;
	h->usize = usize;
	h->arena = arena;
	h->guard = guard;
	if (!hm_rtree_set(addr, HUGE_KEY_SIZE, (uintptr_t)h | RTREE_HUGE_TAG)) {
		cache_drop(h);
		errno = ENOMEM;
		return NULL;
	}
	huge_link(arena, h);
	return addr;
}

void
hm_huge_dalloc(huge_t *h, void *ptr) {
	if (unlikely(h->addr != (char *)ptr))
		hm_check_fail("invalid free", ptr);
	arena_t *arena = h->arena;
	huge_unlink(arena, h);
	/* Unregistered even while cached: a second free is an invalid one. */
	hm_rtree_set(h->addr, HUGE_KEY_SIZE, 0);
	ssize_t decay_ms = arena_dirty_decay_ms(arena);
	if (decay_ms == 0 || h->usize > HUGE_CACHE_MAX_BLOCK || h->guard != 0
	    || hm_pages_limited()) {
		cache_drop(h);
		return;
	}
	h->freed_ms = hm_decay_now_ms();
	huge_t *evict = NULL;
	mutex_lock(&arena->huge_lock);
	hm_decay_note(&arena->huge_decay, h->usize >> LG_PAGE, h->freed_ms);
	/* A pass at the next event sets the curve's next step. */
	if (decay_ms > 0)
		atomic_store_explicit(&arena->huge_decay_next_ms, h->freed_ms,
		    memory_order_relaxed);
	huge_t *spare = NULL;
	cache_coalesce(arena, h, &spare);
	cache_insert(arena, h);
	/* Over the cap: the oldest go. */
	while (arena->huge_cached_bytes > HUGE_CACHE_MAX) {
		huge_t *old = arena->huge_cached;
		while (old->next != NULL)
			old = old->next;
		cache_remove(arena, old);
		old->next = evict;
		evict = old;
	}
	mutex_unlock(&arena->huge_lock);
	while (evict != NULL) {
		huge_t *n = evict->next;
		cache_drop(evict);
		evict = n;
	}
	while (spare != NULL) {
		huge_t *n = spare->next;
		huge_desc_put(spare);
		spare = n;
	}
}

void
hm_huge_reset(arena_t *arena) {
	hm_huge_decay(arena, 0, true);
	mutex_lock(&arena->huge_lock);
	huge_t *live = arena->huge;
	arena->huge = NULL;
	for (huge_t *h = live; h != NULL; h = h->next)
		arena->huge_allocated -= h->usize;
	mutex_unlock(&arena->huge_lock);
	while (live != NULL) {
		huge_t *n = live->next;
		huge_count(arena, live->usize, -1);
		hm_rtree_set(live->addr, HUGE_KEY_SIZE, 0);
		cache_drop(live);
		live = n;
	}
}

static void
huge_set_size(huge_t *h, size_t usize) {
	arena_t *arena = h->arena;
	size_t old = h->usize;
	mutex_lock(&arena->huge_lock);
	arena->huge_allocated += usize;
	arena->huge_allocated -= old;
	h->usize = usize;
	mutex_unlock(&arena->huge_lock);
	huge_count(arena, old, -1);
	huge_count(arena, usize, 1);
}

/* hm_pages_move's claim: the destination's chunk-map entry, made before the
 * block moves there (and taken back if the move fails after all). */
typedef struct huge_claim_s {
	huge_t *h;
	void *dest;
} huge_claim_t;

static bool
huge_claim(void *dest, void *arg) {
	huge_claim_t *c = arg;
	if (hm_rtree_set(dest, HUGE_KEY_SIZE, (uintptr_t)c->h | RTREE_HUGE_TAG)) {
		c->dest = dest;
		return true;
	}
	hm_rtree_set(dest, HUGE_KEY_SIZE, 0);
	return false;
}

void *
hm_huge_resize(huge_t *h, size_t usize, bool may_move, size_t align,
    bool zero) {
	size_t old = h->usize;
	if (usize == old)
		return h->addr;
	if (h->guard != 0) {
		/* Shrinks only, moving the guard down first; growth moves
		 * the block (by the caller: a new guarded block). */
		if (usize > old || !hm_os_guard(h->addr + usize, PAGE))
			return NULL;
		hm_os_unguard(h->addr + old, PAGE);
		hm_pages_unmap(h->addr + usize + PAGE, old - usize);
		huge_set_size(h, usize);
		return h->addr;
	}
	if (usize < old) {
		hm_pages_unmap(h->addr + usize, old - usize);
		huge_set_size(h, usize);
		return h->addr;
	}
	/* Pages the kernel adds (in place or by mremap) are fresh zeroes,
	 * so zero needs no clearing. */
	(void)zero;
	if (hm_pages_grow(h->addr, old, usize)) {
		huge_set_size(h, usize);
		return h->addr;
	}
	if (!may_move)
		return NULL;
	/* Unregister first: once mremap returns, another thread may map and
	 * register the old address.  The new one is registered before the
	 * move (huge_claim), where a failure still leaves the block as it
	 * was; the old one's entry cannot fail to come back (its radix-tree
	 * leaf exists). */
	hm_rtree_set(h->addr, HUGE_KEY_SIZE, 0);
	huge_claim_t claim = {h, NULL};
	char *addr = hm_pages_move(h->addr, old, usize,
	    align > hm_chunksize ? align : hm_chunksize, huge_claim, &claim);
	if (addr == NULL || addr == h->addr) {
		if (claim.dest != NULL)
			hm_rtree_set(claim.dest, HUGE_KEY_SIZE, 0);
		hm_rtree_set(h->addr, HUGE_KEY_SIZE, (uintptr_t)h | RTREE_HUGE_TAG);
		if (addr == NULL)
			return NULL;
	}
	h->addr = addr;
	huge_set_size(h, usize);
	return addr;
}

arena_t *
hm_huge_lookup(const void *ptr) {
	const char *p = ptr;
	for (unsigned i = 0; i < hm_narenas; i++) {
		arena_t *arena = hm_arena_get(i, false);
		if (arena == NULL)
			continue;
		bool found = false;
		mutex_lock(&arena->huge_lock);
		for (huge_t *h = arena->huge; h != NULL && !found; h = h->next)
			found = p >= h->addr && p < h->addr + h->usize;
		mutex_unlock(&arena->huge_lock);
		if (found)
			return arena;
	}
	return NULL;
}
