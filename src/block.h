/*
 * block.h: a block's metadata from its address, and every check a free
 * makes before it trusts a pointer, in order, with what each costs.
 *
 * The fast path (free_fast, alloc.h), for a Small block of a chunk the
 * thread freed into lately:
 *   1. the thread cache's chunk slot (tcache_chunk, tcache.h): ptr's chunk
 *      from a slot keyed by its chunk-aligned address and the chunk map's
 *      epoch; a TLS load, a shift, a load and a compare.  A miss fills the
 *      slot from the chunk map (2 dependent loads) and comes back;
 *   2. the page map (chunk_map_get, chunk.h): the run of ptr's page, one
 *      load; NULL is no block;
 *   3. the region start (slab_is_region_start, bin.h): a multiply by the
 *      slab's reciprocal and a compare; it fails for any run but a slab
 *      (their limit is 0), and rejects interior pointers with no
 *      division;
 *   4. the freed tag (tcache_tag, tcache.h): the first word against ptr
 *      xor the process secret, a load and a compare (config_fast_checks).
 * Anything else goes to the slow path, which checks everything again:
 *   5. the chunk map (block_lookup): 0 is not hmalloc's ("invalid free";
 *      hm_block_invalid tells a freed Large run at ptr, "double free"),
 *      unless ptr is in the guard pool (san.h), whose own slot says
 *      whether it starts a live guarded block (a freed one: "double free
 *      of a guarded block", with its stacks);
 *   6. the block's start: a huge descriptor's address, a RUN_LARGE run's
 *      first page, or a slab's region start (3);
 *   7. the freed tag (4), for Small and Large blocks: a match is a double
 *      free unless the program wrote that very word; the thread's caches
 *      and the slab's bitmap confirm it where they can
 *      (hm_block_tagged_fail), which aborts either way;
 *   8. a sized free's size against the block's class ("sized free with
 *      wrong size", alloc.c);
 *   9. with the hardening options (secure.h): the canary after a Small
 *      block's bytes (block_canary_intact), and a block that the
 *      quarantine still holds (hm_secure_check_parked);
 *  10. under the bin lock, the region's bit in the slab's bitmap (bin.c,
 *      a second free the tag missed); under the arena lock, a Large run's
 *      state (arena.c).
 * A failed check prints one line naming the problem and the address and
 * aborts (check.h).
 */
#ifndef HM_BLOCK_H
#define HM_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "bin.h"
#include "chunk.h"
#include "huge.h"
#include "prof.h"
#include "san.h"
#include "secure.h"
#include "tcache.h"
#include "util.h"
#include "vg.h"

/* What the chunk map (or the guard pool, san.h) says about a live block. */
typedef enum {
	BLOCK_SMALL,
	BLOCK_LARGE,
	BLOCK_HUGE,
	BLOCK_GUARDED
} block_kind_t;

typedef struct block_s {
	block_kind_t kind;
	arena_t *arena;
	run_t *run;      /* small, large */
	huge_t *huge;    /* huge */
	prof_sample_t *prof; /* a sampled block's record (prof.h) */
	size_t usize;    /* the class the program sees */
} block_t;

/*
 * Fills *b for ptr; false if ptr is not the start of a block hmalloc
 * handed out (as far as the metadata shows without taking a lock).
 */
static inline bool
block_lookup(const void *ptr, block_t *b) {
	vg_awake();
	uintptr_t v = rtree_get(ptr);
	b->run = NULL;
	b->huge = NULL;
	b->prof = NULL;
	if (unlikely(v == 0)) {
		/* The guard pool is never in the chunk map. */
		b->kind = BLOCK_GUARDED;
		return san_owns(ptr) && hm_san_lookup(ptr, &b->usize, &b->arena,
		    &b->prof);
	}
	if (v & RTREE_HUGE_TAG) {
		huge_t *h = huge_from_rtree(v);
		b->kind = BLOCK_HUGE;
		b->huge = h;
		b->arena = h->arena;
		b->usize = h->usize;
		b->prof = h->prof;
		return h->addr == (const char *)ptr;
	}
	chunk_t *chunk = (chunk_t *)v;
	run_t *run = chunk_map_get(chunk, chunk_page_index(chunk, ptr));
	if (unlikely(run == NULL))
		return false;
	b->run = run;
	b->arena = chunk->arena;
	if (run->state == RUN_SLAB) {
		b->kind = BLOCK_SMALL;
		b->usize = hm_sc_slab[run->szind].size;
		return slab_is_region_start(run, ptr);
	}
	b->kind = BLOCK_LARGE;
	b->usize = (size_t)(run->npages - atomic_load_explicit(&run->guard,
	    memory_order_relaxed)) << LG_PAGE;
	if (unlikely(run->prof != NULL)) {
		/* A sampled Small block is served by a Large run. */
		b->prof = run->prof;
		b->usize = hm_prof_usize(run->prof);
	}
	return run->state == RUN_LARGE && run->addr == (const char *)ptr;
}

/* What the program may use of a block of class usize: with canaries
 * (secure.h), a Small class keeps its last word. */
static inline size_t
usable(size_t usize) {
	if (likely(!opt_canary))
		return usize;
	return usize <= SC_SMALL_MAXCLASS ? usize - CANARY_SIZE : usize;
}

/* block_usable's other cases, out of line: Large and Huge blocks, and a
 * pointer that starts no block (aborts, naming what). */
size_t hm_block_usable_slow(const void *ptr, const char *what);

/*
 * Checks 5 and 6 alone, for malloc_usable_size and sallocx: the bytes
 * the program may use of the block starting at ptr, or an abort naming
 * what.  A Small block's answer is inline, with no frame, no store and no
 * branch for the canary (hm_canary_size); the rest is a tail call.
 */
static HM_ALWAYS_INLINE size_t
block_usable(const void *ptr, const char *what) {
	uintptr_t v = rtree_get(ptr);
	if (likely(v != 0 && !(v & RTREE_HUGE_TAG))) {
		chunk_t *chunk = (chunk_t *)v;
		run_t *run = chunk_map_get(chunk, chunk_page_index(chunk, ptr));
		/* The region check fails for any run but a slab. */
		if (likely(run != NULL && slab_is_region_start(run, ptr)))
			return hm_sc_size[run->szind] - hm_canary_size;
	}
	return hm_block_usable_slow(ptr, what);
}

/* Aborts for a pointer block_lookup refused: "double free" when it is the
 * start of a freed Large run, else what. */
HM_NORETURN HM_COLD void hm_block_invalid(const char *what, const void *ptr);

/* Check 7 failed: tells the double free apart where it can, and aborts. */
HM_NORETURN HM_COLD void hm_block_tagged_fail(void *ptr, const block_t *b,
    tcache_t *tc);

/* Check 7: tc is the cache the free goes to (or NULL). */
static inline void
block_check_tagged(void *ptr, const block_t *b, tcache_t *tc) {
	/* Valgrind builds cache nothing, so tag nothing; the word is the
	 * program's, maybe never written, which memcheck would report. */
	if (!config_valgrind && b->kind <= BLOCK_LARGE
	    && unlikely(*(uintptr_t *)ptr == tcache_tag(ptr)))
		hm_block_tagged_fail(ptr, b, tc);
}

/* Check 9: the canary after a Small block's usize - CANARY_SIZE bytes. */
static inline bool
block_canary_intact(const void *p, size_t usize) {
	uint64_t c;
	memcpy(&c, (const char *)p + usize - CANARY_SIZE, CANARY_SIZE);
	return c == secure_canary(p);
}

#endif /* HM_BLOCK_H */
