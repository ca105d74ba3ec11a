/*
 * malloc_stats_print (stats_print.c): the text report has jemalloc 5.3's
 * sections and tables, and each opts letter omits its section and nothing
 * else; with "J" the output is valid JSON (checked here by a strict
 * parser) for every combination of letters, with jemalloc's top-level
 * keys; strings are escaped; the figures agree with mallctl; the report
 * allocates nothing, goes out in bounded chunks, and reaches the
 * malloc_message hook or stderr when write_cb is NULL.
 *
 * Single-threaded: nothing else allocates between a mallctl read and the
 * report that follows it.  (test/integration/stats_json.sh parses the
 * JSON with Python and checks its key paths.)
 */
#include "unit_util.h"

#include <sys/wait.h>

#include "conf.h"
#include "ctl.h"
#include "stats.h"

/* ------------------------------------------------------------------ */
/* The report, collected without allocating. */

static char out[4 << 20];
static size_t out_len;
static bool out_truncated;
static unsigned out_calls;
static size_t out_max_chunk;

static void
collect(void *opaque, const char *s) {
	assert_ptr_eq(opaque, &out_len, "cbopaque passed through");
	size_t n = strlen(s);
	out_calls++;
	if (n > out_max_chunk)
		out_max_chunk = n;
	if (out_len + n >= sizeof(out)) {
		out_truncated = true;
		n = sizeof(out) - 1 - out_len;
	}
	memcpy(out + out_len, s, n);
	out_len += n;
	out[out_len] = '\0';
}

static const char *
report(const char *opts) {
	out_len = 0;
	out[0] = '\0';
	out_truncated = false;
	out_calls = 0;
	out_max_chunk = 0;
	hm_malloc_stats_print(collect, &out_len, opts);
	assert_false(out_truncated, "report with opts \"%s\" too long", opts);
	return out;
}

static bool
has(const char *s, const char *what) {
	return strstr(s, what) != NULL;
}

/* A line starting with prefix and containing what. */
static bool
has_line(const char *s, const char *prefix, const char *what) {
	size_t plen = strlen(prefix);
	for (const char *l = s; *l != '\0';) {
		const char *nl = strchr(l, '\n');
		size_t len = nl != NULL ? (size_t)(nl - l) : strlen(l);
		if (len >= plen && memcmp(l, prefix, plen) == 0) {
			const char *w = strstr(l, what);
			if (w != NULL && w < l + len)
				return true;
		}
		if (nl == NULL)
			break;
		l = nl + 1;
	}
	return false;
}

static unsigned
arenas_in_use(void) {
	unsigned n = 0;
	for (unsigned i = 0; i < hm_narenas; i++)
		n += hm_arena_get(i, false) != NULL;
	return n;
}

/* At least two arenas in use, so that the merged statistics are
 * printed: the test's own (unit_util.h), or with narenas:1 a manual one. */
static void
two_arenas(void) {
	static unsigned manual = UINT32_MAX;
	unsigned ind = unit_test_arena()->ind;
	if (arenas_in_use() < 2 && manual == UINT32_MAX) {
		size_t sz = sizeof(manual);
		assert_d_eq(hm_mallctl("arenas.create", &manual, &sz, NULL, 0),
		    0, "arenas.create");
	}
	if (manual != UINT32_MAX)
		ind = manual;
	void *p = hm_mallocx(100, MALLOCX_ARENA(ind) | MALLOCX_TCACHE_NONE);
	assert_ptr_not_null(p, "mallocx in arena %u", ind);
	hm_dallocx(p, MALLOCX_TCACHE_NONE);
	assert_d_ge(arenas_in_use(), 2, "arenas in use");
}

/* ------------------------------------------------------------------ */
/* A strict JSON parser (RFC 8259): true if [p, end) is one value. */

typedef struct jp_s {
	const char *p, *end;
	unsigned depth;
} jp_t;

static bool jp_value(jp_t *j);

static void
jp_ws(jp_t *j) {
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t'
	    || *j->p == '\r'))
		j->p++;
}

static bool
jp_string(jp_t *j) {
	if (j->p >= j->end || *j->p != '"')
		return false;
	j->p++;
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p++;
		if (c == '"')
			return true;
		if (c < 0x20)
			return false;
		if (c != '\\')
			continue;
		if (j->p >= j->end)
			return false;
		char e = *j->p++;
		if (e == 'u') {
			for (int i = 0; i < 4; i++, j->p++) {
				if (j->p >= j->end || !((*j->p >= '0' && *j->p <= '9')
				    || (*j->p >= 'a' && *j->p <= 'f')
				    || (*j->p >= 'A' && *j->p <= 'F')))
					return false;
			}
		} else if (strchr("\"\\/bfnrt", e) == NULL || e == '\0') {
			return false;
		}
	}
	return false;
}

static bool
jp_digits(jp_t *j) {
	const char *s = j->p;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static bool
jp_number(jp_t *j) {
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!jp_digits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!jp_digits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!jp_digits(j))
			return false;
	}
	return true;
}

static bool
jp_container(jp_t *j, char open, char close) {
	j->p++; /* open */
	if (++j->depth > 64)
		return false;
	jp_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		jp_ws(j);
		if (open == '{') {
			if (!jp_string(j))
				return false;
			jp_ws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return false;
		}
		if (!jp_value(j))
			return false;
		jp_ws(j);
		if (j->p >= j->end)
			return false;
		char c = *j->p++;
		if (c == close)
			break;
		if (c != ',')
			return false;
	}
	j->depth--;
	return true;
}

static bool
jp_value(jp_t *j) {
	jp_ws(j);
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case '{':
		return jp_container(j, '{', '}');
	case '[':
		return jp_container(j, '[', ']');
	case '"':
		return jp_string(j);
	default:
		break;
	}
	static const char *const lits[] = {"true", "false", "null"};
	for (size_t i = 0; i < HM_ARRAY_SIZE(lits); i++) {
		size_t n = strlen(lits[i]);
		if ((size_t)(j->end - j->p) >= n && memcmp(j->p, lits[i], n) == 0) {
			j->p += n;
			return true;
		}
	}
	return jp_number(j);
}

static bool
json_valid(const char *s, size_t len) {
	jp_t j = {s, s + len, 0};
	if (!jp_value(&j))
		return false;
	jp_ws(&j);
	return j.p == j.end;
}

/* ------------------------------------------------------------------ */

TEST_BEGIN(test_json_parser)
	/* The checker itself: it must reject what a sloppy emitter makes. */
	static const char *const good[] = {"{}", "[]", "{\"a\":[1,-2.5e3,"
	    "true,null,\"x\\u00e9\\n\"]}", " {\"a\" : {\"b\":{}}} \n"};
	static const char *const bad[] = {"{", "{\"a\":1,}", "[1,]", "{,}",
	    "{\"a\"}", "[01]", "\"\x01\"", "{\"a\":1}{}", "[\"\\x\"]", "",
	    "{\"a\":1 \"b\":2}", "[1.]", "[tru]"};
	for (size_t i = 0; i < HM_ARRAY_SIZE(good); i++)
		expect_true(json_valid(good[i], strlen(good[i])), "%s", good[i]);
	for (size_t i = 0; i < HM_ARRAY_SIZE(bad); i++)
		expect_false(json_valid(bad[i], strlen(bad[i])), "%s", bad[i]);
TEST_END

TEST_BEGIN(test_text_sections)
	two_arenas();
	void *small = hm_malloc(100), *large = hm_malloc(40 * KiB);
	assert_ptr_not_null(small, "malloc");
	assert_ptr_not_null(large, "malloc");
	const char *r = report(NULL);
	static const char *const want[] = {
		"___ Begin hmalloc statistics ___\n",
		"Version: \"" HMALLOC_VERSION "\"\n",
		"Build-time option settings\n  config.cache_oblivious: ",
		"  config.malloc_conf: \"\"\n",
		"  config.stats: true\n",
		"Run-time option settings\n  opt.abort: ",
		"  opt.narenas: ",
		"  opt.dss: \"",
		"  opt.dirty_decay_ms: ",
		" (arenas.dirty_decay_ms: ",
		"  opt.stats_print_opts: \"",
		"\nArenas: ",
		"\nQuantum size: 16\n",
		"\nPage size: 4096\n",
		"\nMaximum thread-cached size class: ",
		"\nNumber of bin size classes: 35\n",
		"\nNumber of thread-cache bin size classes: ",
		"\nNumber of large size classes: ",
		"\nAllocated: ",
		", active: ", ", metadata: ", ", resident: ", ", mapped: ",
		", retained: ",
		"\nGuarded blocks: live: ",
		"\nBackground threads: ",
		"n_lock_ops (#/sec)       n_waiting (#/sec)\n",
		"\nctl  ",
		"\narenas[0]:\nassigned threads: ",
		"\nuptime: ",
		"\ndss allocation precedence: \"",
		"\ndecaying:  time       npages       sweeps     madvises"
		    "       purged\n",
		"\n   dirty: ",
		"\nsmall: ", "\nlarge: ", "\ntotal: ",
		"\nactive: ", "\nmapped: ", "\nretained: ",
		"\nbins  ", "\narena  ", "\nhuge  ",
		"\nbins:           size ind    allocated      nmalloc (#/sec)",
		"\nlarge:          size ind    allocated      nmalloc (#/sec)",
		"                     ---\n",
		"--- End hmalloc statistics ---\n",
	};
	for (size_t i = 0; i < HM_ARRAY_SIZE(want); i++)
		expect_true(has(r, want[i]), "report lacks \"%s\"", want[i]);
	/* The purging thread's state as the mallctls give it (it runs
	 * from load time unless the options say otherwise). */
	bool bg_opt, bg_on;
	size_t sz = sizeof(bool);
	assert_d_eq(hm_mallctl("opt.background_thread", &bg_opt, &sz, NULL, 0),
	    0, "opt.background_thread");
	assert_d_eq(hm_mallctl("background_thread", &bg_on, &sz, NULL, 0), 0,
	    "background_thread");
	char line[128];
	snprintf(line, sizeof(line),
	    "  opt.background_thread: %s (background_thread: %s)\n",
	    bg_opt ? "true" : "false", bg_on ? "true" : "false");
	expect_true(has(r, line), "report lacks \"%s\"", line);
	snprintf(line, sizeof(line), "\nBackground threads: %u, num_runs: ",
	    bg_on ? 1u : 0u);
	expect_true(has(r, line), "report lacks \"%s\"", line);
	expect_true(has(r, "\n   muzzy: "), "muzzy decay row");
	expect_true(has(r, "  opt.muzzy_decay_ms: ") ==
	    has(r, " (arenas.muzzy_decay_ms: "), "muzzy_decay_ms note");
	/* No extents. */
	expect_false(has(r, "extents:"), "extents in the report");
	/* Merged statistics as jemalloc: when more than one arena is in
	 * use (or the per-arena ones are omitted). */
	bool several = arenas_in_use() > 1;
	expect_d_eq(has(r, "\nMerged arenas stats:\nassigned threads: "),
	    several, "Merged section with %u arenas in use", arenas_in_use());
	r = report("a");
	expect_true(has(r, "\nMerged arenas stats:\n"), "Merged with \"a\"");
	expect_false(has(r, "arenas[0]:"), "per-arena with \"a\"");
	hm_free(small);
	hm_free(large);
TEST_END

/* Each letter omits its section; the others stay. */
TEST_BEGIN(test_text_opts)
	two_arenas();
	void *large = hm_malloc(40 * KiB);
	assert_ptr_not_null(large, "malloc");
	const char *bins_hdr = "bins:           size";
	const char *large_hdr = "large:          size";
	struct {
		const char *opts;
		const char *gone; /* NULL: nothing in particular */
	} cases[] = {
		{"g", "Build-time option settings"},
		{"m", "Merged arenas stats:"},
		{"a", "arenas[0]:"},
		{"b", bins_hdr},
		{"l", large_hdr},
		{"x", "n_lock_ops"},
		{"d", NULL},
		{"e", NULL},
		{"zZ?!", NULL}, /* unknown letters are ignored */
	};
	for (size_t i = 0; i < HM_ARRAY_SIZE(cases); i++) {
		const char *o = cases[i].opts;
		const char *r = report(o);
		expect_true(has(r, "___ Begin hmalloc statistics ___\n"), "%s", o);
		expect_true(has(r, "--- End hmalloc statistics ---\n"), "%s", o);
		expect_true(has(r, "\nAllocated: "), "totals with \"%s\"", o);
		if (cases[i].gone != NULL) {
			expect_false(has(r, cases[i].gone),
			    "\"%s\" with opts \"%s\"", cases[i].gone, o);
		}
		static const struct {
			char letter;
			const char *text;
		} sections[] = {
			{'g', "Run-time option settings"},
			{'g', "\nArenas: "},
			{'a', "arenas[0]:"},
			{'b', "bins:           size"},
			{'l', "large:          size"},
			{'x', "n_lock_ops"},
		};
		for (size_t k = 0; k < HM_ARRAY_SIZE(sections); k++) {
			if (strchr(o, sections[k].letter) != NULL)
				continue;
			expect_true(has(r, sections[k].text),
			    "\"%s\" missing with opts \"%s\"", sections[k].text,
			    o);
		}
	}
	/* Everything omitted: the frame and the totals remain. */
	const char *r = report("gmdablxe");
	expect_true(has(r, "\nAllocated: "), "totals");
	expect_true(has(r, "\nBackground threads: "), "background thread");
	expect_false(has(r, "assigned threads"), "arena sections");
	expect_false(has(r, "Version:"), "general section");
	/* The same report with or without "e" and unknown letters. */
	char first[2048];
	snprintf(first, sizeof(first), "%s", report("gmablx"));
	expect_str_eq(report("gmablxeQ"), first, "e and Q change nothing");
	hm_free(large);
TEST_END

/* Bins and large tables: rows of the classes in use, elided gaps. */
TEST_BEGIN(test_text_tables)
	unit_boot();
	test_san_off(); /* the rows count the arena's blocks */
	unsigned ind = tsd_arena()->ind;
	enum { N = 37 };
	void *p[N], *q[3];
	for (int i = 0; i < N; i++) {
		p[i] = hm_malloc(200);
		assert_ptr_not_null(p[i], "malloc(200)");
	}
	for (int i = 0; i < 3; i++) {
		q[i] = hm_malloc(100 * KiB);
		assert_ptr_not_null(q[i], "malloc(100 KiB)");
	}
	size_t usize = hm_malloc_usable_size(q[0]);
	unsigned lind = sc_size2index(usize);
	const char *r = report("gmx");
	char sect[32];
	snprintf(sect, sizeof(sect), "arenas[%u]:\n", ind);
	const char *s = strstr(r, sect);
	assert_ptr_not_null(s, "section %s", sect);
	const char *next = strstr(s + 1, "arenas[");
	/* The large row: size, index, allocated, ..., curlextents >= 3. */
	char row[64];
	snprintf(row, sizeof(row), "%20zu%4u", usize, lind);
	const char *l = strstr(s, row);
	assert_ptr_not_null(l, "large row \"%s\"", row);
	assert_true(next == NULL || l < next, "large row in arena %u", ind);
	size_t size, allocated, cur;
	unsigned rind;
	unsigned long long nm, nmps, nd, ndps, nr, nrps;
	assert_d_eq(sscanf(l, "%zu %u %zu %llu %llu %llu %llu %llu %llu %zu",
	    &size, &rind, &allocated, &nm, &nmps, &nd, &ndps, &nr, &nrps, &cur),
	    10, "large row fields");
	expect_zu_ge(cur, 3, "curlextents");
	expect_zu_eq(allocated, cur * usize, "allocated = curlextents * size");
	expect_true(nm - nd == cur, "nmalloc - ndalloc = curlextents");
	/* The bins row of 224-byte regions (malloc(200)). */
	unsigned bind = sc_size2index(200);
	snprintf(row, sizeof(row), "%20u%4u", hm_sc_slab[bind].size, bind);
	const char *b = strstr(s, row);
	assert_ptr_not_null(b, "bins row \"%s\"", row);
	size_t curregs, curslabs, nonfull, regs, pgs;
	unsigned nshards;
	char util[16];
	assert_d_eq(sscanf(b, "%zu %u %zu %llu %llu %llu %llu %llu %llu %u %zu "
	    "%zu %zu %zu %zu %15s", &size, &rind, &allocated, &nm, &nmps, &nd,
	    &ndps, &nr, &nrps, &nshards, &curregs, &curslabs, &nonfull, &regs,
	    &pgs, util), 16, "bins row fields");
	expect_zu_ge(curregs, N, "curregs");
	expect_zu_eq(allocated, curregs * size, "allocated = curregs * size");
	expect_zu_eq(regs, hm_sc_slab[bind].nregs, "regs");
	expect_zu_eq(pgs, hm_sc_slab[bind].npages, "pgs");
	expect_d_eq(nshards, 1, "nshards");
	expect_true(strcmp(util, "1") == 0 || strncmp(util, "0.", 2) == 0,
	    "util \"%s\"", util);
	/* Unused classes are elided: a gap line before the 16 KiB class
	 * (ind 35), since nothing here uses every Large class. */
	expect_true(has(s, "\n                     ---\n"), "gap lines");
	for (int i = 0; i < N; i++)
		hm_free(p[i]);
	for (int i = 0; i < 3; i++)
		hm_free(q[i]);
TEST_END

/* The totals line agrees with mallctl after an epoch. */
TEST_BEGIN(test_totals_agree)
	unit_boot();
	void *keep = hm_malloc(3 * MiB);
	assert_ptr_not_null(keep, "malloc");
	/* Twice: the first refresh after an arena appeared allocates that
	 * arena's snapshot (base metadata) after reading the totals. */
	uint64_t epoch = 1;
	for (int i = 0; i < 2; i++) {
		assert_d_eq(hm_mallctl("epoch", NULL, NULL, &epoch,
		    sizeof(epoch)), 0, "epoch");
	}
	static const char *const names[] = {"stats.allocated", "stats.active",
	    "stats.metadata", "stats.resident", "stats.mapped",
	    "stats.retained"};
	size_t v[HM_ARRAY_SIZE(names)];
	for (size_t i = 0; i < HM_ARRAY_SIZE(names); i++) {
		size_t sz = sizeof(v[i]);
		assert_d_eq(hm_mallctl(names[i], &v[i], &sz, NULL, 0), 0, "%s",
		    names[i]);
	}
	const char *r = report("gmax");
	const char *line = strstr(r, "\nAllocated: ");
	assert_ptr_not_null(line, "Allocated line");
	size_t t[6];
	assert_d_eq(sscanf(line, "\nAllocated: %zu, active: %zu, metadata: %zu,"
	    " resident: %zu, mapped: %zu, retained: %zu", &t[0], &t[1], &t[2],
	    &t[3], &t[4], &t[5]), 6, "Allocated line fields");
	for (size_t i = 0; i < HM_ARRAY_SIZE(names); i++)
		expect_zu_eq(t[i], v[i], "%s", names[i]);
	/* The guarded blocks' line agrees with stats.san.* as well. */
	static const char *const san[] = {"stats.san.live",
	    "stats.san.allocated"};
	size_t sv[2], st[2];
	unsigned long long stotal = 1;
	for (size_t i = 0; i < 2; i++) {
		size_t sz = sizeof(sv[i]);
		assert_d_eq(hm_mallctl(san[i], &sv[i], &sz, NULL, 0), 0, "%s",
		    san[i]);
	}
	size_t sz = sizeof(uint64_t);
	uint64_t t64 = 0;
	assert_d_eq(hm_mallctl("stats.san.total", &t64, &sz, NULL, 0), 0,
	    "stats.san.total");
	line = strstr(r, "\nGuarded blocks: ");
	assert_ptr_not_null(line, "Guarded blocks line");
	assert_d_eq(sscanf(line, "\nGuarded blocks: live: %zu, allocated: %zu,"
	    " guarded so far: %llu", &st[0], &st[1], &stotal), 3,
	    "Guarded blocks line fields");
	expect_zu_eq(st[0], sv[0], "stats.san.live");
	expect_zu_eq(st[1], sv[1], "stats.san.allocated");
	expect_u64_eq((uint64_t)stotal, t64, "stats.san.total");
	hm_free(keep);
TEST_END

/* Every combination of letters gives valid JSON with jemalloc's keys. */
TEST_BEGIN(test_json_all_opts)
	two_arenas();
	static const char letters[] = "gmdablxe";
	unsigned n = (unsigned)strlen(letters);
	for (unsigned mask = 0; mask < (1u << n); mask++) {
		char opts[16] = "J";
		size_t k = 1;
		for (unsigned i = 0; i < n; i++) {
			if (mask & (1u << i))
				opts[k++] = letters[i];
		}
		opts[k] = '\0';
		const char *r = report(opts);
		if (!json_valid(r, out_len)) {
			expect_not_reached("opts \"%s\": invalid JSON: %.300s",
			    opts, r);
			continue;
		}
		static const char pfx[] = "{\"jemalloc\":{\"hmalloc\":"
		    "{\"version\":\"" HMALLOC_VERSION "\"}";
		expect_true(strncmp(r, pfx, sizeof(pfx) - 1) == 0,
		    "opts \"%s\": starts %.60s", opts, r);
		expect_true(out_len > 0 && r[out_len - 1] == '\n',
		    "opts \"%s\": final newline", opts);
		expect_false(has(r, "___"), "opts \"%s\": text in JSON", opts);
		bool g = strchr(opts, 'g') == NULL, m = strchr(opts, 'm') == NULL,
		     a = strchr(opts, 'a') == NULL, b = strchr(opts, 'b') == NULL,
		     l = strchr(opts, 'l') == NULL, x = strchr(opts, 'x') == NULL,
		     d = strchr(opts, 'd') == NULL;
		expect_d_eq(has(r, "\"config\":{\"cache_oblivious\":"), g,
		    "config, opts \"%s\"", opts);
		expect_d_eq(has(r, "\"arenas\":{\"narenas\":"), g,
		    "arenas, opts \"%s\"", opts);
		expect_true(has(r, "\"stats\":{\"allocated\":"),
		    "stats, opts \"%s\"", opts);
		expect_d_eq(has(r, "\"stats.arenas\":{"), m || a || d,
		    "stats.arenas, opts \"%s\"", opts);
		bool merged = m && (arenas_in_use() > 1 || !a);
		expect_d_eq(has(r, "\"merged\":{\"nthreads\":"), merged,
		    "merged, opts \"%s\"", opts);
		expect_d_eq(has(r, "\"0\":{\"nthreads\":"), a,
		    "arena 0, opts \"%s\"", opts);
		bool arena = merged || a;
		expect_d_eq(has(r, "\"bins\":[{\"nmalloc\":"), arena && b,
		    "bins, opts \"%s\"", opts);
		expect_d_eq(has(r, "\"lextents\":[{\"curlextents\":"),
		    arena && l, "lextents, opts \"%s\"", opts);
		expect_d_eq(has(r, "\"mutexes\":{"), x,
		    "mutexes, opts \"%s\"", opts);
		expect_d_eq(has(r, "\"destroyed\":{"),
		    d && hm_ctl_stats_destroyed != NULL
		    && hm_ctl_stats_destroyed() != NULL,
		    "destroyed, opts \"%s\"", opts);
	}
TEST_END

/* Strings are escaped: quotes, backslashes, control characters, bytes
 * that are not UTF-8 (U+FFFD); valid UTF-8 passes through. */
TEST_BEGIN(test_json_escapes)
	unit_boot();
	char saved[OPT_STRING_MAX];
	memcpy(saved, opt_stats_print_opts, sizeof(saved));
	static const char odd[] = "a\"b\\c\x01\t\x7f\xff\xc3\xa9\xed\xa0\x80z";
	memcpy(opt_stats_print_opts, odd, sizeof(odd));
	const char *r = report("Jmdablx");
	bool valid = json_valid(r, out_len);
	const char *want = "\"stats_print_opts\":\"a\\\"b\\\\c\\u0001\\u0009"
	    "\\u007f\\ufffd\xc3\xa9\\ufffd\\ufffd\\ufffdz\"";
	bool found = has(r, want);
	/* Text prints the string as it is. */
	const char *t = report("mdablx");
	bool raw = has(t, "  opt.stats_print_opts: \"a\"b\\c");
	memcpy(opt_stats_print_opts, saved, sizeof(saved));
	expect_true(valid, "invalid JSON with an odd option string");
	expect_true(found, "escaped option string (want %s)", want);
	expect_true(raw, "text option string");
TEST_END

/* The report allocates nothing and goes out in bounded chunks. */
TEST_BEGIN(test_no_malloc_bounded)
	two_arenas();
	static const char *const opts[] = {"", "J"};
	for (size_t i = 0; i < HM_ARRAY_SIZE(opts); i++) {
		uint64_t a0 = 0, a1 = 0;
		size_t sz = sizeof(a0);
		assert_d_eq(hm_mallctl("thread.allocated", &a0, &sz, NULL, 0),
		    0, "thread.allocated");
		report(opts[i]);
		sz = sizeof(a1);
		assert_d_eq(hm_mallctl("thread.allocated", &a1, &sz, NULL, 0),
		    0, "thread.allocated");
		expect_u64_eq(a1, a0, "bytes allocated during the report "
		    "(opts \"%s\")", opts[i]);
		expect_zu_lt(out_max_chunk, 4096, "largest chunk");
		expect_true(out_calls > 1, "a long report comes in chunks");
		expect_zu_gt(out_len, 8192, "report length");
	}
TEST_END

/* write_cb NULL: the malloc_message hook, else stderr. */
static void
hook(void *opaque, const char *s) {
	assert_ptr_null(opaque, "hook's opaque");
	collect(&out_len, s);
}

TEST_BEGIN(test_null_write_cb)
	unit_boot();
	void (*saved)(void *, const char *) = hm_malloc_message;
	out_len = 0;
	out[0] = '\0';
	hm_malloc_message = hook;
	hm_malloc_stats_print(NULL, NULL, "gax");
	hm_malloc_message = saved;
	expect_true(has(out, "___ Begin hmalloc statistics ___\n"),
	    "report through malloc_message");
	expect_true(has(out, "--- End hmalloc statistics ---\n"), "end");
	if (saved != NULL)
		return; /* the program has a hook: stderr is not used */
	static char err[1 << 16];
	capture_t c;
	capture_begin(&c);
	hm_malloc_stats_print(NULL, NULL, "gmax");
	capture_end(&c, err, sizeof(err));
	expect_true(has(err, "___ Begin hmalloc statistics ___\n"), "stderr");
	expect_true(has(err, "--- End hmalloc statistics ---\n"), "stderr end");
TEST_END

/* A manual arena, used, then destroyed; returns its index. */
static unsigned
destroy_an_arena(void) {
	unsigned ind;
	size_t sz = sizeof(ind);
	assert_d_eq(hm_mallctl("arenas.create", &ind, &sz, NULL, 0), 0,
	    "arenas.create");
	void *p = hm_mallocx(5000, MALLOCX_ARENA(ind) | MALLOCX_TCACHE_NONE);
	assert_ptr_not_null(p, "mallocx in arena %u", ind);
	hm_dallocx(p, MALLOCX_TCACHE_NONE);
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.destroy", ind);
	assert_d_eq(hm_mallctl(name, NULL, NULL, NULL, 0), 0, "%s", name);
	return ind;
}

/* Destroyed arenas: reported ("Destroyed arenas stats", JSON
 * "destroyed") under "d"'s control. */
TEST_BEGIN(test_destroyed)
	unit_boot();
	unsigned ind = destroy_an_arena();
	const char *r = report("gx");
	expect_true(has_line(r, "Destroyed arenas stats:", ""),
	    "Destroyed section");
	char sect[32];
	snprintf(sect, sizeof(sect), "arenas[%u]:", ind);
	expect_false(has(r, sect), "destroyed arena %u listed", ind);
	r = report("gxd");
	expect_false(has(r, "Destroyed arenas stats:"), "with \"d\"");
	r = report("Jgx");
	expect_true(json_valid(r, out_len), "JSON");
	expect_true(has(r, "\"destroyed\":{\"nthreads\":"),
	    "JSON destroyed");
TEST_END

int
main(void) {
	return test(test_json_parser, test_text_sections, test_text_opts,
	    test_text_tables, test_totals_agree, test_json_all_opts,
	    test_json_escapes, test_no_malloc_bounded, test_null_write_cb,
	    test_destroyed);
}
