/*
 * Thread caches (tcache.c): a fill takes an eighth of a stack from the bin
 * at first and doubles up to half until the GC's first visit, a free
 * pushes with the cached tag, a full stack flushes its older half, the GC
 * drains what a bin does not use, parked blocks of other arenas are
 * reused when they fill the array, thread.tcache.flush empties
 * everything, and thread exit hands the cache to the next thread with
 * nothing in it.
 */
#include "unit_util.h"

#include <pthread.h>

#include "sc.h"
#include "tcache.h"

static tcache_t *
my_tcache(void) {
	unit_boot();
	tcache_t *tc = hm_tsd.tcache;
	if (tc == NULL)
		test_skip("no thread cache (tcache:false, junk or zero)");
	return tc;
}

static void
flush(void) {
	assert_d_eq(hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0,
	    "thread.tcache.flush");
}

TEST_BEGIN(test_fill_and_tag)
	unit_boot_exact();
	tcache_t *tc = my_tcache();
	unsigned ind = sc_size2index(64);
	cache_bin_t *bin = &tc->bins[ind];
	flush();
	assert_zu_eq(bin->ncached, 0, "empty after a flush");
	bin->lg_fill_div = 3; /* as a new cache's */
	bin->ramp = true;
	void *p = hm_malloc(64);
	assert_ptr_not_null(p, "malloc(64)");
	expect_zu_eq(bin->ncached, bin->ncached_max / 8 - 1,
	    "a first miss fills an eighth of the stack and hands out one");
	void *q = hm_malloc(64);
	expect_true((uintptr_t)q > (uintptr_t)p,
	    "lowest addresses first: %p then %p", p, q);
	hm_free(q);
	expect_zu_eq(*(uintptr_t *)q, tcache_tag(q), "a cached block is tagged");
	expect_ptr_eq(bin->stack[bin->ncached - 1], q, "pushed on top");
	void *r = hm_malloc(64);
	expect_ptr_eq(r, q, "last freed, first reused");
	hm_free(r);
	hm_free(p);

	/* A stack emptied again gets twice the last fill, up to half. */
	uint32_t max = bin->ncached_max;
	void **ptrs = calloc(max, sizeof(void *));
	assert_ptr_not_null(ptrs, "calloc");
	flush();
	uint32_t n = 0;
	for (uint32_t want = max / 4; want <= max; want *= 2) {
		ptrs[n++] = hm_malloc(64);
		uint32_t fill = want < max / 2 ? want : max / 2;
		expect_zu_eq(bin->ncached, fill - 1, "the next fill takes %u",
		    fill);
		while (bin->ncached > 0 && n < max)
			ptrs[n++] = hm_malloc(64);
		for (uint32_t i = 0; i < n; i++)
			hm_free(ptrs[i]);
		n = 0;
		flush();
	}

	/* Once the GC has visited the bin, refills no longer grow: the GC
	 * alone sizes them. */
	tc->gc_bin = ind;
	hm_tcache_gc_event(tc);
	bin->lg_fill_div = 3;
	for (int round = 0; round < 2; round++) {
		ptrs[n++] = hm_malloc(64);
		expect_zu_eq(bin->ncached, max / 8 - 1,
		    "after a GC visit, refill %d takes an eighth still", round);
		while (bin->ncached > 0 && n < max)
			ptrs[n++] = hm_malloc(64);
	}
	for (uint32_t i = 0; i < n; i++)
		hm_free(ptrs[i]);
	flush();
	free(ptrs);
TEST_END

TEST_BEGIN(test_flush_when_full)
	unit_boot_exact();
	tcache_t *tc = my_tcache();
	unsigned ind = sc_size2index(128);
	cache_bin_t *bin = &tc->bins[ind];
	flush();
	uint32_t max = bin->ncached_max;
	void **ptrs = calloc(max + 1, sizeof(void *));
	assert_ptr_not_null(ptrs, "calloc");
	/* Allocate with the cache off so that frees alone fill the stack. */
	bool off = false, on = true;
	assert_d_eq(hm_mallctl("thread.tcache.enabled", NULL, NULL, &off,
	    sizeof(off)), 0, "disable");
	for (uint32_t i = 0; i <= max; i++)
		ptrs[i] = hm_malloc(128);
	assert_d_eq(hm_mallctl("thread.tcache.enabled", NULL, NULL, &on,
	    sizeof(on)), 0, "enable");
	tc = hm_tsd.tcache;
	bin = &tc->bins[ind];
	for (uint32_t i = 0; i < max; i++)
		hm_free(ptrs[i]);
	expect_zu_eq(bin->ncached, max, "full");
	hm_free(ptrs[max]);
	expect_zu_eq(bin->ncached, max - (max / 2 + max % 2) + 1,
	    "a free into a full stack flushes the older half");
	expect_ptr_eq(bin->stack[bin->ncached - 1], ptrs[max], "then pushes");
	expect_ptr_eq(bin->stack[0], ptrs[max / 2 + max % 2],
	    "the oldest left is the first not flushed");
	flush();
	free(ptrs);
TEST_END

TEST_BEGIN(test_gc_drains_unused_bin)
	unit_boot_exact();
	tcache_t *tc = my_tcache();
	unsigned ind = sc_size2index(256);
	cache_bin_t *bin = &tc->bins[ind];
	flush();
	void *p = hm_malloc(256);
	hm_free(p);
	uint32_t before = bin->ncached;
	assert_zu_gt(before, 4, "filled");
	/* Other traffic only: every bin gets visited, twice. */
	for (unsigned i = 0; i < 2 * hm_tcache_nbins * TCACHE_GC_INTERVAL + 10;
	    i++) {
		void *q = hm_malloc(32);
		hm_free(q);
	}
	expect_zu_lt(bin->ncached, before / 2,
	    "an unused bin loses most of its blocks to the GC");
	expect_zu_gt(bin->lg_fill_div, 1, "and its fills shrink");

	/* A fill is smaller then; a bin that needs all it got and more
	 * fills half its stack again after the GC's next visit. */
	flush();
	unsigned div = bin->lg_fill_div;
	uint32_t max = bin->ncached_max;
	void **ptrs = calloc(max, sizeof(void *));
	assert_ptr_not_null(ptrs, "calloc");
	ptrs[0] = hm_malloc(256);
	expect_zu_eq(bin->ncached, (max >> div) - 1, "a fill of max >> %u", div);
	uint32_t n = 1;
	while (bin->ncached > 0)
		ptrs[n++] = hm_malloc(256);
	tc->gc_bin = ind;
	hm_tcache_gc_event(tc);
	expect_u_eq(bin->lg_fill_div, 1, "back to half a stack");
	for (uint32_t i = 0; i < n; i++)
		hm_free(ptrs[i]);
	free(ptrs);
TEST_END

TEST_BEGIN(test_flush_mallctl_and_stats)
	my_tcache();
	flush();
	size_t a0 = test_stat_size("stats.allocated");
	void *ps[50];
	for (int i = 0; i < 50; i++)
		ps[i] = hm_malloc(1000);
	for (int i = 0; i < 50; i++)
		hm_free(ps[i]);
	size_t a1 = test_stat_size("stats.allocated");
	expect_zu_gt(a1, a0, "cached blocks count as allocated");
	flush();
	expect_zu_eq(test_stat_size("stats.allocated"), a0, "after thread.tcache.flush");
TEST_END

/* A size glibc's own per-thread allocations do not use. */
#define THREAD_FILL_SIZE 3000

static void *
thread_fill(void *arg) {
	(void)arg;
	void *ps[100];
	for (int i = 0; i < 100; i++)
		ps[i] = hm_malloc(THREAD_FILL_SIZE);
	for (int i = 0; i < 100; i++)
		hm_free(ps[i]);
	/* The blocks are on this thread's cache now. */
	return hm_tsd.tcache;
}

/* Blocks on any bin of tc (its stacks and the remote blocks parked). */
static size_t
tcache_holding(const tcache_t *tc) {
	size_t n = 0;
	for (unsigned i = 0; i < hm_tcache_nbins; i++)
		n += tc->bins[i].ncached + cache_bin_nremote(&tc->bins[i]);
	return n;
}

/* Regions of THREAD_FILL_SIZE's class taken from slabs, all arenas (a
 * cached block counts as taken). */
static size_t
fill_class_curregs(void) {
	return test_stat_size("stats.arenas.%u.bins.%u.curregs",
	    MALLCTL_ARENAS_ALL, sc_size2index(THREAD_FILL_SIZE));
}

TEST_BEGIN(test_thread_exit_flushes)
	my_tcache();
	flush();
	/* Before any thread runs. */
	size_t c0 = fill_class_curregs();
	pthread_t t;
	void *tc[3];
	for (int i = 0; i < 3; i++) {
		assert_d_eq(pthread_create(&t, NULL, thread_fill, NULL), 0,
		    "create");
		pthread_join(t, &tc[i]);
		assert_ptr_not_null(tc[i], "thread %d had a cache", i);
		/* The cache went back to the pool, every bin empty, and its
		 * blocks to their slabs. */
		expect_zu_eq(tcache_holding(tc[i]), 0,
		    "thread %d: its cache still holds blocks after its exit", i);
		expect_zu_eq(fill_class_curregs(), c0,
		    "thread %d: its blocks are still taken after its exit", i);
		if (i > 0)
			expect_ptr_eq(tc[i], tc[i - 1],
			    "the next thread reuses the cache");
	}
TEST_END

static void *
thread_first_fill(void *arg) {
	uint32_t *out = arg;
	void *p = hm_malloc(THREAD_FILL_SIZE);
	cache_bin_t *bin = &hm_tsd.tcache->bins[sc_size2index(THREAD_FILL_SIZE)];
	out[0] = bin->ncached;
	out[1] = bin->ncached_max;
	hm_free(p);
	return NULL;
}

TEST_BEGIN(test_first_fill_small)
	/* A new thread's cache (new or from the pool) starts with small
	 * fills: a class it uses a little takes few blocks. */
	unit_boot_exact();
	my_tcache();
	for (int i = 0; i < 2; i++) {
		uint32_t got[2];
		pthread_t t;
		assert_d_eq(pthread_create(&t, NULL, thread_first_fill, got), 0,
		    "create");
		pthread_join(t, NULL);
		uint32_t fill = got[1] >> 3 > 0 ? got[1] >> 3 : 1;
		expect_u_eq(got[0], fill - 1,
		    "thread %d: a first fill takes an eighth of %u slots", i,
		    got[1]);
	}
TEST_END

/* Binds the calling thread (a new one, not the main thread) to the arena
 * after its own. */
static void
bind_other_arena(void) {
	unsigned other = (tsd_arena()->ind + 1) % hm_narenas, cur;
	size_t sz = sizeof(cur);
	assert_d_eq(hm_mallctl("thread.arena", &cur, &sz, &other,
	    sizeof(other)), 0, "thread.arena");
}

static void *remote_block;
static void *remote_many[20];

static void *
thread_free_remote(void *arg) {
	(void)arg;
	bind_other_arena();
	tcache_t *tc = hm_tsd.tcache;
	unsigned ind = sc_size2index(96);
	cache_bin_t *bin = &tc->bins[ind];
	uint32_t cached = bin->ncached;
	hm_free(remote_block);
	expect_zu_eq(cache_bin_nremote(bin), 1, "a block of another arena waits apart");
	expect_zu_eq(bin->ncached, cached, "and is not on the stack");
	expect_ptr_eq(bin->stack[bin->ncached_max - 1], remote_block,
	    "parked at the far end");
	void *mine = hm_malloc(96);
	expect_ptr_ne(mine, remote_block, "the remote block is not reused here");
	hm_free(mine);
	assert_d_eq(hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0,
	    "flush");
	expect_zu_eq(cache_bin_nremote(bin), 0, "flushed back to its arena");
	/* Many parked, own stack empty: the refill reuses them. */
	for (int i = 0; i < 20; i++)
		hm_free(remote_many[i]);
	expect_zu_eq(cache_bin_nremote(bin), 20, "parked");
	expect_zu_eq(bin->ncached, 0, "own stack empty after the flush");
	void *q = hm_malloc(96);
	bool reused = false;
	for (int i = 0; i < 20; i++)
		reused |= q == remote_many[i];
	expect_true(reused, "a refill takes parked blocks when many wait");
	expect_zu_eq(cache_bin_nremote(bin), 0, "all taken");
	hm_free(q);
	flush();
	return NULL;
}

/* Blocks of the main thread's arena, per Small class: a whole stack's. */
static void **parked_blocks[SC_NBINS];

static void *
thread_park_all(void *arg) {
	(void)arg;
	bind_other_arena();
	flush();
	tcache_t *tc = hm_tsd.tcache;
	for (unsigned ind = 0; ind < SC_NBINS && ind < hm_tcache_nbins; ind++) {
		cache_bin_t *bin = &tc->bins[ind];
		for (uint32_t i = 0; i < bin->ncached_max; i++)
			hm_free(parked_blocks[ind][i]);
		expect_zu_eq(bin->ncached_lim, 0,
		    "class %u: parked blocks fill the array", ind);
		/* No room for a fill of its own: the refill must still
		 * serve (it takes the parked blocks). */
		void *p = hm_malloc(hm_sc_size[ind]);
		expect_ptr_not_null(p, "class %u (%zu B, %u slots): malloc with "
		    "every slot parked", ind, hm_sc_size[ind], bin->ncached_max);
		hm_free(p);
		flush();
	}
	return NULL;
}

TEST_BEGIN(test_remote_fill_when_parked_full)
	unit_boot_exact();
	tcache_t *tc = my_tcache();
	if (hm_narenas < 2)
		test_skip("needs two arenas");
	for (unsigned ind = 0; ind < SC_NBINS && ind < hm_tcache_nbins; ind++) {
		uint32_t n = tc->bins[ind].ncached_max;
		parked_blocks[ind] = calloc(n, sizeof(void *));
		assert_ptr_not_null(parked_blocks[ind], "calloc");
		for (uint32_t i = 0; i < n; i++) {
			parked_blocks[ind][i] = hm_malloc(hm_sc_size[ind]);
			assert_ptr_not_null(parked_blocks[ind][i], "malloc");
		}
	}
	pthread_t t;
	assert_d_eq(pthread_create(&t, NULL, thread_park_all, NULL), 0,
	    "create");
	pthread_join(t, NULL);
	for (unsigned ind = 0; ind < SC_NBINS && ind < hm_tcache_nbins; ind++)
		free(parked_blocks[ind]);
TEST_END

TEST_BEGIN(test_remote_free)
	unit_boot_exact();
	my_tcache();
	if (hm_narenas < 2)
		test_skip("needs two arenas");
	remote_block = hm_malloc(96);
	assert_ptr_not_null(remote_block, "malloc");
	for (int i = 0; i < 20; i++)
		remote_many[i] = hm_malloc(96);
	pthread_t t;
	assert_d_eq(pthread_create(&t, NULL, thread_free_remote, NULL), 0,
	    "create");
	pthread_join(t, NULL);
	/* Back in the main thread's arena: a fresh fill may hand it out. */
	flush();
	bool seen = false;
	void *ps[300];
	for (int i = 0; i < 300; i++) {
		ps[i] = hm_malloc(96);
		seen |= ps[i] == remote_block;
	}
	for (int i = 0; i < 300; i++)
		hm_free(ps[i]);
	expect_true(seen, "the block went home to its arena's bin");
TEST_END

/* Free learns a block's chunk once (a chunk slot); a chunk unmapped
 * anywhere moves the epoch, and no slot names a chunk from before. */
TEST_BEGIN(test_chunk_slots)
	tcache_t *tc = my_tcache();
	void *p = hm_malloc(64);
	assert_ptr_not_null(p, "malloc(64)");
	chunk_t *chunk = (chunk_t *)rtree_get(p);
	hm_free(p);
	expect_ptr_eq(tcache_chunk(tc, p), chunk, "the slot knows p's chunk");
	atomic_fetch_add(&hm_chunk_epoch, CHUNK_EPOCH_STEP);
	expect_ptr_null(tcache_chunk(tc, p), "out of date after the epoch");
	void *q = hm_malloc(64);
	assert_ptr_not_null(q, "malloc(64)");
	hm_free(q);
	expect_ptr_eq(tcache_chunk(tc, q), (chunk_t *)rtree_get(q),
	    "learnt again by the next free");
	/* A huge block is in no arena chunk: no slot ever names it. */
	void *h = hm_malloc(4 * MiB);
	assert_ptr_not_null(h, "malloc(4 MiB)");
	hm_free(h);
	expect_ptr_null(tcache_chunk(tc, h), "a huge block's address");
TEST_END

int
main(void) {
	return test(test_fill_and_tag, test_flush_when_full,
	    test_gc_drains_unused_bin, test_flush_mallctl_and_stats,
	    test_thread_exit_flushes, test_first_fill_small, test_remote_free,
	    test_remote_fill_when_parked_full, test_chunk_slots);
}
