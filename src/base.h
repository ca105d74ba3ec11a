/*
 * base.h: the metadata allocator.  Arena structures, chunk and run
 * descriptors and radix-tree leaves come from here, never from malloc: this
 * is what lets initialisation run before malloc works.  Memory is carved
 * from blocks mapped with pages.c and never given back; typed free lists
 * (base_pool_t) recycle fixed-size descriptors.
 */
#ifndef HM_BASE_H
#define HM_BASE_H

#include <stddef.h>

#include "mutex.h"

bool hm_base_boot(void);

/* Zero-filled, 16-byte aligned (or CACHELINE-aligned when size >= 64).
 * NULL with errno ENOMEM when the system refuses memory. */
void *hm_base_alloc(size_t size);

/* Bytes of metadata mapped, and of it allocated (for statistics). */
size_t hm_base_mapped(void);
size_t hm_base_allocated(void);

/*
 * A free list of equal-sized descriptors.  Not locked: the owner's lock
 * covers it (documented where each pool lives).
 */
typedef struct base_pool_s {
	void *free;   /* freed descriptors, linked through their first word */
	size_t size;  /* descriptor size in bytes */
} base_pool_t;

void *hm_base_pool_get(base_pool_t *pool);      /* zeroed, or NULL */
void hm_base_pool_put(base_pool_t *pool, void *p);

void hm_base_prefork(void);
void hm_base_postfork_parent(void);
void hm_base_postfork_child(void);

#endif /* HM_BASE_H */
