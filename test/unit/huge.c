/*
 * The Huge allocator's cache (huge.c), through the internal API in an
 * arena of the test's own: a cached block larger than a request is split
 * and its tail stays cached, resident, for the next request; freed
 * neighbours join again, so a request as large as the whole is served
 * from the cache at the same address.
 */
#include <string.h>

#include "unit_util.h"

#include "chunk.h"
#include "decay.h"
#include "huge.h"
#include "large.h"
#include "os.h"
#include "pages.h"
#include "secure.h"

static void
huge_free(void *p) {
	uintptr_t v = rtree_get(p);
	assert_true(v != 0 && (v & RTREE_HUGE_TAG) != 0,
	    "%p is not a huge block", p);
	hm_huge_dalloc(huge_from_rtree(v), p);
}

/* The arena's huge cache (huge.h), empty before its first huge block. */
static huge_t *
cached_list(arena_t *arena) {
	huge_arena_t *ha = huge_arena(arena);
	return ha != NULL ? ha->cached : NULL;
}

static size_t
cached_bytes(arena_t *arena) {
	huge_arena_t *ha = huge_arena(arena);
	return ha != NULL ? ha->cached_bytes : 0;
}

static huge_t *
cached_only(arena_t *arena) {
	huge_t *h = cached_list(arena);
	assert_ptr_not_null(h, "nothing cached");
	expect_ptr_null(h->next, "more than one cached block");
	return h;
}

static bool
all_bytes(const unsigned char *p, size_t n, unsigned char c) {
	for (size_t i = 0; i < n; i += PAGE / 2) {
		if (p[i] != c)
			return false;
	}
	return true;
}

TEST_BEGIN(test_split_and_join)
	arena_t *arena = unit_test_arena();
	if (opt_guard || arena_dirty_decay_ms(arena) == 0)
		test_skip("no huge cache with guard or dirty_decay_ms:0");
	hm_huge_decay(arena, 0, true);
	expect_ptr_null(cached_list(arena), "cache emptied");

	size_t whole = 8 * MiB, head = 3 * MiB, tail = whole - head;
	unsigned char *p = hm_huge_alloc(arena, whole, PAGE, false);
	assert_ptr_not_null(p, "hm_huge_alloc(8 MiB)");
	expect_zu_eq((uintptr_t)p & hm_chunk_mask, 0, "fresh: chunk-aligned");
	memset(p, 0xa5, whole);
	huge_free(p);
	huge_t *h = cached_only(arena);
	expect_ptr_eq(h->addr, p, "cached block");
	expect_zu_eq(cached_bytes(arena), whole, "cached bytes");

	/* The head comes from the cache; the tail stays there. */
	unsigned char *a = hm_huge_alloc(arena, head, PAGE, false);
	expect_ptr_eq(a, p, "3 MiB from the cached 8 MiB");
	h = cached_only(arena);
	expect_ptr_eq(h->addr, p + head, "the tail is cached");
	expect_zu_eq(h->usize, tail, "tail size");
	expect_zu_eq(cached_bytes(arena), tail, "cached bytes");

	/* The tail serves the next request, its pages still resident: what
	 * was written there before is still there (not unmapped). */
	unsigned char *b = hm_huge_alloc(arena, tail, PAGE, false);
	expect_ptr_eq(b, p + head, "5 MiB from the cached tail");
	expect_ptr_null(cached_list(arena), "cache empty");
	expect_true(all_bytes(b, tail, 0xa5), "tail's contents kept");
	expect_true(all_bytes(a, head, 0xa5), "head's contents kept");

	/* Both freed: one block again, served whole at its old address. */
	huge_free(a);
	huge_free(b);
	h = cached_only(arena);
	expect_ptr_eq(h->addr, p, "joined block's start");
	expect_zu_eq(h->usize, whole, "joined block's size");
	unsigned char *d = hm_huge_alloc(arena, whole, PAGE, false);
	expect_ptr_eq(d, p, "8 MiB from the joined block");
	expect_true(all_bytes(d, whole, 0xa5), "contents kept");

	/* A request with chunk alignment does not take a tail that is not
	 * chunk-aligned. */
	huge_free(d);
	a = hm_huge_alloc(arena, head, PAGE, false);
	expect_ptr_eq(a, p, "3 MiB from the cached 8 MiB again");
	unsigned char *c = hm_huge_alloc(arena, 2 * MiB, hm_chunksize, false);
	assert_ptr_not_null(c, "hm_huge_alloc(2 MiB, chunk-aligned)");
	expect_zu_eq((uintptr_t)c & hm_chunk_mask, 0, "chunk-aligned");
	expect_ptr_ne(c, p + head, "not the unaligned tail");
	huge_free(c);
	huge_free(a);
	hm_huge_decay(arena, 0, true);
	expect_ptr_null(cached_list(arena), "cache emptied");
	expect_zu_eq(cached_bytes(arena), 0, "no cached bytes");
TEST_END

/* A small block aligned beyond the chunk (a huge block of a Large
 * class) leaves the rest of its radix-tree key out of the tail: two blocks
 * never start under one key, and each is found by its address. */
TEST_BEGIN(test_split_small)
	arena_t *arena = unit_test_arena();
	if (opt_guard || arena_dirty_decay_ms(arena) == 0)
		test_skip("no huge cache with guard or dirty_decay_ms:0");
	hm_huge_decay(arena, 0, true);
	unsigned char *p = hm_huge_alloc(arena, 8 * MiB, PAGE, false);
	assert_ptr_not_null(p, "hm_huge_alloc(8 MiB)");
	huge_free(p);
	unsigned char *a = hm_huge_alloc(arena, 20 * KiB, hm_chunksize, false);
	expect_ptr_eq(a, p, "20 KiB, chunk-aligned, from the cache");
	huge_t *h = cached_only(arena);
	expect_zu_eq((uintptr_t)h->addr & (((size_t)1 << RTREE_LG_KEY) - 1), 0,
	    "tail starts on a key");
	unsigned char *b = hm_huge_alloc(arena, 4 * MiB, PAGE, false);
	expect_ptr_eq(b, h->addr, "4 MiB from the tail");
	assert_true(a != NULL && b != NULL, "hm_huge_alloc");
	uintptr_t va = rtree_get(a), vb = rtree_get(b);
	expect_ptr_eq(huge_from_rtree(va)->addr, a, "a's entry");
	expect_ptr_eq(huge_from_rtree(vb)->addr, b, "b's entry");
	huge_free(a);
	huge_free(b);
	hm_huge_decay(arena, 0, true);
TEST_END

/* A block joined from two mappings still grows by realloc (mremap cannot
 * span two mappings: the block is then copied). */
TEST_BEGIN(test_realloc_joined)
	unit_boot();
	size_t n = 4;
	unsigned char *blocks[4];
	for (size_t i = 0; i < n; i++) {
		blocks[i] = hm_malloc(3 * MiB);
		assert_ptr_not_null(blocks[i], "malloc(3 MiB)");
		memset(blocks[i], (int)i + 1, 3 * MiB);
	}
	for (size_t i = 0; i < n; i++)
		hm_free(blocks[i]);
	/* Whatever joined in the cache, blocks carved from it and grown
	 * keep their contents. */
	for (size_t i = 0; i < 8; i++) {
		unsigned char *q = hm_malloc(5 * MiB);
		assert_ptr_not_null(q, "malloc(5 MiB)");
		memset(q, 0x3c, 5 * MiB);
		q = hm_realloc(q, 11 * MiB);
		assert_ptr_not_null(q, "realloc(11 MiB)");
		expect_true(all_bytes(q, 5 * MiB, 0x3c), "contents after growth");
		hm_free(q);
	}
TEST_END

/* A block that must move to grow moves into a cached block that fits,
 * whose pages give way (the cache shrinks by it, nothing is mapped
 * anew), keeping its contents; the new part reads as zero. */
TEST_BEGIN(test_resize_into_cache)
	arena_t *arena = unit_test_arena();
	if (opt_guard || arena_dirty_decay_ms(arena) == 0)
		test_skip("no huge cache with guard or dirty_decay_ms:0");
	hm_huge_decay(arena, 0, true);
	const size_t big = 16 * MiB, small = 4 * MiB;
	unsigned char *c = hm_huge_alloc(arena, big, PAGE, false);
	assert_ptr_not_null(c, "the block to cache");
	memset(c, 0x5a, big);
	/* The block to grow, mapped right below c (mmap hands out
	 * addresses downwards), so that it cannot grow in place while c is
	 * cached. */
	unsigned char *b = hm_huge_alloc(arena, small, PAGE, false);
	assert_ptr_not_null(b, "the block to grow");
	if (b + small != c) {
		huge_free(b);
		huge_free(c);
		hm_huge_decay(arena, 0, true);
		test_skip("the block is not mapped right below the other");
	}
	huge_free(c);
	expect_zu_eq(cached_bytes(arena), big, "cached");
	memset(b, 0x11, small);
	size_t mapped = hm_os_mapped_bytes();
	uintptr_t v = rtree_get(b);
	assert_true(v != 0 && (v & RTREE_HUGE_TAG) != 0, "b is huge");
	unsigned char *g = hm_huge_resize(huge_from_rtree(v), big, true, PAGE,
	    false);
	assert_ptr_not_null(g, "grown");
	expect_ptr_eq(g, c, "moved into the cached block");
	expect_zu_eq(cached_bytes(arena), 0, "cache taken");
	/* (Metadata may take a page or two meanwhile.) */
	expect_zu_lt(hm_os_mapped_bytes(), mapped + MiB,
	    "nothing mapped for the move");
	expect_true(all_bytes(g, small, 0x11), "contents kept");
	expect_true(all_bytes(g + small, big - small, 0), "new part zero");
	expect_ptr_eq(huge_from_rtree(rtree_get(g))->addr, (char *)g,
	    "registered at its new address");
	huge_free(g);
	hm_huge_decay(arena, 0, true);
TEST_END

/* A fresh huge block grows the arena's footprint as a chunk does: first,
 * what the arena keeps freed beyond a quarter of its active pages (4 MiB
 * at least) goes back. */
TEST_BEGIN(test_purge_excess)
	if (opt_guard)
		test_skip("no huge cache with guard or dirty_decay_ms:0");
	unit_boot();
	arena_t *arena = hm_arena_create_manual();
	assert_ptr_not_null(arena, "a manual arena");
	enum { N = 96 };
	unsigned char *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = hm_large_alloc(arena, 128 * KiB, PAGE, false);
		assert_ptr_not_null(p[i], "block %d", i);
		memset(p[i], 0x42, 128 * KiB);
	}
	for (int i = 0; i < N; i++)
		if (i % 4 != 0)
			hm_large_dalloc(arena, unit_run_of(arena, p[i]), p[i]);
	unsigned char *h = hm_huge_alloc(arena, 8 * MiB, PAGE, false);
	assert_ptr_not_null(h, "the huge block");
	mutex_lock(&arena->lock);
	size_t ndirty = arena->ndirty, nactive = arena->nactive;
	mutex_unlock(&arena->lock);
	size_t keep = nactive / 4 > (4 * MiB) >> LG_PAGE ? nactive / 4
	    : (4 * MiB) >> LG_PAGE;
	expect_zu_le(ndirty, keep, "dirty after a fresh huge block");
	huge_free(h);
	for (int i = 0; i < N; i += 4)
		hm_large_dalloc(arena, unit_run_of(arena, p[i]), p[i]);
	expect_true(hm_arena_destroy(arena), "arena destroyed");
TEST_END

/* The cache holds as many bytes as the arena's live huge blocks (128 MiB
 * at least): freed blocks beyond 128 MiB stay cached while more is live,
 * and the cache shrinks with what is live. */
TEST_BEGIN(test_cache_cap)
	arena_t *arena = unit_test_arena();
	if (opt_guard || arena_dirty_decay_ms(arena) == 0)
		test_skip("no huge cache with guard or dirty_decay_ms:0");
	/* (Under an address-space limit freed blocks are not cached: the
	 * test would fail, and the suite sets none for unit tests.) */
	assert_false(hm_pages_limited(), "an address-space limit");
	hm_huge_decay(arena, 0, true);
	enum { NLIVE = 12, NFREED = 8 };
	const size_t size = 24 * MiB;
	unsigned char *live[NLIVE], *freed[NFREED];
	for (int i = 0; i < NLIVE; i++) {
		live[i] = hm_huge_alloc(arena, size, PAGE, false);
		assert_ptr_not_null(live[i], "live block %d", i);
	}
	for (int i = 0; i < NFREED; i++) {
		freed[i] = hm_huge_alloc(arena, size, PAGE, false);
		assert_ptr_not_null(freed[i], "block %d", i);
	}
	for (int i = 0; i < NFREED; i++)
		huge_free(freed[i]);
	expect_zu_eq(cached_bytes(arena), NFREED * size,
	    "192 MiB cached with 288 MiB live");
	for (int i = 0; i < NLIVE; i++) {
		huge_free(live[i]);
		size_t now_live = (size_t)(NLIVE - 1 - i) * size;
		size_t cap = now_live > HUGE_CACHE_MAX ? now_live
						       : HUGE_CACHE_MAX;
		expect_zu_le(cached_bytes(arena), cap,
		    "cached with %zu MiB live", now_live / MiB);
	}
	expect_zu_le(cached_bytes(arena), HUGE_CACHE_MAX, "nothing live");
	hm_huge_decay(arena, 0, true);
	expect_zu_eq(cached_bytes(arena), 0, "emptied");
TEST_END

int
main(void) {
	/* (test_resize_into_cache first: it needs two fresh mappings
	 * side by side, which what the others leave retained can prevent.) */
	/* (test_purge_excess last: it makes and destroys a manual arena,
	 * whose index unit_test_arena() would then name.) */
	return test(test_resize_into_cache, test_split_and_join,
	    test_split_small, test_realloc_joined, test_cache_cap,
	    test_purge_excess);
}
