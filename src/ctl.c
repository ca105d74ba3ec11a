/*
 * ctl.c: see ctl.h.  Errors follow jemalloc: ENOENT unknown name or index,
 * EINVAL a wrong size or value, EPERM writing what is read-only, EFAULT an
 * arena that cannot be used.  Statistics are a snapshot refreshed by
 * writing "epoch".
 */
#include "ctl.h"

#include <errno.h>
#include <string.h>

#include <hmalloc.h>

#include "arena.h"
#include "chunk.h"
#include "conf.h"
#include "decay.h"
#include "init.h"
#include "mutex.h"
#include "sc.h"
#include "stats.h"
#include "tcache.h"
#include "tsd.h"

static mutex_t ctl_lock;
static uint64_t ctl_epoch = 1;
static stats_t ctl_stats;

bool
hm_ctl_boot(void) {
	return hm_mutex_init(&ctl_lock, LOCK_RANK_CTL, "ctl");
}

void
hm_ctl_prefork(void) {
	mutex_lock(&ctl_lock);
}

void
hm_ctl_postfork_parent(void) {
	mutex_unlock(&ctl_lock);
}

void
hm_ctl_postfork_child(void) {
	hm_mutex_postfork_child(&ctl_lock);
}

#define CTL_MAX_DEPTH 8

typedef struct ctl_args_s {
	const size_t *mib;   /* mib[k]: numeric component k (pattern "#") */
	void *oldp;
	size_t *oldlenp;
	void *newp;
	size_t newlen;
} ctl_args_t;

typedef int ctl_fn_t(const ctl_args_t *a);

static int
ctl_read(const ctl_args_t *a, const void *v, size_t size) {
	if (a->oldp == NULL || a->oldlenp == NULL)
		return 0;
	if (*a->oldlenp != size) {
		size_t n = *a->oldlenp < size ? *a->oldlenp : size;
		memcpy(a->oldp, v, n);
		*a->oldlenp = n;
		return EINVAL;
	}
	memcpy(a->oldp, v, size);
	return 0;
}

static int
ctl_readonly(const ctl_args_t *a) {
	return a->newp != NULL || a->newlen != 0 ? EPERM : 0;
}

static int
ctl_write(const ctl_args_t *a, void *v, size_t size) {
	if (a->newp == NULL)
		return 0;
	if (a->newlen != size)
		return EINVAL;
	memcpy(v, a->newp, size);
	return 0;
}

#define CTL_RO(name, type, expr)                                           \
	static int name(const ctl_args_t *a) {                             \
		int err = ctl_readonly(a);                                 \
		if (err != 0)                                              \
			return err;                                        \
		type v_ = (expr);                                          \
		return ctl_read(a, &v_, sizeof(v_));                       \
	}

static const char *const ctl_version = HMALLOC_VERSION;
CTL_RO(ctl_version_fn, const char *, ctl_version)
CTL_RO(ctl_config_debug, bool, config_debug)
CTL_RO(ctl_config_stats, bool, true)
CTL_RO(ctl_config_prof, bool, false)
CTL_RO(ctl_arenas_narenas, unsigned, hm_narenas)
CTL_RO(ctl_arenas_quantum, size_t, QUANTUM)
CTL_RO(ctl_arenas_page, size_t, PAGE)
CTL_RO(ctl_arenas_chunksize, size_t, hm_chunksize)
CTL_RO(ctl_arenas_nbins, unsigned, SC_NBINS)
CTL_RO(ctl_arenas_nlextents, unsigned, hm_sc_nlarge)
CTL_RO(ctl_arenas_tcache_max, size_t,
    hm_tcache_nbins ? hm_sc_size[hm_tcache_nbins - 1] : 0)
CTL_RO(ctl_stats_allocated, size_t, ctl_stats.allocated)
CTL_RO(ctl_stats_active, size_t, ctl_stats.active)
CTL_RO(ctl_stats_metadata, size_t, ctl_stats.metadata)
CTL_RO(ctl_stats_resident, size_t, ctl_stats.resident)
CTL_RO(ctl_stats_mapped, size_t, ctl_stats.mapped)
CTL_RO(ctl_stats_retained, size_t, ctl_stats.retained)

/* A read-only value indexed by the name's third component, i (below n:
 * else ENOENT). */
#define CTL_RO_INDEXED(name, type, n, expr)                                \
	static int name(const ctl_args_t *a) {                             \
		if (a->mib[2] >= (n))                                      \
			return ENOENT;                                     \
		int err = ctl_readonly(a);                                 \
		if (err != 0)                                              \
			return err;                                        \
		size_t i = a->mib[2];                                      \
		type v_ = (expr);                                          \
		return ctl_read(a, &v_, sizeof(v_));                       \
	}

CTL_RO_INDEXED(ctl_arenas_bin_size, size_t, SC_NBINS, hm_sc_slab[i].size)
CTL_RO_INDEXED(ctl_arenas_bin_nregs, uint32_t, SC_NBINS, hm_sc_slab[i].nregs)
CTL_RO_INDEXED(ctl_arenas_bin_slab_size, size_t, SC_NBINS,
    (size_t)hm_sc_slab[i].npages << LG_PAGE)
CTL_RO_INDEXED(ctl_arenas_lextent_size, size_t, hm_sc_nlarge,
    hm_sc_size[SC_NBINS + i])

/* stats.mutexes.<name>.{num_ops,num_wait}: the named global locks. */
static int
ctl_global_mutex(const char *name, bool wait, const ctl_args_t *a) {
	for (unsigned i = 0; i < hm_mutex_nregistered(); i++) {
		const char *n;
		mutex_t *m = hm_mutex_registered(i, &n);
		if (strcmp(n, name) == 0) {
			mutex_stats_t ms = {0, 0};
			hm_stats_mutex_read(m, &ms);
			uint64_t v = wait ? ms.nwaits : ms.nlocks;
			int err = ctl_readonly(a);
			return err ? err : ctl_read(a, &v, sizeof(v));
		}
	}
	return ENOENT;
}

/* stats.arenas.<i>.mutexes.<name>.{num_ops,num_wait}. */
static int
ctl_arena_mutex(unsigned which, bool wait, const ctl_args_t *a) {
	if (a->mib[2] >= hm_narenas || hm_arena_get((unsigned)a->mib[2],
	    false) == NULL)
		return ENOENT;
	arena_stats_t as;
	memset(&as, 0, sizeof(as));
	hm_stats_arena_read((unsigned)a->mib[2], &as);
	uint64_t v = wait ? as.mutexes[which].nwaits : as.mutexes[which].nlocks;
	int err = ctl_readonly(a);
	return err ? err : ctl_read(a, &v, sizeof(v));
}

#define CTL_MUTEX(fn, name, wait)                                          \
	static int fn(const ctl_args_t *a) {                               \
		return ctl_global_mutex(name, wait, a);                    \
	}
CTL_MUTEX(ctl_mx_ctl_ops, "ctl", false)
CTL_MUTEX(ctl_mx_ctl_wait, "ctl", true)
CTL_MUTEX(ctl_mx_arenas_ops, "arenas", false)
CTL_MUTEX(ctl_mx_arenas_wait, "arenas", true)
CTL_MUTEX(ctl_mx_tcaches_ops, "tcaches", false)
CTL_MUTEX(ctl_mx_tcaches_wait, "tcaches", true)
CTL_MUTEX(ctl_mx_chunk_ops, "chunk", false)
CTL_MUTEX(ctl_mx_chunk_wait, "chunk", true)
CTL_MUTEX(ctl_mx_base_ops, "base", false)
CTL_MUTEX(ctl_mx_base_wait, "base", true)
CTL_MUTEX(ctl_mx_huge_pool_ops, "huge_pool", false)
CTL_MUTEX(ctl_mx_huge_pool_wait, "huge_pool", true)
#define CTL_ARENA_MUTEX(fn, which, wait)                                   \
	static int fn(const ctl_args_t *a) {                               \
		return ctl_arena_mutex(which, wait, a);                    \
	}
CTL_ARENA_MUTEX(ctl_amx_bins_ops, ARENA_MUTEX_BINS, false)
CTL_ARENA_MUTEX(ctl_amx_bins_wait, ARENA_MUTEX_BINS, true)
CTL_ARENA_MUTEX(ctl_amx_arena_ops, ARENA_MUTEX_ARENA, false)
CTL_ARENA_MUTEX(ctl_amx_arena_wait, ARENA_MUTEX_ARENA, true)
CTL_ARENA_MUTEX(ctl_amx_huge_ops, ARENA_MUTEX_HUGE, false)
CTL_ARENA_MUTEX(ctl_amx_huge_wait, ARENA_MUTEX_HUGE, true)

static int
ctl_epoch_fn(const ctl_args_t *a) {
	uint64_t v;
	int err = ctl_write(a, &v, sizeof(v));
	if (err != 0)
		return err;
	if (a->newp != NULL) {
		hm_stats_read(&ctl_stats);
		ctl_epoch++;
	}
	return ctl_read(a, &ctl_epoch, sizeof(ctl_epoch));
}

static int
ctl_thread_arena(const ctl_args_t *a) {
	arena_t *cur = tsd_arena();
	if (cur == NULL)
		return EAGAIN;
	unsigned old = cur->ind;
	if (a->newp != NULL) {
		unsigned ind;
		int err = ctl_write(a, &ind, sizeof(ind));
		if (err != 0)
			return err;
		if (ind >= hm_narenas)
			return EFAULT;
		arena_t *arena = hm_arena_get(ind, true);
		if (arena == NULL)
			return EFAULT;
		hm_tsd_set_arena(arena);
	}
	return ctl_read(a, &old, sizeof(old));
}

static int
ctl_thread_tcache_enabled(const ctl_args_t *a) {
	bool v;
	int err = ctl_write(a, &v, sizeof(v));
	if (err != 0)
		return err;
	bool old = a->newp != NULL ? hm_tsd_tcache_enable(v)
				   : (tsd_arena(), hm_tsd.tcache != NULL);
	return ctl_read(a, &old, sizeof(old));
}

static int
ctl_thread_tcache_flush(const ctl_args_t *a) {
	if (a->oldp != NULL || a->oldlenp != NULL || a->newp != NULL
	    || a->newlen != 0)
		return EINVAL;
	if (tsd_arena() != NULL && hm_tsd.tcache != NULL)
		hm_tcache_flush_all(hm_tsd.tcache);
	return 0;
}

static int
ctl_background_thread(const ctl_args_t *a) {
	bool v;
	int err = ctl_write(a, &v, sizeof(v));
	if (err != 0)
		return err;
	bool old = opt_background_thread;
	if (a->newp != NULL)
		hm_decay_background_set(v);
	return ctl_read(a, &old, sizeof(old));
}

static int
ctl_arena_purge(const ctl_args_t *a) {
	if (a->oldp != NULL || a->oldlenp != NULL || a->newp != NULL
	    || a->newlen != 0)
		return EINVAL;
	size_t ind = a->mib[1];
	if (ind == MALLCTL_ARENAS_ALL) {
		for (unsigned i = 0; i < hm_narenas; i++) {
			arena_t *arena = hm_arena_get(i, false);
			if (arena != NULL)
				hm_arena_purge_all(arena);
		}
		return 0;
	}
	arena_t *arena = ind < hm_narenas ? hm_arena_get((unsigned)ind, false)
					  : NULL;
	if (arena == NULL)
		return ind < hm_narenas ? EFAULT : ENOENT;
	hm_arena_purge_all(arena);
	return 0;
}

static int
ctl_opt(const conf_opt_t *o, const ctl_args_t *a) {
	int err = ctl_readonly(a);
	if (err != 0)
		return err;
	switch (o->type) {
	case CONF_BOOL:
		return ctl_read(a, o->ptr, sizeof(bool));
	case CONF_UNSIGNED:
		return ctl_read(a, o->ptr, sizeof(unsigned));
	case CONF_SSIZE:
		return ctl_read(a, o->ptr, sizeof(ssize_t));
	case CONF_SIZE:
		return ctl_read(a, o->ptr, sizeof(size_t));
	case CONF_ENUM: {
		const char *s = o->names[*(unsigned *)o->ptr];
		return ctl_read(a, &s, sizeof(s));
	}
	case CONF_STRING: {
		const char *s = o->ptr;
		return ctl_read(a, &s, sizeof(s));
	}
	}
	return ENOENT;
}

typedef struct ctl_node_s {
	const char *pattern;
	ctl_fn_t *fn;
} ctl_node_t;

static const ctl_node_t ctl_nodes[] = {
	{"version", ctl_version_fn},
	{"epoch", ctl_epoch_fn},
	{"config.debug", ctl_config_debug},
	{"config.stats", ctl_config_stats},
	{"config.prof", ctl_config_prof},
	{"background_thread", ctl_background_thread},
	{"thread.arena", ctl_thread_arena},
	{"thread.tcache.enabled", ctl_thread_tcache_enabled},
	{"thread.tcache.flush", ctl_thread_tcache_flush},
	{"arena.#.purge", ctl_arena_purge},
	{"arenas.narenas", ctl_arenas_narenas},
	{"arenas.quantum", ctl_arenas_quantum},
	{"arenas.page", ctl_arenas_page},
	{"arenas.chunksize", ctl_arenas_chunksize},
	{"arenas.nbins", ctl_arenas_nbins},
	{"arenas.bin.#.size", ctl_arenas_bin_size},
	{"arenas.bin.#.nregs", ctl_arenas_bin_nregs},
	{"arenas.bin.#.slab_size", ctl_arenas_bin_slab_size},
	{"arenas.nlextents", ctl_arenas_nlextents},
	{"arenas.tcache_max", ctl_arenas_tcache_max},
	{"arenas.lextent.#.size", ctl_arenas_lextent_size},
	{"stats.allocated", ctl_stats_allocated},
	{"stats.active", ctl_stats_active},
	{"stats.metadata", ctl_stats_metadata},
	{"stats.resident", ctl_stats_resident},
	{"stats.mapped", ctl_stats_mapped},
	{"stats.retained", ctl_stats_retained},
	{"stats.mutexes.ctl.num_ops", ctl_mx_ctl_ops},
	{"stats.mutexes.ctl.num_wait", ctl_mx_ctl_wait},
	{"stats.mutexes.arenas.num_ops", ctl_mx_arenas_ops},
	{"stats.mutexes.arenas.num_wait", ctl_mx_arenas_wait},
	{"stats.mutexes.tcaches.num_ops", ctl_mx_tcaches_ops},
	{"stats.mutexes.tcaches.num_wait", ctl_mx_tcaches_wait},
	{"stats.mutexes.chunk.num_ops", ctl_mx_chunk_ops},
	{"stats.mutexes.chunk.num_wait", ctl_mx_chunk_wait},
	{"stats.mutexes.base.num_ops", ctl_mx_base_ops},
	{"stats.mutexes.base.num_wait", ctl_mx_base_wait},
	{"stats.mutexes.huge_pool.num_ops", ctl_mx_huge_pool_ops},
	{"stats.mutexes.huge_pool.num_wait", ctl_mx_huge_pool_wait},
	{"stats.arenas.#.mutexes.bins.num_ops", ctl_amx_bins_ops},
	{"stats.arenas.#.mutexes.bins.num_wait", ctl_amx_bins_wait},
	{"stats.arenas.#.mutexes.arena.num_ops", ctl_amx_arena_ops},
	{"stats.arenas.#.mutexes.arena.num_wait", ctl_amx_arena_wait},
	{"stats.arenas.#.mutexes.huge.num_ops", ctl_amx_huge_ops},
	{"stats.arenas.#.mutexes.huge.num_wait", ctl_amx_huge_wait},
};
#define CTL_NNODES HM_ARRAY_SIZE(ctl_nodes)
/* MIB[0] values from CTL_OPT_BASE on name opt.<conf option>. */
#define CTL_OPT_BASE 1000

/*
 * Matches name against the patterns; fills mib (one element per
 * component) and returns its length, or 0 if nothing matches.
 */
static size_t
ctl_lookup(const char *name, size_t *mib) {
	if (strncmp(name, "opt.", 4) == 0) {
		const conf_opt_t *o = hm_conf_find(name + 4, strlen(name + 4));
		if (o == NULL)
			return 0;
		mib[0] = CTL_OPT_BASE + (size_t)(o - hm_conf_opts);
		mib[1] = 0;
		return 2;
	}
	for (size_t n = 0; n < CTL_NNODES; n++) {
		const char *p = ctl_nodes[n].pattern, *s = name;
		size_t depth = 0;
		bool ok = true;
		mib[0] = n;
		while (ok) {
			const char *pe = strchr(p, '.'), *se = strchr(s, '.');
			size_t plen = pe ? (size_t)(pe - p) : strlen(p);
			size_t slen = se ? (size_t)(se - s) : strlen(s);
			if (depth >= CTL_MAX_DEPTH) {
				ok = false;
				break;
			}
			if (plen == 1 && *p == '#') {
				size_t v = 0;
				if (slen == 0 || slen > 19) {
					ok = false;
					break;
				}
				for (size_t i = 0; i < slen && ok; i++) {
					if (s[i] < '0' || s[i] > '9')
						ok = false;
					v = v * 10 + (size_t)(s[i] - '0');
				}
				if (depth > 0)
					mib[depth] = v;
			} else {
				ok = plen == slen && memcmp(p, s, plen) == 0;
				if (depth > 0)
					mib[depth] = 0;
			}
			depth++;
			if (!ok || (pe == NULL) != (se == NULL))
				break;
			if (pe == NULL)
				return depth;
			p = pe + 1;
			s = se + 1;
		}
	}
	return 0;
}

static int
ctl_dispatch(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp,
    void *newp, size_t newlen) {
	if (!malloc_init())
		return EAGAIN;
	ctl_args_t a = {mib, oldp, oldlenp, newp, newlen};
	if (miblen == 0)
		return ENOENT;
	if (mib[0] >= CTL_OPT_BASE) {
		size_t i = mib[0] - CTL_OPT_BASE;
		if (i >= hm_conf_nopts || miblen != 2)
			return ENOENT;
		return ctl_opt(&hm_conf_opts[i], &a);
	}
	if (mib[0] >= CTL_NNODES)
		return ENOENT;
	/* The MIB must have as many components as the pattern. */
	size_t depth = 1;
	for (const char *p = ctl_nodes[mib[0]].pattern; *p; p++)
		depth += *p == '.';
	if (miblen != depth)
		return ENOENT;
	mutex_lock(&ctl_lock);
	int err = ctl_nodes[mib[0]].fn(&a);
	mutex_unlock(&ctl_lock);
	return err;
}

HM_EXPORT int
HM_PUBLIC(mallctl)(const char *name, void *oldp, size_t *oldlenp, void *newp,
    size_t newlen) {
	size_t mib[CTL_MAX_DEPTH];
	if (name == NULL)
		return EINVAL;
	size_t miblen = ctl_lookup(name, mib);
	if (miblen == 0)
		return ENOENT;
	return ctl_dispatch(mib, miblen, oldp, oldlenp, newp, newlen);
}

HM_EXPORT int
HM_PUBLIC(mallctlnametomib)(const char *name, size_t *mibp, size_t *miblenp) {
	size_t mib[CTL_MAX_DEPTH];
	if (name == NULL || mibp == NULL || miblenp == NULL)
		return EINVAL;
	if (!malloc_init())
		return EAGAIN;
	size_t miblen = ctl_lookup(name, mib);
	if (miblen == 0)
		return ENOENT;
	/* jemalloc fills at most *miblenp components (a prefix of a name
	 * gives a partial MIB); a full MIB is what the *bymib call needs. */
	if (*miblenp < miblen)
		miblen = *miblenp;
	memcpy(mibp, mib, miblen * sizeof(size_t));
	*miblenp = miblen;
	return 0;
}

HM_EXPORT int
HM_PUBLIC(mallctlbymib)(const size_t *mib, size_t miblen, void *oldp,
    size_t *oldlenp, void *newp, size_t newlen) {
	if (mib == NULL)
		return EINVAL;
	return ctl_dispatch(mib, miblen, oldp, oldlenp, newp, newlen);
}

HM_EXPORT void
HM_PUBLIC(malloc_stats_print)(void (*write_cb)(void *, const char *),
    void *cbopaque, const char *opts) {
	if (!malloc_init())
		return;
	mutex_lock(&ctl_lock);
	hm_stats_print(write_cb, cbopaque, opts);
	mutex_unlock(&ctl_lock);
}
