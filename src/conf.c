/* conf.c: see conf.h. */
#include "conf.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hmalloc.h>

#include "arena.h"
#include "background.h"
#include "chunk.h"
#include "secure.h"
#include "decay.h"
#include "log.h"
#include "os.h"
#include "pages.h"
#include "prof.h"
#include "san.h"
#include "sc.h"
#include "tcache.h"
#include "trace.h"

bool opt_abort = false;
bool opt_abort_conf = false;
bool opt_confirm_conf = false;
bool opt_experimental_infallible_new = false;
bool opt_stats_print = false;
char opt_stats_print_opts[OPT_STRING_MAX];
unsigned opt_zero_realloc = ZERO_REALLOC_FREE;
const char *const hm_zero_realloc_names[3] = {"free", "alloc", "abort"};

/* The program's compiled-in options, if it defines the symbol. */
HM_EXPORT const char *HM_PUBLIC(malloc_conf) __attribute__((weak));

const conf_opt_t hm_conf_opts[] = {
	{"abort", CONF_BOOL, &opt_abort, 0, 1, NULL, 0},
	{"abort_conf", CONF_BOOL, &opt_abort_conf, 0, 1, NULL, 0},
	{"confirm_conf", CONF_BOOL, &opt_confirm_conf, 0, 1, NULL, 0},
	{"narenas", CONF_UNSIGNED, &opt_narenas, 1, 4096, NULL, 0},
	{"percpu_arena", CONF_ENUM, &opt_percpu_arena, 0, 0, hm_percpu_names, 3},
	{"lg_chunk", CONF_SIZE, &opt_lg_chunk, 18, 30, NULL, 0},
	{"slab_sizes", CONF_SLAB_SIZES, opt_slab_sizes, 0, 0, NULL, 0},
	{"dss", CONF_ENUM, &opt_dss, 0, 0, hm_dss_names, 3},
	{"retain", CONF_BOOL, &opt_retain, 0, 1, NULL, 0},
	{"thp", CONF_ENUM, &opt_thp, 0, 0, hm_thp_names, 3},
	{"metadata_thp", CONF_ENUM, &opt_metadata_thp, 0, 0,
	    hm_metadata_thp_names, 3},
	{"dirty_decay_ms", CONF_SSIZE, &opt_dirty_decay_ms, -1,
	    (int64_t)1 << 40, NULL, 0},
	{"muzzy_decay_ms", CONF_SSIZE, &opt_muzzy_decay_ms, -1,
	    (int64_t)1 << 40, NULL, 0},
	{"background_thread", CONF_BOOL, &opt_background_thread, 0, 1, NULL, 0},
	{"junk", CONF_ENUM, &opt_junk, 0, 0, hm_junk_names, 4},
	{"zero", CONF_BOOL, &opt_zero, 0, 1, NULL, 0},
	{"zero_realloc", CONF_ENUM, &opt_zero_realloc, 0, 0,
	    hm_zero_realloc_names, 3},
	{"tcache", CONF_BOOL, &opt_tcache, 0, 1, NULL, 0},
	{"lg_tcache_max", CONF_SIZE, &opt_lg_tcache_max, 0, 21, NULL, 0},
	{"secure", CONF_BOOL, &opt_secure, 0, 1, NULL, 0},
	{"slab_random", CONF_BOOL, &opt_slab_random, 0, 1, NULL, 0},
	{"zero_free", CONF_BOOL, &opt_zero_free, 0, 1, NULL, 0},
	{"canary", CONF_BOOL, &opt_canary, 0, 1, NULL, 0},
	{"guard", CONF_BOOL, &opt_guard, 0, 1, NULL, 0},
	{"quarantine", CONF_SIZE, &opt_quarantine, 0, (int64_t)1 << 30, NULL,
	    0},
	{"san_guard", CONF_BOOL, &opt_san_guard, 0, 1, NULL, 0},
	{"lg_san_guard_sample", CONF_SIZE, &opt_lg_san_guard_sample, 0, 62,
	    NULL, 0},
	{"san_guard_slots", CONF_UNSIGNED, &opt_san_guard_slots, 1,
	    SAN_SLOTS_MAX, NULL, 0},
	{"san_guard_interval_ms", CONF_SIZE, &opt_san_guard_interval_ms, 0,
	    (int64_t)1 << 40, NULL, 0},
	{"prof", CONF_BOOL, &opt_prof, 0, 1, NULL, 0},
	{"prof_active", CONF_BOOL, &opt_prof_active, 0, 1, NULL, 0},
	{"prof_thread_active_init", CONF_BOOL, &opt_prof_thread_active_init,
	    0, 1, NULL, 0},
	{"lg_prof_sample", CONF_SIZE, &opt_lg_prof_sample, 0, 62, NULL, 0},
	{"lg_prof_interval", CONF_SSIZE, &opt_lg_prof_interval, -1, 62, NULL,
	    0},
	{"prof_gdump", CONF_BOOL, &opt_prof_gdump, 0, 1, NULL, 0},
	{"prof_final", CONF_BOOL, &opt_prof_final, 0, 1, NULL, 0},
	{"prof_leak", CONF_BOOL, &opt_prof_leak, 0, 1, NULL, 0},
	{"prof_accum", CONF_BOOL, &opt_prof_accum, 0, 1, NULL, 0},
	{"prof_prefix", CONF_STRING, opt_prof_prefix, 0, 0, NULL, 0},
	{"trace", CONF_BOOL, &opt_trace, 0, 1, NULL, 0},
	{"trace_prefix", CONF_STRING, opt_trace_prefix, 0, 0, NULL, 0},
	{"experimental_infallible_new", CONF_BOOL,
	    &opt_experimental_infallible_new, 0, 1, NULL, 0},
	{"stats_print", CONF_BOOL, &opt_stats_print, 0, 1, NULL, 0},
	{"stats_print_opts", CONF_STRING, opt_stats_print_opts, 0, 0, NULL, 0},
};
const unsigned hm_conf_nopts = HM_ARRAY_SIZE(hm_conf_opts);

const conf_opt_t *
hm_conf_find(const char *name, size_t len) {
	for (unsigned i = 0; i < hm_conf_nopts; i++) {
		if (strlen(hm_conf_opts[i].name) == len
		    && memcmp(hm_conf_opts[i].name, name, len) == 0)
			return &hm_conf_opts[i];
	}
	return NULL;
}

/* Bad pairs seen; abort_conf acts on them once every source is read,
 * whatever the order of the pairs. */
static unsigned conf_nbad;

/* Reports a bad pair: the whole text of it, as it was given. */
static void
conf_error(const char *pair, size_t len) {
	hm_printf("<hmalloc>: Invalid conf pair: %.*s\n", (int)len, pair);
	conf_nbad++;
}

/* Parses a decimal (or 0x hex) integer of exactly len bytes. */
static bool
conf_parse_int(const char *v, size_t len, int64_t *out) {
	bool neg = false;
	size_t i = 0;
	if (len > 0 && (v[0] == '-' || v[0] == '+')) {
		neg = v[0] == '-';
		i = 1;
	}
	if (i == len)
		return false;
	unsigned base = 10;
	if (len - i > 2 && v[i] == '0' && (v[i + 1] == 'x' || v[i + 1] == 'X')) {
		base = 16;
		i += 2;
	}
	uint64_t acc = 0;
	for (; i < len; i++) {
		unsigned d;
		char c = v[i];
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		if (acc > (UINT64_MAX - d) / base || acc * base + d > INT64_MAX)
			return false;
		acc = acc * base + d;
	}
	*out = neg ? -(int64_t)acc : (int64_t)acc;
	return true;
}

static bool
conf_set(const conf_opt_t *o, const char *v, size_t vlen) {
	int64_t n;
	switch (o->type) {
	case CONF_BOOL:
		if (vlen == 4 && memcmp(v, "true", 4) == 0)
			*(bool *)o->ptr = true;
		else if (vlen == 5 && memcmp(v, "false", 5) == 0)
			*(bool *)o->ptr = false;
		else
			return false;
		return true;
	case CONF_UNSIGNED:
	case CONF_SSIZE:
	case CONF_SIZE:
		if (!conf_parse_int(v, vlen, &n) || n < o->min || n > o->max)
			return false;
		if (o->type == CONF_UNSIGNED)
			*(unsigned *)o->ptr = (unsigned)n;
		else if (o->type == CONF_SSIZE)
			*(ssize_t *)o->ptr = (ssize_t)n;
		else
			*(size_t *)o->ptr = (size_t)n;
		return true;
	case CONF_ENUM:
		for (unsigned i = 0; i < o->nnames; i++) {
			if (strlen(o->names[i]) == vlen
			    && memcmp(o->names[i], v, vlen) == 0) {
				*(unsigned *)o->ptr = i;
				return true;
			}
		}
		return false;
	case CONF_STRING:
	case CONF_SLAB_SIZES:
		if (vlen >= OPT_STRING_MAX || (o->type == CONF_SLAB_SIZES
		    && !hm_sc_slab_sizes_valid(v, vlen)))
			return false;
		memcpy(o->ptr, v, vlen);
		((char *)o->ptr)[vlen] = '\0';
		return true;
	}
	return false;
}

static bool
conf_is_key_char(char c) {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	    || (c >= '0' && c <= '9') || c == '_';
}

unsigned
hm_conf_parse(const char *s, const char *source) {
	unsigned nbad = 0;
	if (opt_confirm_conf)
		hm_printf("<hmalloc>: conf from %s: \"%s\"\n", source, s);
	while (*s != '\0') {
		const char *k = s;
		size_t klen = 0;
		while (conf_is_key_char(k[klen]))
			klen++;
		const char *end = strchr(s, ',');
		if (end == NULL)
			end = s + strlen(s);
		if (klen == 0 || k[klen] != ':') {
			conf_error(s, (size_t)(end - s));
			nbad++;
		} else {
			const char *v = k + klen + 1;
			size_t vlen = (size_t)(end - v);
			const conf_opt_t *o = hm_conf_find(k, klen);
			if (o == NULL || !conf_set(o, v, vlen)) {
				conf_error(s, (size_t)(end - s));
				nbad++;
			} else if (o->ptr == &opt_secure) {
				/* Sets the options it implies; later pairs
				 * may change them one by one. */
				hm_secure_conf();
			}
		}
		s = *end == ',' ? end + 1 : end;
	}
	return nbad;
}

bool
hm_conf_read_link(const char *path, char *buf, size_t size) {
	ssize_t n = readlink(path, buf, size - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

void
hm_conf_init(void) {
	const char *s;
	/* Our weak definition is NULL; a program's own definition takes
	 * its place when the dynamic linker can see it. */
	if ((s = HM_PUBLIC(malloc_conf)) != NULL)
		hm_conf_parse(s, "malloc_conf");
	char link[1024];
	if (hm_conf_read_link(HM_CONF_FILE, link, sizeof(link)))
		hm_conf_parse(link, HM_CONF_FILE);
	if ((s = secure_getenv("MALLOC_CONF")) != NULL)
		hm_conf_parse(s, "MALLOC_CONF");
	if ((s = secure_getenv("HMALLOC_CONF")) != NULL)
		hm_conf_parse(s, "HMALLOC_CONF");
	if (conf_nbad > 0 && (opt_abort_conf || opt_abort))
		abort();
}
