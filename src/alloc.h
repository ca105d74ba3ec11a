/*
 * alloc.h: the allocation engine, under the entry points (api.c,
 * mallocx.c, glibc.c): the flow that takes a request to a block and a
 * block back to its arena, and the fast paths the entry points inline.
 *
 *   size --(sc.h)--> class --> the thread cache (tcache.h)
 *                          --> Small:  bin.c   hm_bin_alloc
 *                          --> Large:  large.c hm_large_alloc
 *                          --> Huge:   huge.c  hm_huge_alloc
 *   in the arena the calling thread is bound to (thread_arena, init.h).
 *
 * Frees find the block's metadata from its address (block.h, which lists
 * every check they make) and send it back to its own arena.
 */
#ifndef HM_ALLOC_H
#define HM_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

#include "background.h"
#include "block.h"
#include "decay.h"
#include "init.h"
#include "sc.h"
#include "secure.h"
#include "tcache.h"
#include "tls.h"
#include "util.h"
#include "vg.h"

/* Slow paths end here: start or wake the background thread if an arena
 * asked for it, now that no lock is held. */
static inline void
slow_path_done(void) {
	if (unlikely(atomic_load_explicit(&hm_decay_wanted,
	    memory_order_relaxed)))
		hm_background_poke();
}

/* The class for size bytes; with canaries, a Small block has room for
 * one after the program's bytes. */
static inline size_t
alloc_usize(size_t size, size_t align) {
	if (unlikely(opt_canary) && size <= SC_SMALL_MAXCLASS)
		size += CANARY_SIZE;
	return align <= QUANTUM ? sc_s2u(size) : sc_sa2u(size, align);
}

/* The thread's cache, for calls that did not come by the fast path. */
static inline tcache_t *
tsd_tcache(void) {
	return thread_arena() != NULL ? hm_tsd.tcache : NULL;
}

/*
 * A free after the metadata was hidden at exit (vg.c): announced only, the
 * block left out of use.  True if so.
 */
static inline bool
vg_exit_free(void *ptr) {
	(void)ptr;
	if (!config_valgrind || likely(!vg_hidden()))
		return false;
	vg_free(ptr);
	return true;
}

/*
 * The allocation flow: size bytes aligned to align (a power of two; 0 or
 * up to QUANTUM for none), zeroed if zero, from arena (the thread's when
 * NULL) through the cache tc (or none).  NULL with errno ENOMEM.
 */
void *hm_alloc(size_t size, size_t align, bool zero, arena_t *arena,
    tcache_t *tc);
/* realloc's flow: in place when the class allows, else move.  ptr is
 * checked (block.h); arena NULL for the thread's (and its cache). */
void *hm_alloc_realloc(void *ptr, size_t size, size_t align, bool zero,
    arena_t *arena);
/* Frees a block block_lookup() vouched for, through the cache tc. */
void hm_alloc_free(void *ptr, const block_t *b, tcache_t *tc);
/* Resizes b in place to usize (true on success); hm_alloc_resized then
 * tells the heap profiler, before the byte counters move. */
bool hm_alloc_resize_in_place(block_t *b, size_t usize, bool zero);
void hm_alloc_resized(void *p, block_t *b, size_t usize);
/* Gives back what every arena keeps for reuse; the pages given back. */
size_t hm_alloc_purge_all(void);
/*
 * experimental.batch_alloc: fills ptrs[0, num) with blocks as hm_alloc
 * would give them (size, align, zero, arena, tc as there), whole fresh
 * slabs first for a Small class when nothing asks for more than the
 * block (no canary, junk, zero option, profiler, slab_random, memcheck),
 * then one block at a time.  Returns how many were filled.
 */
size_t hm_alloc_batch(void **ptrs, size_t num, size_t size, size_t align,
    bool zero, arena_t *arena, tcache_t *tc);

/* The slow paths of malloc, free and the sized frees (api.c, mallocx.c):
 * out of line, so that the fast paths below make only tail calls. */
void *hm_alloc_malloc_slow(size_t size);
void hm_alloc_free_slow(void *ptr);
void hm_alloc_free_miss(void *ptr);
void hm_alloc_free_fast_remote(tcache_t *tc, arena_t *arena, unsigned ind,
    void *ptr);
void hm_alloc_free_sized_slow(void *ptr, size_t size, size_t align,
    tcache_t *tc);
void hm_alloc_free_sized_slow_thread(void *ptr, size_t size);
void hm_alloc_free_sized_miss(void *ptr, size_t size);

/*
 * malloc's fast path through the cache tc (NULL: none): a class from the
 * table and a pop from the thread cache, into *ret.  False for anything
 * else (no cache, a size past the table, an empty stack, a GC visit or
 * an allocation event due: tls.h).
 */
static HM_ALWAYS_INLINE bool
malloc_fast(tcache_t *tc, size_t size, void **ret) {
	if (likely(tc != NULL && size - 1 < SC_LOOKUP_MAX)
	    && likely(--tc->gc_ticker >= 0)) {
		size_t ind = hm_sc_lookup[(size - 1) >> LG_QUANTUM];
		uint64_t allocated = hm_tsd.allocated + tc->bins[ind].size;
		if (likely(allocated <= hm_tsd.event_next)
		    && likely(tcache_alloc(tc, ind, ret))) {
			hm_tsd.allocated = allocated;
			return true;
		}
	}
	return false;
}

/* What free_fast did: freed the block, or left it to a slow path. */
typedef enum { FREE_DONE, FREE_SLOW, FREE_MISS } free_fast_t;

/*
 * The free fast path through the cache tc (NULL: none): the cache's
 * chunk slot and the page's slab give the class; a region start of the
 * thread's own arena that does not carry the cached tag goes on the
 * cache's stack.  With sized,
 * want_ind is the class a sized free claims, which must be the block's.
 * FREE_MISS when no chunk slot knows ptr's chunk (the caller fills one
 * and comes back); FREE_SLOW for anything else (NULL, huge and large
 * blocks, a full stack, a GC visit due).
 */
static HM_ALWAYS_INLINE free_fast_t
free_fast(tcache_t *tc, void *ptr, bool sized, size_t want_ind) {
	if (unlikely(tc == NULL))
		return FREE_SLOW;
	chunk_t *chunk = tcache_chunk(tc, ptr);
	if (unlikely(chunk == NULL))
		return FREE_MISS;
	run_t *run = chunk_map_get(chunk, chunk_page_of(ptr));
	/* The region check is what vouches for ptr (the chunk slot may be
	 * stale: tcache_chunk); it fails for any run but a slab (run_t's
	 * limit). */
	if (unlikely(run == NULL
	    || (sized && want_ind != run->szind)
	    || !slab_is_region_start(run, ptr)
	    || (config_fast_checks && *(uintptr_t *)ptr == tcache_tag(ptr))
	    || --tc->gc_ticker < 0))
		return FREE_SLOW;
	/* A sized free's class needs no load. */
	size_t ind = sized ? want_ind : run->szind;
	if (likely(chunk->arena == tc->arena)
	    && likely(tcache_dalloc(tc, ind, ptr))) {
		hm_tsd.deallocated += tc->bins[ind].size;
		return FREE_DONE;
	}
	hm_alloc_free_fast_remote(tc, chunk->arena, ind, ptr);
	return FREE_DONE;
}

#endif /* HM_ALLOC_H */
