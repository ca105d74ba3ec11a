/*
 * stats.c: see stats.h.  Reading takes each bin and arena lock in turn, so
 * a report is consistent per structure, not across the whole heap.
 */
#include "stats.h"

#include <stdarg.h>
#include <string.h>

#include <hmalloc.h>

#include "arena.h"
#include "base.h"
#include "chunk.h"
#include "conf.h"
#include "decay.h"
#include "huge.h"
#include "init.h"
#include "log.h"
#include "os.h"

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
	hm_stats_mutex_read(&arena->huge_lock, &out->mutexes[ARENA_MUTEX_HUGE]);
	/* Large classes' counters under the arena lock, Huge ones' under
	 * huge_lock (arena.h). */
	mutex_lock(&arena->lock);
	out->pactive += arena->nactive;
	out->pdirty += arena->ndirty;
	out->mapped += arena->nchunks * hm_chunksize;
	out->nmadvise += arena->npurge;
	out->npurged += arena->npurged;
	for (unsigned j = 0; j < hm_sc_nlarge; j++)
		stats_lextent_add(out, j, &arena->lstats[j]);
	mutex_unlock(&arena->lock);
	mutex_lock(&arena->huge_lock);
	for (unsigned j = hm_sc_nlarge; j < SC_NLEXTENTS; j++)
		stats_lextent_add(out, j, &arena->lstats[j]);
	out->mapped += arena->huge_allocated + arena->huge_cached_bytes;
	out->pdirty += arena->huge_cached_bytes >> LG_PAGE;
	mutex_unlock(&arena->huge_lock);
}

void
hm_stats_read(stats_t *out) {
	memset(out, 0, sizeof(*out));
	if (!hm_init_is_done())
		return;
	arena_stats_t as;
	size_t pactive = 0, pdirty = 0, huge = 0;
	for (unsigned i = 0; i < hm_narenas; i++) {
		memset(&as, 0, sizeof(as));
		hm_stats_arena_read(i, &as);
		out->allocated += as.small_allocated + as.large_allocated;
		out->mapped += as.mapped;
		pactive += as.pactive;
		pdirty += as.pdirty;
		huge += as.huge_allocated;
	}
	out->active = (pactive << LG_PAGE) + huge;
	/* Metadata in use, as jemalloc counts it; all of base's mappings
	 * count as mapped. */
	out->metadata = hm_base_allocated();
	out->mapped += hm_base_mapped();
	out->resident = out->active + (pdirty << LG_PAGE) + out->metadata;
	if (out->resident > out->mapped)
		out->resident = out->mapped;
}

/* Buffered output: the report goes out in lines, never malloc'd. */
typedef struct emitter_s {
	void (*cb)(void *, const char *);
	void *opaque;
	char buf[4096];
	size_t len;
} emitter_t;

static void
emit_flush(emitter_t *e) {
	if (e->len == 0)
		return;
	e->buf[e->len] = '\0';
	if (e->cb != NULL)
		e->cb(e->opaque, e->buf);
	else
		hm_write(e->buf);
	e->len = 0;
}

__attribute__((format(printf, 2, 3))) static void
emit(emitter_t *e, const char *fmt, ...) {
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	size_t n = hm_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	if (e->len + n + 1 > sizeof(e->buf))
		emit_flush(e);
	memcpy(e->buf + e->len, line, n);
	e->len += n;
}

static void
stats_print_options(emitter_t *e) {
	emit(e, "Run-time option settings:\n");
	for (unsigned i = 0; i < hm_conf_nopts; i++) {
		const conf_opt_t *o = &hm_conf_opts[i];
		switch (o->type) {
		case CONF_BOOL:
			emit(e, "  opt.%s: %s\n", o->name,
			    *(bool *)o->ptr ? "true" : "false");
			break;
		case CONF_UNSIGNED:
			emit(e, "  opt.%s: %u\n", o->name, *(unsigned *)o->ptr);
			break;
		case CONF_SSIZE:
			emit(e, "  opt.%s: %zd\n", o->name, *(ssize_t *)o->ptr);
			break;
		case CONF_SIZE:
			emit(e, "  opt.%s: %zu\n", o->name, *(size_t *)o->ptr);
			break;
		case CONF_ENUM:
			emit(e, "  opt.%s: \"%s\"\n", o->name,
			    o->names[*(unsigned *)o->ptr]);
			break;
		case CONF_STRING:
			emit(e, "  opt.%s: \"%s\"\n", o->name, (char *)o->ptr);
			break;
		}
	}
}

static void
stats_print_arena(emitter_t *e, const arena_stats_t *as, bool bins) {
	emit(e, "assigned threads: %u\n", as->nthreads);
	emit(e, "pages: %zu active, %zu dirty; purged %zu pages in %llu "
	    "madvise calls\n", as->pactive, as->pdirty, as->npurged,
	    (unsigned long long)as->nmadvise);
	emit(e, "mapped: %zu\n", as->mapped);
	emit(e, "                    allocated      nmalloc      ndalloc\n");
	emit(e, "small:         %14zu %12llu %12llu\n", as->small_allocated,
	    (unsigned long long)as->small_nmalloc,
	    (unsigned long long)as->small_ndalloc);
	emit(e, "large:         %14zu %12llu %12llu\n", as->large_allocated,
	    (unsigned long long)as->large_nmalloc,
	    (unsigned long long)as->large_ndalloc);
	emit(e, " of which huge:%14zu %12llu %12llu\n", as->huge_allocated,
	    (unsigned long long)as->huge_nmalloc,
	    (unsigned long long)as->huge_ndalloc);
	emit(e, "total:         %14zu %12llu %12llu\n",
	    as->small_allocated + as->large_allocated,
	    (unsigned long long)(as->small_nmalloc + as->large_nmalloc),
	    (unsigned long long)(as->small_ndalloc + as->large_ndalloc));
	emit(e, "mutexes:           num_ops     num_wait\n");
	for (unsigned i = 0; i < ARENA_NMUTEXES; i++) {
		emit(e, "  %-10s %12llu %12llu\n", hm_arena_mutex_names[i],
		    (unsigned long long)as->mutexes[i].nlocks,
		    (unsigned long long)as->mutexes[i].nwaits);
	}
	if (!bins)
		return;
	emit(e, "bins:     size  regs pgs      nmalloc      ndalloc    curregs "
	    "  curslabs  util\n");
	for (unsigned i = 0; i < SC_NBINS; i++) {
		const bin_stats_t *b = &as->bins[i];
		if (b->nmalloc == 0)
			continue;
		size_t cap = b->curslabs * hm_sc_slab[i].nregs;
		unsigned util = cap ? (unsigned)(b->curregs * 1000 / cap) : 0;
		emit(e, "%9u %6u %5u %3u %12llu %12llu %10zu %10zu %2u.%u%%\n",
		    i, hm_sc_slab[i].size, hm_sc_slab[i].nregs,
		    hm_sc_slab[i].npages, (unsigned long long)b->nmalloc,
		    (unsigned long long)b->ndalloc, b->curregs, b->curslabs,
		    util / 10, util % 10);
	}
}

void
hm_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
    const char *opts) {
	static emitter_t e; /* callers hold the ctl lock */
	e.cb = write_cb;
	e.opaque = cbopaque;
	e.len = 0;
	bool general = true, merged = true, per_arena = true, bins = true;
	for (const char *o = opts != NULL ? opts : ""; *o; o++) {
		switch (*o) {
		case 'g': general = false; break;
		case 'm': merged = false; break;
		case 'a': per_arena = false; break;
		case 'b': bins = false; break;
		default: break;
		}
	}
	emit(&e, "___ Begin hmalloc statistics ___\n");
	if (general) {
		emit(&e, "Version: \"%s\"\n", HMALLOC_VERSION);
		emit(&e, "Build: %s\n", config_debug ? "debug" : "release");
		stats_print_options(&e);
		emit(&e, "Arenas: %u\nQuantum size: %zu\nPage size: %zu\n"
		    "Chunk size: %zu (2^%zu)\nSmall classes: %u (up to %zu)\n"
		    "Large classes: %u (up to %zu)\n", hm_narenas, QUANTUM,
		    PAGE, hm_chunksize, opt_lg_chunk, SC_NBINS,
		    SC_SMALL_MAXCLASS, hm_sc_nlarge, hm_sc_large_maxclass);
	}
	stats_t st;
	hm_stats_read(&st);
	emit(&e, "Allocated: %zu, active: %zu, metadata: %zu, resident: %zu, "
	    "mapped: %zu, retained: %zu\n", st.allocated, st.active,
	    st.metadata, st.resident, st.mapped, st.retained);
	emit(&e, "Global mutexes:      num_ops     num_wait\n");
	for (unsigned i = 0; i < hm_mutex_nregistered(); i++) {
		const char *name;
		mutex_stats_t ms = {0, 0};
		hm_stats_mutex_read(hm_mutex_registered(i, &name), &ms);
		emit(&e, "  %-10s %12llu %12llu\n", name,
		    (unsigned long long)ms.nlocks,
		    (unsigned long long)ms.nwaits);
	}
	arena_stats_t as;
	if (merged) {
		memset(&as, 0, sizeof(as));
		unsigned n = 0;
		for (unsigned i = 0; i < hm_narenas; i++) {
			if (hm_arena_get(i, false) != NULL) {
				hm_stats_arena_read(i, &as);
				n++;
			}
		}
		emit(&e, "Merged arenas stats (%u in use):\n", n);
		stats_print_arena(&e, &as, bins);
	}
	if (per_arena) {
		for (unsigned i = 0; i < hm_narenas; i++) {
			if (hm_arena_get(i, false) == NULL)
				continue;
			memset(&as, 0, sizeof(as));
			hm_stats_arena_read(i, &as);
			emit(&e, "arenas[%u]:\n", i);
			stats_print_arena(&e, &as, bins);
		}
	}
	emit(&e, "___ End hmalloc statistics ___\n");
	emit_flush(&e);
}
