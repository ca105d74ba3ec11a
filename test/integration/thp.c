/*
 * Transparent huge pages: opt.thp and opt.metadata_thp, seen in
 * /proc/self/smaps ("VmFlags: ... hg" for MADV_HUGEPAGE, "nh" for
 * MADV_NOHUGEPAGE).  Each test checks the options it runs under, then
 * (when not itself a re-run) runs again in new processes under the other
 * settings.  Skipped when the kernel has no THP
 * (/sys/kernel/mm/transparent_hugepage missing).
 *
 * test_thp_data: a huge block and an arena chunk carry "hg" with
 *   thp:always, "nh" with thp:never, neither with thp:default; also a huge
 *   block served again from the retained pool.  THPeligible is printed.
 * test_thp_metadata: with metadata_thp:always, base's blocks (the only
 *   advised mappings under thp:default) carry "hg" and are 2 MiB-aligned;
 *   with metadata_thp:auto, none does until metadata in use passes 2 MiB
 *   (arenas are created until it does), then they do; with "disabled",
 *   nothing is advised.
 */
#include "test.h"

#include "proc_maps.h"

#define MiB ((size_t)1 << 20)

static void
skip_without_thp(void) {
	if (access("/sys/kernel/mm/transparent_hugepage/enabled", R_OK) != 0)
		test_skip("no transparent huge pages in this kernel");
}

static const char *
opt_str(const char *name) {
	const char *v = NULL;
	size_t sz = sizeof(v);
	assert_d_eq(hm_mallctl(name, &v, &sz, NULL, 0), 0, "mallctl(%s)", name);
	return v;
}

static void
purge(void) {
	assert_d_eq(hm_mallctl("arena.4096.purge", NULL, NULL, NULL, 0), 0,
	    "arena.4096.purge");
}

static size_t
stat_zu(const char *name) {
	uint64_t epoch = 1;
	assert_d_eq(hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)), 0,
	    "epoch");
	size_t v = 0, sz = sizeof(v);
	assert_d_eq(hm_mallctl(name, &v, &sz, NULL, 0), 0, "mallctl(%s)", name);
	return v;
}

/* Checks the advice on the mapping holding p for the thp setting. */
static void
check_data(const void *p, const char *what, const char *thp) {
	proc_map_t m;
	assert_true(proc_map_find(p, true, &m), "%s %p not mapped", what, p);
	bool hg = proc_flag(m.flags, "hg"), nh = proc_flag(m.flags, "nh");
	printf("thp: thp:%s: %s %p in %#zx-%#zx, VmFlags:%s, THPeligible %d\n",
	    thp, what, p, (size_t)m.start, (size_t)m.end, m.flags,
	    m.thp_eligible);
	if (strcmp(thp, "always") == 0) {
		expect_true(hg && !nh, "%s: VmFlags%s lack hg", what, m.flags);
	} else if (strcmp(thp, "never") == 0) {
		expect_true(nh && !hg, "%s: VmFlags%s lack nh", what, m.flags);
	} else {
		expect_true(!hg && !nh, "%s: VmFlags%s advised with thp:default",
		    what, m.flags);
	}
}

static void
rerun(const char *test, const char *conf) {
	int st = proc_rerun(test, conf);
	expect_true(st == 0 || st == 77, "%s under %s: exit status %d", test,
	    conf, st);
}

TEST_BEGIN(test_thp_data)
	skip_without_thp();
	proc_init();
	const char *thp = opt_str("opt.thp");
	const size_t size = 8 * MiB;
	char *big = hm_malloc(size);
	assert_ptr_not_null(big, "malloc(%zu)", size);
	memset(big, 1, size);
	check_data(big, "huge block", thp);
	test_san_off(); /* a guarded block is in no chunk */
	char *small = hm_malloc(64);
	assert_ptr_not_null(small, "malloc(64)");
	check_data(small, "arena chunk", thp);
	/* Freed, purged into the retained pool (with retain), and taken
	 * again: advised again. */
	hm_free(big);
	purge();
	big = hm_malloc(size);
	assert_ptr_not_null(big, "malloc(%zu) again", size);
	check_data(big, "huge block again", thp);
	hm_free(big);
	hm_free(small);
	if (!proc_is_child() && strcmp(thp, "default") == 0) {
		rerun("test_thp_data", "thp:always");
		rerun("test_thp_data", "thp:never");
		rerun("test_thp_data", "thp:always,retain:false");
	}
TEST_END

struct count_hg {
	unsigned n;
	unsigned aligned;  /* of them, 2 MiB-aligned and sized */
};

static bool
count_hg_fn(const proc_map_t *m, void *arg) {
	struct count_hg *c = arg;
	if (proc_flag(m->flags, "hg")) {
		c->n++;
		if (m->start % (2 * MiB) == 0 && (m->end - m->start)
		    % (2 * MiB) == 0)
			c->aligned++;
	}
	return false;
}

static struct count_hg
count_hg(void) {
	struct count_hg c = {0, 0};
	proc_maps_walk(true, count_hg_fn, &c);
	return c;
}

TEST_BEGIN(test_thp_metadata)
	skip_without_thp();
	proc_init();
	const char *mthp = opt_str("opt.metadata_thp");
	if (strcmp(opt_str("opt.thp"), "default") != 0)
		test_skip("thp:%s advises data too", opt_str("opt.thp"));
	void *p = hm_malloc(100);
	assert_ptr_not_null(p, "malloc");
	size_t meta = stat_zu("stats.metadata");
	struct count_hg c = count_hg();
	printf("thp: metadata_thp:%s: metadata %zu KiB, %u mappings advised "
	    "(%u 2 MiB-aligned)\n", mthp, meta >> 10, c.n, c.aligned);
	if (strcmp(mthp, "always") == 0) {
		expect_cmp(unsigned, "%u", c.aligned, >=, 1, "no 2 MiB metadata block advised");
	} else if (strcmp(mthp, "auto") == 0) {
		if (meta <= 2 * MiB)
			expect_u_eq(c.n, 0, "advised below the threshold");
		/* Arenas are metadata: create them until more than 2 MiB
		 * is in use. */
		for (unsigned i = 0; i < 4096 && meta <= 2 * MiB + MiB / 2;
		    i++) {
			unsigned ind;
			size_t sz = sizeof(ind);
			if (hm_mallctl("arenas.create", &ind, &sz, NULL, 0) != 0)
				break;
			meta = stat_zu("stats.metadata");
		}
		if (meta <= 2 * MiB)
			test_skip("could not get metadata above 2 MiB");
		c = count_hg();
		printf("thp: metadata_thp:auto: metadata %zu KiB, %u mappings "
		    "advised (%u 2 MiB-aligned)\n", meta >> 10, c.n,
		    c.aligned);
		expect_cmp(unsigned, "%u", c.aligned, >=, 1, "nothing advised above the "
		    "threshold");
	} else {
		expect_u_eq(c.n, 0, "advised with metadata_thp:disabled");
	}
	hm_free(p);
	if (!proc_is_child() && strcmp(mthp, "disabled") == 0) {
		rerun("test_thp_metadata", "metadata_thp:always");
		rerun("test_thp_metadata", "metadata_thp:auto");
	}
TEST_END

int
main(void) {
	return test(test_thp_data, test_thp_metadata);
}
