/*
 * huge.h: the Huge allocator.  Each allocation is a mapping of its own,
 * aligned to the chunk size (or more), or a piece of a cached one,
 * registered in the chunk map under the key of its first byte.  A huge
 * block shrinks in place by unmapping its tail, grows in place when the
 * address space after it is free, and otherwise moves with mremap (no
 * copy): into a cached block that fits, whose pages give way, or to a new
 * chunk-aligned place.
 *
 * A freed huge block (up to HUGE_CACHE_MAX_BLOCK) is not unmapped at once:
 * it waits, unregistered from the chunk map, on its arena's cache for
 * dirty_decay_ms, joined with cached neighbours, and an allocation that
 * fits in it takes it back without a page fault, splitting it: the tail
 * stays cached.  Decay passes unmap what came of age.  An arena's cache
 * holds at most as many bytes as its live huge blocks, or HUGE_CACHE_MAX
 * if that is more: a program that replaces its large buffers keeps
 * finding room without page faults (a cap of its own would send every
 * block past it back to the kernel, to fault in again at the next
 * allocation), and huge memory stays within twice what is live.
 */
#ifndef HM_HUGE_H
#define HM_HUGE_H

#include "arena.h"
#include "decay.h"
#include "mutex.h"

struct huge_s {
	char *addr;          /* start: chunk-aligned when freshly mapped,
				else on a key (HUGE_KEY_SIZE) */
	size_t usize;        /* usable size: a size class, page multiple */
	arena_t *arena;      /* counted against this arena */
	huge_t *next;        /* arena's live or cached list (its lock) */
	huge_t *prev;
	uint64_t freed_ms;   /* cached: when it was freed */
	size_t guard;        /* bytes of guard after usize (guard option) */
	ehooks_table_t *hooks; /* the program's hooks it came from (never
				  cached, resized or guarded), or NULL */
	struct prof_sample_s *prof; /* the sample of a sampled block, or NULL */
};

/*
 * An arena's Huge state, apart from arena_t (arena.c knows nothing of
 * it), made with the arena's first huge block: hm_huge_arenas[arena->ind],
 * NULL before.  lock guards the lists and byte counts, and the Huge
 * classes' counters in arena->lstats (arena.h).
 */
typedef struct huge_arena_s {
	mutex_t lock;
	huge_t *live;                /* live huge allocations */
	size_t allocated;            /* their usable bytes */
	huge_t *cached;              /* freed, waiting for reuse; newest first */
	size_t cached_bytes;
	decay_t decay;               /* the cache's decay curve */
	/* When the oldest cached block comes of age (UINT64_MAX: nothing
	 * due); read without the lock by hm_huge_decay_event. */
	_Atomic uint64_t decay_next_ms;
} huge_arena_t;

HM_EXTERN _Atomic(huge_arena_t *) *hm_huge_arenas;

static inline huge_arena_t *
huge_arena(const arena_t *arena) {
	return atomic_load_explicit(&hm_huge_arenas[arena->ind],
	    memory_order_acquire);
}

/* The arena of the live huge block holding ptr, or NULL (a walk of every
 * arena's live list: for arenas.lookup). */
arena_t *hm_huge_lookup(const void *ptr);

static inline huge_t *
huge_from_rtree(uintptr_t v) {
	return (huge_t *)(v & ~RTREE_HUGE_TAG);
}

bool hm_huge_boot(void);
void hm_huge_prefork(void);
void hm_huge_postfork_parent(void);
void hm_huge_postfork_child(void);

#define HUGE_CACHE_MAX_BLOCK ((size_t)64 << 20)
#define HUGE_CACHE_MAX ((size_t)128 << 20)  /* the cap's floor, per arena */

/* Unmaps cached blocks freed before now - dirty_decay_ms (all of them with
 * all); returns when the next comes of age (UINT64_MAX: none). */
uint64_t hm_huge_decay(arena_t *arena, uint64_t now, bool all);

/* Unmaps every cached block; returns how many pages they held. */
size_t hm_huge_purge_all(arena_t *arena);

void hm_huge_decay_event_slow(arena_t *arena, uint64_t next);

/*
 * An event of the arena's own decay (a slab or a run went back to it,
 * bin.c and large.c): the huge cache ages with the same events, so that
 * it is given back without the background thread too.  One load when
 * nothing is cached.
 */
static inline void
huge_decay_event(arena_t *arena) {
	huge_arena_t *ha = huge_arena(arena);
	if (ha == NULL)
		return;
	uint64_t next = atomic_load_explicit(&ha->decay_next_ms,
	    memory_order_relaxed);
	if (unlikely(next != UINT64_MAX))
		hm_huge_decay_event_slow(arena, next);
}

/* Discards every huge block of the arena, live or cached
 * (arena.<i>.reset); destroy also clears its decay curve and its lock's
 * counters, for the next arena of its index (arena.<i>.destroy). */
void hm_huge_reset(arena_t *arena, bool destroy);

/* Statistics: the Huge classes' counters (copied into ls, SC_NLEXTENTS -
 * hm_sc_nlarge entries), the usable bytes of live blocks, the bytes
 * cached, and the lock (NULL: the arena never had a huge block; all zero). */
void hm_huge_stats_read(arena_t *arena, lextent_stats_t *ls,
    size_t *allocated, size_t *cached, mutex_t **lock);

/* usize is a Huge class (> hm_sc_large_maxclass).  NULL with errno ENOMEM
 * on failure. */

void *hm_huge_alloc(arena_t *arena, size_t usize, size_t align, bool zero);
void hm_huge_dalloc(huge_t *huge, void *ptr);

/*
 * Resizes to usize (a Huge class).  may_move: allowed to move (mremap),
 * to an address aligned to align (a power of two, or 0 for none asked);
 * returns the (possibly new) address, or NULL with the block untouched.
 * New bytes are zero when zero is set.
 */
void *hm_huge_resize(huge_t *huge, size_t usize, bool may_move,
    size_t align, bool zero);

#endif /* HM_HUGE_H */
