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
#include "background.h"
#include "check.h"
#include "chunk.h"
#include "conf.h"
#include "decay.h"
#include "huge.h"
#include "os.h"
#include "pages.h"
#include "prof.h"
#include "san.h"
#include "mutex.h"
#include "sc.h"
#include "secure.h"
#include "stats.h"
#include "tcache.h"
#include "tsd.h"
#include "vg.h"

static mutex_t ctl_lock;
static uint64_t ctl_epoch = 1;
static bool ctl_refreshed;
static stats_t ctl_stats;
/* stats.background_thread.* (jemalloc's names and types). */
static struct {
	size_t num_threads;
	uint64_t num_runs, run_interval;
} ctl_bg;
/* Per-arena snapshots (allocated when first needed), their sum
 * (MALLCTL_ARENAS_ALL) and that of destroyed arenas
 * (MALLCTL_ARENAS_DESTROYED, kept up to date at each destruction). */
static arena_stats_t *ctl_astats[HM_ARENAS_MAX];
static bool ctl_alive[HM_ARENAS_MAX];
static arena_stats_t ctl_astats_all, ctl_astats_destroyed;
static bool ctl_any_destroyed;

static void ctl_shapes_init(void);
static void ctl_walk_check(void);

bool
hm_ctl_boot(void) {
	ctl_shapes_init();
	if (config_debug)
		ctl_walk_check();
	return hm_mutex_init(&ctl_lock, LOCK_RANK_CTL, "ctl");
}

void
hm_ctl_prefork(void) {
	hm_mutex_prefork(&ctl_lock);
}

void
hm_ctl_postfork_parent(void) {
	hm_mutex_postfork_parent(&ctl_lock);
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
	const ctl_env_t *env;
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

/* "epoch": a new snapshot of the statistics.  The calling thread's cache
 * hands over its request counts first, so that a thread's own activity
 * is exact (other threads' come at their caches' next fill or flush). */
static void
ctl_refresh(void) {
	if (hm_tsd.tcache != NULL)
		hm_tcache_stats_merge(hm_tsd.tcache);
	memset(&ctl_astats_all, 0, sizeof(ctl_astats_all));
	unsigned n = hm_narenas;
	for (unsigned i = 0; i < n; i++) {
		ctl_alive[i] = hm_arena_get(i, false) != NULL;
		if (!ctl_alive[i])
			continue;
		if (ctl_astats[i] == NULL) {
			ctl_astats[i] = hm_base_alloc(sizeof(arena_stats_t));
			if (ctl_astats[i] == NULL) {
				ctl_alive[i] = false;
				continue;
			}
		}
		memset(ctl_astats[i], 0, sizeof(arena_stats_t));
		hm_stats_arena_read(i, ctl_astats[i]);
		/* The sum reads again rather than adding up snapshots:
		 * every counter is additive but uptime, the oldest's. */
		hm_stats_arena_read(i, &ctl_astats_all);
	}
	if (ctl_alive[0])
		ctl_astats_all.uptime_ns = ctl_astats[0]->uptime_ns;
	ctl_bg.num_threads = hm_background_running();
	hm_background_stats(&ctl_bg.num_runs, &ctl_bg.run_interval);
	/* Last: the snapshots' own metadata counts. */
	hm_stats_read(&ctl_stats);
	ctl_refreshed = true;
}

const arena_stats_t *
hm_ctl_stats_destroyed(void) {
	return ctl_any_destroyed ? &ctl_astats_destroyed : NULL;
}

/* The snapshot stats.arenas.<i> reads; NULL (ENOENT) when there was no
 * arena i at the last epoch. */
static const arena_stats_t *
ctl_astats_get(size_t i) {
	if (i == MALLCTL_ARENAS_ALL)
		return &ctl_astats_all;
	if (i == MALLCTL_ARENAS_DESTROYED)
		return ctl_any_destroyed ? &ctl_astats_destroyed : NULL;
	if (i >= HM_ARENAS_MAX || !ctl_alive[i])
		return NULL;
	return ctl_astats[i];
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
CTL_RO(ctl_config_prof, bool, true)
CTL_RO(ctl_config_fill, bool, true)
CTL_RO(ctl_config_lazy_lock, bool, false)
CTL_RO(ctl_config_malloc_conf, const char *, "")
CTL_RO(ctl_config_opt_safety_checks, bool, true)
CTL_RO(ctl_config_prof_libgcc, bool, true)
CTL_RO(ctl_config_prof_libunwind, bool, false)
CTL_RO(ctl_config_utrace, bool, false)
CTL_RO(ctl_config_xmalloc, bool, false)
CTL_RO(ctl_config_cache_oblivious, bool, false)
CTL_RO(ctl_thread_allocated, uint64_t, hm_tsd.allocated)
CTL_RO(ctl_thread_allocatedp, uint64_t *, &hm_tsd.allocated)
CTL_RO(ctl_thread_deallocated, uint64_t, hm_tsd.deallocated)
CTL_RO(ctl_thread_deallocatedp, uint64_t *, &hm_tsd.deallocated)
CTL_RO(ctl_arenas_nhbins, unsigned, hm_tcache_nbins)
CTL_RO(ctl_arenas_narenas, unsigned, hm_narenas)
CTL_RO(ctl_arenas_quantum, size_t, QUANTUM)
CTL_RO(ctl_arenas_page, size_t, PAGE)
CTL_RO(ctl_arenas_chunksize, size_t, hm_chunksize)
CTL_RO(ctl_arenas_nbins, unsigned, SC_NBINS)
CTL_RO(ctl_arenas_nlextents, unsigned, SC_NLEXTENTS)
CTL_RO(ctl_arenas_tcache_max, size_t,
    hm_tcache_nbins ? hm_sc_size[hm_tcache_nbins - 1] : 0)
CTL_RO(ctl_stats_allocated, size_t, ctl_stats.allocated)
CTL_RO(ctl_stats_active, size_t, ctl_stats.active)
CTL_RO(ctl_stats_san_live, size_t, ctl_stats.san_live)
CTL_RO(ctl_stats_san_allocated, size_t, ctl_stats.san_allocated)
CTL_RO(ctl_stats_san_total, uint64_t, ctl_stats.san_total)
CTL_RO(ctl_stats_metadata, size_t, ctl_stats.metadata)
CTL_RO(ctl_stats_resident, size_t, ctl_stats.resident)
CTL_RO(ctl_stats_mapped, size_t, ctl_stats.mapped)
CTL_RO(ctl_stats_retained, size_t, ctl_stats.retained)
CTL_RO(ctl_stats_zero_reallocs, size_t, atomic_load_explicit(
    &hm_stats_zero_reallocs, memory_order_relaxed))
CTL_RO(ctl_stats_bg_num_threads, size_t, ctl_bg.num_threads)
CTL_RO(ctl_stats_bg_num_runs, uint64_t, ctl_bg.num_runs)
CTL_RO(ctl_stats_bg_run_interval, uint64_t, ctl_bg.run_interval)

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
		(void)i;                                                   \
		type v_ = (expr);                                          \
		return ctl_read(a, &v_, sizeof(v_));                       \
	}

CTL_RO_INDEXED(ctl_arenas_bin_size, size_t, SC_NBINS, hm_sc_slab[i].size)
CTL_RO_INDEXED(ctl_arenas_bin_nregs, uint32_t, SC_NBINS, hm_sc_slab[i].nregs)
CTL_RO_INDEXED(ctl_arenas_bin_slab_size, size_t, SC_NBINS,
    (size_t)hm_sc_slab[i].npages << LG_PAGE)
CTL_RO_INDEXED(ctl_arenas_bin_nshards, uint32_t, SC_NBINS, 1)
CTL_RO_INDEXED(ctl_arenas_lextent_size, size_t, SC_NLEXTENTS,
    hm_sc_size[SC_NBINS + i])

/* stats.arenas.<i>.<expr of s>, from the last epoch's snapshot. */
#define CTL_ASTAT(name, type, expr)                                        \
	static int name(const ctl_args_t *a) {                             \
		const arena_stats_t *s = ctl_astats_get(a->mib[2]);        \
		if (s == NULL)                                             \
			return ENOENT;                                     \
		int err = ctl_readonly(a);                                 \
		if (err != 0)                                              \
			return err;                                        \
		type v_ = (expr);                                          \
		return ctl_read(a, &v_, sizeof(v_));                       \
	}
/* stats.arenas.<i>.bins.<j>.<field> and lextents.<j>.<field>. */
#define CTL_ASTAT_INDEXED(name, type, array, n, expr)                      \
	static int name(const ctl_args_t *a) {                             \
		const arena_stats_t *s = ctl_astats_get(a->mib[2]);        \
		if (s == NULL || a->mib[4] >= (n))                         \
			return ENOENT;                                     \
		int err = ctl_readonly(a);                                 \
		if (err != 0)                                              \
			return err;                                        \
		const __typeof__(s->array[0]) *e = &s->array[a->mib[4]];   \
		type v_ = (expr);                                          \
		return ctl_read(a, &v_, sizeof(v_));                       \
	}

CTL_ASTAT(ctl_sa_nthreads, unsigned, s->nthreads)
CTL_ASTAT(ctl_sa_uptime, uint64_t, s->uptime_ns)
CTL_ASTAT(ctl_sa_dss, const char *, hm_dss_names[s->dss])
CTL_ASTAT(ctl_sa_dirty_decay_ms, ssize_t, s->dirty_decay_ms)
CTL_ASTAT(ctl_sa_muzzy_decay_ms, ssize_t, s->muzzy_decay_ms)
CTL_ASTAT(ctl_sa_pmuzzy, size_t, s->pmuzzy)
CTL_ASTAT(ctl_sa_muzzy_nmadvise, uint64_t, s->muzzy_nmadvise)
CTL_ASTAT(ctl_sa_muzzy_purged, uint64_t, s->muzzy_purged)
CTL_ASTAT(ctl_sa_pactive, size_t, s->pactive)
CTL_ASTAT(ctl_sa_pdirty, size_t, s->pdirty)
CTL_ASTAT(ctl_sa_mapped, size_t, s->mapped)
CTL_ASTAT(ctl_sa_retained, size_t, 0)
CTL_ASTAT(ctl_sa_dirty_nmadvise, uint64_t, s->nmadvise)
CTL_ASTAT(ctl_sa_dirty_purged, uint64_t, s->npurged)
CTL_ASTAT(ctl_sa_small_allocated, size_t, s->small_allocated)
CTL_ASTAT(ctl_sa_small_nmalloc, uint64_t, s->small_nmalloc)
CTL_ASTAT(ctl_sa_small_ndalloc, uint64_t, s->small_ndalloc)
CTL_ASTAT(ctl_sa_small_nrequests, uint64_t, s->small_nrequests)
CTL_ASTAT(ctl_sa_small_nfills, uint64_t, s->small_nfills)
CTL_ASTAT(ctl_sa_small_nflushes, uint64_t, s->small_nflushes)
CTL_ASTAT(ctl_sa_large_allocated, size_t, s->large_allocated)
CTL_ASTAT(ctl_sa_large_nmalloc, uint64_t, s->large_nmalloc)
CTL_ASTAT(ctl_sa_large_ndalloc, uint64_t, s->large_ndalloc)
CTL_ASTAT(ctl_sa_large_nrequests, uint64_t, s->large_nrequests)
CTL_ASTAT_INDEXED(ctl_sb_nmalloc, uint64_t, bins, SC_NBINS, e->nmalloc)
CTL_ASTAT_INDEXED(ctl_sb_ndalloc, uint64_t, bins, SC_NBINS, e->ndalloc)
CTL_ASTAT_INDEXED(ctl_sb_nrequests, uint64_t, bins, SC_NBINS, e->nrequests)
CTL_ASTAT_INDEXED(ctl_sb_curregs, size_t, bins, SC_NBINS, e->curregs)
CTL_ASTAT_INDEXED(ctl_sb_nfills, uint64_t, bins, SC_NBINS, e->nfills)
CTL_ASTAT_INDEXED(ctl_sb_nflushes, uint64_t, bins, SC_NBINS, e->nflushes)
CTL_ASTAT_INDEXED(ctl_sb_nslabs, uint64_t, bins, SC_NBINS, e->nslabs)
CTL_ASTAT_INDEXED(ctl_sb_nreslabs, uint64_t, bins, SC_NBINS, e->nreslabs)
CTL_ASTAT_INDEXED(ctl_sb_curslabs, size_t, bins, SC_NBINS, e->curslabs)
CTL_ASTAT_INDEXED(ctl_sb_nonfull_slabs, size_t, bins, SC_NBINS,
    e->nonfull_slabs)
CTL_ASTAT_INDEXED(ctl_sl_nmalloc, uint64_t, lextents, SC_NLEXTENTS,
    e->nmalloc)
CTL_ASTAT_INDEXED(ctl_sl_ndalloc, uint64_t, lextents, SC_NLEXTENTS,
    e->ndalloc)
CTL_ASTAT_INDEXED(ctl_sl_nrequests, uint64_t, lextents, SC_NLEXTENTS,
    e->nrequests)
CTL_ASTAT_INDEXED(ctl_sl_curlextents, size_t, lextents, SC_NLEXTENTS,
    (size_t)(e->nmalloc - e->ndalloc))

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
	const arena_stats_t *s = ctl_astats_get(a->mib[2]);
	if (s == NULL)
		return ENOENT;
	uint64_t v = wait ? s->mutexes[which].nwaits : s->mutexes[which].nlocks;
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
		ctl_refresh();
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

/*
 * A run-time switch of a feature its option may have left out (on): as
 * jemalloc's profiler's, without it the switch reads false and refuses
 * true (ENOENT).
 */
static int
ctl_switch(const ctl_args_t *a, bool on, bool (*get)(void),
    void (*set)(bool)) {
	bool v;
	int err = ctl_write(a, &v, sizeof(v));
	if (err != 0)
		return err;
	bool old = on && get();
	if (a->newp != NULL) {
		if (!on && v)
			return ENOENT;
		if (on)
			set(v);
	}
	return ctl_read(a, &old, sizeof(old));
}

/* The heap profiler (prof.h): without opt.prof, actions are ENOENT. */
static int
ctl_prof_switch(const ctl_args_t *a, bool (*get)(void), void (*set)(bool)) {
	return ctl_switch(a, opt_prof, get, set);
}

/* san.active: ENOENT to turn on where opt.san_guard was false. */
static int
ctl_san_active(const ctl_args_t *a) {
	return ctl_switch(a, opt_san_guard, hm_san_active_get,
	    hm_san_active_set);
}

static int
ctl_prof_active(const ctl_args_t *a) {
	return ctl_prof_switch(a, hm_prof_active_get, hm_prof_active_set);
}

static int
ctl_prof_gdump(const ctl_args_t *a) {
	return ctl_prof_switch(a, hm_prof_gdump_get, hm_prof_gdump_set);
}

static int
ctl_prof_thread_active_init(const ctl_args_t *a) {
	return ctl_prof_switch(a, hm_prof_thread_active_init_get,
	    hm_prof_thread_active_init_set);
}

static int
ctl_thread_prof_active(const ctl_args_t *a) {
	tsd_arena(); /* bound, so that the setting sticks */
	return ctl_prof_switch(a, hm_prof_thread_active_get,
	    hm_prof_thread_active_set);
}

static int
ctl_thread_prof_name(const ctl_args_t *a) {
	if (!opt_prof)
		return ENOENT;
	if (a->newp != NULL) {
		/* Read or write, not both (jemalloc). */
		if (a->oldp != NULL || a->oldlenp != NULL)
			return EPERM;
		const char *name;
		int err = ctl_write(a, &name, sizeof(name));
		if (err != 0)
			return err;
		if (name == NULL)
			return EFAULT;
		tsd_arena();
		return hm_prof_thread_name_set(name);
	}
	tsd_arena();
	const char *name = hm_prof_thread_name_get();
	return ctl_read(a, &name, sizeof(name));
}

/* prof.dump: a file name, or NULL for prof_prefix's automatic one. */
static int
ctl_prof_dump(const ctl_args_t *a) {
	if (!opt_prof)
		return ENOENT;
	if (a->oldp != NULL || a->oldlenp != NULL)
		return EPERM;
	const char *name = NULL;
	int err = ctl_write(a, &name, sizeof(name));
	if (err != 0)
		return err;
	return hm_prof_dump(name);
}

/* prof.reset: optionally with a new lg_prof_sample. */
static int
ctl_prof_reset(const ctl_args_t *a) {
	if (!opt_prof)
		return ENOENT;
	if (a->oldp != NULL || a->oldlenp != NULL)
		return EPERM;
	size_t lg = hm_prof_lg_sample();
	int err = ctl_write(a, &lg, sizeof(lg));
	if (err != 0)
		return err;
	if (lg > 62)
		return EINVAL;
	hm_prof_reset(lg);
	return 0;
}

CTL_RO(ctl_prof_lg_sample, size_t, hm_prof_lg_sample())
CTL_RO(ctl_prof_interval, uint64_t, hm_prof_interval())

/* A name that neither reads nor writes (jemalloc: EPERM otherwise). */
static int
ctl_neither(const ctl_args_t *a) {
	return a->oldp != NULL || a->oldlenp != NULL || a->newp != NULL
	    || a->newlen != 0 ? EPERM : 0;
}

/* experimental.batch_alloc: jemalloc's packet in, the count filled out;
 * both are required. */
typedef struct ctl_batch_packet_s {
	void **ptrs;
	size_t num;
	size_t size;
	int flags;
} ctl_batch_packet_t;

static int
ctl_batch_alloc(const ctl_args_t *a) {
	ctl_batch_packet_t pk;
	if (a->newp == NULL || a->newlen != sizeof(pk) || a->oldp == NULL
	    || a->oldlenp == NULL || *a->oldlenp != sizeof(size_t)
	    || a->env == NULL || a->env->batch_alloc == NULL)
		return EINVAL;
	memcpy(&pk, a->newp, sizeof(pk));
	if (pk.num != 0 && pk.ptrs == NULL)
		return EINVAL;
	size_t filled = a->env->batch_alloc(pk.ptrs, pk.num, pk.size,
	    pk.flags);
	memcpy(a->oldp, &filled, sizeof(filled));
	return 0;
}

/* experimental.hooks.safety_check_abort: write-only, a function pointer
 * (NULL: none, the line goes to stderr again). */
static int
ctl_safety_check_abort(const ctl_args_t *a) {
	if (a->oldp != NULL || a->oldlenp != NULL)
		return EPERM;
	hm_check_hook_t hook = NULL;
	if (a->newp == NULL)
		return 0;
	int err = ctl_write(a, &hook, sizeof(hook));
	if (err == 0)
		atomic_store_explicit(&hm_check_abort_hook, hook,
		    memory_order_release);
	return err;
}

/* The calling thread's cache, flushed, and the quarantine emptied: a
 * reset arena's blocks must not stay in them, and statistics then count
 * every free. */
static void
ctl_flush_own_tcache(void) {
	if (tsd_arena() != NULL && hm_tsd.tcache != NULL)
		hm_tcache_flush_all(hm_tsd.tcache);
	hm_quarantine_drain();
}

static int
ctl_thread_tcache_flush(const ctl_args_t *a) {
	int err = ctl_neither(a);
	if (err == 0)
		ctl_flush_own_tcache();
	return err;
}

static int
ctl_background_thread(const ctl_args_t *a) {
	bool v;
	int err = ctl_write(a, &v, sizeof(v));
	if (err != 0)
		return err;
	bool old = opt_background_thread;
	if (a->newp != NULL)
		hm_background_set(v);
	return ctl_read(a, &old, sizeof(old));
}

/* One purging thread serves every arena: any limit of one or more is
 * already met. */
static int
ctl_max_background_threads(const ctl_args_t *a) {
	size_t v, old = 1;
	int err = ctl_write(a, &v, sizeof(v));
	if (err != 0)
		return err;
	if (a->newp != NULL && v == 0)
		return EINVAL;
	return ctl_read(a, &old, sizeof(old));
}

/*
 * The arenas arena.<i> names, visited with fn: every arena for
 * MALLCTL_ARENAS_ALL or, as jemalloc still accepts, i == arenas.narenas
 * (when all is true); else arena i.  ENOENT past the indexes, EFAULT for
 * an index without an arena.
 */
static int
ctl_arena_apply(const ctl_args_t *a, bool all,
    int (*fn)(arena_t *, const ctl_args_t *)) {
	size_t ind = a->mib[1];
	unsigned n = hm_narenas;
	if (ind == MALLCTL_ARENAS_ALL || ind == n) {
		if (!all)
			return EFAULT;
		for (unsigned i = 0; i < n; i++) {
			arena_t *arena = hm_arena_get(i, false);
			int err = arena != NULL ? fn(arena, a) : 0;
			if (err != 0)
				return err;
		}
		return 0;
	}
	if (ind > n)
		return ENOENT;
	arena_t *arena = hm_arena_get((unsigned)ind, false);
	return arena != NULL ? fn(arena, a) : EFAULT;
}

static int
ctl_arena_purge_one(arena_t *arena, const ctl_args_t *a) {
	(void)a;
	hm_arena_purge_all(arena);
	hm_huge_purge_all(arena);
	return 0;
}

static int
ctl_arena_purge(const ctl_args_t *a) {
	int err = ctl_neither(a);
	return err ? err : ctl_arena_apply(a, true, ctl_arena_purge_one);
}

/* arena.<i>.decay: what has come of age, now. */
static int
ctl_arena_decay_one(arena_t *arena, const ctl_args_t *a) {
	(void)a;
	uint64_t now = hm_decay_now_ms();
	hm_arena_decay(arena, now);
	hm_huge_decay(arena, now, false);
	return 0;
}

static int
ctl_arena_decay(const ctl_args_t *a) {
	int err = ctl_neither(a);
	return err ? err : ctl_arena_apply(a, true, ctl_arena_decay_one);
}

/* arena.<i>.reset and destroy: manual arenas only (EFAULT), and for
 * destroy, none with threads bound to it. */
static int
ctl_arena_discard(arena_t *arena, bool destroy) {
	if (arena->ind < hm_narenas_auto || (destroy
	    && atomic_load_explicit(&arena->nthreads, memory_order_relaxed)))
		return EFAULT;
	ctl_flush_own_tcache();
	hm_prof_arena_reset(arena);
	hm_huge_reset(arena, destroy);
	hm_arena_reset(arena);
	if (destroy) {
		hm_stats_arena_read(arena->ind, &ctl_astats_destroyed);
		ctl_any_destroyed = true;
		ctl_alive[arena->ind] = false;
		if (!hm_arena_destroy(arena))
			return EFAULT;
	}
	return 0;
}

static int
ctl_arena_reset_one(arena_t *arena, const ctl_args_t *a) {
	(void)a;
	return ctl_arena_discard(arena, false);
}

static int
ctl_arena_destroy_one(arena_t *arena, const ctl_args_t *a) {
	(void)a;
	return ctl_arena_discard(arena, true);
}

static int
ctl_arena_reset(const ctl_args_t *a) {
	int err = ctl_neither(a);
	return err ? err : ctl_arena_apply(a, false, ctl_arena_reset_one);
}

static int
ctl_arena_destroy(const ctl_args_t *a) {
	int err = ctl_neither(a);
	return err ? err : ctl_arena_apply(a, false, ctl_arena_destroy_one);
}

/* arena.<i>.dss: the arena's brk precedence, by name. */
static int
ctl_arena_dss_one(arena_t *arena, const ctl_args_t *a) {
	unsigned v = *(const unsigned *)a->newp;
	atomic_store_explicit(&arena->dss, v, memory_order_relaxed);
	return 0;
}

static int
ctl_arena_dss(const ctl_args_t *a) {
	const char *name = NULL;
	int err = ctl_write(a, &name, sizeof(name));
	if (err != 0)
		return err;
	size_t ind = a->mib[1];
	bool all = ind == MALLCTL_ARENAS_ALL || ind == hm_narenas;
	arena_t *arena = NULL;
	if (!all) {
		if (ind > hm_narenas)
			return ENOENT;
		arena = hm_arena_get((unsigned)ind, false);
		if (arena == NULL)
			return EFAULT;
	}
	unsigned old = arena != NULL ? atomic_load_explicit(&arena->dss,
	    memory_order_relaxed) : opt_dss;
	if (a->newp != NULL) {
		unsigned v = 0;
		while (v < 3 && (name == NULL || strcmp(name, hm_dss_names[v])))
			v++;
		if (v == 3)
			return EINVAL;
		ctl_args_t b = *a;
		b.newp = &v;
		ctl_arena_apply(&b, true, ctl_arena_dss_one);
	}
	const char *s = hm_dss_names[old];
	return ctl_read(a, &s, sizeof(s));
}

/* A decay time in ms: -1 (never) or more, as jemalloc accepts. */
static int
ctl_decay_ms_write(const ctl_args_t *a, ssize_t *v) {
	int err = ctl_write(a, v, sizeof(*v));
	if (err == 0 && a->newp != NULL && *v < -1)
		err = EFAULT;
	return err;
}

/* arena.<i>.{dirty,muzzy}_decay_ms. */
static int
ctl_arena_decay_ms(const ctl_args_t *a, bool muzzy) {
	ssize_t v;
	int err = ctl_decay_ms_write(a, &v);
	if (err != 0)
		return err;
	size_t ind = a->mib[1];
	if (ind > HM_ARENAS_MAX)
		return EFAULT;
	if (ind >= hm_narenas)
		return ind == MALLCTL_ARENAS_ALL ? EFAULT : ENOENT;
	arena_t *arena = hm_arena_get((unsigned)ind, false);
	if (arena == NULL)
		return EFAULT;
	_Atomic ssize_t *setting = muzzy ? &arena->muzzy_decay_ms
					 : &arena->dirty_decay_ms;
	ssize_t old = atomic_load_explicit(setting, memory_order_relaxed);
	if (a->newp != NULL) {
		atomic_store_explicit(setting, v, memory_order_relaxed);
		/* What the new time makes due goes now. */
		uint64_t now = hm_decay_now_ms();
		hm_arena_decay(arena, now);
		hm_huge_decay(arena, now, false);
	}
	return ctl_read(a, &old, sizeof(old));
}

static int
ctl_arena_dirty_decay_ms(const ctl_args_t *a) {
	return ctl_arena_decay_ms(a, false);
}

static int
ctl_arena_muzzy_decay_ms(const ctl_args_t *a) {
	return ctl_arena_decay_ms(a, true);
}

/* arenas.{dirty,muzzy}_decay_ms: what new arenas start with. */
static int
ctl_arenas_decay_ms(const ctl_args_t *a, _Atomic ssize_t *setting) {
	ssize_t v;
	int err = ctl_decay_ms_write(a, &v);
	if (err != 0)
		return err;
	ssize_t old = atomic_load(setting);
	if (a->newp != NULL)
		atomic_store(setting, v);
	return ctl_read(a, &old, sizeof(old));
}

static int
ctl_arenas_dirty_decay_ms(const ctl_args_t *a) {
	return ctl_arenas_decay_ms(a, &hm_arenas_dirty_decay_ms);
}

static int
ctl_arenas_muzzy_decay_ms(const ctl_args_t *a) {
	return ctl_arenas_decay_ms(a, &hm_arenas_muzzy_decay_ms);
}

/* arenas.create, with the program's extent hooks if it writes some. */
static int
ctl_arenas_create(const ctl_args_t *a) {
	ehooks_table_t *hooks = NULL;
	int err = ctl_write(a, &hooks, sizeof(hooks));
	if (err != 0)
		return err;
	/* (NULL: hmalloc's own; alloc is the one hook a table must have.) */
	if (hooks != NULL && hooks->alloc == NULL)
		return EINVAL;
	if (a->oldp != NULL && (a->oldlenp == NULL
	    || *a->oldlenp != sizeof(unsigned)))
		return EINVAL;
	arena_t *arena = hm_arena_create_manual();
	if (arena == NULL)
		return EAGAIN;
	if (hooks != NULL)
		hm_ehooks_write(&arena->ehooks, hooks);
	unsigned ind = arena->ind;
	return ctl_read(a, &ind, sizeof(ind));
}

/* arena.<i>.extent_hooks: the arena's (made if it is an automatic one
 * not made yet); a new table serves its next chunks and huge blocks. */
static int
ctl_arena_extent_hooks(const ctl_args_t *a) {
	ehooks_table_t *hooks = NULL;
	int err = ctl_write(a, &hooks, sizeof(hooks));
	if (err != 0)
		return err;
	size_t ind = a->mib[1];
	if (ind >= hm_narenas)
		return ind == MALLCTL_ARENAS_ALL ? EINVAL : ENOENT;
	arena_t *arena = hm_arena_get((unsigned)ind, ind < hm_narenas_auto);
	if (arena == NULL)
		return EFAULT;
	ehooks_table_t *old = hm_ehooks_read(&arena->ehooks);
	if (a->newp != NULL) {
		if (hooks != NULL && hooks->alloc == NULL)
			return EINVAL;
		hm_ehooks_write(&arena->ehooks, hooks);
	}
	return ctl_read(a, &old, sizeof(old));
}

/* arenas.lookup: the arena of any address inside a live block. */
static int
ctl_arenas_lookup(const ctl_args_t *a) {
	const void *ptr;
	if (a->newp == NULL)
		return EINVAL;
	int err = ctl_write(a, &ptr, sizeof(ptr));
	if (err != 0)
		return err;
	uintptr_t v = ptr != NULL ? rtree_get(ptr) : 0;
	arena_t *arena;
	if (v != 0) {
		arena = v & RTREE_HUGE_TAG ? huge_from_rtree(v)->arena
					   : ((chunk_t *)v)->arena;
	} else {
		/* Only a huge block's first chunk-map key is set: an
		 * address further in is looked for among the live ones. */
		arena = ptr != NULL ? hm_huge_lookup(ptr) : NULL;
		if (arena == NULL && ptr != NULL)
			arena = hm_san_arena_of(ptr);
		if (arena == NULL)
			return EINVAL;
	}
	unsigned ind = arena->ind;
	return ctl_read(a, &ind, sizeof(ind));
}

static int
ctl_tcache_create(const ctl_args_t *a) {
	int err = ctl_readonly(a);
	if (err != 0)
		return err;
	if (a->oldp == NULL || a->oldlenp == NULL
	    || *a->oldlenp != sizeof(unsigned))
		return EINVAL;
	arena_t *arena = tsd_arena();
	unsigned ind;
	if (arena == NULL || !hm_tcache_explicit_create(arena, &ind))
		return EAGAIN;
	return ctl_read(a, &ind, sizeof(ind));
}

static int
ctl_tcache_flush_or_destroy(const ctl_args_t *a, bool destroy) {
	if (a->oldp != NULL || a->oldlenp != NULL)
		return EPERM;
	unsigned ind;
	if (a->newp == NULL)
		return EFAULT;
	int err = ctl_write(a, &ind, sizeof(ind));
	if (err != 0)
		return err;
	return hm_tcache_explicit_flush(ind, destroy) ? 0 : EFAULT;
}

static int
ctl_tcache_flush(const ctl_args_t *a) {
	return ctl_tcache_flush_or_destroy(a, false);
}

static int
ctl_tcache_destroy(const ctl_args_t *a) {
	return ctl_tcache_flush_or_destroy(a, true);
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
	case CONF_STRING:
	case CONF_SLAB_SIZES: {
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
	{"config.cache_oblivious", ctl_config_cache_oblivious},
	{"config.debug", ctl_config_debug},
	{"config.fill", ctl_config_fill},
	{"config.lazy_lock", ctl_config_lazy_lock},
	{"config.malloc_conf", ctl_config_malloc_conf},
	{"config.opt_safety_checks", ctl_config_opt_safety_checks},
	{"config.prof", ctl_config_prof},
	{"config.prof_libgcc", ctl_config_prof_libgcc},
	{"config.prof_libunwind", ctl_config_prof_libunwind},
	{"config.stats", ctl_config_stats},
	{"config.utrace", ctl_config_utrace},
	{"config.xmalloc", ctl_config_xmalloc},
	{"opt.*", NULL},
	{"background_thread", ctl_background_thread},
	{"max_background_threads", ctl_max_background_threads},
	{"thread.arena", ctl_thread_arena},
	{"thread.allocated", ctl_thread_allocated},
	{"thread.allocatedp", ctl_thread_allocatedp},
	{"thread.deallocated", ctl_thread_deallocated},
	{"thread.deallocatedp", ctl_thread_deallocatedp},
	{"thread.tcache.enabled", ctl_thread_tcache_enabled},
	{"thread.tcache.flush", ctl_thread_tcache_flush},
	{"thread.prof.active", ctl_thread_prof_active},
	{"thread.prof.name", ctl_thread_prof_name},
	{"prof.active", ctl_prof_active},
	{"prof.dump", ctl_prof_dump},
	{"prof.reset", ctl_prof_reset},
	{"prof.lg_sample", ctl_prof_lg_sample},
	{"prof.interval", ctl_prof_interval},
	{"prof.gdump", ctl_prof_gdump},
	{"prof.thread_active_init", ctl_prof_thread_active_init},
	{"san.active", ctl_san_active},
	{"tcache.create", ctl_tcache_create},
	{"tcache.flush", ctl_tcache_flush},
	{"tcache.destroy", ctl_tcache_destroy},
	{"arena.#.purge", ctl_arena_purge},
	{"arena.#.decay", ctl_arena_decay},
	{"arena.#.reset", ctl_arena_reset},
	{"arena.#.destroy", ctl_arena_destroy},
	{"arena.#.dss", ctl_arena_dss},
	{"arena.#.extent_hooks", ctl_arena_extent_hooks},
	{"arena.#.dirty_decay_ms", ctl_arena_dirty_decay_ms},
	{"arena.#.muzzy_decay_ms", ctl_arena_muzzy_decay_ms},
	{"arenas.narenas", ctl_arenas_narenas},
	{"arenas.dirty_decay_ms", ctl_arenas_dirty_decay_ms},
	{"arenas.muzzy_decay_ms", ctl_arenas_muzzy_decay_ms},
	{"arenas.quantum", ctl_arenas_quantum},
	{"arenas.page", ctl_arenas_page},
	{"arenas.chunksize", ctl_arenas_chunksize},
	{"arenas.tcache_max", ctl_arenas_tcache_max},
	{"arenas.nbins", ctl_arenas_nbins},
	{"arenas.nhbins", ctl_arenas_nhbins},
	{"arenas.bin.#.size", ctl_arenas_bin_size},
	{"arenas.bin.#.nregs", ctl_arenas_bin_nregs},
	{"arenas.bin.#.slab_size", ctl_arenas_bin_slab_size},
	{"arenas.bin.#.nshards", ctl_arenas_bin_nshards},
	{"arenas.nlextents", ctl_arenas_nlextents},
	{"arenas.lextent.#.size", ctl_arenas_lextent_size},
	{"arenas.create", ctl_arenas_create},
	{"arenas.lookup", ctl_arenas_lookup},
	{"stats.allocated", ctl_stats_allocated},
	{"stats.san.live", ctl_stats_san_live},
	{"stats.san.allocated", ctl_stats_san_allocated},
	{"stats.san.total", ctl_stats_san_total},
	{"stats.active", ctl_stats_active},
	{"stats.metadata", ctl_stats_metadata},
	{"stats.resident", ctl_stats_resident},
	{"stats.mapped", ctl_stats_mapped},
	{"stats.retained", ctl_stats_retained},
	{"stats.zero_reallocs", ctl_stats_zero_reallocs},
	{"stats.background_thread.num_threads", ctl_stats_bg_num_threads},
	{"stats.background_thread.num_runs", ctl_stats_bg_num_runs},
	{"stats.background_thread.run_interval", ctl_stats_bg_run_interval},
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
	{"stats.arenas.#.nthreads", ctl_sa_nthreads},
	{"stats.arenas.#.uptime", ctl_sa_uptime},
	{"stats.arenas.#.dss", ctl_sa_dss},
	{"stats.arenas.#.dirty_decay_ms", ctl_sa_dirty_decay_ms},
	{"stats.arenas.#.muzzy_decay_ms", ctl_sa_muzzy_decay_ms},
	{"stats.arenas.#.pactive", ctl_sa_pactive},
	{"stats.arenas.#.pdirty", ctl_sa_pdirty},
	{"stats.arenas.#.pmuzzy", ctl_sa_pmuzzy},
	{"stats.arenas.#.mapped", ctl_sa_mapped},
	{"stats.arenas.#.retained", ctl_sa_retained},
	{"stats.arenas.#.dirty_nmadvise", ctl_sa_dirty_nmadvise},
	{"stats.arenas.#.dirty_purged", ctl_sa_dirty_purged},
	{"stats.arenas.#.muzzy_nmadvise", ctl_sa_muzzy_nmadvise},
	{"stats.arenas.#.muzzy_purged", ctl_sa_muzzy_purged},
	{"stats.arenas.#.small.allocated", ctl_sa_small_allocated},
	{"stats.arenas.#.small.nmalloc", ctl_sa_small_nmalloc},
	{"stats.arenas.#.small.ndalloc", ctl_sa_small_ndalloc},
	{"stats.arenas.#.small.nrequests", ctl_sa_small_nrequests},
	{"stats.arenas.#.small.nfills", ctl_sa_small_nfills},
	{"stats.arenas.#.small.nflushes", ctl_sa_small_nflushes},
	{"stats.arenas.#.large.allocated", ctl_sa_large_allocated},
	{"stats.arenas.#.large.nmalloc", ctl_sa_large_nmalloc},
	{"stats.arenas.#.large.ndalloc", ctl_sa_large_ndalloc},
	{"stats.arenas.#.large.nrequests", ctl_sa_large_nrequests},
	{"stats.arenas.#.bins.#.nmalloc", ctl_sb_nmalloc},
	{"stats.arenas.#.bins.#.ndalloc", ctl_sb_ndalloc},
	{"stats.arenas.#.bins.#.nrequests", ctl_sb_nrequests},
	{"stats.arenas.#.bins.#.curregs", ctl_sb_curregs},
	{"stats.arenas.#.bins.#.nfills", ctl_sb_nfills},
	{"stats.arenas.#.bins.#.nflushes", ctl_sb_nflushes},
	{"stats.arenas.#.bins.#.nslabs", ctl_sb_nslabs},
	{"stats.arenas.#.bins.#.nreslabs", ctl_sb_nreslabs},
	{"stats.arenas.#.bins.#.curslabs", ctl_sb_curslabs},
	{"stats.arenas.#.bins.#.nonfull_slabs", ctl_sb_nonfull_slabs},
	{"stats.arenas.#.lextents.#.nmalloc", ctl_sl_nmalloc},
	{"stats.arenas.#.lextents.#.ndalloc", ctl_sl_ndalloc},
	{"stats.arenas.#.lextents.#.nrequests", ctl_sl_nrequests},
	{"stats.arenas.#.lextents.#.curlextents", ctl_sl_curlextents},
	{"stats.arenas.#.mutexes.bins.num_ops", ctl_amx_bins_ops},
	{"stats.arenas.#.mutexes.bins.num_wait", ctl_amx_bins_wait},
	{"stats.arenas.#.mutexes.arena.num_ops", ctl_amx_arena_ops},
	{"stats.arenas.#.mutexes.arena.num_wait", ctl_amx_arena_wait},
	{"stats.arenas.#.mutexes.huge.num_ops", ctl_amx_huge_ops},
	{"stats.arenas.#.mutexes.huge.num_wait", ctl_amx_huge_wait},
	{"experimental.batch_alloc", ctl_batch_alloc},
	{"experimental.hooks.safety_check_abort", ctl_safety_check_abort},
};
#define CTL_NNODES HM_ARRAY_SIZE(ctl_nodes)

/*
 * A MIB is a path in the tree the names make, one component per level,
 * as jemalloc's: a number where the name has one ("#": an arena, a bin;
 * "*": an option, by its index in the option table), else the rank of
 * the name among its siblings in table order (patterns sharing a prefix
 * are contiguous in the table).  A prefix of a name is an interior node
 * whose MIB is the prefix of its children's, so a program can take
 * "arenas.bin" once and fill in the rest.
 *
 * ctl_shape[n][d] is leaf n's component d as a MIB holds it (CTL_NUMBER
 * where the MIB carries a number), derived from the table at boot, with
 * the components' places in the pattern (ctl_comp_at, ctl_comp_len) and
 * ctl_next[n][d], the first leaf after n whose components up to d are
 * not n's: the next sibling at depth d.  A lookup walks the tree one
 * component at a time, from sibling to sibling, as jemalloc's does.
 */
#define CTL_NUMBER 0xff
static uint8_t ctl_shape[CTL_NNODES][CTL_MAX_DEPTH];
static uint8_t ctl_depth[CTL_NNODES];
static uint8_t ctl_comp_at[CTL_NNODES][CTL_MAX_DEPTH];
static uint8_t ctl_comp_len[CTL_NNODES][CTL_MAX_DEPTH];
static uint16_t ctl_next[CTL_NNODES][CTL_MAX_DEPTH];
#define CTL_INTERIOR SIZE_MAX
_Static_assert(CTL_NNODES < UINT16_MAX, "ctl_next holds a leaf index");

/* Splits a dotted name into at most CTL_MAX_DEPTH components; 0 if it
 * has more, or an empty one. */
static size_t
ctl_split(const char *name, const char **comp, size_t *len) {
	size_t depth = 0;
	for (const char *s = name;; depth++) {
		const char *e = strchr(s, '.');
		size_t l = e != NULL ? (size_t)(e - s) : strlen(s);
		if (depth == CTL_MAX_DEPTH || l == 0)
			return 0;
		comp[depth] = s;
		len[depth] = l;
		if (e == NULL)
			return depth + 1;
		s = e + 1;
	}
}

static bool
ctl_comp_is(const char *c, size_t len, char what) {
	return len == 1 && *c == what;
}

/* Whether leaves n and m have the same components 0 to d. */
static bool
ctl_same_prefix(size_t n, size_t m, size_t d) {
	if (ctl_depth[n] <= d || ctl_depth[m] <= d)
		return false;
	for (size_t i = 0; i <= d; i++) {
		if (ctl_comp_len[n][i] != ctl_comp_len[m][i]
		    || memcmp(ctl_nodes[n].pattern + ctl_comp_at[n][i],
		    ctl_nodes[m].pattern + ctl_comp_at[m][i],
		    ctl_comp_len[n][i]) != 0)
			return false;
	}
	return true;
}

static void
ctl_shapes_init(void) {
	const char *prev[CTL_MAX_DEPTH], *comp[CTL_MAX_DEPTH];
	size_t prevlen[CTL_MAX_DEPTH], len[CTL_MAX_DEPTH], prevdepth = 0;
	for (size_t n = 0; n < CTL_NNODES; n++) {
		size_t depth = ctl_split(ctl_nodes[n].pattern, comp, len);
		ctl_depth[n] = (uint8_t)depth;
		for (size_t d = 0; d < depth; d++) {
			size_t at = (size_t)(comp[d] - ctl_nodes[n].pattern);
			hm_assert(at <= UINT8_MAX && len[d] <= UINT8_MAX);
			ctl_comp_at[n][d] = (uint8_t)at;
			ctl_comp_len[n][d] = (uint8_t)len[d];
		}
		/* The first component that differs from the previous leaf
		 * starts a new sibling there; those after it are first
		 * children. */
		size_t f = 0;
		while (n > 0 && f < depth && f < prevdepth && len[f] == prevlen[f]
		    && memcmp(comp[f], prev[f], len[f]) == 0)
			f++;
		for (size_t d = 0; d < depth; d++) {
			unsigned v = d < f ? ctl_shape[n - 1][d]
			    : d == f && n > 0 ? ctl_shape[n - 1][d] + 1u : 0;
			if (ctl_comp_is(comp[d], len[d], '#')
			    || ctl_comp_is(comp[d], len[d], '*'))
				v = CTL_NUMBER;
			/* A number is its parent's only child. */
			hm_assert(v <= CTL_NUMBER && (v < CTL_NUMBER || d != f
			    || n == 0));
			ctl_shape[n][d] = (uint8_t)v;
		}
		memcpy(prev, comp, sizeof(prev));
		memcpy(prevlen, len, sizeof(prevlen));
		prevdepth = depth;
	}
	for (size_t d = 0; d < CTL_MAX_DEPTH; d++) {
		for (size_t n = CTL_NNODES; n-- > 0;) {
			ctl_next[n][d] = (uint16_t)(n + 1 < CTL_NNODES
			    && ctl_same_prefix(n, n + 1, d) ? ctl_next[n + 1][d]
			    : n + 1);
		}
	}
}

/* A decimal component's value; false if it is not one. */
static bool
ctl_number(const char *s, size_t len, size_t *v) {
	if (len > 19)
		return false;
	*v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (size_t)(s[i] - '0');
	}
	return true;
}

/*
 * Whether name's component c (len bytes) is leaf n's component d, and
 * what the MIB holds for it: a number, an option's index, or the rank.
 */
static bool
ctl_comp_match(size_t n, size_t d, const char *c, size_t len, size_t *v) {
	const char *p = ctl_nodes[n].pattern + ctl_comp_at[n][d];
	if (unlikely(ctl_shape[n][d] == CTL_NUMBER)) {
		if (*p == '#')
			return ctl_number(c, len, v);
		const conf_opt_t *o = hm_conf_find(c, len);
		if (o == NULL)
			return false;
		*v = (size_t)(o - hm_conf_opts);
		return true;
	}
	*v = ctl_shape[n][d];
	/* Length and first byte first: most siblings differ there. */
	return ctl_comp_len[n][d] == len && *p == *c
	    && memcmp(p + 1, c + 1, len - 1) == 0;
}

/*
 * The leaves [*lo, *hi) that share components 0 to d-1 narrowed to those
 * whose component d the MIB value v (from_name: the name's component c)
 * selects; false if none does.  One step of the walk down the tree: the
 * siblings at depth d, first leaf to first leaf.
 */
static bool
ctl_descend(size_t *lo, size_t *hi, size_t d, const char *c, size_t len,
    size_t *v, bool from_name) {
	for (size_t n = *lo; n < *hi; n = ctl_next[n][d]) {
		/* The leaf that is this prefix has no component d (its
		 * ctl_next[n][d] is n + 1). */
		if (ctl_depth[n] <= d)
			continue;
		bool hit = from_name ? ctl_comp_match(n, d, c, len, v)
		    : ctl_shape[n][d] == CTL_NUMBER || ctl_shape[n][d] == *v;
		if (hit) {
			*lo = n;
			*hi = ctl_next[n][d];
			return true;
		}
	}
	return false;
}

/*
 * The MIB of name, a leaf or an interior node: its length (0 if no node
 * has that name), with *leaf the leaf's index or CTL_INTERIOR.
 */
static size_t
ctl_lookup(const char *name, size_t *mib, size_t *leaf) {
	const char *comp[CTL_MAX_DEPTH];
	size_t len[CTL_MAX_DEPTH];
	size_t depth = ctl_split(name, comp, len);
	if (depth == 0)
		return 0;
	size_t lo = 0, hi = CTL_NNODES;
	for (size_t d = 0; d < depth; d++) {
		if (!ctl_descend(&lo, &hi, d, comp[d], len[d], &mib[d], true))
			return 0;
	}
	*leaf = ctl_depth[lo] == depth ? lo : CTL_INTERIOR;
	return depth;
}

/* The leaf a MIB names, or CTL_INTERIOR if none. */
static size_t
ctl_leaf(const size_t *mib, size_t miblen) {
	if (miblen == 0 || miblen > CTL_MAX_DEPTH)
		return CTL_INTERIOR;
	size_t lo = 0, hi = CTL_NNODES;
	for (size_t d = 0; d < miblen; d++) {
		size_t v = mib[d];
		if (!ctl_descend(&lo, &hi, d, NULL, 0, &v, false))
			return CTL_INTERIOR;
	}
	return ctl_depth[lo] == miblen ? lo : CTL_INTERIOR;
}

/*
 * Debug builds check the walk at boot: every leaf is found by its name
 * (numbers as 0, options as the first one) and by the MIB the name gives,
 * and each of its proper prefixes is an interior node.
 */
static void
ctl_walk_check(void) {
	for (size_t n = 0; n < CTL_NNODES; n++) {
		char name[128];
		size_t at = 0;
		for (const char *p = ctl_nodes[n].pattern; *p != '\0'; p++) {
			const char *rep = *p == '#' ? "0" : *p == '*'
			    ? hm_conf_opts[0].name : NULL;
			size_t l = rep != NULL ? strlen(rep) : 1;
			hm_assert(at + l < sizeof(name));
			memcpy(name + at, rep != NULL ? rep : p, l);
			at += l;
		}
		name[at] = '\0';
		size_t mib[CTL_MAX_DEPTH], leaf;
		size_t miblen = ctl_lookup(name, mib, &leaf);
		hm_assert(miblen == ctl_depth[n] && leaf == n);
		hm_assert(ctl_leaf(mib, miblen) == n);
		for (size_t k = 1; k < miblen; k++)
			hm_assert(ctl_leaf(mib, k) == CTL_INTERIOR);
	}
}

/* Leaf n's handler for the MIB (of miblen components) that named it. */
static int
ctl_call(const ctl_env_t *env, size_t n, const size_t *mib, size_t miblen,
    void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
	vg_awake();
	ctl_args_t a = {mib, oldp, oldlenp, newp, newlen, env};
	if (ctl_nodes[n].fn == NULL) {
		/* opt.*: the option by its index. */
		if (mib[miblen - 1] >= hm_conf_nopts)
			return ENOENT;
		return ctl_opt(&hm_conf_opts[mib[miblen - 1]], &a);
	}
	mutex_lock(&ctl_lock);
	/* Statistics read before any "epoch" are those of the first call. */
	if (unlikely(!ctl_refreshed))
		ctl_refresh();
	int err = ctl_nodes[n].fn(&a);
	mutex_unlock(&ctl_lock);
	return err;
}

/*
 * The mallctl calls, for the entry points (which initialise the
 * allocator first): jemalloc's semantics and error numbers.
 */
int
hm_ctl_bymib(const ctl_env_t *env, const size_t *mib, size_t miblen,
    void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
	size_t n = ctl_leaf(mib, miblen);
	if (n == CTL_INTERIOR)
		return ENOENT;
	return ctl_call(env, n, mib, miblen, oldp, oldlenp, newp, newlen);
}

int
hm_ctl_byname(const ctl_env_t *env, const char *name, void *oldp,
    size_t *oldlenp, void *newp, size_t newlen) {
	size_t mib[CTL_MAX_DEPTH];
	size_t leaf;
	size_t miblen = ctl_lookup(name, mib, &leaf);
	if (miblen == 0 || leaf == CTL_INTERIOR)
		return ENOENT;
	return ctl_call(env, leaf, mib, miblen, oldp, oldlenp, newp, newlen);
}

int
hm_ctl_nametomib(const char *name, size_t *mibp, size_t *miblenp) {
	size_t mib[CTL_MAX_DEPTH];
	size_t leaf;
	size_t miblen = ctl_lookup(name, mib, &leaf);
	if (miblen == 0)
		return ENOENT;
	/* As jemalloc: at most *miblenp components, the first ones. */
	if (*miblenp < miblen)
		miblen = *miblenp;
	memcpy(mibp, mib, miblen * sizeof(size_t));
	*miblenp = miblen;
	return 0;
}

void
hm_ctl_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
    const char *opts) {
	mutex_lock(&ctl_lock);
	hm_stats_print(write_cb, cbopaque, opts, hm_ctl_stats_destroyed());
	mutex_unlock(&ctl_lock);
}
