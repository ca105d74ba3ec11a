/*
 * Sized frees against the class table, every Small class and Large and
 * Huge classes up to 16 MiB: free_sized, sdallocx, free_aligned_sized and
 * sdallocx with MALLOCX_ALIGN.  Any size from the requested to the usable
 * size is legal (the lowest request of the class, a middle one and the
 * class size each freed with sizes across that span); a size of the class
 * below or above, or of another range, aborts with
 * `<hmalloc>: sized free with wrong size: 0x...`.  sized_free.c has the
 * first cases; C++ sized delete is test/programs/cxx_sized_delete.
 */
#include "corrupt.h"

#include <pthread.h>

#define MiB ((size_t)1 << 20)
#define MAX_CLASSES 256
#define ALIGN 64

static size_t classes[MAX_CLASSES];  /* usable sizes, ascending */
static unsigned nclasses;

static void
classes_init(void) {
	if (nclasses > 0)
		return;
	unsigned n = 0;
	size_t len = sizeof(n);
	assert_d_eq(hm_mallctl("arenas.nbins", &n, &len, NULL, 0), 0,
	    "arenas.nbins");
	char name[64];
	for (unsigned j = 0; j < n; j++) {
		size_t size = 0;
		len = sizeof(size);
		snprintf(name, sizeof(name), "arenas.bin.%u.size", j);
		assert_d_eq(hm_mallctl(name, &size, &len, NULL, 0), 0, "%s", name);
		classes[nclasses++] = size;
	}
	unsigned nl = 0;
	len = sizeof(nl);
	assert_d_eq(hm_mallctl("arenas.nlextents", &nl, &len, NULL, 0), 0,
	    "arenas.nlextents");
	for (unsigned j = 0; j < nl && nclasses < MAX_CLASSES; j++) {
		size_t size = 0;
		len = sizeof(size);
		snprintf(name, sizeof(name), "arenas.lextent.%u.size", j);
		assert_d_eq(hm_mallctl(name, &size, &len, NULL, 0), 0, "%s", name);
		if (size > 16 * MiB)
			break;
		classes[nclasses++] = size;
	}
	for (unsigned c = 1; c < nclasses; c++)
		assert_zu_gt(classes[c], classes[c - 1], "classes ascend");
	/* The table is the allocator's rounding. */
	for (unsigned c = 0; c < nclasses; c++) {
		size_t lo = c == 0 ? 1 : classes[c - 1] + 1;
		expect_zu_eq(hm_nallocx(lo, 0), classes[c], "nallocx(%zu)", lo);
		expect_zu_eq(hm_nallocx(classes[c], 0), classes[c],
		    "nallocx(%zu)", classes[c]);
	}
}

/* Huge classes are checked at a few sizes only: each one maps memory. */
static bool
class_sampled(unsigned c) {
	return classes[c] <= 2 * MiB || c % 3 == 0 || c + 1 == nclasses;
}

/* ---- Legal sizes: run in a child, which must exit quietly. */

static void
free_all_ways(size_t req, size_t usize, unsigned way) {
	size_t mid = req + (usize - req) / 2;
	size_t sizes[] = {req, mid, usize};
	for (size_t k = 0; k < HM_TEST_ARRAY_LEN(sizes); k++) {
		void *p;
		switch (way) {
		case 0:
			p = hm_malloc(req);
			hm_free_sized(p, sizes[k]);
			break;
		case 1:
			p = hm_malloc(req);
			hm_sdallocx(p, sizes[k], 0);
			break;
		case 2:
			p = hm_aligned_alloc(ALIGN, req);
			hm_free_aligned_sized(p, ALIGN, sizes[k]);
			break;
		default:
			p = hm_mallocx(req, MALLOCX_ALIGN(ALIGN));
			hm_sdallocx(p, sizes[k], MALLOCX_ALIGN(ALIGN));
			break;
		}
	}
}

static void
legal_child(void *arg) {
	(void)arg;
	for (unsigned c = 0; c < nclasses; c++) {
		if (!class_sampled(c))
			continue;
		size_t lo = c == 0 ? 1 : classes[c - 1] + 1;
		size_t reqs[] = {lo, lo + (classes[c] - lo) / 2, classes[c]};
		for (size_t r = 0; r < HM_TEST_ARRAY_LEN(reqs); r++) {
			size_t req = reqs[r];
			for (unsigned way = 0; way < 4; way++) {
				size_t usize = way < 2 ? hm_nallocx(req, 0)
				    : hm_nallocx(req, MALLOCX_ALIGN(ALIGN));
				free_all_ways(req, usize, way);
			}
		}
	}
}

TEST_BEGIN(test_legal_sizes_every_class)
	classes_init();
	char out[4096];
	int status = test_fork_capture(legal_child, NULL, out, sizeof(out));
	expect_true(status != -1 && WIFEXITED(status)
	    && WEXITSTATUS(status) == 0, "legal sized frees: the child should "
	    "exit 0 (status 0x%x)", status);
	expect_str_eq(out, "", "legal sized frees print nothing");
TEST_END

/* ---- Wrong sizes: each one in a child that must abort. */

static size_t wrong_size;
static unsigned wrong_way;

static void
misuse_sized(void *p) {
	switch (wrong_way) {
	case 0:
		hm_free_sized(p, wrong_size);
		break;
	case 1:
		hm_sdallocx(p, wrong_size, 0);
		break;
	case 2:
		hm_free_aligned_sized(p, ALIGN, wrong_size);
		break;
	default:
		hm_sdallocx(p, wrong_size, MALLOCX_ALIGN(ALIGN));
		break;
	}
}

static void *
alloc_way(size_t req, unsigned way) {
	if (way < 2)
		return hm_malloc(req);
	return way == 2 ? hm_aligned_alloc(ALIGN, req)
	    : hm_mallocx(req, MALLOCX_ALIGN(ALIGN));
}

static const char *const way_names[] = {"free_sized", "sdallocx",
    "free_aligned_sized", "sdallocx(MALLOCX_ALIGN)"};

/* expect_abort, naming the block's class, the size and the call. */
static void
expect_wrong(void *p, size_t size, unsigned way) {
	wrong_size = size;
	wrong_way = way;
	struct misuse_s m = {misuse_sized, p};
	char out[4096];
	int status = test_fork_capture(misuse_run, &m, out, sizeof(out));
	size_t usize = hm_malloc_usable_size(p);
	expect_true(status != -1 && WIFSIGNALED(status)
	    && WTERMSIG(status) == SIGABRT, "%s(%p, %zu) of a block of class "
	    "%zu: the child should die of SIGABRT (status 0x%x)",
	    way_names[way], p, size, usize, status);
	char want[160];
	snprintf(want, sizeof(want),
	    "<hmalloc>: sized free with wrong size: %p\n", p);
	expect_str_eq(out, want, "%s(%p, %zu) of a block of class %zu",
	    way_names[way], p, size, usize);
}

static int
way_flags(unsigned way) {
	return way < 2 ? 0 : MALLOCX_ALIGN(ALIGN);
}

TEST_BEGIN(test_wrong_class_adjacent)
	/* A block of each class, freed with a size of the class below and
	 * of the class above, every way (with ALIGN, the classes that
	 * aligned requests use: sizes below ALIGN all round to ALIGN). */
	classes_init();
	for (unsigned c = 0; c < nclasses; c++) {
		if (!class_sampled(c))
			continue;
		for (unsigned way = 0; way < 4; way++) {
			int flags = way_flags(way);
			void *p = alloc_way(classes[c], way);
			assert_ptr_not_null(p, "allocation of %zu", classes[c]);
			size_t usize = hm_nallocx(classes[c], flags);
			/* The largest size of a lower class, if any. */
			for (unsigned k = c; k-- > 0;) {
				if (hm_nallocx(classes[k], flags) < usize) {
					expect_wrong(p, classes[k], way);
					break;
				}
			}
			if (c + 1 < nclasses)
				expect_wrong(p, usize + 1, way);
			hm_free(p);
		}
	}
TEST_END

TEST_BEGIN(test_wrong_range)
	/* Sizes of another range altogether: Small with Large and Huge
	 * sizes, Large with Small and Huge ones, Huge with Small and Large
	 * ones. */
	static const size_t blocks[] = {100, 14336, 16384, 100000, 3 * MiB};
	static const size_t others[] = {1, 100, 14336, 14337, 16384, 100000,
	    1792 << 10, 2 * MiB, 3 * MiB, 12 * MiB};
	for (size_t b = 0; b < HM_TEST_ARRAY_LEN(blocks); b++) {
		for (unsigned way = 0; way < 4; way++) {
			void *p = alloc_way(blocks[b], way);
			size_t usize = hm_nallocx(blocks[b], way_flags(way));
			for (size_t o = 0; o < HM_TEST_ARRAY_LEN(others); o++) {
				if (hm_nallocx(others[o], way_flags(way)) == usize)
					continue;
				expect_wrong(p, others[o], way);
			}
			hm_free(p);
		}
	}
TEST_END

static void *
alloc_in_thread(void *arg) {
	return hm_malloc((size_t)(uintptr_t)arg);
}

TEST_BEGIN(test_wrong_class_other_arena)
	/* A block another thread allocated (from its arena, maybe not this
	 * thread's): the fast path's class check holds there too. */
	static const size_t sizes[] = {48, 1000, 20000, 100000, 3 * MiB};
	unsigned arena = 1;
	hm_mallctl("thread.arena", NULL, NULL, &arena, sizeof(arena));
	for (size_t i = 0; i < HM_TEST_ARRAY_LEN(sizes); i++) {
		pthread_t th;
		void *p = NULL;
		assert_d_eq(pthread_create(&th, NULL, alloc_in_thread,
		    (void *)(uintptr_t)sizes[i]), 0, "pthread_create");
		pthread_join(th, &p);
		assert_ptr_not_null(p, "malloc(%zu) in a thread", sizes[i]);
		size_t usize = hm_nallocx(sizes[i], 0);
		expect_wrong(p, usize + 1, 0);
		expect_wrong(p, usize / 2, 1);
		hm_free_sized(p, sizes[i]);
	}
TEST_END

int
main(void) {
	return test(test_legal_sizes_every_class, test_wrong_class_adjacent,
	    test_wrong_range, test_wrong_class_other_arena);
}
