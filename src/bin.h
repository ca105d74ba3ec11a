/*
 * bin.h: the Small allocator.  Each arena has one bin per small size class;
 * a bin hands out regions from its current slab, then from other slabs
 * with free regions, then from a new slab its arena carves.  A slab's free
 * regions are the set bits of its bitmap; the lowest is taken first, which
 * keeps live objects packed at the front of the slab.
 *
 * Frees validate what the chunk map says under the bin lock: a pointer
 * that is not the start of a region is an invalid free, a region already
 * free is a double free.
 */
#ifndef HM_BIN_H
#define HM_BIN_H

#include "arena.h"

/* A region of class binind, or NULL with errno ENOMEM. */
void *hm_bin_alloc(arena_t *arena, unsigned binind);

/* Frees ptr, which the chunk map places in slab. */
void hm_bin_dalloc(arena_t *arena, run_t *slab, void *ptr);

#endif /* HM_BIN_H */
