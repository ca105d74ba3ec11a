/*
 * huge.c: see huge.h.  The owning arena's huge_lock guards its huge list,
 * statistics and descriptor pool; system calls happen outside it.
 */
#include "huge.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "os.h"

/* A huge block is registered under the key of its first byte only. */
#define HUGE_KEY_SIZE ((size_t)1 << RTREE_LG_KEY)

/* Descriptors are shared by all arenas: the pool has its own lock. */
static base_pool_t huge_pool = {NULL, sizeof(huge_t)};
static mutex_t huge_pool_lock;

bool
hm_huge_boot(void) {
	return hm_mutex_init(&huge_pool_lock, LOCK_RANK_CHUNK);
}

void
hm_huge_prefork(void) {
	mutex_lock(&huge_pool_lock);
}

void
hm_huge_postfork_parent(void) {
	mutex_unlock(&huge_pool_lock);
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

static void
huge_link(arena_t *arena, huge_t *h) {
	mutex_lock(&arena->huge_lock);
	h->prev = NULL;
	h->next = arena->huge;
	if (h->next != NULL)
		h->next->prev = h;
	arena->huge = h;
	arena->huge_nmalloc++;
	arena->huge_allocated += h->usize;
	mutex_unlock(&arena->huge_lock);
}

static void
huge_unlink(arena_t *arena, huge_t *h) {
	mutex_lock(&arena->huge_lock);
	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		arena->huge = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	arena->huge_ndalloc++;
	arena->huge_allocated -= h->usize;
	mutex_unlock(&arena->huge_lock);
}

void *
hm_huge_alloc(arena_t *arena, size_t usize, size_t align, bool zero) {
	(void)zero; /* fresh mappings read as zero */
	if (align < hm_chunksize)
		align = hm_chunksize;
	huge_t *h = huge_desc_get();
	if (h == NULL)
		return NULL;
	bool zeroed;
	char *addr = hm_os_map(usize, align, false, &zeroed);
	if (addr == NULL) {
		huge_desc_put(h);
		return NULL;
	}
	h->addr = addr;
	h->usize = usize;
	h->arena = arena;
	if (!hm_rtree_set(addr, HUGE_KEY_SIZE, (uintptr_t)h | RTREE_HUGE_TAG)) {
		hm_os_unmap(addr, usize);
		huge_desc_put(h);
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
	huge_unlink(h->arena, h);
	hm_rtree_set(h->addr, HUGE_KEY_SIZE, 0);
	hm_os_unmap(h->addr, h->usize);
	huge_desc_put(h);
}

static void
huge_set_size(huge_t *h, size_t usize) {
	mutex_lock(&h->arena->huge_lock);
	h->arena->huge_allocated += usize;
	h->arena->huge_allocated -= h->usize;
	h->usize = usize;
	mutex_unlock(&h->arena->huge_lock);
}

void *
hm_huge_resize(huge_t *h, size_t usize, bool may_move, bool zero) {
	size_t old = h->usize;
	if (usize == old)
		return h->addr;
	if (usize < old) {
		hm_os_unmap(h->addr + usize, old - usize);
		huge_set_size(h, usize);
		return h->addr;
	}
	/* Pages the kernel adds (in place or by mremap) are fresh zeroes,
	 * so zero needs no clearing. */
	(void)zero;
	if (hm_os_grow_in_place(h->addr, old, usize)) {
		huge_set_size(h, usize);
		return h->addr;
	}
	if (!may_move)
		return NULL;
	/* Unregister first: once mremap returns, another thread may map and
	 * register the old address. */
	hm_rtree_set(h->addr, HUGE_KEY_SIZE, 0);
	char *addr = hm_os_move(h->addr, old, usize, hm_chunksize);
	if (addr == NULL) {
		hm_rtree_set(h->addr, HUGE_KEY_SIZE, (uintptr_t)h | RTREE_HUGE_TAG);
		return NULL;
	}
	h->addr = addr;
	if (!hm_rtree_set(addr, HUGE_KEY_SIZE, (uintptr_t)h | RTREE_HUGE_TAG))
		hm_check_fail("out of memory for the chunk map", addr);
	huge_set_size(h, usize);
	return addr;
}
