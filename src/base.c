/*
 * base.c: see base.h.  A bump allocator over 256 KiB blocks (bigger for
 * bigger requests); the remainder of a block that cannot fit a request is
 * abandoned, which wastes at most one request's size per block.
 */
#include "base.h"

#include <errno.h>
#include <string.h>

#include "os.h"
#include "util.h"

#define BASE_BLOCK ((size_t)256 << 10)

static mutex_t base_lock;
static char *base_next;   /* next free byte in the current block */
static char *base_end;    /* end of the current block */
static size_t base_mapped_bytes;
static size_t base_allocated_bytes;

bool
hm_base_boot(void) {
	return hm_mutex_init(&base_lock, LOCK_RANK_BASE, "base");
}

void *
hm_base_alloc(size_t size) {
	size_t align = size >= CACHELINE ? CACHELINE : QUANTUM;
	size = ALIGN_UP(size, align);
	mutex_lock(&base_lock);
	char *p = (char *)ALIGN_UP((uintptr_t)base_next, align);
	if (base_next == NULL || p + size > base_end) {
		size_t block = size > BASE_BLOCK ? PAGE_CEILING(size) : BASE_BLOCK;
		bool zeroed;
		char *b = hm_os_map(block, PAGE, DSS_DISABLED, &zeroed);
		if (b == NULL) {
			mutex_unlock(&base_lock);
			errno = ENOMEM;
			return NULL;
		}
		if (!zeroed)
			memset(b, 0, block);
		base_mapped_bytes += block;
		if (size > BASE_BLOCK) {
			/* A block of its own; keep bump-allocating from the
			 * current one. */
			base_allocated_bytes += size;
			mutex_unlock(&base_lock);
			return b;
		}
		base_next = b;
		base_end = b + block;
		p = b;
	}
	base_next = p + size;
	base_allocated_bytes += size;
	mutex_unlock(&base_lock);
	return p;
}

size_t
hm_base_mapped(void) {
	mutex_lock(&base_lock);
	size_t n = base_mapped_bytes;
	mutex_unlock(&base_lock);
	return n;
}

size_t
hm_base_allocated(void) {
	mutex_lock(&base_lock);
	size_t n = base_allocated_bytes;
	mutex_unlock(&base_lock);
	return n;
}

void *
hm_base_pool_get(base_pool_t *pool) {
	void *p = pool->free;
	if (p != NULL) {
		pool->free = *(void **)p;
		memset(p, 0, pool->size);
		return p;
	}
	return hm_base_alloc(pool->size);
}

void
hm_base_pool_put(base_pool_t *pool, void *p) {
	*(void **)p = pool->free;
	pool->free = p;
}

void
hm_base_prefork(void) {
	mutex_lock(&base_lock);
}

void
hm_base_postfork_parent(void) {
	mutex_unlock(&base_lock);
}

void
hm_base_postfork_child(void) {
	hm_mutex_postfork_child(&base_lock);
}
