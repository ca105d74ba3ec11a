/*
 * The chunk map (chunk.h, chunk.c): rtree_get answers 0 for any address
 * hmalloc does not own, mapped or not, without touching it; an arena chunk
 * maps to its descriptor (whose per-page map leads to the run), the first
 * chunk of a huge block to its tagged descriptor; freeing a huge block
 * clears its entry.
 */
#include "unit_util.h"

#include <sys/mman.h>

#include "chunk.h"
#include "huge.h"

static int a_static_variable;

TEST_BEGIN(test_foreign_addresses)
	unit_boot();
	int on_stack = 0;
	static const uintptr_t addrs[] = {
		0, 1, 4096, (uintptr_t)0xffff800000000000ULL,
		(uintptr_t)0x0001000000000000ULL, /* first past 48 bits */
		(uintptr_t)0x00007fffffffffffULL, UINTPTR_MAX,
	};
	for (size_t i = 0; i < HM_ARRAY_SIZE(addrs); i++)
		expect_zu_eq(rtree_get((const void *)addrs[i]), 0,
		    "rtree_get(%#zx)", (size_t)addrs[i]);
	expect_zu_eq(rtree_get(NULL), 0, "rtree_get(NULL)");
	expect_zu_eq(rtree_get(&on_stack), 0, "rtree_get(stack %p)",
	    (void *)&on_stack);
	expect_zu_eq(rtree_get(&a_static_variable), 0, "rtree_get(static %p)",
	    (void *)&a_static_variable);
	expect_zu_eq(rtree_get((const void *)test_fail), 0, "rtree_get(code)");
	/* The chunk map's own root: mapped by hmalloc, but no chunk. */
	expect_zu_eq(rtree_get((const void *)hm_rtree_root), 0,
	    "rtree_get(root %p)", (void *)hm_rtree_root);
	/* A mapping of the test's own. */
	void *m = mmap(NULL, 2 * hm_chunksize, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED, "mmap");
	for (size_t off = 0; off < 2 * hm_chunksize; off += hm_chunksize / 4)
		expect_zu_eq(rtree_get((char *)m + off), 0,
		    "rtree_get(own mapping + %zu)", off);
	munmap(m, 2 * hm_chunksize);
TEST_END

/* What the chunk map says about a small or large block. */
static void
check_arena_block(void *p, size_t size, run_state_t state) {
	uintptr_t v = rtree_get(p);
	assert_zu_ne(v, 0, "rtree_get(malloc(%zu) = %p)", size, p);
	expect_zu_eq(v & RTREE_HUGE_TAG, 0, "malloc(%zu): huge tag set", size);
	chunk_t *chunk = (chunk_t *)v;
	expect_ptr_eq(chunk->addr, (void *)ALIGN_DOWN((uintptr_t)p,
	    hm_chunksize), "malloc(%zu): chunk->addr", size);
	expect_ptr_eq(chunk->arena, tsd_arena(), "malloc(%zu): chunk->arena",
	    size);
	/* Every address in the block maps to the same chunk. */
	expect_zu_eq(rtree_get((char *)p + size - 1), v, "malloc(%zu): last "
	    "byte", size);
	run_t *run = chunk_map_get(chunk, chunk_page_index(chunk, p));
	assert_ptr_not_null(run, "malloc(%zu): no run for page %zu", size,
	    chunk_page_index(chunk, p));
	expect_d_eq(run->state, state, "malloc(%zu): run state", size);
	expect_ptr_eq(run->chunk, chunk, "malloc(%zu): run->chunk", size);
	if (state == RUN_LARGE)
		expect_ptr_eq(run->addr, p, "malloc(%zu): large run start",
		    size);
}

TEST_BEGIN(test_arena_blocks)
	unit_boot_exact();
	if (test_canary_on())
		test_skip("canary: Small classes keep a word for it");
	static const size_t small[] = {1, 16, 17, 100, 1024, 4096,
	    SC_SMALL_MAXCLASS};
	for (size_t i = 0; i < HM_ARRAY_SIZE(small); i++) {
		void *p = hm_malloc(small[i]);
		assert_ptr_not_null(p, "malloc(%zu)", small[i]);
		check_arena_block(p, small[i], RUN_SLAB);
		hm_free(p);
	}
	static const size_t large[] = {SC_LARGE_MINCLASS, 100 * KiB, 1 * MiB};
	for (size_t i = 0; i < HM_ARRAY_SIZE(large); i++) {
		if (large[i] > hm_sc_large_maxclass)
			continue;
		void *p = hm_malloc(large[i]);
		assert_ptr_not_null(p, "malloc(%zu)", large[i]);
		check_arena_block(p, large[i], RUN_LARGE);
		hm_free(p);
	}
TEST_END

TEST_BEGIN(test_huge_blocks)
	unit_boot();
	size_t sizes[] = {hm_sc_large_maxclass + 1, hm_chunksize,
	    2 * hm_chunksize + 1, 5 * hm_chunksize};
	for (size_t i = 0; i < HM_ARRAY_SIZE(sizes); i++) {
		size_t size = sizes[i];
		char *p = hm_malloc(size);
		assert_ptr_not_null(p, "malloc(%zu)", size);
		expect_zu_eq((uintptr_t)p % hm_chunksize, 0,
		    "huge block %p not chunk-aligned", (void *)p);
		uintptr_t v = rtree_get(p);
		assert_zu_ne(v, 0, "rtree_get(malloc(%zu) = %p)", size,
		    (void *)p);
		expect_zu_eq(v & RTREE_HUGE_TAG, RTREE_HUGE_TAG,
		    "malloc(%zu): entry %#zx not tagged huge", size, (size_t)v);
		huge_t *h = huge_from_rtree(v);
		expect_ptr_eq(h->addr, p, "malloc(%zu): huge->addr", size);
		expect_zu_eq(h->usize, hm_malloc_usable_size(p),
		    "malloc(%zu): huge->usize", size);
		expect_zu_ge(h->usize, size, "malloc(%zu): huge->usize", size);
		expect_ptr_eq(h->arena, tsd_arena(), "malloc(%zu): huge->arena",
		    size);
		/* Only the first chunk is registered. */
		for (size_t off = hm_chunksize; off < h->usize;
		    off += hm_chunksize)
			expect_zu_eq(rtree_get(p + off), 0, "malloc(%zu): chunk "
			    "at +%zu registered", size, off);
		hm_free(p);
		expect_zu_eq(rtree_get(p), 0, "rtree_get(%p) after free of a "
		    "huge block of %zu", (void *)p, size);
	}
TEST_END

/* hm_rtree_set/rtree_get on an address nobody uses, restored after. */
TEST_BEGIN(test_rtree_set)
	unit_boot();
	/* Chunk-aligned, below 2^47, far from anything the kernel hands
	 * out by default (mmap grows down from near 2^47). */
	uintptr_t base = ALIGN_DOWN((uintptr_t)0x100000000000ULL, hm_chunksize);
	uintptr_t prev = base - hm_chunksize, next = base + hm_chunksize;
	assert_zu_eq(rtree_get((void *)base), 0, "test chunk %#zx in use",
	    (size_t)base);
	assert_zu_eq(rtree_get((void *)prev), 0, "neighbour in use");
	assert_zu_eq(rtree_get((void *)next), 0, "neighbour in use");
	uintptr_t val = (uintptr_t)0xabcdef00;
	assert_true(hm_rtree_set((void *)base, hm_chunksize, val),
	    "hm_rtree_set");
	expect_zu_eq(rtree_get((void *)base), val, "chunk start");
	expect_zu_eq(rtree_get((void *)(base + hm_chunksize - 1)), val,
	    "chunk end");
	expect_zu_eq(rtree_get((void *)prev), 0, "previous chunk");
	expect_zu_eq(rtree_get((void *)next), 0, "next chunk");
	expect_zu_eq(rtree_get((void *)(prev + hm_chunksize - 1)), 0,
	    "byte before the chunk");
	assert_true(hm_rtree_set((void *)base, hm_chunksize, 0),
	    "hm_rtree_set(0)");
	expect_zu_eq(rtree_get((void *)base), 0, "after clearing");
TEST_END

int
main(void) {
	return test(test_foreign_addresses, test_arena_blocks, test_huge_blocks,
	    test_rtree_set);
}
