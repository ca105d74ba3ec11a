/*
 * The jemalloc mallctl namespace: each name's type (a read with the
 * wrong size is EINVAL), read-only names (EPERM), indexes (ENOENT past
 * the end, through names and MIBs), and values that follow what this
 * thread allocates and frees exactly.  Quotations are from jemalloc 5.3's
 * manual, jemalloc(3), for the behaviour each check holds hmalloc to.
 *
 * Single-threaded: nothing else allocates between snapshots.  Every
 * snapshot flushes the thread cache first; blocks in a cache count as
 * allocated, as in jemalloc.
 */
#include "unit_util.h"

#include <errno.h>
#include <string.h>

#include "sc.h"
#include "secure.h"

/* The bytes the arena statistics count for p: its class, the usable size
 * plus the canary's word in a Small block (canary option).  The thread's
 * counters count the usable size. */
static size_t
counted(void *p) {
	size_t u = hm_malloc_usable_size(p);
	return opt_canary && u < SC_SMALL_MAXCLASS ? u + CANARY_SIZE : u;
}

static void
epoch(void) {
	uint64_t e = 1;
	assert_d_eq(hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0,
	    "thread.tcache.flush");
	assert_d_eq(hm_mallctl("epoch", NULL, NULL, &e, sizeof(e)), 0,
	    "epoch");
}

/* Reads name (a printf format) as a value of size sz into v. */
__attribute__((format(printf, 3, 4))) static int
rd(void *v, size_t sz, const char *fmt, ...) {
	char name[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	size_t len = sz;
	int err = hm_mallctl(name, v, &len, NULL, 0);
	if (err == 0)
		expect_zu_eq(len, sz, "%s: length", name);
	return err;
}

#define RD_U64(...) ({ uint64_t v_ = 0;                                    \
	assert_d_eq(rd(&v_, sizeof(v_), __VA_ARGS__), 0, __VA_ARGS__); v_; })
#define RD_ZU(...) ({ size_t v_ = 0;                                       \
	assert_d_eq(rd(&v_, sizeof(v_), __VA_ARGS__), 0, __VA_ARGS__); v_; })
#define RD_U(...) ({ unsigned v_ = 0;                                      \
	assert_d_eq(rd(&v_, sizeof(v_), __VA_ARGS__), 0, __VA_ARGS__); v_; })

typedef struct {
	const char *name;
	size_t size;
	bool writable;
} name_t;

/* Names with their jemalloc types. */
static const name_t names[] = {
	{"version", sizeof(char *), false},
	{"epoch", sizeof(uint64_t), true},
	{"config.cache_oblivious", sizeof(bool), false},
	{"config.debug", sizeof(bool), false},
	{"config.fill", sizeof(bool), false},
	{"config.lazy_lock", sizeof(bool), false},
	{"config.malloc_conf", sizeof(char *), false},
	{"config.opt_safety_checks", sizeof(bool), false},
	{"config.prof", sizeof(bool), false},
	{"config.prof_libgcc", sizeof(bool), false},
	{"config.prof_libunwind", sizeof(bool), false},
	{"config.stats", sizeof(bool), false},
	{"config.utrace", sizeof(bool), false},
	{"config.xmalloc", sizeof(bool), false},
	{"opt.abort", sizeof(bool), false},
	{"opt.abort_conf", sizeof(bool), false},
	{"opt.background_thread", sizeof(bool), false},
	{"opt.dirty_decay_ms", sizeof(ssize_t), false},
	{"opt.dss", sizeof(char *), false},
	{"opt.junk", sizeof(char *), false},
	{"opt.narenas", sizeof(unsigned), false},
	{"opt.percpu_arena", sizeof(char *), false},
	{"opt.stats_print", sizeof(bool), false},
	{"opt.stats_print_opts", sizeof(char *), false},
	{"opt.tcache", sizeof(bool), false},
	{"opt.lg_tcache_max", sizeof(size_t), false},
	{"opt.zero", sizeof(bool), false},
	{"background_thread", sizeof(bool), true},
	{"max_background_threads", sizeof(size_t), true},
	{"thread.arena", sizeof(unsigned), true},
	{"thread.allocated", sizeof(uint64_t), false},
	{"thread.allocatedp", sizeof(uint64_t *), false},
	{"thread.deallocated", sizeof(uint64_t), false},
	{"thread.deallocatedp", sizeof(uint64_t *), false},
	{"thread.tcache.enabled", sizeof(bool), true},
	{"arena.0.dss", sizeof(char *), true},
	{"arena.0.extent_hooks", sizeof(void *), true},
	{"arena.0.dirty_decay_ms", sizeof(ssize_t), true},
	{"arena.0.muzzy_decay_ms", sizeof(ssize_t), true},
	{"arenas.muzzy_decay_ms", sizeof(ssize_t), true},
	{"opt.muzzy_decay_ms", sizeof(ssize_t), false},
	{"opt.retain", sizeof(bool), false},
	{"opt.thp", sizeof(char *), false},
	{"opt.metadata_thp", sizeof(char *), false},
	{"stats.arenas.0.muzzy_decay_ms", sizeof(ssize_t), false},
	{"stats.arenas.0.pmuzzy", sizeof(size_t), false},
	{"stats.arenas.0.muzzy_nmadvise", sizeof(uint64_t), false},
	{"stats.arenas.0.muzzy_purged", sizeof(uint64_t), false},
	{"arenas.narenas", sizeof(unsigned), false},
	{"arenas.dirty_decay_ms", sizeof(ssize_t), true},
	{"arenas.quantum", sizeof(size_t), false},
	{"arenas.page", sizeof(size_t), false},
	{"arenas.tcache_max", sizeof(size_t), false},
	{"arenas.nbins", sizeof(unsigned), false},
	{"arenas.nhbins", sizeof(unsigned), false},
	{"arenas.bin.0.size", sizeof(size_t), false},
	{"arenas.bin.0.nregs", sizeof(uint32_t), false},
	{"arenas.bin.0.slab_size", sizeof(size_t), false},
	{"arenas.bin.0.nshards", sizeof(uint32_t), false},
	{"arenas.nlextents", sizeof(unsigned), false},
	{"arenas.lextent.0.size", sizeof(size_t), false},
	{"stats.allocated", sizeof(size_t), false},
	{"stats.active", sizeof(size_t), false},
	{"stats.metadata", sizeof(size_t), false},
	{"stats.resident", sizeof(size_t), false},
	{"stats.mapped", sizeof(size_t), false},
	{"stats.retained", sizeof(size_t), false},
	{"stats.background_thread.num_threads", sizeof(size_t), false},
	{"stats.background_thread.num_runs", sizeof(uint64_t), false},
	{"stats.background_thread.run_interval", sizeof(uint64_t), false},
	{"stats.arenas.0.nthreads", sizeof(unsigned), false},
	{"stats.arenas.0.uptime", sizeof(uint64_t), false},
	{"stats.arenas.0.dss", sizeof(char *), false},
	{"stats.arenas.0.dirty_decay_ms", sizeof(ssize_t), false},
	{"stats.arenas.0.pactive", sizeof(size_t), false},
	{"stats.arenas.0.pdirty", sizeof(size_t), false},
	{"stats.arenas.0.mapped", sizeof(size_t), false},
	{"stats.arenas.0.retained", sizeof(size_t), false},
	{"stats.arenas.0.dirty_nmadvise", sizeof(uint64_t), false},
	{"stats.arenas.0.dirty_purged", sizeof(uint64_t), false},
	{"stats.arenas.0.small.allocated", sizeof(size_t), false},
	{"stats.arenas.0.small.nmalloc", sizeof(uint64_t), false},
	{"stats.arenas.0.small.ndalloc", sizeof(uint64_t), false},
	{"stats.arenas.0.small.nrequests", sizeof(uint64_t), false},
	{"stats.arenas.0.small.nfills", sizeof(uint64_t), false},
	{"stats.arenas.0.small.nflushes", sizeof(uint64_t), false},
	{"stats.arenas.0.large.allocated", sizeof(size_t), false},
	{"stats.arenas.0.large.nmalloc", sizeof(uint64_t), false},
	{"stats.arenas.0.large.ndalloc", sizeof(uint64_t), false},
	{"stats.arenas.0.large.nrequests", sizeof(uint64_t), false},
	{"stats.arenas.0.bins.0.nmalloc", sizeof(uint64_t), false},
	{"stats.arenas.0.bins.0.ndalloc", sizeof(uint64_t), false},
	{"stats.arenas.0.bins.0.nrequests", sizeof(uint64_t), false},
	{"stats.arenas.0.bins.0.curregs", sizeof(size_t), false},
	{"stats.arenas.0.bins.0.nfills", sizeof(uint64_t), false},
	{"stats.arenas.0.bins.0.nflushes", sizeof(uint64_t), false},
	{"stats.arenas.0.bins.0.nslabs", sizeof(uint64_t), false},
	{"stats.arenas.0.bins.0.nreslabs", sizeof(uint64_t), false},
	{"stats.arenas.0.bins.0.curslabs", sizeof(size_t), false},
	{"stats.arenas.0.bins.0.nonfull_slabs", sizeof(size_t), false},
	{"stats.arenas.0.lextents.0.nmalloc", sizeof(uint64_t), false},
	{"stats.arenas.0.lextents.0.ndalloc", sizeof(uint64_t), false},
	{"stats.arenas.0.lextents.0.nrequests", sizeof(uint64_t), false},
	{"stats.arenas.0.lextents.0.curlextents", sizeof(size_t), false},
	{"stats.arenas.4096.small.allocated", sizeof(size_t), false},
	{"stats.arenas.0.mutexes.bins.num_ops", sizeof(uint64_t), false},
	{"stats.mutexes.ctl.num_ops", sizeof(uint64_t), false},
};

/* "If oldp is non-NULL ... *oldlenp" must be the value's size: any other
 * length is EINVAL; "Attempting to write a read-only value" is EPERM;
 * an unknown name is ENOENT. */
TEST_BEGIN(test_types)
	unit_boot();
	epoch();
	for (size_t i = 0; i < HM_ARRAY_SIZE(names); i++) {
		const name_t *n = &names[i];
		char buf[16];
		size_t len = n->size;
		expect_d_eq(hm_mallctl(n->name, buf, &len, NULL, 0), 0,
		    "%s: read", n->name);
		expect_zu_eq(len, n->size, "%s: length", n->name);
		len = n->size + 1;
		expect_d_eq(hm_mallctl(n->name, buf, &len, NULL, 0), EINVAL,
		    "%s: read with a wrong length", n->name);
		if (!n->writable) {
			expect_d_eq(hm_mallctl(n->name, NULL, NULL, buf, n->size),
			    EPERM, "%s: write to a read-only name", n->name);
		} else {
			expect_d_eq(hm_mallctl(n->name, NULL, NULL, buf,
			    n->size + 1), EINVAL, "%s: write of a wrong length",
			    n->name);
		}
	}
	static const char *const unknown[] = {"nosuch", "stats", "stats.arenas",
	    "arenas.bin.0", "arena.0.extent_hooks.x", "arena.0.nosuch",
	    "prof.nosuch", "stats.arenas.0.bins.0", "thread.tcache.flush.x",
	    "arenas.bin.x.size", "opt.nosuch", "", "experimental",
	    "experimental.hooks", "experimental.hooks.install",
	    "experimental.hooks.remove"};
	for (size_t i = 0; i < HM_ARRAY_SIZE(unknown); i++) {
		size_t v, len = sizeof(v);
		expect_d_eq(hm_mallctl(unknown[i], &v, &len, NULL, 0), ENOENT,
		    "%s", unknown[i]);
	}
TEST_END

/* Indexes past the end are ENOENT, by name and by MIB. */
TEST_BEGIN(test_indexes)
	unit_boot();
	epoch();
	size_t v, len = sizeof(v);
	unsigned nbins = RD_U("arenas.nbins"), nl = RD_U("arenas.nlextents");
	expect_d_eq(nbins, SC_NBINS, "arenas.nbins");
	expect_d_eq(nl, SC_NSIZES - SC_NBINS, "arenas.nlextents");
	expect_d_eq(rd(&v, sizeof(v), "arenas.bin.%u.size", nbins), ENOENT,
	    "arenas.bin.<nbins>");
	expect_d_eq(rd(&v, sizeof(v), "arenas.lextent.%u.size", nl), ENOENT,
	    "arenas.lextent.<nlextents>");
	uint64_t u;
	expect_d_eq(rd(&u, sizeof(u), "stats.arenas.0.bins.%u.nmalloc", nbins),
	    ENOENT, "stats bins past the end");
	expect_d_eq(rd(&u, sizeof(u), "stats.arenas.0.lextents.%u.nmalloc", nl),
	    ENOENT, "stats lextents past the end");
	expect_d_eq(rd(&u, sizeof(u), "stats.arenas.%u.small.nmalloc",
	    HM_ARENAS_MAX), ENOENT, "stats of an arena that does not exist");
	/* A MIB walks the classes: "arenas.bin.<i>.size" by rewriting i. */
	size_t mib[8], miblen = HM_ARRAY_SIZE(mib);
	assert_d_eq(hm_mallctlnametomib("stats.arenas.0.bins.0.curregs", mib,
	    &miblen), 0, "mallctlnametomib");
	expect_zu_eq(miblen, 6, "MIB length");
	mib[2] = MALLCTL_ARENAS_ALL;
	for (unsigned j = 0; j < nbins; j++) {
		mib[4] = j;
		len = sizeof(v);
		expect_d_eq(hm_mallctlbymib(mib, miblen, &v, &len, NULL, 0), 0,
		    "bins.%u.curregs by MIB", j);
	}
	mib[4] = nbins;
	len = sizeof(v);
	expect_d_eq(hm_mallctlbymib(mib, miblen, &v, &len, NULL, 0), ENOENT,
	    "bins.<nbins> by MIB");
	/* A MIB of the wrong length names nothing. */
	expect_d_eq(hm_mallctlbymib(mib, miblen - 1, &v, &len, NULL, 0),
	    ENOENT, "short MIB");
	/* mallctlnametomib fills at most *miblenp components. */
	miblen = 3;
	assert_d_eq(hm_mallctlnametomib("arenas.bin.7.size", mib, &miblen), 0,
	    "nametomib");
	expect_zu_eq(miblen, 3, "partial MIB");
	expect_zu_eq(mib[2], 7, "index in the MIB");
TEST_END

/* The size class index of a block of size bytes. */
static unsigned
class_of(size_t size) {
	return sc_size2index(sc_s2u(size));
}

/*
 * "stats.arenas.<i>.bins.<j>.nrequests: Cumulative number of allocation
 * requests satisfied by bin regions of the corresponding size class";
 * curregs "Current number of regions"; small.allocated "Number of bytes
 * currently allocated by small objects".  Large: lextents.<j>.* and
 * large.*, which hmalloc's Huge range also reports into.
 */
TEST_BEGIN(test_exact_counters)
	unit_boot_exact();
	if (test_canary_on())
		test_skip("canary: Small classes keep a word for it");
	unsigned a = tsd_arena()->ind;
	/* Freeing the huge blocks may start the background thread, and
	 * pthread_create allocates from this thread's arena. */
	bool bg = false, bg_off = false;
	size_t bglen = sizeof(bg);
	assert_d_eq(hm_mallctl("background_thread", &bg, &bglen, &bg_off,
	    sizeof(bg_off)), 0, "background_thread off");
	enum { N = 300, M = 180, K = 5, H = 2 };
	size_t small = 64, large = 100 * KiB, huge = 4 * MiB;
	unsigned bj = class_of(small);
	unsigned lj = class_of(large) - SC_NBINS;
	unsigned hj = class_of(huge) - SC_NBINS;
	epoch();
	uint64_t req0 = RD_U64("stats.arenas.%u.bins.%u.nrequests", a, bj);
	size_t cur0 = RD_ZU("stats.arenas.%u.bins.%u.curregs", a, bj);
	uint64_t nm0 = RD_U64("stats.arenas.%u.bins.%u.nmalloc", a, bj);
	uint64_t nd0 = RD_U64("stats.arenas.%u.bins.%u.ndalloc", a, bj);
	size_t sall0 = RD_ZU("stats.arenas.%u.small.allocated", a);
	uint64_t sreq0 = RD_U64("stats.arenas.%u.small.nrequests", a);
	uint64_t lm0 = RD_U64("stats.arenas.%u.lextents.%u.nmalloc", a, lj);
	uint64_t lr0 = RD_U64("stats.arenas.%u.lextents.%u.nrequests", a, lj);
	size_t lc0 = RD_ZU("stats.arenas.%u.lextents.%u.curlextents", a, lj);
	size_t hc0 = RD_ZU("stats.arenas.%u.lextents.%u.curlextents", a, hj);
	size_t lall0 = RD_ZU("stats.arenas.%u.large.allocated", a);
	uint64_t lnm0 = RD_U64("stats.arenas.%u.large.nmalloc", a);
	size_t all0 = RD_ZU("stats.arenas.4096.small.allocated");

	void *s[N], *l[K], *h[H];
	for (int i = 0; i < N; i++)
		assert_ptr_not_null(s[i] = hm_malloc(small), "malloc");
	for (int i = 0; i < M; i++)
		hm_free(s[i]);
	for (int i = 0; i < K; i++)
		assert_ptr_not_null(l[i] = hm_malloc(large), "malloc large");
	for (int i = 0; i < H; i++)
		assert_ptr_not_null(h[i] = hm_malloc(huge), "malloc huge");
	epoch();
	expect_u64_eq(RD_U64("stats.arenas.%u.bins.%u.nrequests", a, bj)
	    - req0, N, "bins.nrequests");
	expect_u64_eq(RD_U64("stats.arenas.%u.small.nrequests", a) - sreq0, N,
	    "small.nrequests");
	expect_zu_eq(RD_ZU("stats.arenas.%u.bins.%u.curregs", a, bj) - cur0,
	    N - M, "bins.curregs");
	uint64_t nm = RD_U64("stats.arenas.%u.bins.%u.nmalloc", a, bj) - nm0;
	uint64_t nd = RD_U64("stats.arenas.%u.bins.%u.ndalloc", a, bj) - nd0;
	expect_u64_eq(nm - nd, N - M, "bins nmalloc - ndalloc");
	expect_zu_eq(RD_ZU("stats.arenas.%u.small.allocated", a) - sall0,
	    (N - M) * small, "small.allocated");
	expect_zu_eq(RD_ZU("stats.arenas.4096.small.allocated") - all0,
	    (N - M) * small, "merged small.allocated");
	size_t lus = sc_s2u(large), hus = sc_s2u(huge);
	expect_u64_eq(RD_U64("stats.arenas.%u.lextents.%u.nmalloc", a, lj)
	    - lm0, K, "lextents.nmalloc");
	expect_u64_eq(RD_U64("stats.arenas.%u.lextents.%u.nrequests", a, lj)
	    - lr0, K, "lextents.nrequests");
	expect_zu_eq(RD_ZU("stats.arenas.%u.lextents.%u.curlextents", a, lj)
	    - lc0, K, "lextents.curlextents");
	expect_zu_eq(RD_ZU("stats.arenas.%u.lextents.%u.curlextents", a, hj)
	    - hc0, H, "huge class curlextents");
	expect_zu_eq(RD_ZU("stats.arenas.%u.large.allocated", a) - lall0,
	    K * lus + H * hus, "large.allocated");
	expect_u64_eq(RD_U64("stats.arenas.%u.large.nmalloc", a) - lnm0, K + H,
	    "large.nmalloc");
	size_t lsize = RD_ZU("arenas.lextent.%u.size", lj);
	expect_zu_eq(lsize, lus, "arenas.lextent.<j>.size is the class");

	for (int i = M; i < N; i++)
		hm_free(s[i]);
	for (int i = 0; i < K; i++)
		hm_free(l[i]);
	for (int i = 0; i < H; i++)
		hm_free(h[i]);
	epoch();
	expect_zu_eq(RD_ZU("stats.arenas.%u.bins.%u.curregs", a, bj), cur0,
	    "curregs back");
	expect_zu_eq(RD_ZU("stats.arenas.%u.small.allocated", a), sall0,
	    "small.allocated back");
	expect_zu_eq(RD_ZU("stats.arenas.%u.lextents.%u.curlextents", a, lj),
	    lc0, "curlextents back");
	expect_zu_eq(RD_ZU("stats.arenas.%u.large.allocated", a), lall0,
	    "large.allocated back");
	/* "pactive: Number of pages in active extents" is at least what
	 * small and large hold. */
	size_t pactive = RD_ZU("stats.arenas.%u.pactive", a);
	expect_true((pactive << LG_PAGE) + RD_ZU("stats.arenas.%u.large."
	    "allocated", a) >= RD_ZU("stats.arenas.%u.small.allocated", a),
	    "pactive covers small.allocated");
	expect_u_eq(RD_U("stats.arenas.%u.nthreads", a) >= 1, 1, "nthreads");
	expect_d_eq(hm_mallctl("background_thread", NULL, NULL, &bg,
	    sizeof(bg)), 0, "background_thread restored");
TEST_END

/* "thread.allocated: Get the total number of bytes ever allocated by the
 * calling thread"; allocatedp "Get a pointer to the value that is
 * returned by thread.allocated". */
TEST_BEGIN(test_thread_counters)
	unit_boot();
	uint64_t *ap = NULL, *dp = NULL;
	size_t len = sizeof(ap);
	assert_d_eq(hm_mallctl("thread.allocatedp", &ap, &len, NULL, 0), 0,
	    "allocatedp");
	len = sizeof(dp);
	assert_d_eq(hm_mallctl("thread.deallocatedp", &dp, &len, NULL, 0), 0,
	    "deallocatedp");
	uint64_t a0 = RD_U64("thread.allocated"), d0 = RD_U64("thread.deallocated");
	expect_u64_eq(*ap, a0, "allocatedp points at thread.allocated");
	static const size_t sizes[] = {1, 17, 64, 1000, 14336, 16385, 40000,
	    300000, 3000000};
	uint64_t sum = 0;
	for (size_t i = 0; i < HM_ARRAY_SIZE(sizes); i++) {
		void *p = hm_malloc(sizes[i]);
		assert_ptr_not_null(p, "malloc");
		sum += hm_malloc_usable_size(p);
		hm_free(p);
	}
	void *p = hm_calloc(10, 100);
	sum += hm_malloc_usable_size(p);
	void *q = hm_realloc(p, 5000);
	sum += hm_malloc_usable_size(q);
	/* The pointer reads the live counter: no mallctl in between. */
	expect_u64_eq(*ap - a0, sum, "allocated by malloc, calloc, realloc");
	hm_free(q);
	expect_u64_eq(*dp - d0, sum, "deallocated: as much");
	expect_u64_eq(RD_U64("thread.allocated") - a0, sum, "thread.allocated");
TEST_END

/*
 * "arenas.create: Explicitly create a new arena outside the range of
 * automatically managed arenas"; "arena.<i>.reset: Discard all of the
 * arena's extant allocations.  This interface can only be used with
 * arenas explicitly created via arenas.create"; "arena.<i>.destroy: ...
 * merge the arena stats into those accessible at arena index
 * MALLCTL_ARENAS_DESTROYED ... Future calls to arenas.create may recycle
 * the arena index.  Destruction will fail if any threads are currently
 * associated with the arena".
 */
TEST_BEGIN(test_arena_lifecycle)
	unit_boot_exact();
	unsigned narenas0 = RD_U("arenas.narenas"), ind = 0;
	size_t len = sizeof(ind);
	assert_d_eq(hm_mallctl("arenas.create", &ind, &len, NULL, 0), 0,
	    "arenas.create");
	expect_u_eq(ind >= narenas0, 1, "a new index (%u, narenas was %u)", ind,
	    narenas0);
	expect_u_eq(RD_U("arenas.narenas") >= ind + 1, 1, "narenas grew");
	/* A table without alloc is refused (integration/extent_hooks tests
	 * the hooks themselves). */
	static struct { void *fn[9]; } no_alloc;
	void *hooks = &no_alloc;
	unsigned bad = 12345;
	expect_d_eq(hm_mallctl("arenas.create", &bad, &len, &hooks,
	    sizeof(hooks)), EINVAL, "extent hooks without alloc");
	expect_u_eq(bad, 12345, "no arena made");
	int flags = MALLOCX_ARENA(ind) | MALLOCX_TCACHE_NONE;
	static const size_t sizes[] = {48, 4000, 20000, 500000, 5000000};
	void *ps[HM_ARRAY_SIZE(sizes)];
	size_t total = 0;
	for (size_t i = 0; i < HM_ARRAY_SIZE(sizes); i++) {
		ps[i] = hm_mallocx(sizes[i], flags);
		assert_ptr_not_null(ps[i], "mallocx(%zu, arena %u)", sizes[i], ind);
		memset(ps[i], 0x5a, sizes[i]);
		total += counted(ps[i]);
		unsigned where = 0;
		len = sizeof(where);
		expect_d_eq(hm_mallctl("arenas.lookup", &where, &len, &ps[i],
		    sizeof(ps[i])), 0, "arenas.lookup");
		expect_u_eq(where, ind, "arenas.lookup of a block of arena %u",
		    ind);
		/* "any address inside a live block": its middle too. */
		void *mid = (char *)ps[i] + hm_sallocx(ps[i], 0) / 2;
		where = 0;
		len = sizeof(where);
		expect_d_eq(hm_mallctl("arenas.lookup", &where, &len, &mid,
		    sizeof(mid)), 0, "arenas.lookup inside %zu B", sizes[i]);
		expect_u_eq(where, ind, "arenas.lookup inside a block of arena "
		    "%u", ind);
	}
	epoch();
	expect_zu_eq(RD_ZU("stats.arenas.%u.small.allocated", ind)
	    + RD_ZU("stats.arenas.%u.large.allocated", ind), total,
	    "the new arena holds what was allocated in it");
	expect_u_eq(RD_U("stats.arenas.%u.nthreads", ind), 0, "no thread");

	/* Automatic arenas, and "all", cannot be reset. */
	expect_d_eq(hm_mallctl("arena.0.reset", NULL, NULL, NULL, 0), EFAULT,
	    "reset of an automatic arena");
	expect_d_eq(hm_mallctl("arena.4096.reset", NULL, NULL, NULL, 0), EFAULT,
	    "reset of all arenas");
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.reset", ind);
	assert_d_eq(hm_mallctl(name, NULL, NULL, NULL, 0), 0, "%s", name);
	epoch();
	expect_zu_eq(RD_ZU("stats.arenas.%u.small.allocated", ind), 0,
	    "small.allocated after reset");
	expect_zu_eq(RD_ZU("stats.arenas.%u.large.allocated", ind), 0,
	    "large.allocated after reset");
	expect_zu_eq(RD_ZU("stats.arenas.%u.mapped", ind), 0,
	    "mapped after reset");
	/* The discarded blocks are gone from the map: their addresses no
	 * longer belong to the arena. */
	unsigned where;
	len = sizeof(where);
	expect_d_eq(hm_mallctl("arenas.lookup", &where, &len, &ps[4],
	    sizeof(ps[4])), EINVAL, "lookup of a discarded huge block");
	/* The arena serves again. */
	void *p = hm_mallocx(100, flags);
	assert_ptr_not_null(p, "mallocx after reset");
	hm_dallocx(p, flags);

	/* Destruction fails while a thread is bound to the arena. */
	unsigned mine = RD_U("thread.arena");
	assert_d_eq(hm_mallctl("thread.arena", NULL, NULL, &ind, sizeof(ind)), 0,
	    "bind to the manual arena");
	snprintf(name, sizeof(name), "arena.%u.destroy", ind);
	expect_d_eq(hm_mallctl(name, NULL, NULL, NULL, 0), EFAULT,
	    "destroy with a thread bound");
	assert_d_eq(hm_mallctl("thread.arena", NULL, NULL, &mine, sizeof(mine)),
	    0, "bind back");
	p = hm_mallocx(200, flags);
	assert_ptr_not_null(p, "mallocx");
	uint64_t dnm0 = 0;
	if (rd(&dnm0, sizeof(dnm0), "stats.arenas.%d.small.nmalloc",
	    MALLCTL_ARENAS_DESTROYED) != 0)
		dnm0 = 0;
	epoch();
	uint64_t nm = RD_U64("stats.arenas.%u.small.nmalloc", ind);
	expect_d_eq(hm_mallctl(name, NULL, NULL, NULL, 0), 0, "%s", name);
	epoch();
	uint64_t v;
	expect_d_eq(rd(&v, sizeof(v), "stats.arenas.%u.small.nmalloc", ind),
	    ENOENT, "stats of a destroyed arena");
	expect_u64_eq(RD_U64("stats.arenas.%d.small.nmalloc",
	    MALLCTL_ARENAS_DESTROYED) - dnm0, nm,
	    "destroyed arenas' stats took its counters");
	expect_d_eq(hm_mallctl(name, NULL, NULL, NULL, 0), EFAULT,
	    "destroy twice");
	expect_ptr_null(hm_mallocx(10, flags), "mallocx in a destroyed arena");
	unsigned again = 0;
	len = sizeof(again);
	assert_d_eq(hm_mallctl("arenas.create", &again, &len, NULL, 0), 0,
	    "arenas.create");
	expect_u_eq(again, ind, "the index is recycled");
	epoch();
	expect_zu_eq(RD_ZU("stats.arenas.%u.small.allocated", again), 0,
	    "a recycled arena starts empty");
	p = hm_mallocx(300, MALLOCX_ARENA(again));
	assert_ptr_not_null(p, "mallocx in the recycled arena");
	hm_dallocx(p, MALLOCX_ARENA(again));
TEST_END

/* "tcache.create: Create an explicit thread-specific cache (tcache) and
 * return an identifier that can be passed to the MALLOCX_TCACHE(tc)
 * macro"; flush and destroy take that identifier. */
TEST_BEGIN(test_explicit_tcache)
	unit_boot_exact();
	unsigned tc = 0;
	size_t len = sizeof(tc);
	int err = hm_mallctl("tcache.create", &tc, &len, NULL, 0);
	if (RD_U("arenas.nhbins") == 0) {
		/* Caching is off (tcache:false, fill options): no cache to
		 * make. */
		expect_d_eq(err, EAGAIN, "tcache.create without caching");
		return;
	}
	assert_d_eq(err, 0, "tcache.create");
	void *ps[64];
	for (int i = 0; i < 64; i++) {
		ps[i] = hm_mallocx(32, MALLOCX_TCACHE(tc));
		assert_ptr_not_null(ps[i], "mallocx with tcache %u", tc);
		memset(ps[i], i, 32);
	}
	for (int i = 0; i < 64; i++)
		hm_dallocx(ps[i], MALLOCX_TCACHE(tc));
	void *p = hm_mallocx(32, MALLOCX_TCACHE(tc));
	expect_ptr_eq(p, ps[63], "the cache serves its last free block");
	hm_dallocx(p, MALLOCX_TCACHE(tc));
	expect_d_eq(hm_mallctl("tcache.flush", NULL, NULL, &tc, sizeof(tc)), 0,
	    "tcache.flush");
	expect_d_eq(hm_mallctl("tcache.flush", &tc, &len, NULL, 0), EPERM,
	    "tcache.flush is write-only");
	expect_d_eq(hm_mallctl("tcache.destroy", NULL, NULL, &tc, sizeof(tc)),
	    0, "tcache.destroy");
	expect_d_eq(hm_mallctl("tcache.flush", NULL, NULL, &tc, sizeof(tc)),
	    EFAULT, "flush of a destroyed cache");
	expect_d_eq(hm_mallctl("tcache.destroy", NULL, NULL, &tc, sizeof(tc)),
	    EFAULT, "destroy twice");
	unsigned bad = 100000;
	expect_d_eq(hm_mallctl("tcache.flush", NULL, NULL, &bad, sizeof(bad)),
	    EFAULT, "an index never created");
TEST_END

/* arena.<i>.dirty_decay_ms: "Current per-arena approximate time in
 * milliseconds from the creation of a set of unused dirty pages until an
 * equivalent set of unused dirty pages is purged"; arenas.dirty_decay_ms
 * is the default "used to initialize arena.<i>.dirty_decay_ms ... for
 * newly created arenas". */
TEST_BEGIN(test_decay_settings)
	unit_boot();
	ssize_t opt = 0, v = 0;
	size_t len = sizeof(opt);
	assert_d_eq(hm_mallctl("opt.dirty_decay_ms", &opt, &len, NULL, 0), 0,
	    "opt.dirty_decay_ms");
	unsigned a = tsd_arena()->ind;
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", a);
	len = sizeof(v);
	assert_d_eq(hm_mallctl(name, &v, &len, NULL, 0), 0, "%s", name);
	expect_zd_eq(v, opt, "an arena starts with the option");
	/* Zero purges at once: a freed large run leaves no dirty page. */
	ssize_t zero = 0, bad = -2, old = 0;
	len = sizeof(old);
	assert_d_eq(hm_mallctl(name, &old, &len, &zero, sizeof(zero)), 0,
	    "set 0");
	expect_zd_eq(old, opt, "old value");
	void *p = hm_mallocx(256 * KiB, MALLOCX_TCACHE_NONE);
	assert_ptr_not_null(p, "mallocx");
	memset(p, 1, 256 * KiB);
	hm_dallocx(p, MALLOCX_TCACHE_NONE);
	epoch();
	expect_zu_eq(RD_ZU("stats.arenas.%u.pdirty", a), 0,
	    "no dirty page with decay 0");
	expect_zd_eq(({ ssize_t d_ = 1; rd(&d_, sizeof(d_),
	    "stats.arenas.%u.dirty_decay_ms", a); d_; }), 0,
	    "stats.arenas.<i>.dirty_decay_ms");
	expect_d_eq(hm_mallctl(name, NULL, NULL, &bad, sizeof(bad)), EFAULT,
	    "below -1");
	expect_d_eq(hm_mallctl("arena.4096.dirty_decay_ms", NULL, NULL, &zero,
	    sizeof(zero)), EFAULT, "all arenas");
	assert_d_eq(hm_mallctl(name, NULL, NULL, &opt, sizeof(opt)), 0,
	    "restore");
	/* The default for new arenas. */
	ssize_t def = 1234, def0 = 0;
	len = sizeof(def0);
	assert_d_eq(hm_mallctl("arenas.dirty_decay_ms", &def0, &len, &def,
	    sizeof(def)), 0, "arenas.dirty_decay_ms");
	unsigned ind;
	len = sizeof(ind);
	assert_d_eq(hm_mallctl("arenas.create", &ind, &len, NULL, 0), 0,
	    "arenas.create");
	snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", ind);
	len = sizeof(v);
	assert_d_eq(hm_mallctl(name, &v, &len, NULL, 0), 0, "%s", name);
	expect_zd_eq(v, def, "a new arena takes arenas.dirty_decay_ms");
	assert_d_eq(hm_mallctl("arenas.dirty_decay_ms", NULL, NULL, &def0,
	    sizeof(def0)), 0, "restore");
	snprintf(name, sizeof(name), "arena.%u.destroy", ind);
	expect_d_eq(hm_mallctl(name, NULL, NULL, NULL, 0), 0, "%s", name);
	/* arena.<i>.decay purges what has come of age: nothing fails. */
	expect_d_eq(hm_mallctl("arena.4096.decay", NULL, NULL, NULL, 0), 0,
	    "arena.4096.decay");
TEST_END

/* arena.<i>.dss: "Set the precedence of dss allocation as related to
 * mmap allocation for arena <i>, or for all arenas if <i> equals
 * MALLCTL_ARENAS_ALL". */
TEST_BEGIN(test_dss)
	unit_boot();
	const char *opt = NULL, *cur = NULL, *set = "disabled", *bad = "bogus";
	size_t len = sizeof(opt);
	assert_d_eq(hm_mallctl("opt.dss", &opt, &len, NULL, 0), 0, "opt.dss");
	assert_d_eq(hm_mallctl("arena.0.dss", &cur, &len, NULL, 0), 0,
	    "arena.0.dss");
	expect_str_eq(cur, opt, "arena 0 starts with the option");
	assert_d_eq(hm_mallctl("arena.0.dss", NULL, NULL, &set, sizeof(set)), 0,
	    "set disabled");
	assert_d_eq(hm_mallctl("arena.0.dss", &cur, &len, NULL, 0), 0, "read");
	expect_str_eq(cur, "disabled", "the arena's setting");
	expect_d_eq(hm_mallctl("arena.0.dss", NULL, NULL, &bad, sizeof(bad)),
	    EINVAL, "unknown precedence");
	assert_d_eq(hm_mallctl("arena.4096.dss", NULL, NULL, &opt, sizeof(opt)),
	    0, "restore all");
	assert_d_eq(hm_mallctl("arena.0.dss", &cur, &len, NULL, 0), 0, "read");
	expect_str_eq(cur, opt, "restored");
TEST_END

TEST_BEGIN(test_misc)
	unit_boot();
	/* "arenas.lookup: Index of the arena to which an allocation
	 * belongs". */
	void *p = hm_malloc(40);
	assert_ptr_not_null(p, "malloc");
	unsigned where = 99999;
	size_t len = sizeof(where);
	expect_d_eq(hm_mallctl("arenas.lookup", &where, &len, &p, sizeof(p)), 0,
	    "arenas.lookup");
	expect_u_eq(where, tsd_arena()->ind, "the thread's arena");
	hm_free(p);
	void *bad = &where;
	expect_d_eq(hm_mallctl("arenas.lookup", &where, &len, &bad,
	    sizeof(bad)), EINVAL, "a pointer hmalloc did not hand out");
	size_t m = 0;
	len = sizeof(m);
	assert_d_eq(hm_mallctl("max_background_threads", &m, &len, NULL, 0), 0,
	    "max_background_threads");
	expect_zu_eq(m, 1, "one purging thread");
	size_t zero = 0;
	expect_d_eq(hm_mallctl("max_background_threads", NULL, NULL, &zero,
	    sizeof(zero)), EINVAL, "zero threads");
	bool b = false;
	len = sizeof(b);
	assert_d_eq(hm_mallctl("config.stats", &b, &len, NULL, 0), 0, "read");
	expect_true(b, "config.stats");
	assert_d_eq(hm_mallctl("config.prof", &b, &len, NULL, 0), 0, "read");
	expect_true(b, "config.prof: every build profiles (opt.prof)");
	/* thread.tcache.flush neither reads nor writes. */
	expect_d_eq(hm_mallctl("thread.tcache.flush", &b, &len, NULL, 0), EPERM,
	    "thread.tcache.flush with oldp");
	/* arenas.nhbins: the classes thread caches hold, up to
	 * arenas.tcache_max. */
	unsigned nh = RD_U("arenas.nhbins");
	if (nh > 0)
		expect_zu_eq(RD_ZU("arenas.tcache_max"), hm_sc_size[nh - 1],
		    "the last cached class is tcache_max");
TEST_END

int
main(void) {
	return test(test_types, test_indexes, test_exact_counters,
	    test_thread_counters, test_arena_lifecycle, test_explicit_tcache,
	    test_decay_settings, test_dss, test_misc);
}
