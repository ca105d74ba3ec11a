/*
 * The mallctl namespace (ctl.c): MIBs whose index component a program
 * rewrites (arenas.bin.#.size/nregs/slab_size, arenas.lextent.#.size)
 * agree with the size-class tables; the error codes: ENOENT for an unknown
 * name or index, EINVAL for a wrong *oldlenp or newlen, EPERM for writing
 * a read-only name, EFAULT for an arena index that cannot be used;
 * arena.<i>.purge including MALLCTL_ARENAS_ALL (4096); thread.arena.
 */
#include "unit_util.h"

#include "chunk.h"

TEST_BEGIN(test_bin_mibs)
	unit_boot();
	static const char *names[] = {"arenas.bin.0.size", "arenas.bin.0.nregs",
	    "arenas.bin.0.slab_size"};
	for (size_t n = 0; n < 3; n++) {
		size_t mib[8], miblen = 8;
		assert_d_eq(hm_mallctlnametomib(names[n], mib, &miblen), 0,
		    "mallctlnametomib(%s)", names[n]);
		assert_zu_eq(miblen, 4, "%s: MIB length", names[n]);
		for (unsigned i = 0; i < SC_NBINS; i++) {
			mib[2] = i;
			size_t want, got = 0, sz;
			int r;
			if (n == 1) {
				uint32_t v = 0;
				sz = sizeof(v);
				r = hm_mallctlbymib(mib, miblen, &v, &sz, NULL, 0);
				got = v;
				want = hm_sc_slab[i].nregs;
			} else {
				sz = sizeof(got);
				r = hm_mallctlbymib(mib, miblen, &got, &sz, NULL, 0);
				want = n == 0 ? hm_sc_slab[i].size
				    : (size_t)hm_sc_slab[i].npages << LG_PAGE;
			}
			expect_d_eq(r, 0, "%s with bin %u", names[n], i);
			expect_zu_eq(got, want, "%s with bin %u", names[n], i);
			/* The name says the same. */
			char name[64];
			snprintf(name, sizeof(name), "arenas.bin.%u.%s", i,
			    n == 0 ? "size" : n == 1 ? "nregs" : "slab_size");
			size_t byname = 0;
			sz = n == 1 ? sizeof(uint32_t) : sizeof(size_t);
			expect_d_eq(hm_mallctl(name, &byname, &sz, NULL, 0), 0,
			    "%s", name);
			expect_zu_eq(byname, want, "%s", name);
		}
		mib[2] = SC_NBINS;
		size_t v, sz = sizeof(v);
		expect_d_eq(hm_mallctlbymib(mib, miblen, &v, &sz, NULL, 0), ENOENT,
		    "%s with bin %d", names[n], SC_NBINS);
	}
	unsigned nbins = 0;
	size_t sz = sizeof(nbins);
	expect_d_eq(hm_mallctl("arenas.nbins", &nbins, &sz, NULL, 0), 0,
	    "arenas.nbins");
	expect_d_eq(nbins, SC_NBINS, "arenas.nbins");
TEST_END

TEST_BEGIN(test_lextent_mibs)
	unit_boot();
	unsigned n = 0;
	size_t sz = sizeof(n);
	assert_d_eq(hm_mallctl("arenas.nlextents", &n, &sz, NULL, 0), 0,
	    "arenas.nlextents");
	/* Every class above Small: Large and Huge alike. */
	expect_d_eq(n, SC_NSIZES - SC_NBINS, "arenas.nlextents");
	size_t mib[8], miblen = 8;
	assert_d_eq(hm_mallctlnametomib("arenas.lextent.0.size", mib, &miblen),
	    0, "mallctlnametomib");
	for (unsigned i = 0; i < n; i++) {
		mib[2] = i;
		size_t v = 0;
		sz = sizeof(v);
		expect_d_eq(hm_mallctlbymib(mib, miblen, &v, &sz, NULL, 0), 0,
		    "lextent %u", i);
		expect_zu_eq(v, hm_sc_size[SC_NBINS + i], "lextent %u", i);
	}
	expect_zu_eq(hm_sc_size[SC_NBINS + n - 1], SC_MAXCLASS,
	    "last lextent");
	mib[2] = n;
	size_t v;
	sz = sizeof(v);
	expect_d_eq(hm_mallctlbymib(mib, miblen, &v, &sz, NULL, 0), ENOENT,
	    "lextent %u", n);
TEST_END

TEST_BEGIN(test_enoent)
	unit_boot();
	/* Interior nodes ("arenas", "arenas.bin.0", "opt") have MIBs:
	 * test_partial_mibs. */
	static const char *names[] = {"", "nosuch", "no.such.name",
	    "arenas.", "arenas.bin.x.size",
	    "arenas.bin.0.size.extra", "arenas.bin..size", "arenas.bin.-1.size",
	    "opt.nosuch", "opt.", "stats.allocated.x", "Epoch",
	    "arena.18446744073709551616.purge"};
	for (size_t i = 0; i < HM_ARRAY_SIZE(names); i++) {
		size_t v[4], sz = sizeof(size_t);
		expect_d_eq(hm_mallctl(names[i], v, &sz, NULL, 0), ENOENT,
		    "mallctl(\"%s\")", names[i]);
		size_t mib[8], miblen = 8;
		expect_d_eq(hm_mallctlnametomib(names[i], mib, &miblen), ENOENT,
		    "mallctlnametomib(\"%s\")", names[i]);
	}
	/* An index past the end: the name resolves (the index is checked
	 * when the MIB is used), the call fails. */
	static const char *bad_index[] = {"arenas.bin.35.size",
	    "arenas.bin.99999.nregs", "arenas.lextent.1000.size"};
	for (size_t i = 0; i < HM_ARRAY_SIZE(bad_index); i++) {
		size_t v = 0, sz = sizeof(v);
		expect_d_eq(hm_mallctl(bad_index[i], &v, &sz, NULL, 0), ENOENT,
		    "mallctl(\"%s\")", bad_index[i]);
	}
	/* MIBs of the wrong length or with a bad first component. */
	size_t mib[8], miblen = 8, v, sz = sizeof(v);
	assert_d_eq(hm_mallctlnametomib("arenas.bin.0.size", mib, &miblen), 0,
	    "mallctlnametomib");
	expect_d_eq(hm_mallctlbymib(mib, 3, &v, &sz, NULL, 0), ENOENT,
	    "short MIB");
	expect_d_eq(hm_mallctlbymib(mib, 5, &v, &sz, NULL, 0), ENOENT,
	    "long MIB");
	expect_d_eq(hm_mallctlbymib(mib, 0, &v, &sz, NULL, 0), ENOENT,
	    "empty MIB");
	mib[0] = 999;
	expect_d_eq(hm_mallctlbymib(mib, 4, &v, &sz, NULL, 0), ENOENT,
	    "MIB[0] 999");
	mib[0] = 5000;
	expect_d_eq(hm_mallctlbymib(mib, 2, &v, &sz, NULL, 0), ENOENT,
	    "MIB[0] 5000");
	expect_d_eq(hm_mallctl(NULL, &v, &sz, NULL, 0), EINVAL, "NULL name");
TEST_END

TEST_BEGIN(test_einval_eperm)
	unit_boot();
	/* Wrong *oldlenp: the bytes that fit are copied, EINVAL. */
	size_t big[2] = {0, 0}, sz = 2 * sizeof(size_t);
	expect_d_eq(hm_mallctl("arenas.page", big, &sz, NULL, 0), EINVAL,
	    "arenas.page into 16 bytes");
	unsigned u = 0;
	sz = sizeof(u);
	expect_d_eq(hm_mallctl("arenas.page", &u, &sz, NULL, 0), EINVAL,
	    "arenas.page into 4 bytes");
	expect_zu_eq(sz, sizeof(u), "*oldlenp after a short read");
	size_t page = 0;
	sz = sizeof(page);
	expect_d_eq(hm_mallctl("arenas.page", &page, &sz, NULL, 0), 0,
	    "arenas.page");
	expect_zu_eq(page, PAGE, "arenas.page");
	uint32_t small = 0;
	sz = sizeof(small);
	expect_d_eq(hm_mallctl("epoch", &small, &sz, NULL, 0), EINVAL,
	    "epoch into 4 bytes");
	/* Wrong newlen. */
	uint32_t e32 = 1;
	expect_d_eq(hm_mallctl("epoch", NULL, NULL, &e32, sizeof(e32)), EINVAL,
	    "epoch written with 4 bytes");
	unsigned ind = 0;
	expect_d_eq(hm_mallctl("thread.arena", NULL, NULL, &ind, 8), EINVAL,
	    "thread.arena written with 8 bytes");
	/* Writing read-only names. */
	static const char *ro[] = {"version", "arenas.narenas", "arenas.page",
	    "arenas.chunksize", "opt.narenas", "opt.junk", "stats.allocated",
	    "config.debug", "arenas.bin.0.size", "arenas.lextent.0.size"};
	for (size_t i = 0; i < HM_ARRAY_SIZE(ro); i++) {
		size_t val = 1;
		expect_d_eq(hm_mallctl(ro[i], NULL, NULL, &val, sizeof(val)), EPERM,
		    "writing %s", ro[i]);
	}
	/* arena.<i>.purge neither reads nor writes: EPERM, as jemalloc's
	 * NEITHER_READ_NOR_WRITE names. */
	expect_d_eq(hm_mallctl("arena.0.purge", &page, &sz, NULL, 0), EPERM,
	    "arena.0.purge with oldp");
	expect_d_eq(hm_mallctl("arena.0.purge", NULL, NULL, &ind, sizeof(ind)),
	    EPERM, "arena.0.purge with newp");
TEST_END

TEST_BEGIN(test_purge)
	unit_boot();
	expect_d_eq(hm_mallctl("arena.4096.purge", NULL, NULL, NULL, 0), 0,
	    "arena.4096.purge (MALLCTL_ARENAS_ALL)");
	char name[64];
	snprintf(name, sizeof(name), "arena.%d.purge", MALLCTL_ARENAS_ALL);
	expect_d_eq(hm_mallctl(name, NULL, NULL, NULL, 0), 0, "%s", name);
	expect_d_eq(hm_mallctl("arena.0.purge", NULL, NULL, NULL, 0), 0,
	    "arena.0.purge");
	/* jemalloc: "arena.<narenas>" still means every arena. */
	snprintf(name, sizeof(name), "arena.%u.purge", hm_narenas);
	expect_d_eq(hm_mallctl(name, NULL, NULL, NULL, 0), 0, "%s", name);
	snprintf(name, sizeof(name), "arena.%u.purge", hm_narenas + 1);
	expect_d_eq(hm_mallctl(name, NULL, NULL, NULL, 0), ENOENT, "%s", name);
	/* An index below narenas whose arena was never created. */
	for (unsigned i = 1; i < hm_narenas; i++) {
		if (hm_arena_get(i, false) == NULL) {
			snprintf(name, sizeof(name), "arena.%u.purge", i);
			expect_d_eq(hm_mallctl(name, NULL, NULL, NULL, 0), EFAULT,
			    "%s (arena not created)", name);
			break;
		}
	}
	/* Purging gives dirty pages back, and wholly free chunks too. */
	void *p = hm_malloc(512 * KiB);
	assert_ptr_not_null(p, "malloc");
	memset(p, 1, 512 * KiB);
	hm_free(p);
	assert_d_eq(hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0,
	    "thread.tcache.flush");
	arena_t *arena = tsd_arena();
	expect_d_eq(hm_mallctl("arena.4096.purge", NULL, NULL, NULL, 0), 0,
	    "arena.4096.purge");
	expect_zu_eq(arena->ndirty, 0, "dirty pages after purging");
	for (chunk_t *c = arena->chunks; c != NULL; c = c->next) {
		run_t *first = chunk_map_get(c, 0);
		expect_false(first != NULL && first->state == RUN_FREE
		    && first->npages == hm_chunk_npages,
		    "a wholly free chunk outlived the purge");
	}
TEST_END

TEST_BEGIN(test_thread_arena)
	unit_boot();
	test_san_off(); /* the block's chunk tells its arena */
	unsigned cur = 0;
	size_t sz = sizeof(cur);
	assert_d_eq(hm_mallctl("thread.arena", &cur, &sz, NULL, 0), 0,
	    "thread.arena read");
	expect_d_eq(cur, tsd_arena()->ind, "thread.arena");
	unsigned bad[] = {hm_narenas, hm_narenas + 1, 4095, 4096, UINT32_MAX};
	for (size_t i = 0; i < HM_ARRAY_SIZE(bad); i++) {
		unsigned old = 12345;
		sz = sizeof(old);
		expect_d_eq(hm_mallctl("thread.arena", &old, &sz, &bad[i],
		    sizeof(bad[i])), EFAULT, "thread.arena = %u (narenas %u)",
		    bad[i], hm_narenas);
		expect_d_eq(tsd_arena()->ind, cur, "arena after a refused write");
	}
	if (hm_narenas < 2)
		return;
	unsigned to = hm_narenas - 1, old = 0;
	sz = sizeof(old);
	expect_d_eq(hm_mallctl("thread.arena", &old, &sz, &to, sizeof(to)), 0,
	    "thread.arena = %u", to);
	expect_d_eq(old, cur, "old value returned");
	expect_d_eq(tsd_arena()->ind, to, "arena after the write");
	void *p = hm_malloc(100);
	assert_ptr_not_null(p, "malloc");
	chunk_t *chunk = (chunk_t *)rtree_get(p);
	assert_ptr_not_null(chunk, "rtree_get");
	expect_d_eq(chunk->arena->ind, to, "new allocation's arena");
	hm_free(p);
	expect_d_eq(hm_mallctl("thread.arena", NULL, NULL, &cur, sizeof(cur)),
	    0, "thread.arena back to %u", cur);
	expect_d_eq(tsd_arena()->ind, cur, "arena restored");
TEST_END

static uint64_t
mutex_stat(const char *name) {
	uint64_t v = 0, e = 1;
	size_t sz = sizeof(v);
	assert_d_eq(hm_mallctl("epoch", NULL, NULL, &e, sizeof(e)), 0, "epoch");
	assert_d_eq(hm_mallctl(name, &v, &sz, NULL, 0), 0, "%s", name);
	return v;
}

/* Lock counters move with the work that takes the locks. */
TEST_BEGIN(test_mutex_stats)
	unit_boot();
	unsigned ind = tsd_arena()->ind;
	char ops[96], wait[96];
	snprintf(ops, sizeof(ops), "stats.arenas.%u.mutexes.bins.num_ops", ind);
	snprintf(wait, sizeof(wait), "stats.arenas.%u.mutexes.bins.num_wait",
	    ind);
	uint64_t o0 = mutex_stat(ops), w0 = mutex_stat(wait);
	/* Without a cache every small malloc and free takes a bin lock. */
	void *ps[100];
	for (int i = 0; i < 100; i++)
		ps[i] = hm_mallocx(64, MALLOCX_TCACHE_NONE);
	for (int i = 0; i < 100; i++)
		hm_dallocx(ps[i], MALLOCX_TCACHE_NONE);
	uint64_t o1 = mutex_stat(ops);
	expect_u64_eq(o1 >= o0 + 200, 1, "bins.num_ops %llu -> %llu",
	    (unsigned long long)o0, (unsigned long long)o1);
	expect_u64_eq(mutex_stat(wait) >= w0, 1, "num_wait never falls");
	static const char *const names[] = {"ctl", "arenas", "tcaches",
	    "chunk", "base", "huge_pool"};
	for (size_t i = 0; i < HM_ARRAY_SIZE(names); i++) {
		char n[64];
		snprintf(n, sizeof(n), "stats.mutexes.%s.num_ops", names[i]);
		mutex_stat(n);
		snprintf(n, sizeof(n), "stats.mutexes.%s.num_wait", names[i]);
		mutex_stat(n);
	}
	expect_u64_eq(mutex_stat("stats.mutexes.base.num_ops") > 0, 1,
	    "base lock used at boot");
	uint64_t v = 0;
	size_t sz = sizeof(v);
	expect_d_eq(hm_mallctl("stats.mutexes.nosuch.num_ops", &v, &sz, NULL,
	    0), ENOENT, "unknown lock");
	expect_d_eq(hm_mallctl(ops, &v, &sz, &v, sizeof(v)), EPERM,
	    "read-only");
TEST_END

/*
 * A MIB is a path in the name tree: any prefix of a name is an interior
 * node whose MIB is the prefix of the full one, so a program can take
 * "arenas.bin" once and fill in the index and the leaf.  Two names that
 * share k components share k MIB components and differ at the next one
 * when the names do there (numbers aside).  An interior node is not
 * readable itself.
 */
static const char *const tree_names[] = {
	"version", "epoch", "background_thread", "config.debug",
	"config.stats", "opt.narenas", "opt.dirty_decay_ms", "opt.abort",
	"thread.arena", "thread.tcache.enabled", "thread.tcache.flush",
	"thread.allocated", "prof.active", "arena.0.dirty_decay_ms",
	"arena.0.muzzy_decay_ms", "arenas.narenas", "arenas.bin.3.size",
	"arenas.bin.3.nregs", "arenas.bin.0.slab_size", "arenas.lextent.2.size",
	"arenas.page", "stats.allocated", "stats.active",
	"stats.background_thread.num_runs", "stats.mutexes.ctl.num_ops",
	"stats.mutexes.base.num_wait", "stats.arenas.0.pactive",
	"stats.arenas.0.small.nmalloc", "stats.arenas.0.large.nmalloc",
	"stats.arenas.0.bins.2.nmalloc", "stats.arenas.0.bins.2.curregs",
	"stats.arenas.0.lextents.1.nmalloc",
	"stats.arenas.0.mutexes.bins.num_ops",
	"stats.arenas.0.mutexes.huge.num_wait",
};

/* The number of dotted components name and other share. */
static size_t
shared_components(const char *name, const char *other, size_t *depth) {
	size_t k = 0, d = 1;
	for (const char *c = name; *c; c++)
		d += *c == '.';
	*depth = d;
	const char *a = name, *b = other;
	while (k < d) {
		size_t la = strcspn(a, "."), lb = strcspn(b, ".");
		if (la != lb || memcmp(a, b, la) != 0)
			break;
		k++;
		if (a[la] == '\0' || b[lb] == '\0')
			break;
		a += la + 1;
		b += lb + 1;
	}
	return k;
}

TEST_BEGIN(test_partial_mibs)
	unit_boot();
	size_t full[HM_ARRAY_SIZE(tree_names)][8], len[HM_ARRAY_SIZE(tree_names)];
	for (size_t i = 0; i < HM_ARRAY_SIZE(tree_names); i++) {
		const char *name = tree_names[i];
		len[i] = 8;
		assert_d_eq(hm_mallctlnametomib(name, full[i], &len[i]), 0,
		    "mallctlnametomib(%s)", name);
		size_t depth;
		shared_components(name, name, &depth);
		assert_zu_eq(len[i], depth, "%s: MIB length", name);
		/* Each proper prefix: its MIB, not readable, then completed
		 * from the full MIB and read as the full name reads. */
		for (size_t k = 1; k < depth; k++) {
			char prefix[96];
			const char *end = name;
			for (size_t c = 0; c < k; c++)
				end = strchr(end, '.') + 1;
			snprintf(prefix, sizeof(prefix), "%.*s",
			    (int)(end - name - 1), name);
			size_t mib[8], miblen = 8;
			expect_d_eq(hm_mallctlnametomib(prefix, mib, &miblen), 0,
			    "mallctlnametomib(%s)", prefix);
			expect_zu_eq(miblen, k, "%s: MIB length", prefix);
			for (size_t c = 0; c < k && c < miblen; c++)
				expect_zu_eq(mib[c], full[i][c],
				    "%s: component %zu vs %s", prefix, c, name);
			uint64_t v[2];
			size_t sz = sizeof(v[0]);
			expect_d_eq(hm_mallctl(prefix, v, &sz, NULL, 0), ENOENT,
			    "mallctl(%s), an interior node", prefix);
			expect_d_eq(hm_mallctlbymib(mib, miblen, v, &sz, NULL, 0),
			    ENOENT, "mallctlbymib(%s), an interior node", prefix);
		}
	}
	for (size_t i = 0; i < HM_ARRAY_SIZE(tree_names); i++) {
		for (size_t j = 0; j < HM_ARRAY_SIZE(tree_names); j++) {
			size_t depth, other;
			size_t k = shared_components(tree_names[i], tree_names[j],
			    &depth);
			shared_components(tree_names[j], tree_names[j], &other);
			for (size_t c = 0; c < k; c++)
				expect_zu_eq(full[i][c], full[j][c],
				    "%s and %s: component %zu", tree_names[i],
				    tree_names[j], c);
			if (i != j && k < depth && k < other)
				expect_zu_ne(full[i][k], full[j][k],
				    "%s and %s: component %zu", tree_names[i],
				    tree_names[j], k);
		}
	}
	/* The usual use: the prefix once, the index filled in each time. */
	size_t mib[8], miblen = 2, leaf[8], leaflen = 8;
	assert_d_eq(hm_mallctlnametomib("arenas.bin", mib, &miblen), 0,
	    "mallctlnametomib(arenas.bin)");
	assert_zu_eq(miblen, 2, "arenas.bin: MIB length");
	assert_d_eq(hm_mallctlnametomib("arenas.bin.0.size", leaf, &leaflen), 0,
	    "mallctlnametomib(arenas.bin.0.size)");
	mib[3] = leaf[3];
	for (unsigned b = 0; b < SC_NBINS; b++) {
		mib[2] = b;
		size_t size = 0, sz = sizeof(size);
		expect_d_eq(hm_mallctlbymib(mib, 4, &size, &sz, NULL, 0), 0,
		    "arenas.bin.%u.size by a partial MIB", b);
		expect_zu_eq(size, hm_sc_slab[b].size, "bin %u", b);
	}
	/* Options: "opt" is an interior node, each option a leaf under it. */
	size_t opt[8], optlen = 8, narenas_mib[8], nlen = 8;
	assert_d_eq(hm_mallctlnametomib("opt", opt, &optlen), 0, "opt");
	expect_zu_eq(optlen, 1, "opt: MIB length");
	assert_d_eq(hm_mallctlnametomib("opt.narenas", narenas_mib, &nlen), 0,
	    "opt.narenas");
	opt[1] = narenas_mib[1];
	unsigned n1 = 0, n2 = 1;
	size_t sz = sizeof(n1);
	expect_d_eq(hm_mallctlbymib(opt, 2, &n1, &sz, NULL, 0), 0,
	    "opt.narenas by MIB");
	expect_d_eq(hm_mallctl("opt.narenas", &n2, &sz, NULL, 0), 0,
	    "opt.narenas by name");
	expect_u_eq(n1, n2, "opt.narenas");
TEST_END

int
main(void) {
	return test(test_mutex_stats, test_bin_mibs, test_lextent_mibs, test_enoent,
	    test_einval_eperm, test_purge, test_thread_arena, test_partial_mibs);
}
