/*
 * arena.h: arenas, page runs and the dispatch of allocation by size.
 *
 * An arena owns chunks (chunk.h) and carves them into page runs (run_t):
 * free runs, slabs (bins of small regions, bin.c) and large runs (large.c).
 * Huge allocations (huge.c) are counted against an arena but live in
 * mappings of their own; their per-arena state is huge.c's (huge.h).
 *
 * Structures and their locks:
 *
 *   arena_t
 *    +- lock ............ chunks, avail[], dirty list, run states,
 *    |                    run descriptor pool, large statistics
 *    +- bins[SC_NBINS] .. bin_t, each with its own lock: slabcur, nonfull
 *                         list, slab bitmaps, bin statistics
 *
 *   chunk_t (out of band) .map[page] --> run_t (out of band)
 *
 * Free runs sit in avail[], one list per page-count class (the size classes
 * of sc.h counted in pages), a bitmap marking the non-empty lists: finding
 * the smallest fit is a bit scan.  A run's ndirty counts pages that may be
 * resident (touched since the last purge, an upper bound after splits);
 * runs with ndirty > 0 are also on the dirty list, oldest first, from which
 * decay (decay.h) purges them when they come of age.  A wholly free chunk
 * stays a free run until its purge, which unmaps it.
 */
#ifndef HM_ARENA_H
#define HM_ARENA_H

#include <stdatomic.h>
#include <sys/types.h>

#include "base.h"
#include "chunk.h"
#include "decay.h"
#include "ehooks.h"
#include "mutex.h"
#include "sc.h"
#include "util.h"

typedef enum {
	RUN_FREE = 0,
	RUN_LARGE = 1,
	RUN_SLAB = 2,
} run_state_t;

typedef struct run_s run_t;
struct run_s {
	char *addr;        /* first byte; immutable while not free */
	chunk_t *chunk;    /* immutable */
	uint32_t npages;   /* length in pages */
	uint32_t ndirty;   /* free run: pages possibly resident (arena lock) */
	uint8_t state;     /* run_state_t (arena lock) */
	uint8_t szind;     /* slab: bin index; large: size class index */
	uint16_t nfree;    /* slab: free regions (bin lock) */
	/* Slab geometry, copied here so that free validates a pointer from
	 * this cache line alone: ceil(2^32 / region size), and the bytes the
	 * regions span (0 unless a slab, so that no pointer passes for a
	 * region of another kind of run). */
	uint32_t recip;
	uint32_t limit;
	uint32_t nmuzzy;   /* free run: pages purged lazily (MADV_FREE),
			      possibly still resident (arena lock) */
	uint64_t dirty_ms;  /* free: when it joined its decay list */
	run_t *next;       /* free: avail list (arena lock); slab: nonfull */
	run_t *prev;       /*   list (bin lock) */
	run_t *dnext;      /* free, dirty or muzzy: the dirty list if */
	run_t *dprev;      /*   ndirty > 0, else the muzzy list */
	uint64_t bitmap[SLAB_MAXREGS / 64]; /* slab: bit set = region free */
	struct prof_sample_s *prof; /* large: the sample of a sampled block
				       (prof.h), else NULL */
	_Atomic uint8_t guard;  /* large: trailing inaccessible pages (the
				   guard option), not the program's */
};

/* Free-run lists: page-count classes up to a 1 GiB chunk. */
#define ARENA_NAVAIL 80
#define ARENA_AVAIL_WORDS ((ARENA_NAVAIL + 63) / 64)

typedef struct bin_s {
	mutex_t lock;
	run_t *slabcur;    /* slab allocations come from first */
	run_t *nonfull;    /* other slabs with a free region */
	/* Statistics (bin lock). */
	uint64_t nmalloc;  /* regions handed out, ever */
	uint64_t ndalloc;  /* regions freed, ever */
	uint64_t nrequests; /* allocations served, thread caches' included
			       once merged (tcache.h) */
	uint64_t nfills;   /* thread cache fills */
	uint64_t nflushes; /* thread cache flushes */
	uint64_t nslabs;   /* slabs created, ever */
	uint64_t nreslabs; /* times a non-full slab became current */
	size_t curslabs;   /* slabs now */
	uint64_t prng;     /* slab_random's state (secure.h) */
} __attribute__((aligned(CACHELINE))) bin_t;

/*
 * Counters per class above Small, Large and Huge alike (what jemalloc
 * calls large extents, "lextents"): index szind - SC_NBINS.  Entries of
 * Large classes change under the arena lock, Huge ones under the lock of
 * the arena's Huge state (huge.h).
 * A resize counts as a free of the old class and an allocation of the
 * new one.
 */
#define SC_NLEXTENTS (SC_NSIZES - SC_NBINS)
typedef struct lextent_stats_s {
	uint64_t nmalloc;
	uint64_t ndalloc;
	uint64_t nrequests;
} lextent_stats_t;

typedef struct huge_s huge_t;

typedef struct arena_s {
	unsigned ind;
	_Atomic unsigned nthreads;   /* threads bound to this arena */
	/* Where its chunks and huge blocks come from (its own lock; kept
	 * when the arena is recycled). */
	ehooks_t ehooks;

	mutex_t lock;
	chunk_t *chunks;             /* chunks mapped */
	size_t nchunks;
	run_t *avail[ARENA_NAVAIL];  /* free runs by page-count class */
	uint64_t avail_mask[ARENA_AVAIL_WORDS];
	run_t dirty;                 /* sentinel of the dirty list */
	run_t muzzy;                 /* sentinel of the muzzy list */
	size_t ndirty;               /* dirty pages in free runs */
	size_t nmuzzy;               /* muzzy pages in free runs */
	decay_t dirty_decay;         /* their decay curves (decay.h) */
	decay_t muzzy_decay;
	uint64_t decay_next_ms;      /* no pass is due before this */
	size_t nactive;              /* pages in slabs and large runs */
	uint64_t dirty_nmadvise;     /* purging madvise calls, ever: of */
	uint64_t muzzy_nmadvise;     /*   dirty runs, of muzzy runs */
	uint64_t dirty_purged;       /* pages those calls covered */
	uint64_t muzzy_purged;
	base_pool_t run_pool;        /* run_t descriptors */

	uint64_t birth_ms;           /* when created (stats uptime) */
	/* arena.<i>.dirty_decay_ms and arena.<i>.dss: from the options,
	 * changed by mallctl, read without a lock. */
	_Atomic ssize_t dirty_decay_ms;
	_Atomic ssize_t muzzy_decay_ms;
	_Atomic unsigned dss;
	lextent_stats_t lstats[SC_NLEXTENTS];
	struct arena_s *next_destroyed;  /* to recycle (arena.c) */
	bin_t bins[SC_NBINS];
} arena_t;

static inline ssize_t
arena_dirty_decay_ms(arena_t *arena) {
	return atomic_load_explicit(&arena->dirty_decay_ms,
	    memory_order_relaxed);
}

static inline ssize_t
arena_muzzy_decay_ms(arena_t *arena) {
	return atomic_load_explicit(&arena->muzzy_decay_ms,
	    memory_order_relaxed);
}

/* Counts an allocation (n = 1) or a free (n = -1) of class szind above
 * Small; the caller holds the entry's lock. */
static inline void
arena_lstats_count(arena_t *arena, unsigned szind, int n) {
	lextent_stats_t *ls = &arena->lstats[szind - SC_NBINS];
	if (n > 0) {
		ls->nmalloc++;
		ls->nrequests++;
	} else {
		ls->ndalloc++;
	}
}

/* Options. */
HM_EXTERN unsigned opt_narenas;        /* 0: 4 x CPUs at boot */
enum { PERCPU_DISABLED, PERCPU_PERCPU, PERCPU_PHYCPU };
HM_EXTERN unsigned opt_percpu_arena;   /* PERCPU_* */
HM_EXTERN const char *const hm_percpu_names[3];

/* Arena indexes in use: [0, hm_narenas_auto) automatic ones, which
 * threads are spread over, then those arenas.create made (manual). */
#define HM_ARENAS_MAX 4095
HM_EXTERN _Atomic unsigned hm_narenas;
HM_EXTERN unsigned hm_narenas_auto;
HM_EXTERN _Atomic(arena_t *) *hm_arenas;
/* arenas.dirty_decay_ms, arenas.muzzy_decay_ms: the settings arenas
 * start with. */
HM_EXTERN _Atomic ssize_t hm_arenas_dirty_decay_ms;
HM_EXTERN _Atomic ssize_t hm_arenas_muzzy_decay_ms;

bool hm_arena_boot(void);

/* The arena with index ind, created if create and absent.  NULL when it
 * does not exist (or could not be created). */
arena_t *hm_arena_get(unsigned ind, bool create);

/* The arena a new thread should use, the thread counted in its nthreads:
 * the one with fewest threads (an unused one created while every arena
 * has some), or with percpu_arena the current CPU's. */
arena_t *hm_arena_choose_new(void);

/* percpu_arena: the arena of the CPU the caller runs on (NULL when the
 * option is off or the arena cannot be created). */
arena_t *hm_arena_percpu(void);

/*
 * Runs.  Each takes the arena lock.  A run comes back with its map entries
 * set for its state (all pages of a slab; head and tail of a large run).
 * *zeroed says whether every byte of the run is known zero.
 */
run_t *hm_arena_slab_alloc(arena_t *arena, unsigned binind);
void hm_arena_slab_dalloc(arena_t *arena, run_t *slab);
run_t *hm_arena_large_alloc(arena_t *arena, size_t usize, size_t align,
    size_t guard, bool *zeroed);
/* The guard option's Large blocks: a run of usize + guard bytes comes
 * from hm_arena_large_alloc(..., guard, ...); the caller protects its
 * tail.  hm_arena_large_guard_take() reserves one of GUARD_LARGE_MAX (false
 * when none is left) and hm_arena_large_guard_give() returns one unused;
 * hm_arena_large_guard_drop() makes a run's guard ordinary memory again
 * and returns its reservation (once, whoever calls). */
bool hm_arena_large_guard_take(void);
void hm_arena_large_guard_give(void);
void hm_arena_large_guard_drop(run_t *run);
/* Frees the large run starting at ptr; false (nothing done) when run is
 * not a live large run starting there. */
bool hm_arena_large_dalloc(arena_t *arena, run_t *run, const void *ptr);
/* Resizes a large run in place to usize (a Large class); true on success.
 * *zeroed_tail: the bytes past the old size are known zero. */
bool hm_arena_large_resize(arena_t *arena, run_t *run, size_t usize,
    bool *zeroed_tail);

/* Discards every small and large allocation of the arena (arena.<i>.reset,
 * after the profiler's samples and the huge blocks, hm_huge_reset): no
 * thread may use one afterwards, nor hold one in a cache.  The caller
 * holds no arena lock. */
void hm_arena_reset(arena_t *arena);

/* arenas.create: a new manual arena (never chosen for threads), at the
 * lowest free index from hm_narenas_auto on; NULL when none is left. */
arena_t *hm_arena_create_manual(void);

/* arena.<i>.destroy: resets a manual arena and frees its index; false
 * (nothing done) when threads are bound to it or it is automatic. */
bool hm_arena_destroy(arena_t *arena);

/* Purges every dirty page of the arena's chunks now (the huge cache:
 * hm_huge_purge_all); returns pages purged. */
size_t hm_arena_purge_all(arena_t *arena);

/* Purges the arena's oldest dirty runs of 16 pages or more until at most
 * a quarter of its active pages (4 MiB at least) are dirty: for the Huge
 * allocator, before it maps a block for the arena, which no free run
 * could serve.  Returns pages purged. */
size_t hm_arena_purge_excess(arena_t *arena);

/* Purges the runs dirty for dirty_decay_ms at now; returns when the next
 * one comes of age (UINT64_MAX: none dirty, or decay off). */
uint64_t hm_arena_decay(arena_t *arena, uint64_t now);

/* The lock that creates and destroys arenas, for the fork handlers. */
void hm_arenas_prefork(void);
void hm_arenas_postfork_parent(void);
void hm_arenas_postfork_child(void);
void hm_arena_prefork(arena_t *arena);
void hm_arena_postfork_parent(arena_t *arena);
void hm_arena_postfork_child(arena_t *arena);

#endif /* HM_ARENA_H */
