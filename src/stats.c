/*
 * stats.c: see stats.h; the report is in stats_print.c.  Reading takes
 * each bin and arena lock in turn, so a report is consistent per
 * structure, not across the whole heap.
 */
#include "stats.h"

#include <string.h>

#include "arena.h"
#include "base.h"
#include "chunk.h"
#include "decay.h"
#include "huge.h"
#include "pages.h"
#include "san.h"

atomic_size_t hm_stats_zero_reallocs;

const char *const hm_arena_mutex_names[ARENA_NMUTEXES] = {"bins", "arena",
    "huge"};

void
hm_stats_mutex_read(const mutex_t *m, mutex_stats_t *out) {
	out->nlocks += atomic_load_explicit(&m->nlocks, memory_order_relaxed);
	out->nwaits += atomic_load_explicit(&m->nwaits, memory_order_relaxed);
}

/* Adds one class's counters above Small to the sums. */
static void
stats_lextent_add(arena_stats_t *out, unsigned j, const lextent_stats_t *ls) {
	lextent_stats_t *o = &out->lextents[j];
	o->nmalloc += ls->nmalloc;
	o->ndalloc += ls->ndalloc;
	o->nrequests += ls->nrequests;
	size_t bytes = (size_t)(ls->nmalloc - ls->ndalloc)
	    * hm_sc_size[SC_NBINS + j];
	out->large_nmalloc += ls->nmalloc;
	out->large_ndalloc += ls->ndalloc;
	out->large_nrequests += ls->nrequests;
	out->large_allocated += bytes;
	if (j >= hm_sc_nlarge) {
		out->huge_nmalloc += ls->nmalloc;
		out->huge_ndalloc += ls->ndalloc;
		out->huge_allocated += bytes;
	}
}

void
hm_stats_arena_read(unsigned ind, arena_stats_t *out) {
	arena_t *arena = hm_arena_get(ind, false);
	if (arena == NULL)
		return;
	out->nthreads += atomic_load_explicit(&arena->nthreads,
	    memory_order_relaxed);
	uint64_t now = hm_decay_now_ms();
	out->uptime_ns += (now - arena->birth_ms) * 1000000;
	out->dss = atomic_load_explicit(&arena->dss, memory_order_relaxed);
	out->dirty_decay_ms = arena_dirty_decay_ms(arena);
	out->muzzy_decay_ms = arena_muzzy_decay_ms(arena);
	for (unsigned i = 0; i < SC_NBINS; i++) {
		bin_t *bin = &arena->bins[i];
		bin_stats_t *b = &out->bins[i];
		mutex_lock(&bin->lock);
		size_t curregs = (size_t)(bin->nmalloc - bin->ndalloc);
		b->nmalloc += bin->nmalloc;
		b->ndalloc += bin->ndalloc;
		b->nrequests += bin->nrequests;
		b->nfills += bin->nfills;
		b->nflushes += bin->nflushes;
		b->nslabs += bin->nslabs;
		b->nreslabs += bin->nreslabs;
		b->curregs += curregs;
		b->curslabs += bin->curslabs;
		for (run_t *r = bin->nonfull; r != NULL; r = r->next)
			b->nonfull_slabs++;
		out->small_nmalloc += bin->nmalloc;
		out->small_ndalloc += bin->ndalloc;
		out->small_nrequests += bin->nrequests;
		out->small_nfills += bin->nfills;
		out->small_nflushes += bin->nflushes;
		mutex_unlock(&bin->lock);
		out->small_allocated += curregs * hm_sc_slab[i].size;
		hm_stats_mutex_read(&bin->lock, &out->mutexes[ARENA_MUTEX_BINS]);
	}
	hm_stats_mutex_read(&arena->lock, &out->mutexes[ARENA_MUTEX_ARENA]);
	/* Large classes' counters under the arena lock, Huge ones' under the
	 * lock of the arena's Huge state (arena.h). */
	mutex_lock(&arena->lock);
	out->pactive += arena->nactive;
	out->pdirty += arena->ndirty;
	out->mapped += arena->nchunks * hm_chunksize;
	out->pmuzzy += arena->nmuzzy;
	out->nmadvise += arena->dirty_nmadvise;
	out->npurged += arena->dirty_purged;
	out->muzzy_nmadvise += arena->muzzy_nmadvise;
	out->muzzy_purged += arena->muzzy_purged;
	for (unsigned j = 0; j < hm_sc_nlarge; j++)
		stats_lextent_add(out, j, &arena->lstats[j]);
	mutex_unlock(&arena->lock);
	lextent_stats_t ls[SC_NLEXTENTS];
	size_t huge_allocated, huge_cached;
	mutex_t *huge_lock;
	hm_huge_stats_read(arena, ls, &huge_allocated, &huge_cached,
	    &huge_lock);
	if (huge_lock == NULL)
		return;
	hm_stats_mutex_read(huge_lock, &out->mutexes[ARENA_MUTEX_HUGE]);
	for (unsigned j = hm_sc_nlarge; j < SC_NLEXTENTS; j++)
		stats_lextent_add(out, j, &ls[j - hm_sc_nlarge]);
	out->mapped += huge_allocated + huge_cached;
	out->huge_active += huge_allocated;
	out->pdirty += huge_cached >> LG_PAGE;
}

void
hm_stats_read(stats_t *out) {
	memset(out, 0, sizeof(*out));
	arena_stats_t as;
	size_t pactive = 0, pdirty = 0, huge = 0;
	for (unsigned i = 0; i < hm_narenas; i++) {
		memset(&as, 0, sizeof(as));
		hm_stats_arena_read(i, &as);
		out->allocated += as.small_allocated + as.large_allocated;
		out->mapped += as.mapped;
		pactive += as.pactive;
		/* Lazily purged pages stay resident until the kernel
		 * needs them: counted, as an upper bound. */
		pdirty += as.pdirty + as.pmuzzy;
		huge += as.huge_active;
	}
	/* Guarded blocks are no arena's: only their accessible pages count,
	 * the rest of the pool being address space alone. */
	size_t san_pages;
	hm_san_stats(&out->san_live, &out->san_allocated, &out->san_total,
	    &san_pages);
	out->allocated += out->san_allocated;
	out->mapped += san_pages << LG_PAGE;
	pactive += san_pages;
	out->active = (pactive << LG_PAGE) + huge;
	out->huge = huge;
	/* Metadata in use, as jemalloc counts it; all of base's mappings
	 * count as mapped, and so do the retained pool's node pages. */
	out->metadata = hm_base_allocated() + hm_pages_metadata_bytes();
	out->mapped += hm_base_mapped() + hm_pages_metadata_bytes();
	out->retained = hm_pages_retained_bytes();
	out->resident = out->active + (pdirty << LG_PAGE) + out->metadata;
	if (out->resident > out->mapped)
		out->resident = out->mapped;
}
