/*
 * The page source (pages.h, pages.c), called directly: the retained pool of
 * opt.retain.
 *
 * test_retain_reuse: a range given back with hm_pages_unmap stays mapped but
 *   purged (no page resident, mincore), moves from "mapped" to "retained",
 *   and the next request of its size gets the same address, zeroed.
 * test_retain_coalesce: adjacent ranges given back in any order become one
 *   range; a request cut from the middle of a range (alignment) leaves the
 *   pieces on either side in the pool.
 * test_retain_grow: growing in place takes the retained range that follows
 *   a mapping, whole or in part; what is taken reads as zero, and the
 *   block can still be moved by mremap.
 * test_retain_move: hm_pages_move takes its destination from the pool, keeps
 *   the contents, and the range it leaves goes back to the pool.
 * test_retain_churn: thousands of map/unmap calls of varying sizes and
 *   alignments: mapped + retained stays within a small multiple of the
 *   peak in use (the pool is reused, first fit), and every range handed
 *   out reads as zero where it came from the pool.
 * test_retain_fork: fork while other threads map and unmap: the child can
 *   use the pool (its lock was taken around fork).
 * test_retain_threads: concurrent map/unmap/grow from several threads:
 *   the counters add up at the end.
 *
 * Skipped with retain:false.  os.env turns the background thread off: its
 * purges would add ranges to the pool between the steps checked.
 */
#include "unit_util.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "chunk.h"
#include "os.h"
#include "pages.h"

/* Each test starts from an empty pool, so that first fit is known. */
/* Mapped data: what os.c counts less the retained pool's node pages,
 * metadata mapped the first time the pool needs a node. */
static size_t
data_mapped(void) {
	return hm_os_mapped_bytes() - hm_pages_metadata_bytes();
}

static void
skip_unless_retain(void) {
	unit_boot();
	if (!opt_retain)
		test_skip("retain:false");
	hm_pages_retained_release();
	expect_zu_eq(hm_pages_retained_bytes(), 0, "retained after release");
	expect_zu_eq(hm_pages_retained_ranges(), 0, "ranges after release");
}

/* Pages of [p, p + size) resident (mincore); SIZE_MAX if not mapped. */
static size_t
resident_pages(const void *p, size_t size) {
	static unsigned char vec[(64 << 20) / 4096];
	size_t n = size / PAGE;
	if (n > sizeof(vec))
		n = sizeof(vec);
	if (mincore((void *)p, n * PAGE, vec) != 0)
		return SIZE_MAX;
	size_t r = 0;
	for (size_t i = 0; i < n; i++)
		r += vec[i] & 1;
	return r;
}

static bool
all_zero(const void *p, size_t size) {
	const uint64_t *w = p;
	for (size_t i = 0; i < size / sizeof(*w); i++) {
		if (w[i] != 0)
			return false;
	}
	return true;
}

TEST_BEGIN(test_retain_reuse)
	skip_unless_retain();
	size_t size = 6 * hm_chunksize;
	bool zeroed = false;
	size_t ranges0 = hm_pages_retained_ranges();
	char *p = hm_pages_map(size, hm_chunksize, DSS_DISABLED, &zeroed);
	assert_ptr_not_null(p, "hm_pages_map(%zu)", size);
	expect_true(zeroed, "fresh mapping not zeroed");
	memset(p, 0x5a, size);
	expect_zu_eq(resident_pages(p, size), size / PAGE, "after memset");
	size_t mapped0 = data_mapped();
	size_t retained0 = hm_pages_retained_bytes();
	hm_pages_unmap(p, size);
	expect_zu_eq(hm_pages_retained_bytes(), retained0 + size,
	    "retained after unmap");
	expect_zu_eq(data_mapped(), mapped0 - size, "mapped after unmap");
	/* Still mapped (mincore fails on unmapped memory), nothing
	 * resident. */
	expect_zu_eq(resident_pages(p, size), 0, "retained range resident");

	char *q = hm_pages_map(size, hm_chunksize, DSS_DISABLED, &zeroed);
	assert_ptr_not_null(q, "hm_pages_map again");
	expect_true(zeroed, "retained range not zeroed");
	expect_zu_eq(hm_pages_retained_bytes(), retained0, "retained after reuse");
	expect_zu_eq(ranges0, 0, "pool not empty");
	expect_ptr_eq(q, p, "the only retained range was not reused");
	expect_true(all_zero(q, size), "reused range does not read as zero");
	hm_pages_unmap(q, size);
TEST_END

TEST_BEGIN(test_retain_coalesce)
	skip_unless_retain();
	size_t s = hm_chunksize;
	bool zeroed;
	char *p = hm_pages_map(4 * s, s, DSS_DISABLED, &zeroed);
	assert_ptr_not_null(p, "hm_pages_map");
	memset(p, 1, 4 * s);
	size_t r0 = hm_pages_retained_bytes(), n0 = hm_pages_retained_ranges();
	/* Second, fourth, first, third: 1, 2, 2, 1 new ranges at most
	 * (a neighbour already in the pool may absorb one). */
	hm_pages_unmap(p + s, s);
	hm_pages_unmap(p + 3 * s, s);
	size_t n_split = hm_pages_retained_ranges();
	expect_zu_le(n_split, n0 + 2, "two separate ranges");
	hm_pages_unmap(p, s);
	expect_zu_eq(hm_pages_retained_ranges(), n_split, "first joins second");
	hm_pages_unmap(p + 2 * s, s);
	expect_zu_eq(hm_pages_retained_ranges(), n_split - 1, "third joins all");
	expect_zu_eq(hm_pages_retained_bytes(), r0 + 4 * s, "retained bytes");
	expect_zu_eq(resident_pages(p, 4 * s), 0, "resident after unmap");

	/* A page-aligned request of the whole: exactly the range back if
	 * it is the lowest one that fits. */
	char *q = hm_pages_map(4 * s, s, DSS_DISABLED, &zeroed);
	assert_ptr_not_null(q, "hm_pages_map(4 chunks)");
	if (n0 == 0)
		expect_ptr_eq(q, p, "coalesced range");
	hm_pages_unmap(q, 4 * s);

	if (n0 == 0) {
		/* Cut from the middle: [p, p+s) and [p+3s, p+4s) stay. */
		size_t n1 = hm_pages_retained_ranges();
		char *a = hm_pages_map(s, PAGE, DSS_DISABLED, &zeroed);
		assert_ptr_eq(a, p, "first fit, lowest address");
		char *b = hm_pages_map(s, PAGE, DSS_DISABLED, &zeroed);
		assert_ptr_eq(b, p + s, "next");
		/* Aligned to 2 chunks: p + 2s if p is 4-chunk aligned,
		 * else p + 3s... either way inside and the rest kept. */
		size_t r1 = hm_pages_retained_bytes();
		char *c = hm_pages_map(s, 2 * s, DSS_DISABLED, &zeroed);
		assert_ptr_not_null(c, "aligned");
		expect_zu_eq((uintptr_t)c % (2 * s), 0, "alignment");
		expect_true(c >= p + 2 * s && c + s <= p + 4 * s,
		    "cut from the rest of the range (%p, range %p)",
		    (void *)c, (void *)p);
		expect_zu_eq(hm_pages_retained_bytes(), r1 - s, "retained");
		hm_pages_unmap(a, s);
		hm_pages_unmap(c, s);
		hm_pages_unmap(b, s);
		expect_zu_eq(hm_pages_retained_ranges(), n1, "all joined again");
	}
TEST_END

TEST_BEGIN(test_retain_grow)
	skip_unless_retain();
	size_t s = hm_chunksize;
	bool zeroed;
	char *p = hm_pages_map(4 * s, s, DSS_DISABLED, &zeroed);
	assert_ptr_not_null(p, "hm_pages_map");
	memset(p, 7, 4 * s);
	/* Shrink to one chunk: the tail is retained, purged. */
	size_t r0 = hm_pages_retained_bytes(), m0 = data_mapped();
	hm_pages_unmap(p + s, 3 * s);
	expect_zu_eq(hm_pages_retained_bytes(), r0 + 3 * s, "tail retained");
	/* Grow over part of it, then over the rest. */
	assert_true(hm_pages_grow(p, s, 2 * s), "grow into retained");
	expect_zu_eq(hm_pages_retained_bytes(), r0 + 2 * s, "retained after grow");
	expect_true(all_zero(p + s, s), "grown part not zero");
	expect_true(p[0] == 7 && p[s - 1] == 7, "contents kept");
	assert_true(hm_pages_grow(p, 2 * s, 4 * s), "grow over the rest");
	expect_zu_eq(hm_pages_retained_bytes(), r0, "retained after second grow");
	expect_zu_eq(data_mapped(), m0, "mapped back to 4 chunks");
	expect_true(all_zero(p + s, 3 * s), "grown parts not zero");
	memset(p, 8, 4 * s);
	/* Grown over retained ranges, it is still one kernel mapping, which
	 * mremap can move (a block spanning two would make it fail). */
	char *q = hm_pages_move(p, 4 * s, 5 * s, s, NULL, NULL, NULL);
	expect_ptr_not_null(q, "move after growing over retained ranges");
	if (q != NULL) {
		expect_true(q[0] == 8 && q[4 * s - 1] == 8, "contents moved");
		hm_pages_unmap(q + 4 * s, s);
		p = q;
	}
	/* A retained range follows (one chunk, or more if it joined
	 * others): either it holds the growth and gives it, or the call
	 * fails and changes nothing. */
	hm_pages_unmap(p + 3 * s, s);
	size_t r1 = hm_pages_retained_bytes();
	if (hm_pages_grow(p, 3 * s, 5 * s)) {
		expect_zu_eq(hm_pages_retained_bytes(), r1 - 2 * s,
		    "retained after the grow");
		expect_true(all_zero(p + 3 * s, 2 * s), "grown parts not zero");
		hm_pages_unmap(p, 5 * s);
	} else {
		expect_zu_eq(hm_pages_retained_bytes(), r1, "failed grow changed "
		    "the pool");
		hm_pages_unmap(p, 3 * s);
	}
TEST_END

TEST_BEGIN(test_retain_move)
	skip_unless_retain();
	size_t s = hm_chunksize;
	bool zeroed;
	/* A retained range of 8 chunks to move into. */
	char *hole = hm_pages_map(8 * s, s, DSS_DISABLED, &zeroed);
	assert_ptr_not_null(hole, "hm_pages_map(hole)");
	char *p = hm_pages_map(2 * s, s, DSS_DISABLED, &zeroed);
	assert_ptr_not_null(p, "hm_pages_map(p)");
	for (size_t i = 0; i < 2 * s; i += PAGE)
		p[i] = (char)(i / PAGE + 1);
	hm_pages_unmap(hole, 8 * s);
	size_t r0 = hm_pages_retained_bytes(), m0 = data_mapped();
	char *q = hm_pages_move(p, 2 * s, 6 * s, s, NULL, NULL, NULL);
	if (q == NULL)
		test_skip("mremap refused the move (errno %d)", errno);
	expect_zu_eq((uintptr_t)q % s, 0, "moved block aligned");
	expect_zu_eq(data_mapped(), m0 + 4 * s, "mapped");
	if (q != p) {
		/* The destination came from the pool, and the range left
		 * behind went back to it, mapped afresh. */
		expect_zu_eq(hm_pages_retained_bytes(), r0 - 6 * s + 2 * s,
		    "retained after the move");
		expect_zu_eq(resident_pages(p, 2 * s), 0, "old range not "
		    "mapped, or resident");
	}
	for (size_t i = 0; i < 2 * s; i += PAGE) {
		if (q[i] != (char)(i / PAGE + 1)) {
			expect_not_reached("page %zu lost in the move", i / PAGE);
			break;
		}
	}
	expect_true(all_zero(q + 2 * s, 4 * s), "grown part not zero");
	hm_pages_unmap(q, 6 * s);
TEST_END

#define CHURN_SLOTS 24

TEST_BEGIN(test_retain_churn)
	skip_unless_retain();
	uint64_t seed = test_seed(), st = seed;
	struct {
		char *p;
		size_t size;
	} slot[CHURN_SLOTS] = {{NULL, 0}};
	size_t live = 0, peak_live = 0, peak_va = 0;
	size_t base_va = data_mapped() + hm_pages_retained_bytes();
	size_t va_at_half = 0, from_pool = 0;
	const unsigned iters = 20000;
	for (unsigned it = 0; it < iters; it++) {
		if (it == iters / 2)
			va_at_half = peak_va;
		unsigned i = (unsigned)(test_rand_next(&st) % CHURN_SLOTS);
		if (slot[i].p != NULL) {
			hm_pages_unmap(slot[i].p, slot[i].size);
			live -= slot[i].size;
			slot[i].p = NULL;
			continue;
		}
		/* 4 KiB .. 32 MiB, log-uniform; alignments page to 4 MiB. */
		uint64_t r = test_rand_next(&st);
		unsigned lg = 12 + (unsigned)(r % 14);
		size_t size = PAGE_CEILING(((size_t)1 << lg)
		    + (size_t)((r >> 8) % ((size_t)1 << lg)));
		size_t align = (size_t)1 << (12 + (unsigned)((r >> 40) % 11));
		size_t r0 = hm_pages_retained_bytes();
		bool zeroed = false;
		char *p = hm_pages_map(size, align, DSS_DISABLED, &zeroed);
		assert_ptr_not_null(p, "hm_pages_map(%zu, %zu)", size, align);
		expect_zu_eq((uintptr_t)p % align, 0, "alignment");
		expect_true(zeroed, "zeroed");
		if (hm_pages_retained_bytes() < r0) {
			from_pool++;
			/* Touch a sample: first, middle and last words. */
			uint64_t *w0 = (uint64_t *)p;
			uint64_t *w1 = (uint64_t *)(p + size / 2);
			uint64_t *w2 = (uint64_t *)(p + size - 8);
			if (*w0 != 0 || *w1 != 0 || *w2 != 0)
				expect_not_reached("range from the pool not "
				    "zero at %p (size %zu)", (void *)p, size);
		}
		/* Dirty the first and last pages. */
		p[0] = 1;
		p[size - 1] = 1;
		slot[i].p = p;
		slot[i].size = size;
		live += size;
		if (live > peak_live)
			peak_live = live;
		size_t va = data_mapped() + hm_pages_retained_bytes()
		    - base_va;
		if (va > peak_va)
			peak_va = va;
	}
	for (unsigned i = 0; i < CHURN_SLOTS; i++) {
		if (slot[i].p != NULL)
			hm_pages_unmap(slot[i].p, slot[i].size);
	}
	printf("os: churn: peak in use %zu MiB, peak mapped + retained %zu "
	    "MiB (%zu MiB at half-time), %zu of %u maps from the pool, %zu "
	    "ranges retained\n", peak_live >> 20, peak_va >> 20,
	    va_at_half >> 20, from_pool, iters, hm_pages_retained_ranges());
	expect_zu_gt(from_pool, iters / 4, "the pool was hardly used");
	/*
	 * Without reuse the address space would grow with every map, by
	 * some 40 GiB in each half here.  With it, it settles at about twice
	 * the peak in use (1.7x to 2.2x over 400,000 iterations, flat after
	 * the first tenth), though a few of the biggest requests (up to
	 * 64 MiB, aligned up to 4 MiB) may not fit the holes for a while:
	 * over 100 seeds of this test, at most 4x the peak in use, and at
	 * most 1.03x the peak in use added in the second half.
	 */
	expect_zu_le(peak_va, 6 * peak_live + (128 << 20),
	    "mapped + retained against the peak in use");
	expect_zu_le(peak_va - va_at_half, 2 * peak_live + (128 << 20),
	    "address space still growing in the second half");
TEST_END

static atomic_bool stop;

static void *
churn_thread(void *arg) {
	uint64_t st = (uint64_t)(uintptr_t)arg;
	unsigned n = 0;
	while (!atomic_load(&stop) || n < 100) {
		size_t size = PAGE_CEILING(PAGE + test_rand_next(&st)
		    % ((size_t)8 << 20));
		bool zeroed;
		char *p = hm_pages_map(size, hm_chunksize, DSS_DISABLED, &zeroed);
		if (p == NULL)
			return (void *)1;
		if (p[0] != 0 || p[size - 1] != 0)
			return (void *)2;
		p[0] = 1;
		p[size - 1] = 1;
		size_t more = PAGE_CEILING(test_rand_next(&st) % hm_chunksize);
		if (more != 0 && hm_pages_grow(p, size, size + more)) {
			if (p[size] != 0 || p[size + more - 1] != 0)
				return (void *)3;
			size += more;
		}
		hm_pages_unmap(p, size);
		n++;
	}
	return NULL;
}

TEST_BEGIN(test_retain_threads)
	skip_unless_retain();
	size_t m0 = data_mapped();
	pthread_t t[4];
	atomic_store(&stop, false);
	for (uintptr_t i = 0; i < 4; i++)
		assert_d_eq(pthread_create(&t[i], NULL, churn_thread,
		    (void *)(i * 7919 + 1)), 0, "pthread_create");
	struct timespec ts = {0, 300 * 1000 * 1000};
	nanosleep(&ts, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		expect_ptr_null(ret, "thread %d failed (%p)", i, ret);
	}
	expect_zu_eq(data_mapped(), m0, "mapped bytes after the "
	    "threads gave everything back");
TEST_END

static void
fork_child(void *arg) {
	(void)arg;
	bool zeroed;
	for (int i = 0; i < 100; i++) {
		size_t size = (size_t)(i % 7 + 1) * hm_chunksize;
		char *p = hm_pages_map(size, hm_chunksize, DSS_DISABLED, &zeroed);
		if (p == NULL || p[size - 1] != 0)
			_exit(2);
		p[0] = 1;
		hm_pages_unmap(p, size);
	}
	void *m = hm_malloc(10 << 20);
	if (m == NULL)
		_exit(3);
	hm_free(m);
}

TEST_BEGIN(test_retain_fork)
	skip_unless_retain();
	if (HM_TEST_SANITIZED)
		test_skip("fork with running threads under a sanitizer");
	pthread_t t[2];
	atomic_store(&stop, false);
	for (uintptr_t i = 0; i < 2; i++)
		assert_d_eq(pthread_create(&t[i], NULL, churn_thread,
		    (void *)(i * 104729 + 3)), 0, "pthread_create");
	char out[4096];
	for (int i = 0; i < 20; i++) {
		int status = test_fork_capture(fork_child, NULL, out,
		    sizeof(out));
		expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "child %d: status %#x: %s", i, status, out);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		expect_ptr_null(ret, "thread %d failed (%p)", i, ret);
	}
TEST_END

int
main(void) {
	return test(test_retain_reuse, test_retain_coalesce, test_retain_grow,
	    test_retain_move, test_retain_churn, test_retain_threads,
	    test_retain_fork);
}
