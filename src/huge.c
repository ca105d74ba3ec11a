/*
 * huge.c: see huge.h.  An arena's huge_arena_t lock guards its live and
 * cached lists and their byte counts; descriptors come from one pool with
 * a lock of its own; system calls happen outside both.
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

/* Each arena's Huge state by arena index, made with the arena's first
 * huge block (under huge_pool_lock) and never freed: a destroyed arena's
 * is reset, and serves the next arena of its index. */
_Atomic(huge_arena_t *) *hm_huge_arenas;

bool
hm_huge_boot(void) {
	if (hm_mutex_init(&huge_pool_lock, LOCK_RANK_CHUNK, "huge_pool"))
		return true;
	/* Room for every index: untouched pages cost nothing. */
	hm_huge_arenas = hm_base_alloc(sizeof(*hm_huge_arenas)
	    * HM_ARENAS_MAX);
	return hm_huge_arenas == NULL;
}

/* The arena's state, made if it has none yet; NULL without memory. */
static huge_arena_t *
huge_arena_make(arena_t *arena) {
	huge_arena_t *ha = huge_arena(arena);
	if (likely(ha != NULL))
		return ha;
	mutex_lock(&huge_pool_lock);
	ha = huge_arena(arena);
	if (ha == NULL) {
		ha = hm_base_alloc(sizeof(*ha));
		if (ha != NULL && !hm_mutex_init(&ha->lock, LOCK_RANK_HUGE,
		    NULL)) {
			atomic_store_explicit(&ha->decay_next_ms, UINT64_MAX,
			    memory_order_relaxed);
			atomic_store_explicit(&hm_huge_arenas[arena->ind], ha,
			    memory_order_release);
		} else {
			ha = NULL;
		}
	}
	mutex_unlock(&huge_pool_lock);
	return ha;
}

/*
 * The fork handlers: the pool's lock first, against its rank (the lock
 * order checks are off in the handlers), so that no arena's state is made
 * after the walk has passed its index; then every arena's.  No thread
 * holds an arena's Huge lock while it waits for the pool's, nor the
 * pool's while it waits for an arena's, so the order cannot deadlock.
 */
void
hm_huge_prefork(void) {
	hm_mutex_prefork(&huge_pool_lock);
	for (unsigned i = 0; i < hm_narenas; i++) {
		huge_arena_t *ha = atomic_load_explicit(&hm_huge_arenas[i],
		    memory_order_acquire);
		if (ha != NULL)
			hm_mutex_prefork(&ha->lock);
	}
}

void
hm_huge_postfork_parent(void) {
	for (unsigned i = 0; i < hm_narenas; i++) {
		huge_arena_t *ha = atomic_load_explicit(&hm_huge_arenas[i],
		    memory_order_relaxed);
		if (ha != NULL)
			hm_mutex_postfork_parent(&ha->lock);
	}
	hm_mutex_postfork_parent(&huge_pool_lock);
}

void
hm_huge_postfork_child(void) {
	for (unsigned i = 0; i < hm_narenas; i++) {
		huge_arena_t *ha = atomic_load_explicit(&hm_huge_arenas[i],
		    memory_order_relaxed);
		if (ha != NULL)
			hm_mutex_postfork_child(&ha->lock);
	}
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
						       : &huge_arena(arena)->lock;
	mutex_lock(lock);
	arena_lstats_count(arena, ind, n);
	mutex_unlock(lock);
}

static void
huge_link(arena_t *arena, huge_t *h) {
	huge_arena_t *ha = huge_arena(arena);
	h->prof = NULL;
	mutex_lock(&ha->lock);
	DLIST_PUSH(ha->live, h);
	ha->allocated += h->usize;
	mutex_unlock(&ha->lock);
	huge_count(arena, h->usize, 1);
}

static void
huge_unlink(arena_t *arena, huge_t *h) {
	huge_arena_t *ha = huge_arena(arena);
	mutex_lock(&ha->lock);
	DLIST_REMOVE(ha->live, h);
	ha->allocated -= h->usize;
	mutex_unlock(&ha->lock);
	huge_count(arena, h->usize, -1);
}

static void
cache_remove(huge_arena_t *ha, huge_t *h) {
	DLIST_REMOVE(ha->cached, h);
	ha->cached_bytes -= h->usize;
}

/* Puts h on the cache (the caller holds ha->lock; h->freed_ms set) and
 * counts it as dirty. */
static void
cache_insert(huge_arena_t *ha, huge_t *h) {
	DLIST_PUSH(ha->cached, h);
	ha->cached_bytes += h->usize;
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
	huge_arena_t *ha = huge_arena(arena);
	huge_t *best = NULL;
	mutex_lock(&ha->lock);
	for (huge_t *h = ha->cached; h != NULL; h = h->next) {
		if (h->usize >= usize
		    && ((uintptr_t)h->addr & (align - 1)) == 0
		    && (best == NULL || h->usize < best->usize))
			best = h;
	}
	if (best != NULL)
		cache_remove(ha, best);
	mutex_unlock(&ha->lock);
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
		tail->hooks = NULL;
		tail->freed_ms = best->freed_ms;
		mutex_lock(&ha->lock);
		cache_insert(ha, tail);
		mutex_unlock(&ha->lock);
	}
	best->usize = usize;
	return best;
}

/* Returns a block cache_take() gave out, unused, to the cache. */
static void
cache_put_back(arena_t *arena, huge_t *h) {
	huge_arena_t *ha = huge_arena(arena);
	mutex_lock(&ha->lock);
	cache_insert(ha, h);
	mutex_unlock(&ha->lock);
}

/*
 * Joins h, being cached, with the cached blocks either side of it: a
 * request larger than each of them fits then without a new mapping.  The
 * caller holds ha->lock; the descriptors freed are chained on *spare.
 */
static void
cache_coalesce(huge_arena_t *ha, huge_t *h, huge_t **spare) {
	for (huge_t *c = ha->cached, *next; c != NULL; c = next) {
		next = c->next;
		if (c->addr + c->usize == h->addr) {
			h->addr = c->addr;
		} else if (h->addr + h->usize != c->addr) {
			continue;
		}
		cache_remove(ha, c);
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
	if (h->hooks != NULL) {
		hm_ehooks_dalloc(&h->arena->ehooks, h->hooks, h->addr,
		    h->usize);
		huge_desc_put(h);
		return;
	}
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
	huge_arena_t *ha = huge_arena(arena);
	if (ha == NULL)
		return UINT64_MAX;
	huge_t *drop = NULL;
	uint64_t next = UINT64_MAX;
	ssize_t decay_ms = arena_dirty_decay_ms(arena);
	mutex_lock(&ha->lock);
	size_t limit = SIZE_MAX;
	if (all || decay_ms == 0)
		limit = 0;
	else if (decay_ms > 0 && ha->cached != NULL)
		limit = hm_decay_limit(&ha->decay, now, (uint64_t)decay_ms,
		    ha->cached_bytes >> LG_PAGE);
	size_t before = ha->cached_bytes >> LG_PAGE;
	/* The oldest go first (the list is newest first, and short: the
	 * cache holds at most HUGE_CACHE_MAX). */
	while (ha->cached != NULL && (ha->cached_bytes >> LG_PAGE) > limit) {
		huge_t *old = ha->cached;
		while (old->next != NULL)
			old = old->next;
		cache_remove(ha, old);
		old->next = drop;
		drop = old;
	}
	hm_decay_purged(&ha->decay, before - (ha->cached_bytes >> LG_PAGE));
	if (decay_ms > 0 && ha->cached != NULL)
		next = decay_next_step(&ha->decay);
	atomic_store_explicit(&ha->decay_next_ms, next, memory_order_relaxed);
	mutex_unlock(&ha->lock);
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
	if (unlikely(huge_arena_make(arena) == NULL))
		return NULL;
	/* Blocks of the program's hooks (ehooks.h) are asked of them each
	 * time; neither they nor guarded blocks are cached: the cache
	 * splits blocks. */
	ehooks_table_t *hooks = ehooks_get(&arena->ehooks);
	huge_t *h = opt_guard || hooks != NULL ? NULL : cache_take(arena,
	    usize, align < PAGE ? PAGE : align);
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
	/* Fresh mappings are chunk-aligned: whole huge pages (opt.thp), and
	 * no arena chunk shares a hooked block's first chunk-map key. */
	if (align < hm_chunksize)
		align = hm_chunksize;
	bool zeroed;
	size_t guard = 0;
	char *addr;
	/* The footprint grows: what the arena keeps beyond its share goes
	 * first (hm_arena_purge_excess). */
	hm_arena_purge_excess(arena);
	if (hooks != NULL)
		addr = hm_ehooks_alloc(&arena->ehooks, hooks, usize, align,
		    &zeroed);
	else if (opt_guard)
		addr = huge_map_guarded(usize, align, &zeroed, &guard);
	else
		addr = hm_pages_map(usize, align, DSS_DISABLED, &zeroed);
	if (addr == NULL) {
		huge_desc_put(h);
		return NULL;
	}
	h->addr = addr;
	h->usize = usize;
	h->arena = arena;
	h->guard = guard;
	h->hooks = hooks;
	if (!hm_rtree_set(addr, HUGE_KEY_SIZE, (uintptr_t)h | RTREE_HUGE_TAG)) {
		cache_drop(h);
		errno = ENOMEM;
		return NULL;
	}
	/* The kernel's fresh pages are zero; a hook's may not be. */
	if (zero && !zeroed)
		memset(addr, 0, usize);
	huge_link(arena, h);
	return addr;
}

void
hm_huge_dalloc(huge_t *h, void *ptr) {
	if (unlikely(h->addr != (char *)ptr))
		hm_check_fail("invalid free", ptr);
	arena_t *arena = h->arena;
	huge_arena_t *ha = huge_arena(arena);
	huge_unlink(arena, h);
	/* Unregistered even while cached: a second free is an invalid one. */
	hm_rtree_set(h->addr, HUGE_KEY_SIZE, 0);
	ssize_t decay_ms = arena_dirty_decay_ms(arena);
	if (decay_ms == 0 || h->usize > HUGE_CACHE_MAX_BLOCK || h->guard != 0
	    || h->hooks != NULL || hm_pages_limited()) {
		cache_drop(h);
		return;
	}
	h->freed_ms = hm_decay_now_ms();
	huge_t *evict = NULL;
	mutex_lock(&ha->lock);
	hm_decay_note(&ha->decay, h->usize >> LG_PAGE, h->freed_ms);
	/* A pass at the next event sets the curve's next step. */
	if (decay_ms > 0)
		atomic_store_explicit(&ha->decay_next_ms, h->freed_ms,
		    memory_order_relaxed);
	huge_t *spare = NULL;
	cache_coalesce(ha, h, &spare);
	cache_insert(ha, h);
	/* Over the cap, the arena's live huge bytes or HUGE_CACHE_MAX: the
	 * oldest go. */
	size_t cap = ha->allocated > HUGE_CACHE_MAX ? ha->allocated
						    : HUGE_CACHE_MAX;
	while (ha->cached_bytes > cap) {
		huge_t *old = ha->cached;
		while (old->next != NULL)
			old = old->next;
		cache_remove(ha, old);
		old->next = evict;
		evict = old;
	}
	mutex_unlock(&ha->lock);
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
hm_huge_reset(arena_t *arena, bool destroy) {
	huge_arena_t *ha = huge_arena(arena);
	if (ha == NULL)
		return;
	hm_huge_decay(arena, 0, true);
	mutex_lock(&ha->lock);
	huge_t *live = ha->live;
	ha->live = NULL;
	for (huge_t *h = live; h != NULL; h = h->next)
		ha->allocated -= h->usize;
	/* The next arena of this index starts afresh. */
	if (destroy) {
		memset(&ha->decay, 0, sizeof(ha->decay));
		hm_mutex_stats_clear(&ha->lock);
	}
	mutex_unlock(&ha->lock);
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
	huge_arena_t *ha = huge_arena(arena);
	size_t old = h->usize;
	mutex_lock(&ha->lock);
	ha->allocated += usize;
	ha->allocated -= old;
	h->usize = usize;
	mutex_unlock(&ha->lock);
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
	if (h->hooks != NULL)
		return NULL; /* no split or merge asked: the caller moves it */
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
	/* Into a cached block that fits, when there is one: its pages give
	 * way to the moved ones, where a fresh range would leave them
	 * resident beside the block (a buffer grown by realloc, again and
	 * again, over the blocks of its last growth). */
	huge_t *c = cache_take(h->arena, usize, align < PAGE ? PAGE : align);
	if (c == NULL)
		hm_arena_purge_excess(h->arena);
	char *addr = hm_pages_move(h->addr, old, usize,
	    align > hm_chunksize ? align : hm_chunksize,
	    c != NULL ? c->addr : NULL, huge_claim, &claim);
	if (addr == NULL || addr == h->addr) {
		if (claim.dest != NULL)
			hm_rtree_set(claim.dest, HUGE_KEY_SIZE, 0);
		hm_rtree_set(h->addr, HUGE_KEY_SIZE, (uintptr_t)h | RTREE_HUGE_TAG);
	}
	if (c != NULL) {
		/* Unused (the block grew in place, or claim failed): back on
		 * the cache; taken or unmapped by a failed move: forgotten. */
		if (addr == h->addr || (addr == NULL && claim.dest == NULL))
			cache_put_back(h->arena, c);
		else
			huge_desc_put(c);
	}
	if (addr == NULL)
		return NULL;
	h->addr = addr;
	huge_set_size(h, usize);
	return addr;
}

arena_t *
hm_huge_lookup(const void *ptr) {
	const char *p = ptr;
	for (unsigned i = 0; i < hm_narenas; i++) {
		arena_t *arena = hm_arena_get(i, false);
		huge_arena_t *ha = arena != NULL ? huge_arena(arena) : NULL;
		if (ha == NULL)
			continue;
		bool found = false;
		mutex_lock(&ha->lock);
		for (huge_t *h = ha->live; h != NULL && !found; h = h->next)
			found = p >= h->addr && p < h->addr + h->usize;
		mutex_unlock(&ha->lock);
		if (found)
			return arena;
	}
	return NULL;
}

size_t
hm_huge_purge_all(arena_t *arena) {
	huge_arena_t *ha = huge_arena(arena);
	if (ha == NULL)
		return 0;
	mutex_lock(&ha->lock);
	size_t n = ha->cached_bytes >> LG_PAGE;
	mutex_unlock(&ha->lock);
	hm_huge_decay(arena, 0, true);
	return n;
}

void
hm_huge_decay_event_slow(arena_t *arena, uint64_t next) {
	uint64_t now = hm_decay_now_ms();
	if (now >= next)
		hm_huge_decay(arena, now, false);
}

void
hm_huge_stats_read(arena_t *arena, lextent_stats_t *ls, size_t *allocated,
    size_t *cached, mutex_t **lock) {
	huge_arena_t *ha = huge_arena(arena);
	*allocated = *cached = 0;
	*lock = ha != NULL ? &ha->lock : NULL;
	if (ha == NULL)
		return;
	mutex_lock(&ha->lock);
	memcpy(ls, &arena->lstats[hm_sc_nlarge],
	    (SC_NLEXTENTS - hm_sc_nlarge) * sizeof(*ls));
	*allocated = ha->allocated;
	*cached = ha->cached_bytes;
	mutex_unlock(&ha->lock);
}
