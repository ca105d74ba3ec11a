/*
 * The metadata allocator (base.h, base.c): hm_base_alloc hands out zeroed,
 * aligned (16 bytes, or CACHELINE from 64 bytes up), distinct and
 * non-overlapping blocks, including ones bigger than a base block; the
 * counters grow with it; base_pool_t recycles descriptors LIFO and zeroes
 * them on reuse.
 */
#include "unit_util.h"

#include "base.h"
#include "os.h"
#include "pages.h"

#include <stdio.h>

/* The permissions ("rw-p", "---p") of the mapping holding addr, from
 * /proc/self/maps; "" if none. */
static void
perms_at(uintptr_t addr, char out[5]) {
	out[0] = '\0';
	FILE *f = fopen("/proc/self/maps", "r");
	assert_ptr_not_null(f, "/proc/self/maps");
	unsigned long lo, hi;
	char perms[5];
	while (fscanf(f, "%lx-%lx %4s%*[^\n]", &lo, &hi, perms) == 3) {
		if (addr >= lo && addr < hi) {
			memcpy(out, perms, 5);
			break;
		}
	}
	fclose(f);
}

typedef struct blk_s {
	char *p;
	size_t size;
} blk_t;

static int
blk_cmp(const void *a, const void *b) {
	const blk_t *x = a, *y = b;
	return x->p < y->p ? -1 : x->p > y->p;
}

static bool
all_bytes(const char *p, size_t n, unsigned char c) {
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)p[i] != c)
			return false;
	}
	return true;
}

static void
check_one(const char *p, size_t size) {
	size_t align = size >= CACHELINE ? CACHELINE : QUANTUM;
	expect_zu_eq((uintptr_t)p % align, 0, "hm_base_alloc(%zu) = %p", size,
	    (const void *)p);
	expect_true(all_bytes(p, size, 0), "hm_base_alloc(%zu) = %p not zeroed",
	    size, (const void *)p);
}

#define NBLK 10000

TEST_BEGIN(test_random_blocks)
	unit_boot();
	uint64_t seed = test_seed(), st = seed;
	blk_t *b = calloc(NBLK, sizeof(blk_t));
	assert_ptr_not_null(b, "calloc");
	size_t allocated0 = hm_base_allocated(), total = 0;
	for (size_t i = 0; i < NBLK; i++) {
		size_t size = 1 + (size_t)(test_rand_next(&st) % 5000);
		b[i].p = hm_base_alloc(size);
		b[i].size = size;
		assert_ptr_not_null(b[i].p, "hm_base_alloc(%zu)", size);
		check_one(b[i].p, size);
		/* Fill: an overlap shows as a changed pattern below. */
		memset(b[i].p, (int)(i % 251) + 1, size);
		total += size;
	}
	expect_zu_ge(hm_base_allocated() - allocated0, total,
	    "hm_base_allocated grew by less than was allocated");
	expect_zu_ge(hm_base_mapped(), hm_base_allocated(), "mapped >= allocated");
	for (size_t i = 0; i < NBLK; i++)
		expect_true(all_bytes(b[i].p, b[i].size, (unsigned char)(i % 251 + 1)),
		    "block %zu (%p, %zu bytes) overwritten, seed %" PRIu64, i,
		    (void *)b[i].p, b[i].size, seed);
	qsort(b, NBLK, sizeof(blk_t), blk_cmp);
	for (size_t i = 1; i < NBLK; i++) {
		if (b[i - 1].p + b[i - 1].size > b[i].p)
			expect_not_reached("blocks %p (+%zu) and %p overlap, "
			    "seed %" PRIu64, (void *)b[i - 1].p, b[i - 1].size,
			    (void *)b[i].p, seed);
	}
	free(b);
TEST_END

TEST_BEGIN(test_counters_and_big_blocks)
	unit_boot();
	size_t a0 = hm_base_allocated(), m0 = hm_base_mapped();
	char *p = hm_base_alloc(100);
	assert_ptr_not_null(p, "hm_base_alloc(100)");
	expect_zu_ge(hm_base_allocated(), a0 + 100, "allocated after 100 B");
	/* Bigger than a 256 KiB base block: a mapping of its own. */
	size_t big = 300 * KiB + 5;
	size_t a1 = hm_base_allocated();
	char *q = hm_base_alloc(big);
	assert_ptr_not_null(q, "hm_base_alloc(%zu)", big);
	check_one(q, big);
	memset(q, 0xee, big);
	expect_zu_ge(hm_base_allocated(), a1 + big, "allocated after %zu",
	    big);
	expect_zu_ge(hm_base_mapped(), m0 + big, "mapped after %zu", big);
	/* Small requests still work and do not land in the big block. */
	char *r = hm_base_alloc(32);
	assert_ptr_not_null(r, "hm_base_alloc(32)");
	check_one(r, 32);
	expect_true(r + 32 <= q || r >= q + big, "block %p inside the big "
	    "block %p", (void *)r, (void *)q);
	expect_true(p + 100 <= r || r + 32 <= p, "blocks %p and %p overlap",
	    (void *)p, (void *)r);
	/* Alignment of the sizes around the threshold. */
	for (size_t s = 1; s <= 200; s++) {
		char *x = hm_base_alloc(s);
		assert_ptr_not_null(x, "hm_base_alloc(%zu)", s);
		check_one(x, s);
	}
TEST_END

TEST_BEGIN(test_pool)
	unit_boot();
	base_pool_t pool = {NULL, 48};
	char *a = hm_base_pool_get(&pool);
	char *b = hm_base_pool_get(&pool);
	assert_ptr_not_null(a, "pool get");
	assert_ptr_not_null(b, "pool get");
	expect_ptr_ne(a, b, "two live descriptors");
	expect_true(all_bytes(a, 48, 0), "fresh descriptor not zeroed");
	memset(a, 0x77, 48);
	memset(b, 0x88, 48);
	hm_base_pool_put(&pool, a);
	hm_base_pool_put(&pool, b);
	/* LIFO: b comes back first, then a, both zeroed. */
	char *c = hm_base_pool_get(&pool);
	expect_ptr_eq(c, b, "first recycled descriptor");
	expect_true(all_bytes(c, 48, 0), "recycled descriptor not zeroed");
	char *d = hm_base_pool_get(&pool);
	expect_ptr_eq(d, a, "second recycled descriptor");
	expect_true(all_bytes(d, 48, 0), "recycled descriptor not zeroed");
	expect_ptr_null(pool.free, "pool empty after taking both back");
	/* An empty pool allocates again: a third distinct block. */
	char *e = hm_base_pool_get(&pool);
	assert_ptr_not_null(e, "pool get");
	expect_true(e != a && e != b, "new descriptor %p is a live one",
	    (void *)e);
	/* Many round trips keep recycling the same few descriptors. */
	size_t alloc0 = hm_base_allocated();
	for (int i = 0; i < 1000; i++) {
		char *x = hm_base_pool_get(&pool);
		assert_ptr_not_null(x, "pool get");
		expect_true(all_bytes(x, 48, 0), "round %d: not zeroed", i);
		memset(x, 0x55, 48);
		hm_base_pool_put(&pool, x);
	}
	expect_zu_le(hm_base_allocated() - alloc0, 48,
	    "round trips allocated new metadata");
TEST_END

/* guard:true (secure.h): a metadata mapping has an inaccessible page on
 * each side. */
TEST_BEGIN(test_guards)
	unit_boot();
	if (!hm_pages_guard_metadata)
		test_skip("needs guard:true or secure:true");
	size_t size = ((size_t)1 << 20) + 100; /* more than a base block */
	char *p = hm_base_alloc(size);
	assert_ptr_not_null(p, "hm_base_alloc(%zu)", size);
	char before[5], inside[5], after[5];
	perms_at((uintptr_t)p - 1, before);
	perms_at((uintptr_t)p, inside);
	perms_at((uintptr_t)p + PAGE_CEILING(size), after);
	expect_str_eq(inside, "rw-p", "the block");
	expect_str_eq(before, "---p", "the page before the block");
	expect_str_eq(after, "---p", "the page after the block");
TEST_END

int
main(void) {
	return test(test_guards, test_random_blocks,
	    test_counters_and_big_blocks, test_pool);
}
