/*
 * stats.h: statistics.  Counters live with the structures they count
 * (bins, arenas, base, os), under those structures' locks.  stats.c
 * gathers them into snapshots, which ctl.c takes at each mallctl "epoch";
 * stats_print.c formats the report malloc_stats_print() writes.
 */
#ifndef HM_STATS_H
#define HM_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "mutex.h"
#include "sc.h"

typedef struct bin_stats_s {
	uint64_t nmalloc, ndalloc, nrequests;
	uint64_t nfills, nflushes;
	uint64_t nslabs, nreslabs;
	size_t curregs;     /* regions in use (thread caches' included) */
	size_t curslabs;
	size_t nonfull_slabs;
} bin_stats_t;

typedef struct mutex_stats_s {
	uint64_t nlocks;   /* acquisitions */
	uint64_t nwaits;   /* of them, found the lock held */
} mutex_stats_t;

/* An arena's locks, as stats.arenas.<i>.mutexes.<name> reports them. */
enum { ARENA_MUTEX_BINS, ARENA_MUTEX_ARENA, ARENA_MUTEX_HUGE,
    ARENA_NMUTEXES };
HM_EXTERN const char *const hm_arena_mutex_names[ARENA_NMUTEXES];

/*
 * One arena's counters, or the sum of several.  "large" is every class
 * above Small: Large runs and Huge mappings, as jemalloc's large extents
 * (lextents[] is indexed by class - SC_NBINS); huge_* is the Huge part.
 */
typedef struct arena_stats_s {
	unsigned nthreads;
	uint64_t uptime_ns;
	unsigned dss;                 /* the last arena read's settings */
	ssize_t dirty_decay_ms;
	ssize_t muzzy_decay_ms;
	size_t pactive, pdirty;       /* pages */
	size_t mapped;                /* bytes: chunks + huge mappings */
	uint64_t nmadvise;            /* purging madvise calls, ever */
	size_t npurged;               /* pages purged, ever */
	size_t pmuzzy;                /* pages purged lazily, maybe resident */
	uint64_t muzzy_nmadvise;      /* the muzzy stage's purges */
	size_t muzzy_purged;
	size_t small_allocated;
	uint64_t small_nmalloc, small_ndalloc, small_nrequests;
	uint64_t small_nfills, small_nflushes;
	size_t large_allocated;
	uint64_t large_nmalloc, large_ndalloc, large_nrequests;
	size_t huge_allocated;
	uint64_t huge_nmalloc, huge_ndalloc;
	/* Bytes of huge mappings in use, those of Large classes (aligned
	 * beyond a chunk) included: active, but not in pactive. */
	size_t huge_active;
	bin_stats_t bins[SC_NBINS];
	lextent_stats_t lextents[SC_NLEXTENTS];
	mutex_stats_t mutexes[ARENA_NMUTEXES];
} arena_stats_t;

/* Adds a lock's counters to *out. */
void hm_stats_mutex_read(const mutex_t *m, mutex_stats_t *out);

/* realloc calls with size 0 (stats.zero_reallocs). */
HM_EXTERN atomic_size_t hm_stats_zero_reallocs;

typedef struct stats_s {
	size_t allocated;  /* bytes in live allocations (usable sizes) */
	size_t active;     /* bytes in pages holding live allocations */
	size_t metadata;   /* bytes of metadata in use */
	size_t resident;   /* upper bound on resident bytes */
	size_t mapped;     /* bytes mapped from the system */
	size_t retained;   /* bytes purged and kept mapped for reuse (pages.c) */
	size_t huge;       /* of active, bytes in live huge blocks */
	/* Sampled guarded blocks (san.h), counted in the figures above:
	 * live ones, their bytes, and how many there were in all. */
	size_t san_live;
	size_t san_allocated;
	uint64_t san_total;
} stats_t;

/* Adds arena ind's counters to *out (the arena must exist). */
void hm_stats_arena_read(unsigned ind, arena_stats_t *out);

/* Totals over all arenas. */
void hm_stats_read(stats_t *out);

/*
 * Writes the report (stats_print.c) through write_cb, or hm_write() when
 * it is NULL: text, or JSON with "J" in opts, laid out as jemalloc 5.3's.
 * destroyed: the counters of the arenas destroyed so far (ctl.c keeps the
 * sum), NULL while none was.  The caller holds the ctl lock; nothing here
 * allocates.
 */
void hm_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
    const char *opts, const arena_stats_t *destroyed);

#endif /* HM_STATS_H */
