/*
 * stats_print.c: the report malloc_stats_print() writes (hm_stats_print,
 * stats.h), laid out as jemalloc 5.3's so that people and tools used to
 * jemalloc's read it unchanged: the same sections in the same order, the
 * same table columns, the same opts letters and, with "J", the same JSON
 * keys and nesting.  The counters come from stats.c's gathering functions.
 *
 * opts letters, as jemalloc's: J JSON instead of text; g omits the general
 * information (version, config.*, opt.*, arenas.*), m the merged arena
 * statistics, d the destroyed arenas', a the per-arena ones, b the bins
 * tables, l the large tables, x the mutex tables; e (extents) is accepted
 * and changes nothing, hmalloc having no extents; other letters are
 * ignored.  As jemalloc does, the merged statistics are printed only when
 * more than one arena is in use or the per-arena ones are omitted.
 *
 * Where hmalloc differs from jemalloc:
 *   - Text: the report is framed by "___ Begin hmalloc statistics ___" and
 *     "--- End hmalloc statistics ---".
 *   - JSON: the top-level key stays "jemalloc", so that tools written for
 *     jemalloc's JSON find everything where they look for it.  Its
 *     "version" is what mallctl("version") answers, hmalloc's version; a
 *     first key "hmalloc": {"version": "..."}, present whatever the opts,
 *     tells a reader which allocator wrote the report.  The JSON is
 *     compact (one line, as jemalloc 5.3's) and ends with a newline;
 *     strings are escaped (jemalloc writes them raw), so it is always
 *     valid JSON.
 *   - Only what hmalloc counts is reported: a jemalloc key without a
 *     counterpart is left out rather than given a made-up 0.  Left out:
 *     dirty_npurge and muzzy_npurge (decay passes are not counted; the
 *     text shows "-"), the per-arena metadata breakdown
 *     (base, internal, metadata_thp, tcache_bytes, tcache_stashed_bytes,
 *     resident, abandoned_vm, extent_avail), stats.metadata_thp,
 *     stats.zero_reallocs, mutex counters other than num_ops and num_wait,
 *     per-bin mutexes, large nfills and nflushes (text: "-"), extents.
 *   - Added, hmalloc's own (jemalloc tools ignore them): arenas.chunksize,
 *     per bin "nslabs", per large class nmalloc, ndalloc and nrequests
 *     beside curlextents, per arena "huge" (the Huge part of "large").
 *     "large" is every class above Small, Large runs and Huge mappings
 *     alike, as jemalloc's large extents.  An arena's text "active" is
 *     its pages' bytes plus its huge blocks', as stats.active counts them.
 *   - Names are hmalloc's: options, global locks (ctl, arenas, tcaches,
 *     chunk, base, huge_pool), an arena's locks (bins, arena, huge).
 *
 * It runs with the ctl lock held (ctl.c) and never allocates: the report
 * is formatted into a static buffer and handed out in chunks of at most
 * 4 KiB to write_cb or, when write_cb is NULL, to hm_write() (the
 * malloc_message hook, else stderr); arena snapshots live in static
 * storage.  While write_cb runs, the only allocator lock held is the ctl
 * lock: the callback may allocate, but not call mallctl or
 * malloc_stats_print.
 */
#include "stats.h"

#include <stdarg.h>
#include <string.h>

#include <hmalloc.h>

#include "arena.h"
#include "background.h"
#include "chunk.h"
#include "conf.h"
#include "decay.h"
#include "log.h"
#include "os.h"
#include "tcache.h"
#include "tsd.h"

/* ---------------------------------------------------------------------
 * The emitter: text or JSON into a bounded buffer.
 */

typedef struct emitter_s {
	void (*cb)(void *, const char *);
	void *opaque;
	bool json;
	bool comma;       /* JSON: an item precedes at this depth */
	bool keyed;       /* JSON: a key was written; its value comes next */
	unsigned indent;  /* text: nesting of dictionaries */
	size_t len;
	char buf[4096];
} emitter_t;

static void
em_flush(emitter_t *e) {
	if (e->len == 0)
		return;
	e->buf[e->len] = '\0';
	if (e->cb != NULL)
		e->cb(e->opaque, e->buf);
	else
		hm_write(e->buf);
	e->len = 0;
}

static void
em_write(emitter_t *e, const char *s, size_t n) {
	while (n > 0) {
		size_t room = sizeof(e->buf) - 1 - e->len;
		if (room == 0) {
			em_flush(e);
			continue;
		}
		size_t k = n < room ? n : room;
		memcpy(e->buf + e->len, s, k);
		e->len += k;
		s += k;
		n -= k;
	}
}

static void
em_vprintf(emitter_t *e, const char *fmt, va_list ap) {
	char piece[512];
	size_t n = hm_vsnprintf(piece, sizeof(piece), fmt, ap);
	if (n >= sizeof(piece))
		n = sizeof(piece) - 1;
	em_write(e, piece, n);
}

__attribute__((format(printf, 2, 3))) static void
em_printf(emitter_t *e, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	em_vprintf(e, fmt, ap);
	va_end(ap);
}

/* Text output only. */
__attribute__((format(printf, 2, 3))) static void
t_printf(emitter_t *e, const char *fmt, ...) {
	if (e->json)
		return;
	va_list ap;
	va_start(ap, fmt);
	em_vprintf(e, fmt, ap);
	va_end(ap);
}

/* Table columns (text only): right-justified unless left. */
static void
col_str(emitter_t *e, int width, const char *s, bool left) {
	if (!e->json)
		em_printf(e, left ? "%-*s" : "%*s", width, s);
}

static void
col_u64(emitter_t *e, int width, uint64_t v) {
	if (!e->json)
		em_printf(e, "%*llu", width, (unsigned long long)v);
}

static void
row_end(emitter_t *e) {
	t_printf(e, "\n");
}

/* A table's column headings, right-aligned, then the end of the row. */
typedef struct col_s {
	int width;
	const char *name;
} col_t;

static void
col_header(emitter_t *e, const col_t *cols, size_t n) {
	for (size_t i = 0; i < n; i++)
		col_str(e, cols[i].width, cols[i].name, false);
	row_end(e);
}

/* Length of the valid UTF-8 sequence at p, 0 if there is none. */
static size_t
utf8_len(const unsigned char *p) {
	unsigned char c = p[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	}
	return n;
}

/* A JSON string: quotes, escapes, and U+FFFD for bytes that are not
 * UTF-8, so that any option string gives valid JSON. */
static void
j_quote(emitter_t *e, const char *s) {
	em_write(e, "\"", 1);
	const unsigned char *p = (const unsigned char *)s;
	while (*p != '\0') {
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			em_write(e, esc, 2);
			p++;
		} else if (c < 0x20 || c == 0x7f) {
			char esc[8];
			hm_snprintf(esc, sizeof(esc), "\\u%04x", c);
			em_write(e, esc, 6);
			p++;
		} else if (c < 0x80) {
			em_write(e, (const char *)p, 1);
			p++;
		} else {
			size_t n = utf8_len(p);
			if (n > 0) {
				em_write(e, (const char *)p, n);
				p += n;
			} else {
				em_write(e, "\\ufffd", 6);
				p++;
			}
		}
	}
	em_write(e, "\"", 1);
}

/* JSON structure; each is a no-op in text mode. */
static void
j_sep(emitter_t *e) {
	if (e->keyed)
		e->keyed = false;
	else if (e->comma)
		em_write(e, ",", 1);
}

static void
j_key(emitter_t *e, const char *key) {
	j_sep(e);
	j_quote(e, key);
	em_write(e, ":", 1);
	e->keyed = true;
}

/* Opens an object ('{') or array ('['), as the value of key if any. */
static void
j_open(emitter_t *e, const char *key, char c) {
	if (!e->json)
		return;
	if (key != NULL)
		j_key(e, key);
	j_sep(e);
	em_write(e, &c, 1);
	e->comma = false;
}

static void
j_close(emitter_t *e, char c) {
	if (!e->json)
		return;
	em_write(e, &c, 1);
	e->comma = true;
}

#define j_obj(e, key) j_open(e, key, '{')
#define j_obj_end(e) j_close(e, '}')
#define j_arr(e, key) j_open(e, key, '[')
#define j_arr_end(e) j_close(e, ']')

/* A scalar of either output. */
typedef struct val_s {
	enum { V_BOOL, V_U64, V_I64, V_STR } type;
	union {
		bool b;
		uint64_t u;
		int64_t i;
		const char *s;
	};
} val_t;

#define VB(x) ((val_t){.type = V_BOOL, .b = (x)})
#define VU(x) ((val_t){.type = V_U64, .u = (x)})
#define VI(x) ((val_t){.type = V_I64, .i = (x)})
#define VS(x) ((val_t){.type = V_STR, .s = (x)})

static void
val_emit(emitter_t *e, val_t v) {
	switch (v.type) {
	case V_BOOL:
		em_printf(e, "%s", v.b ? "true" : "false");
		break;
	case V_U64:
		em_printf(e, "%llu", (unsigned long long)v.u);
		break;
	case V_I64:
		em_printf(e, "%lld", (long long)v.i);
		break;
	case V_STR:
		if (e->json)
			j_quote(e, v.s);
		else
			em_printf(e, "\"%s\"", v.s);
		break;
	}
}

/* A JSON value only. */
static void
j_kv(emitter_t *e, const char *key, val_t v) {
	if (!e->json)
		return;
	j_key(e, key);
	j_sep(e);
	val_emit(e, v);
	e->comma = true;
}

/*
 * "json_key": v in JSON; "table_key: v" in text, indented by the open
 * dictionaries, followed by " (note_key: nv)" when note_key is not NULL.
 */
static void
kv_note(emitter_t *e, const char *json_key, const char *table_key, val_t v,
    const char *note_key, val_t nv) {
	if (e->json) {
		j_kv(e, json_key, v);
		return;
	}
	em_printf(e, "%*s%s: ", (int)e->indent * 2, "", table_key);
	val_emit(e, v);
	if (note_key != NULL) {
		em_printf(e, " (%s: ", note_key);
		val_emit(e, nv);
		em_printf(e, ")");
	}
	em_printf(e, "\n");
}

static void
kv(emitter_t *e, const char *json_key, const char *table_key, val_t v) {
	kv_note(e, json_key, table_key, v, NULL, VB(false));
}

/* A dictionary: a JSON object, or in text a header line and indented
 * entries. */
static void
dict_begin(emitter_t *e, const char *json_key, const char *table_header) {
	if (e->json) {
		j_obj(e, json_key);
	} else {
		em_printf(e, "%*s%s\n", (int)e->indent * 2, "", table_header);
		e->indent++;
	}
}

static void
dict_end(emitter_t *e) {
	if (e->json)
		j_obj_end(e);
	else
		e->indent--;
}

/* ---------------------------------------------------------------------
 * Derived figures.
 */

/* Events per second over uptime, as jemalloc's "(#/sec)" columns. */
static uint64_t
rate(uint64_t v, uint64_t uptime_ns) {
	if (uptime_ns == 0 || v == 0)
		return 0;
	if (uptime_ns < 1000000000)
		return v;
	return v / (uptime_ns / 1000000000);
}

/* Regions in use over regions in slabs, "0.xyz" or "1". */
static void
util_str(char *buf, size_t size, size_t curregs, size_t avail) {
	if (avail == 0 || curregs == avail)
		hm_snprintf(buf, size, "1");
	else if (curregs > avail)  /* counters read at different times */
		hm_snprintf(buf, size, "race");
	else
		hm_snprintf(buf, size, "0.%03u",
		    (unsigned)((uint64_t)curregs * 1000 / avail));
}

static uint64_t
arena_uptime_ns(unsigned ind) {
	arena_t *arena = hm_arena_get(ind, false);
	return arena != NULL ? (hm_decay_now_ms() - arena->birth_ms) * 1000000
			     : 0;
}

/* ---------------------------------------------------------------------
 * Sections.
 */

static void
mutex_header(emitter_t *e) {
	static const col_t cols[] = {
	    {21, ""}, {16, "n_lock_ops"}, {8, "(#/sec)"}, {16, "n_waiting"},
	    {8, "(#/sec)"}
	};
	col_header(e, cols, HM_ARRAY_SIZE(cols));
}

static void
mutex_row(emitter_t *e, const char *name, const mutex_stats_t *ms,
    uint64_t uptime) {
	col_str(e, 21, name, true);
	col_u64(e, 16, ms->nlocks);
	col_u64(e, 8, rate(ms->nlocks, uptime));
	col_u64(e, 16, ms->nwaits);
	col_u64(e, 8, rate(ms->nwaits, uptime));
	row_end(e);
	j_obj(e, name);
	j_kv(e, "num_ops", VU(ms->nlocks));
	j_kv(e, "num_wait", VU(ms->nwaits));
	j_obj_end(e);
}

static val_t
opt_value(const conf_opt_t *o) {
	switch (o->type) {
	case CONF_BOOL:
		return VB(*(const bool *)o->ptr);
	case CONF_UNSIGNED:
		return VU(*(const unsigned *)o->ptr);
	case CONF_SSIZE:
		return VI(*(const ssize_t *)o->ptr);
	case CONF_SIZE:
		return VU(*(const size_t *)o->ptr);
	case CONF_ENUM:
		return VS(o->names[*(const unsigned *)o->ptr]);
	case CONF_STRING:
	case CONF_SLAB_SIZES:
		break;
	}
	return VS((const char *)o->ptr);
}

/* Version, config.*, opt.*, arenas.* (jemalloc's stats_general_print). */
static void
print_general(emitter_t *e) {
	kv(e, "version", "Version", VS(HMALLOC_VERSION));

	/* As ctl.c answers config.* (jemalloc's order). */
	dict_begin(e, "config", "Build-time option settings");
	kv(e, "cache_oblivious", "config.cache_oblivious", VB(false));
	kv(e, "debug", "config.debug", VB(config_debug));
	kv(e, "fill", "config.fill", VB(true));
	kv(e, "lazy_lock", "config.lazy_lock", VB(false));
	kv(e, "malloc_conf", "config.malloc_conf", VS(""));
	kv(e, "opt_safety_checks", "config.opt_safety_checks", VB(true));
	kv(e, "prof", "config.prof", VB(false));
	kv(e, "prof_libgcc", "config.prof_libgcc", VB(false));
	kv(e, "prof_libunwind", "config.prof_libunwind", VB(false));
	kv(e, "stats", "config.stats", VB(true));
	kv(e, "utrace", "config.utrace", VB(false));
	kv(e, "xmalloc", "config.xmalloc", VB(false));
	dict_end(e);

	/* Every option, as opt.<name> reads it; those mallctl can change
	 * carry the current setting as a note. */
	dict_begin(e, "opt", "Run-time option settings");
	for (unsigned i = 0; i < hm_conf_nopts; i++) {
		const conf_opt_t *o = &hm_conf_opts[i];
		char table_key[OPT_STRING_MAX + 8];
		hm_snprintf(table_key, sizeof(table_key), "opt.%s", o->name);
		if (strcmp(o->name, "background_thread") == 0) {
			kv_note(e, o->name, table_key, opt_value(o),
			    "background_thread", VB(opt_background_thread));
		} else if (strcmp(o->name, "dirty_decay_ms") == 0) {
			kv_note(e, o->name, table_key, opt_value(o),
			    "arenas.dirty_decay_ms",
			    VI(atomic_load(&hm_arenas_dirty_decay_ms)));
		} else if (strcmp(o->name, "muzzy_decay_ms") == 0) {
			kv_note(e, o->name, table_key, opt_value(o),
			    "arenas.muzzy_decay_ms",
			    VI(atomic_load(&hm_arenas_muzzy_decay_ms)));
		} else {
			kv(e, o->name, table_key, opt_value(o));
		}
	}
	dict_end(e);

	/* JSON nests these in "arenas"; the text has them at top level. */
	j_obj(e, "arenas");
	kv(e, "narenas", "Arenas", VU(hm_narenas));
	j_kv(e, "dirty_decay_ms", VI(atomic_load(&hm_arenas_dirty_decay_ms)));
	j_kv(e, "muzzy_decay_ms", VI(atomic_load(&hm_arenas_muzzy_decay_ms)));
	kv(e, "quantum", "Quantum size", VU(QUANTUM));
	kv(e, "page", "Page size", VU(PAGE));
	kv(e, "chunksize", "Chunk size", VU(hm_chunksize));
	kv(e, "tcache_max", "Maximum thread-cached size class",
	    VU(hm_tcache_nbins ? hm_sc_size[hm_tcache_nbins - 1] : 0));
	kv(e, "nbins", "Number of bin size classes", VU(SC_NBINS));
	kv(e, "nhbins", "Number of thread-cache bin size classes",
	    VU(hm_tcache_nbins));
	if (e->json) {
		j_arr(e, "bin");
		for (unsigned i = 0; i < SC_NBINS; i++) {
			j_obj(e, NULL);
			j_kv(e, "size", VU(hm_sc_slab[i].size));
			j_kv(e, "nregs", VU(hm_sc_slab[i].nregs));
			j_kv(e, "slab_size",
			    VU((uint64_t)hm_sc_slab[i].npages << LG_PAGE));
			j_kv(e, "nshards", VU(1));
			j_obj_end(e);
		}
		j_arr_end(e);
	}
	kv(e, "nlextents", "Number of large size classes", VU(SC_NLEXTENTS));
	if (e->json) {
		j_arr(e, "lextent");
		for (unsigned j = 0; j < SC_NLEXTENTS; j++) {
			j_obj(e, NULL);
			j_kv(e, "size", VU(hm_sc_size[SC_NBINS + j]));
			j_obj_end(e);
		}
		j_arr_end(e);
	}
	j_obj_end(e);
}

/* Global totals, the background thread, the global locks. */
static void
print_totals(emitter_t *e, bool mutex) {
	stats_t st;
	hm_stats_read(&st);
	j_obj(e, "stats");
	j_kv(e, "allocated", VU(st.allocated));
	j_kv(e, "active", VU(st.active));
	j_kv(e, "metadata", VU(st.metadata));
	j_kv(e, "resident", VU(st.resident));
	j_kv(e, "mapped", VU(st.mapped));
	j_kv(e, "retained", VU(st.retained));
	t_printf(e, "Allocated: %zu, active: %zu, metadata: %zu, "
	    "resident: %zu, mapped: %zu, retained: %zu\n", st.allocated,
	    st.active, st.metadata, st.resident, st.mapped, st.retained);
	/* Sampled guarded blocks (san.h), counted in the figures above. */
	j_obj(e, "san");
	j_kv(e, "live", VU(st.san_live));
	j_kv(e, "allocated", VU(st.san_allocated));
	j_kv(e, "total", VU(st.san_total));
	j_obj_end(e);
	t_printf(e, "Guarded blocks: live: %zu, allocated: %zu, "
	    "guarded so far: %llu\n", st.san_live, st.san_allocated,
	    (unsigned long long)st.san_total);

	unsigned nbg = hm_background_running() ? 1 : 0;
	uint64_t nruns, interval;
	hm_background_stats(&nruns, &interval);
	j_obj(e, "background_thread");
	j_kv(e, "num_threads", VU(nbg));
	j_kv(e, "num_runs", VU(nruns));
	j_kv(e, "run_interval", VU(interval));
	j_obj_end(e);
	t_printf(e, "Background threads: %u, num_runs: %llu, "
	    "run_interval: %llu ns\n", nbg, (unsigned long long)nruns,
	    (unsigned long long)interval);

	if (mutex) {
		uint64_t uptime = arena_uptime_ns(0);
		mutex_header(e);
		j_obj(e, "mutexes");
		for (unsigned i = 0; i < hm_mutex_nregistered(); i++) {
			const char *name;
			mutex_stats_t ms = {0, 0};
			hm_stats_mutex_read(hm_mutex_registered(i, &name), &ms);
			mutex_row(e, name, &ms, uptime);
		}
		j_obj_end(e);
	}
	j_obj_end(e);
}

/* One row of the small / large / total table. */
static void
alloc_row(emitter_t *e, const char *title, size_t allocated,
    uint64_t nmalloc, uint64_t ndalloc, uint64_t nrequests,
    const uint64_t *nfills, const uint64_t *nflushes, uint64_t uptime) {
	col_str(e, 21, title, true);
	col_u64(e, 16, allocated);
	col_u64(e, 16, nmalloc);
	col_u64(e, 10, rate(nmalloc, uptime));
	col_u64(e, 16, ndalloc);
	col_u64(e, 10, rate(ndalloc, uptime));
	col_u64(e, 16, nrequests);
	col_u64(e, 10, rate(nrequests, uptime));
	if (nfills != NULL) {
		col_u64(e, 16, *nfills);
		col_u64(e, 10, rate(*nfills, uptime));
		col_u64(e, 16, *nflushes);
		col_u64(e, 10, rate(*nflushes, uptime));
	} else {
		col_str(e, 16, "-", false);
		col_str(e, 10, "-", false);
		col_str(e, 16, "-", false);
		col_str(e, 10, "-", false);
	}
	row_end(e);
}

static void
print_bins(emitter_t *e, const arena_stats_t *as, uint64_t uptime) {
	/* "bins:" takes 5 columns of the size column's header. */
	t_printf(e, "bins:");
	static const col_t cols[] = {
	    {20 - 5, "size"}, {4, "ind"}, {13, "allocated"}, {13, "nmalloc"},
	    {8, "(#/sec)"}, {13, "ndalloc"}, {8, "(#/sec)"},
	    {13, "nrequests"}, {10, "(#/sec)"}, {9, "nshards"},
	    {13, "curregs"}, {13, "curslabs"}, {15, "nonfull_slabs"},
	    {5, "regs"}, {4, "pgs"}, {1, " "}, {6, "util"}, {13, "nfills"},
	    {8, "(#/sec)"}, {13, "nflushes"}, {8, "(#/sec)"}, {13, "nslabs"},
	    {13, "nreslabs"}, {8, "(#/sec)"}
	};
	col_header(e, cols, HM_ARRAY_SIZE(cols));
	j_arr(e, "bins");
	bool in_gap = false;
	for (unsigned j = 0; j < SC_NBINS; j++) {
		const bin_stats_t *b = &as->bins[j];
		const sc_slab_info_t *sc = &hm_sc_slab[j];
		/* JSON has every class; text elides runs of unused ones. */
		j_obj(e, NULL);
		j_kv(e, "nmalloc", VU(b->nmalloc));
		j_kv(e, "ndalloc", VU(b->ndalloc));
		j_kv(e, "curregs", VU(b->curregs));
		j_kv(e, "nrequests", VU(b->nrequests));
		j_kv(e, "nfills", VU(b->nfills));
		j_kv(e, "nflushes", VU(b->nflushes));
		j_kv(e, "nreslabs", VU(b->nreslabs));
		j_kv(e, "curslabs", VU(b->curslabs));
		j_kv(e, "nonfull_slabs", VU(b->nonfull_slabs));
		j_kv(e, "nslabs", VU(b->nslabs));
		j_obj_end(e);
		bool was_gap = in_gap;
		in_gap = b->nslabs == 0;
		if (was_gap && !in_gap)
			t_printf(e, "                     ---\n");
		if (in_gap)
			continue;
		char util[8];
		util_str(util, sizeof(util), b->curregs,
		    b->curslabs * sc->nregs);
		col_u64(e, 20, sc->size);
		col_u64(e, 4, j);
		col_u64(e, 13, b->curregs * sc->size);
		col_u64(e, 13, b->nmalloc);
		col_u64(e, 8, rate(b->nmalloc, uptime));
		col_u64(e, 13, b->ndalloc);
		col_u64(e, 8, rate(b->ndalloc, uptime));
		col_u64(e, 13, b->nrequests);
		col_u64(e, 10, rate(b->nrequests, uptime));
		col_u64(e, 9, 1);
		col_u64(e, 13, b->curregs);
		col_u64(e, 13, b->curslabs);
		col_u64(e, 15, b->nonfull_slabs);
		col_u64(e, 5, sc->nregs);
		col_u64(e, 4, sc->npages);
		col_str(e, 1, " ", false);
		col_str(e, 6, util, false);
		col_u64(e, 13, b->nfills);
		col_u64(e, 8, rate(b->nfills, uptime));
		col_u64(e, 13, b->nflushes);
		col_u64(e, 8, rate(b->nflushes, uptime));
		col_u64(e, 13, b->nslabs);
		col_u64(e, 13, b->nreslabs);
		col_u64(e, 8, rate(b->nreslabs, uptime));
		row_end(e);
	}
	j_arr_end(e);
	if (in_gap)
		t_printf(e, "                     ---\n");
}

static void
print_lextents(emitter_t *e, const arena_stats_t *as, uint64_t uptime) {
	t_printf(e, "large:");
	static const col_t cols[] = {
	    {20 - 6, "size"}, {4, "ind"}, {13, "allocated"}, {13, "nmalloc"},
	    {8, "(#/sec)"}, {13, "ndalloc"}, {8, "(#/sec)"},
	    {13, "nrequests"}, {8, "(#/sec)"}, {13, "curlextents"}
	};
	col_header(e, cols, HM_ARRAY_SIZE(cols));
	j_arr(e, "lextents");
	bool in_gap = false;
	for (unsigned j = 0; j < SC_NLEXTENTS; j++) {
		const lextent_stats_t *l = &as->lextents[j];
		size_t cur = (size_t)(l->nmalloc - l->ndalloc);
		size_t size = hm_sc_size[SC_NBINS + j];
		j_obj(e, NULL);
		j_kv(e, "curlextents", VU(cur));
		j_kv(e, "nmalloc", VU(l->nmalloc));
		j_kv(e, "ndalloc", VU(l->ndalloc));
		j_kv(e, "nrequests", VU(l->nrequests));
		j_obj_end(e);
		bool was_gap = in_gap;
		in_gap = l->nrequests == 0 && l->nmalloc == 0;
		if (was_gap && !in_gap)
			t_printf(e, "                     ---\n");
		if (in_gap)
			continue;
		col_u64(e, 20, size);
		col_u64(e, 4, SC_NBINS + j);
		col_u64(e, 13, (uint64_t)cur * size);
		col_u64(e, 13, l->nmalloc);
		col_u64(e, 8, rate(l->nmalloc, uptime));
		col_u64(e, 13, l->ndalloc);
		col_u64(e, 8, rate(l->ndalloc, uptime));
		col_u64(e, 13, l->nrequests);
		col_u64(e, 8, rate(l->nrequests, uptime));
		col_u64(e, 13, cur);
		row_end(e);
	}
	j_arr_end(e);
	if (in_gap)
		t_printf(e, "                     ---\n");
}

/* A row of the decay table (text only). */
static void
decay_row(emitter_t *e, const char *title, ssize_t decay_ms, size_t npages,
    uint64_t nmadvise, uint64_t purged) {
	if (e->json)
		return;
	col_str(e, 9, title, false);
	if (decay_ms >= 0)
		em_printf(e, "%6zd", decay_ms);
	else
		col_str(e, 6, "N/A", false);
	col_u64(e, 13, npages);
	col_str(e, 13, "-", false);
	col_u64(e, 13, nmadvise);
	col_u64(e, 13, purged);
	row_end(e);
}

/* One arena's counters, or a sum (jemalloc's stats_arena_print). */
static void
print_arena(emitter_t *e, const arena_stats_t *as, bool bins, bool large,
    bool mutex) {
	uint64_t uptime = as->uptime_ns;
	kv(e, "nthreads", "assigned threads", VU(as->nthreads));
	kv(e, "uptime_ns", "uptime", VU(uptime));
	kv(e, "dss", "dss allocation precedence",
	    VS(hm_dss_names[as->dss < 3 ? as->dss : 0]));
	j_kv(e, "dirty_decay_ms", VI(as->dirty_decay_ms));
	j_kv(e, "muzzy_decay_ms", VI(as->muzzy_decay_ms));
	j_kv(e, "pactive", VU(as->pactive));
	j_kv(e, "pdirty", VU(as->pdirty));
	j_kv(e, "pmuzzy", VU(as->pmuzzy));
	j_kv(e, "dirty_nmadvise", VU(as->nmadvise));
	j_kv(e, "dirty_purged", VU(as->npurged));
	j_kv(e, "muzzy_nmadvise", VU(as->muzzy_nmadvise));
	j_kv(e, "muzzy_purged", VU(as->muzzy_purged));

	/* Decay; passes ("sweeps") are not counted. */
	static const col_t decay_cols[] = {
	    {9, "decaying:"}, {6, "time"}, {13, "npages"}, {13, "sweeps"},
	    {13, "madvises"}, {13, "purged"}
	};
	col_header(e, decay_cols, HM_ARRAY_SIZE(decay_cols));
	decay_row(e, "dirty:", as->dirty_decay_ms, as->pdirty, as->nmadvise,
	    as->npurged);
	decay_row(e, "muzzy:", as->muzzy_decay_ms, as->pmuzzy,
	    as->muzzy_nmadvise, as->muzzy_purged);

	static const col_t alloc_cols[] = {
	    {21, ""}, {16, "allocated"}, {16, "nmalloc"}, {10, "(#/sec)"},
	    {16, "ndalloc"}, {10, "(#/sec)"}, {16, "nrequests"},
	    {10, "(#/sec)"}, {16, "nfill"}, {10, "(#/sec)"}, {16, "nflush"},
	    {10, "(#/sec)"}
	};
	col_header(e, alloc_cols, HM_ARRAY_SIZE(alloc_cols));
	alloc_row(e, "small:", as->small_allocated, as->small_nmalloc,
	    as->small_ndalloc, as->small_nrequests, &as->small_nfills,
	    &as->small_nflushes, uptime);
	j_obj(e, "small");
	j_kv(e, "allocated", VU(as->small_allocated));
	j_kv(e, "nmalloc", VU(as->small_nmalloc));
	j_kv(e, "ndalloc", VU(as->small_ndalloc));
	j_kv(e, "nrequests", VU(as->small_nrequests));
	j_kv(e, "nfills", VU(as->small_nfills));
	j_kv(e, "nflushes", VU(as->small_nflushes));
	j_obj_end(e);
	alloc_row(e, "large:", as->large_allocated, as->large_nmalloc,
	    as->large_ndalloc, as->large_nrequests, NULL, NULL, uptime);
	j_obj(e, "large");
	j_kv(e, "allocated", VU(as->large_allocated));
	j_kv(e, "nmalloc", VU(as->large_nmalloc));
	j_kv(e, "ndalloc", VU(as->large_ndalloc));
	j_kv(e, "nrequests", VU(as->large_nrequests));
	j_obj_end(e);
	j_obj(e, "huge");
	j_kv(e, "allocated", VU(as->huge_allocated));
	j_kv(e, "nmalloc", VU(as->huge_nmalloc));
	j_kv(e, "ndalloc", VU(as->huge_ndalloc));
	j_obj_end(e);
	alloc_row(e, "total:", as->small_allocated + as->large_allocated,
	    as->small_nmalloc + as->large_nmalloc,
	    as->small_ndalloc + as->large_ndalloc,
	    as->small_nrequests + as->large_nrequests, NULL, NULL, uptime);

	t_printf(e, "\n");
	col_str(e, 21, "active:", true);
	col_u64(e, 16, ((uint64_t)as->pactive << LG_PAGE) + as->huge_allocated);
	row_end(e);
	col_str(e, 21, "mapped:", true);
	col_u64(e, 16, as->mapped);
	row_end(e);
	j_kv(e, "mapped", VU(as->mapped));
	/* The retained pool is process-wide (pages.c), not an arena's: as
	 * stats.arenas.<i>.retained (ctl.c), 0 here; stats.retained has it. */
	col_str(e, 21, "retained:", true);
	col_u64(e, 16, 0);
	row_end(e);
	j_kv(e, "retained", VU(0));

	if (mutex) {
		j_obj(e, "mutexes");
		mutex_header(e);
		for (unsigned i = 0; i < ARENA_NMUTEXES; i++) {
			mutex_row(e, hm_arena_mutex_names[i], &as->mutexes[i],
			    uptime);
		}
		j_obj_end(e);
	}
	if (bins)
		print_bins(e, as, uptime);
	if (large)
		print_lextents(e, as, uptime);
}

/* Static: the report runs under the ctl lock, one at a time. */
static emitter_t stats_emitter;
static arena_stats_t stats_arena_snapshot;

void
hm_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
    const char *opts, const arena_stats_t *destroyed_stats) {
	emitter_t *e = &stats_emitter;
	memset(e, 0, offsetof(emitter_t, buf));
	e->cb = write_cb;
	e->opaque = cbopaque;
	bool general = true, merged = true, destroyed = true, unmerged = true,
	     bins = true, large = true, mutex = true;
	for (const char *o = opts != NULL ? opts : ""; *o != '\0'; o++) {
		switch (*o) {
		case 'J': e->json = true; break;
		case 'g': general = false; break;
		case 'm': merged = false; break;
		case 'd': destroyed = false; break;
		case 'a': unmerged = false; break;
		case 'b': bins = false; break;
		case 'l': large = false; break;
		case 'x': mutex = false; break;
		default: break; /* 'e' (extents) and unknown letters */
		}
	}
	/* As jemalloc's report refreshes the epoch: the calling thread's
	 * cache hands over its request counts first (see ctl.c). */
	if (hm_tsd.tcache != NULL)
		hm_tcache_stats_merge(hm_tsd.tcache);

	j_obj(e, NULL);
	j_obj(e, "jemalloc");
	j_obj(e, "hmalloc");
	j_kv(e, "version", VS(HMALLOC_VERSION));
	j_obj_end(e);
	t_printf(e, "___ Begin hmalloc statistics ___\n");
	if (general)
		print_general(e);
	print_totals(e, mutex);

	if (merged || destroyed || unmerged) {
		arena_stats_t *as = &stats_arena_snapshot;
		unsigned narenas = hm_narenas, ninit = 0;
		for (unsigned i = 0; i < narenas; i++)
			ninit += hm_arena_get(i, false) != NULL;
		j_obj(e, "stats.arenas");
		if (merged && (ninit > 1 || !unmerged)) {
			t_printf(e, "Merged arenas stats:\n");
			j_obj(e, "merged");
			memset(as, 0, sizeof(*as));
			for (unsigned i = 0; i < narenas; i++)
				hm_stats_arena_read(i, as);
			/* Every counter adds up but uptime: arena 0's. */
			as->uptime_ns = arena_uptime_ns(0);
			print_arena(e, as, bins, large, mutex);
			j_obj_end(e);
		}
		const arena_stats_t *ds = destroyed ? destroyed_stats : NULL;
		if (ds != NULL) {
			t_printf(e, "Destroyed arenas stats:\n");
			j_obj(e, "destroyed");
			print_arena(e, ds, bins, large, mutex);
			j_obj_end(e);
		}
		for (unsigned i = 0; unmerged && i < narenas; i++) {
			if (hm_arena_get(i, false) == NULL)
				continue;
			char key[16];
			hm_snprintf(key, sizeof(key), "%u", i);
			t_printf(e, "arenas[%u]:\n", i);
			j_obj(e, key);
			memset(as, 0, sizeof(*as));
			hm_stats_arena_read(i, as);
			print_arena(e, as, bins, large, mutex);
			j_obj_end(e);
		}
		j_obj_end(e);
	}

	j_obj_end(e); /* "jemalloc" */
	j_obj_end(e);
	if (e->json)
		em_write(e, "\n", 1);
	t_printf(e, "--- End hmalloc statistics ---\n");
	em_flush(e);
}
