/*
 * Extent hooks (ehooks.h): arenas whose memory the program supplies.
 *
 * test_region: hooks that serve one pre-mapped region; every block of
 *   the arena, Small to Huge, lies in it; allocation fails cleanly (NULL,
 *   ENOMEM) once it is full, and works again after frees: dalloc
 *   declines, the ranges are retained and served again before alloc is
 *   asked; MALLOCX_ZERO blocks read as zero on reused memory.
 * test_counting: hooks that count every call and pass them to the
 *   default table: alloc and dalloc balance, a declined dalloc leaves the
 *   range retained (reused with no new alloc) until destroy gets it when
 *   the arena is destroyed; purge hooks see the arena's purges.
 * test_default_swap: the default table read back works when called
 *   directly; custom hooks swapped in are used, and swapped out again
 *   are not.
 * test_tcache_decay: a thread bound to a hooked arena allocates through
 *   its cache; with dirty_decay_ms 0 the freed runs are purged through
 *   the hooks.
 */
#include "api_util.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include <jemalloc/jemalloc.h>

#define MiB ((size_t)1 << 20)

static unsigned
create_arena(extent_hooks_t *hooks) {
	unsigned ind = 0;
	size_t sz = sizeof(ind);
	assert_d_eq(hm_mallctl("arenas.create", &ind, &sz, &hooks,
	    sizeof(hooks)), 0, "arenas.create with hooks");
	return ind;
}

static void
destroy_arena(unsigned ind) {
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.destroy", ind);
	expect_d_eq(hm_mallctl(name, NULL, NULL, NULL, 0), 0, "%s", name);
}

static void
arena_ctl(unsigned ind, const char *what) {
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.%s", ind, what);
	expect_d_eq(hm_mallctl(name, NULL, NULL, NULL, 0), 0, "%s", name);
}

static extent_hooks_t *
default_hooks(void) {
	extent_hooks_t *h = NULL;
	size_t sz = sizeof(h);
	assert_d_eq(hm_mallctl("arena.0.extent_hooks", &h, &sz, NULL, 0), 0,
	    "arena.0.extent_hooks");
	assert_ptr_not_null(h, "a default table");
	return h;
}

/* --- One region, bump-allocated. --- */

#define REGION_SIZE (64 * MiB)
static char *region;
static size_t region_used;
static unsigned region_allocs, region_dallocs;

static void *
region_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t align,
    bool *zero, bool *commit, unsigned ind) {
	(void)h;
	(void)ind;
	region_allocs++;
	if (new_addr != NULL)
		return NULL;
	size_t at = (region_used + align - 1) & ~(align - 1);
	if (at + size > REGION_SIZE)
		return NULL;
	region_used = at + size;
	/* Never zero as far as hmalloc knows: it must clear what it must. */
	*zero = false;
	*commit = true;
	return region + at;
}

static bool
region_dalloc(extent_hooks_t *h, void *addr, size_t size, bool committed,
    unsigned ind) {
	(void)h; (void)addr; (void)size; (void)committed; (void)ind;
	region_dallocs++;
	return true; /* a region cannot give memory back: retained */
}

static extent_hooks_t region_hooks = {
	region_alloc, region_dalloc, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};

static bool
in_region(const void *p, size_t size) {
	return (const char *)p >= region
	    && (const char *)p + size <= region + REGION_SIZE;
}

TEST_BEGIN(test_region)
	/* Chunk-aligned: a region of 2 MiB chunks. */
	char *m = mmap(NULL, REGION_SIZE + 2 * MiB, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_ptr_ne(m, MAP_FAILED, "mmap");
	region = (char *)(((uintptr_t)m + 2 * MiB - 1) & ~(2 * MiB - 1));
	memset(region, 0xa5, REGION_SIZE); /* dirty: nothing reads as zero */
	unsigned ind = create_arena(&region_hooks);
	int flags = MALLOCX_ARENA(ind) | MALLOCX_TCACHE_NONE;
	static const size_t sizes[] = {16, 100, 3000, 20000, 300000,
	    3 * MiB};
	for (size_t k = 0; k < HM_TEST_ARRAY_LEN(sizes); k++) {
		char *p = hm_mallocx(sizes[k], flags | MALLOCX_ZERO);
		assert_ptr_not_null(p, "mallocx(%zu)", sizes[k]);
		expect_true(in_region(p, sizes[k]), "%zu bytes at %p: in the "
		    "region", sizes[k], (void *)p);
		for (size_t i = 0; i < sizes[k]; i += 61)
			if (p[i] != 0) {
				expect_d_eq(p[i], 0, "MALLOCX_ZERO, byte %zu "
				    "of %zu", i, sizes[k]);
				break;
			}
		hm_dallocx(p, flags);
	}
	expect_zu_gt(region_allocs, 0, "alloc asked");
	/* Until it is full: 1 MiB blocks, then NULL and ENOMEM. */
	enum { MAXN = 128 };
	char *blocks[MAXN];
	unsigned n = 0;
	errno = 0;
	while (n < MAXN) {
		blocks[n] = hm_mallocx(MiB, flags);
		if (blocks[n] == NULL)
			break;
		expect_true(in_region(blocks[n], MiB), "block %u in the region",
		    n);
		memset(blocks[n], (int)n, MiB);
		n++;
	}
	expect_zu_lt(n, MAXN, "the region fills up");
	expect_zu_gt(n, 16, "after a fair number of blocks");
	expect_d_eq(errno, ENOMEM, "a failed allocation sets ENOMEM");
	for (unsigned i = 0; i < n; i++) {
		expect_d_eq(blocks[i][MiB - 1], (char)i, "block %u intact", i);
		hm_dallocx(blocks[i], flags);
	}
	arena_ctl(ind, "purge");
	expect_zu_gt(region_dallocs, 0, "dalloc asked, and declined");
	/* The retained ranges serve again, zeroed where asked. */
	unsigned allocs = region_allocs;
	for (unsigned i = 0; i < n / 2; i++) {
		blocks[i] = hm_mallocx(MiB, flags | MALLOCX_ZERO);
		assert_ptr_not_null(blocks[i], "again, block %u", i);
		expect_true(in_region(blocks[i], MiB), "in the region");
		expect_d_eq(blocks[i][4095], 0, "zeroed");
	}
	expect_u_eq(region_allocs, allocs, "from retained ranges: alloc not "
	    "asked");
	for (unsigned i = 0; i < n / 2; i++)
		hm_dallocx(blocks[i], flags);
	destroy_arena(ind);
	munmap(m, REGION_SIZE + 2 * MiB);
TEST_END

/* --- Counting hooks over the default table. --- */

static extent_hooks_t *dflt;
static unsigned n_alloc, n_dalloc, n_destroy, n_lazy, n_forced;
static unsigned n_commit, n_decommit, n_split, n_merge;
static bool refuse_dalloc;
static size_t retained_bytes;

static void *
count_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t align,
    bool *zero, bool *commit, unsigned ind) {
	(void)h;
	n_alloc++;
	return dflt->alloc(dflt, new_addr, size, align, zero, commit, ind);
}

static bool
count_dalloc(extent_hooks_t *h, void *addr, size_t size, bool committed,
    unsigned ind) {
	(void)h;
	n_dalloc++;
	if (refuse_dalloc) {
		retained_bytes += size;
		return true;
	}
	return dflt->dalloc(dflt, addr, size, committed, ind);
}

static void
count_destroy(extent_hooks_t *h, void *addr, size_t size, bool committed,
    unsigned ind) {
	(void)h;
	n_destroy++;
	retained_bytes -= size;
	dflt->destroy(dflt, addr, size, committed, ind);
}

static bool
count_commit(extent_hooks_t *h, void *addr, size_t size, size_t off,
    size_t len, unsigned ind) {
	(void)h; (void)addr; (void)size; (void)off; (void)len; (void)ind;
	n_commit++;
	return true;
}

static bool
count_decommit(extent_hooks_t *h, void *addr, size_t size, size_t off,
    size_t len, unsigned ind) {
	(void)h; (void)addr; (void)size; (void)off; (void)len; (void)ind;
	n_decommit++;
	return true;
}

static bool
count_lazy(extent_hooks_t *h, void *addr, size_t size, size_t off,
    size_t len, unsigned ind) {
	(void)h;
	n_lazy++;
	return dflt->purge_lazy(dflt, addr, size, off, len, ind);
}

static bool
count_forced(extent_hooks_t *h, void *addr, size_t size, size_t off,
    size_t len, unsigned ind) {
	(void)h;
	n_forced++;
	return dflt->purge_forced(dflt, addr, size, off, len, ind);
}

static bool
count_split(extent_hooks_t *h, void *addr, size_t size, size_t a, size_t b,
    bool committed, unsigned ind) {
	(void)h; (void)addr; (void)size; (void)a; (void)b; (void)committed;
	(void)ind;
	n_split++;
	return true;
}

static bool
count_merge(extent_hooks_t *h, void *a, size_t sa, void *b, size_t sb,
    bool committed, unsigned ind) {
	(void)h; (void)a; (void)sa; (void)b; (void)sb; (void)committed;
	(void)ind;
	n_merge++;
	return true;
}

static extent_hooks_t count_hooks = {
	count_alloc, count_dalloc, count_destroy, count_commit,
	count_decommit, count_lazy, count_forced, count_split, count_merge,
};

static void
count_reset(void) {
	dflt = default_hooks();
	n_alloc = n_dalloc = n_destroy = n_lazy = n_forced = 0;
	n_commit = n_decommit = n_split = n_merge = 0;
	refuse_dalloc = false;
	retained_bytes = 0;
}

TEST_BEGIN(test_counting)
	count_reset();
	unsigned ind = create_arena(&count_hooks);
	int flags = MALLOCX_ARENA(ind) | MALLOCX_TCACHE_NONE;
	/* Huge blocks: one alloc each, one dalloc each. */
	void *h1 = hm_mallocx(4 * MiB, flags);
	void *h2 = hm_mallocx(6 * MiB, flags);
	assert_ptr_not_null(h1, "huge");
	assert_ptr_not_null(h2, "huge");
	memset(h1, 1, 4 * MiB);
	expect_u_eq(n_alloc, 2, "an alloc per huge block");
	/* Resized by moving: no split or merge is asked. */
	void *h3 = hm_rallocx(h2, 8 * MiB, flags);
	assert_ptr_not_null(h3, "rallocx");
	expect_u_eq(n_alloc, 3, "the new block");
	expect_u_eq(n_dalloc, 1, "the old one given back");
	hm_dallocx(h3, flags);
	expect_u_eq(n_dalloc, 2, "freed: given back");
	/* Declined: retained, then served again without alloc. */
	refuse_dalloc = true;
	hm_dallocx(h1, flags);
	expect_u_eq(n_dalloc, 3, "asked");
	expect_zu_eq(retained_bytes, 4 * MiB, "declined: retained");
	unsigned allocs = n_alloc;
	void *h4 = hm_mallocx(4 * MiB, flags | MALLOCX_ZERO);
	assert_ptr_not_null(h4, "again");
	expect_ptr_eq(h4, h1, "the retained range served again");
	expect_u_eq(n_alloc, allocs, "with no alloc");
	expect_d_eq(((char *)h4)[12345], 0, "zeroed");
	retained_bytes -= 4 * MiB; /* out of the retained list again */
	hm_dallocx(h4, flags);
	expect_zu_eq(retained_bytes, 4 * MiB, "declined again: retained");
	/* Small and Large: chunks from alloc; purges through the hooks. */
	refuse_dalloc = false;
	allocs = n_alloc;
	void *s[64];
	for (int i = 0; i < 64; i++) {
		s[i] = hm_mallocx(i % 2 ? 100 : 40000, flags);
		assert_ptr_not_null(s[i], "mallocx");
		memset(s[i], 7, i % 2 ? 100 : 40000);
	}
	expect_zu_gt(n_alloc, allocs, "a chunk from alloc");
	for (int i = 0; i < 64; i += 2)
		hm_dallocx(s[i], flags);
	arena_ctl(ind, "purge");
	expect_zu_gt(n_lazy + n_forced, 0, "purged through the hooks");
	for (int i = 1; i < 64; i += 2) {
		expect_d_eq(((char *)s[i])[99], 7, "small block %d intact", i);
		hm_dallocx(s[i], flags);
	}
	arena_ctl(ind, "purge");
	/* A declined range waits for destroy. */
	refuse_dalloc = true;
	void *h5 = hm_mallocx(6 * MiB, flags);
	assert_ptr_not_null(h5, "huge");
	hm_dallocx(h5, flags);
	expect_zu_eq(retained_bytes, 10 * MiB, "both retained");
	destroy_arena(ind);
	expect_zu_ge(n_destroy, 2, "destroy got the retained ranges");
	expect_zu_eq(retained_bytes, 0, "none left");
	expect_u_eq(n_split + n_merge + n_commit + n_decommit, 0,
	    "never asked: split, merge, decommit, nor commit for committed "
	    "memory");
TEST_END

TEST_BEGIN(test_default_swap)
	count_reset();
	extent_hooks_t *d = default_hooks();
	/* Called directly, the default functions work. */
	bool zero = false, commit = false;
	char *p = d->alloc(d, NULL, 4 * MiB, 2 * MiB, &zero, &commit, 0);
	assert_ptr_not_null(p, "default alloc");
	expect_zu_eq((uintptr_t)p % (2 * MiB), 0, "aligned");
	expect_true(zero && commit, "zeroed and committed");
	memset(p, 3, 4 * MiB);
	expect_false(d->purge_forced(d, p, 4 * MiB, MiB, MiB, 0),
	    "default purge_forced");
	expect_d_eq(p[MiB + 100], 0, "purged pages read as zero");
	expect_d_eq(p[100], 3, "the rest kept");
	expect_false(d->dalloc(d, p, 4 * MiB, true, 0), "default dalloc");
	/* Swapped in, used; swapped out, not. */
	unsigned ind = create_arena(NULL);
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.extent_hooks", ind);
	extent_hooks_t *old = NULL, *mine = &count_hooks;
	size_t sz = sizeof(old);
	expect_d_eq(hm_mallctl(name, &old, &sz, &mine, sizeof(mine)), 0,
	    "set hooks");
	expect_ptr_eq(old, d, "the default before");
	int flags = MALLOCX_ARENA(ind) | MALLOCX_TCACHE_NONE;
	void *a = hm_mallocx(3 * MiB, flags);
	assert_ptr_not_null(a, "mallocx");
	expect_u_eq(n_alloc, 1, "through the new hooks");
	expect_d_eq(hm_mallctl(name, &old, &sz, &d, sizeof(d)), 0,
	    "restore the default");
	expect_ptr_eq(old, &count_hooks, "ours before");
	void *b = hm_mallocx(3 * MiB, flags);
	assert_ptr_not_null(b, "mallocx");
	expect_u_eq(n_alloc, 1, "not through them any more");
	hm_dallocx(a, flags);
	expect_u_eq(n_dalloc, 1, "a block goes back where it came from");
	hm_dallocx(b, flags);
	expect_u_eq(n_dalloc, 1, "and b did not come from them");
	sz = sizeof(old);
	expect_d_eq(hm_mallctl(name, &old, &sz, NULL, 0), 0, "read");
	expect_ptr_eq(old, d, "the default again");
	destroy_arena(ind);
TEST_END

TEST_BEGIN(test_tcache_decay)
	count_reset();
	unsigned ind = create_arena(&count_hooks);
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", ind);
	ssize_t zero_ms = 0;
	expect_d_eq(hm_mallctl(name, NULL, NULL, &zero_ms, sizeof(zero_ms)),
	    0, "%s", name);
	unsigned old = 0;
	size_t sz = sizeof(old);
	assert_d_eq(hm_mallctl("thread.arena", &old, &sz, &ind, sizeof(ind)),
	    0, "thread.arena");
	enum { N = 2000 };
	static char *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = hm_malloc(64 + (size_t)(i % 7) * 1000);
		assert_ptr_not_null(p[i], "malloc");
		p[i][0] = (char)i;
	}
	unsigned where = 0;
	sz = sizeof(where);
	expect_d_eq(hm_mallctl("arenas.lookup", &where, &sz, &p[0],
	    sizeof(p[0])), 0, "arenas.lookup");
	expect_u_eq(where, ind, "from the hooked arena");
	expect_zu_gt(n_alloc, 0, "its chunks from alloc");
	for (int i = 0; i < N; i++) {
		expect_d_eq(p[i][0], (char)i, "block %d", i);
		hm_free(p[i]);
	}
	expect_d_eq(hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0),
	    0, "flush");
	arena_ctl(ind, "decay");
	expect_zu_gt(n_lazy + n_forced + n_dalloc, 0,
	    "freed runs purged or given back through the hooks");
	assert_d_eq(hm_mallctl("thread.arena", NULL, NULL, &old, sizeof(old)),
	    0, "thread.arena back");
	destroy_arena(ind);
TEST_END

int
main(void) {
	return test(test_region, test_counting, test_default_swap,
	    test_tcache_decay);
}
