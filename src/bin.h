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

/* Aborts ("double free", "invalid free") unless ptr is a live region of
 * slab: a free's closer look at a block that carries a freed block's
 * tag (tcache.h). */
void hm_bin_check_live(arena_t *arena, run_t *slab, void *ptr);

/*
 * experimental.batch_alloc: fills ptrs with the regions of fresh slabs,
 * whole slabs only (at most n regions), each slab's in address order, as
 * jemalloc's batch does; returns how many (fewer when the arena has no
 * memory).  The slabs are full: they join the bin's lists at a free.
 */
size_t hm_bin_alloc_batch(arena_t *arena, unsigned binind, void **ptrs,
    size_t n);

/* Takes up to n regions of class binind from arena into out[], lowest
 * address last; returns how many (0: out of memory). One lock, under
 * which the cache's nrequests count since its last merge is added. */
unsigned hm_bin_fill(arena_t *arena, unsigned binind, void **out, unsigned n,
    uint64_t nrequests);

/* Frees n regions of class binind, from any arenas: one lock per arena
 * met.  ptrs[] is used as scratch. */
void hm_bin_flush(unsigned binind, void **ptrs, unsigned n);

/*
 * True if ptr is the start of a region of slab (no lock: a hint that the
 * locked paths confirm).  With off < limit <= 32 KiB and recip =
 * ceil(2^32 / size), the low half of off * recip is k * (recip * size -
 * 2^32) < limit when off = k * size, and at least 2^32 / size - limit >
 * 2^16 (or wrapped near 2^32) otherwise: one multiply, no division.
 */
static HM_ALWAYS_INLINE bool
slab_is_region_start(const run_t *slab, const void *ptr) {
	size_t off = (size_t)((const char *)ptr - slab->addr);
	return off < slab->limit
	    && (uint32_t)((uint64_t)off * slab->recip) < ((uint32_t)1 << 16);
}

#endif /* HM_BIN_H */
