/*
 * experimental.batch_alloc (jemalloc 5.3's packet {ptrs, num, size,
 * flags} in, the count filled out):
 *
 * test_batch_small: batches of 0, 1, a slab's regions and one either side,
 *   two slabs, and 2^16 + 1, for 11 B, 11 B zeroed, 7 B aligned to 16, and
 *   in an arena of its own: every pointer is filled, distinct, of the
 *   class's usable size, writable without overlap, zero when asked; and
 *   (when no option asks for more than the block) each whole slab's
 *   regions come first, consecutive in address order from a page-aligned
 *   slab start, as jemalloc's batch gives them.
 * test_batch_large: Large and past-the-cache sizes, one at a time.
 * test_batch_errors: a packet of the wrong size, no count to write back,
 *   a count of the wrong size, and ptrs NULL with num > 0 are EINVAL; an
 *   arena that cannot be used fills nothing.
 */
#include "api_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct packet_s {
	void **ptrs;
	size_t num;
	size_t size;
	int flags;
} packet_t;

#define BATCH_MAX (((size_t)1 << 16) + 1024)
static void *ptrs[BATCH_MAX];

static size_t
batch(size_t num, size_t size, int flags) {
	packet_t pk = {ptrs, num, size, flags};
	size_t filled = 0, len = sizeof(filled);
	assert_d_eq(hm_mallctl("experimental.batch_alloc", &filled, &len, &pk,
	    sizeof(pk)), 0, "batch_alloc(%zu x %zu, flags %#x)", num, size,
	    (unsigned)flags);
	return filled;
}

static bool
opt_is(const char *name) {
	bool v = false;
	size_t len = sizeof(v);
	return hm_mallctl(name, &v, &len, NULL, 0) == 0 && v;
}

/* Whether the batch takes whole fresh slabs (alloc.c's plain case). */
static bool
slabs_expected(void) {
	const char *junk = NULL;
	size_t len = sizeof(junk);
	hm_mallctl("opt.junk", &junk, &len, NULL, 0);
	return !test_canary_on() && !opt_is("opt.zero") && !opt_is("opt.prof")
	    && !opt_is("opt.slab_random") && junk != NULL
	    && (strcmp(junk, "false") == 0 || strcmp(junk, "free") == 0);
}

static unsigned
nregs_of(size_t usize) {
	unsigned nbins = 0;
	size_t len = sizeof(nbins);
	assert_d_eq(hm_mallctl("arenas.nbins", &nbins, &len, NULL, 0), 0,
	    "arenas.nbins");
	for (unsigned i = 0; i < nbins; i++) {
		char name[64];
		size_t size = 0;
		len = sizeof(size);
		snprintf(name, sizeof(name), "arenas.bin.%u.size", i);
		assert_d_eq(hm_mallctl(name, &size, &len, NULL, 0), 0, "%s",
		    name);
		if (size == usize) {
			uint32_t n = 0;
			len = sizeof(n);
			snprintf(name, sizeof(name), "arenas.bin.%u.nregs", i);
			assert_d_eq(hm_mallctl(name, &n, &len, NULL, 0), 0,
			    "%s", name);
			return n;
		}
	}
	return 0;
}

static void
check_batch(size_t num, size_t size, int flags, size_t usize,
    unsigned nregs, bool locality) {
	size_t filled = batch(num, size, flags);
	assert_zu_eq(filled, num, "filled of %zu x %zu", num, size);
	bool zero = (flags & MALLOCX_ZERO) != 0;
	for (size_t i = 0; i < num; i++) {
		assert_ptr_not_null(ptrs[i], "ptrs[%zu]", i);
		expect_zu_eq(hm_malloc_usable_size(ptrs[i]), usize,
		    "usable size of ptrs[%zu]", i);
		if (zero)
			expect_zu_eq(bytes_check(ptrs[i], 0, usize, 0), usize,
			    "ptrs[%zu] zeroed", i);
	}
	/* Full slabs first, each in address order from its start. */
	if (locality) {
		for (size_t i = 0; i + nregs <= num; i += nregs) {
			expect_zu_eq((uintptr_t)ptrs[i] & (page_size() - 1), 0,
			    "slab at ptrs[%zu] starts a page", i);
			for (size_t j = 1; j < nregs; j++) {
				if ((uintptr_t)ptrs[i + j]
				    != (uintptr_t)ptrs[i + j - 1] + usize) {
					expect_true(false, "ptrs[%zu] does not "
					    "follow ptrs[%zu]", i + j, i + j - 1);
					break;
				}
			}
		}
	}
	for (size_t i = 0; i < num; i++)
		pattern_fill(ptrs[i], usize, i);
	for (size_t i = 0; i < num; i++) {
		if (pattern_check(ptrs[i], usize, i) != usize) {
			expect_true(false, "ptrs[%zu] overwritten", i);
			break;
		}
	}
	qsort(ptrs, num, sizeof(ptrs[0]), test_cmp_addr);
	for (size_t i = 1; i < num; i++) {
		if ((uintptr_t)ptrs[i - 1] + usize > (uintptr_t)ptrs[i]) {
			expect_true(false, "blocks %p and %p overlap",
			    ptrs[i - 1], ptrs[i]);
			break;
		}
	}
	for (size_t i = 0; i < num; i++)
		hm_sdallocx(ptrs[i], size, flags & ~MALLOCX_ZERO);
}

static void
small_case(size_t size, int flags) {
	size_t usize = hm_nallocx(size, flags & ~MALLOCX_ZERO);
	/* With canaries the class holds one word more than the program's. */
	size_t cls = usize + (test_canary_on() ? sizeof(uint64_t) : 0);
	unsigned nregs = nregs_of(cls);
	assert_zu_ne(nregs, 0, "no bin of %zu", cls);
	bool locality = slabs_expected();
	const size_t bases[] = {0, nregs, 2 * (size_t)nregs, (size_t)1 << 16};
	for (size_t b = 0; b < HM_TEST_ARRAY_LEN(bases); b++) {
		for (int d = -1; d <= 1; d++) {
			if (bases[b] == 0 && d == -1)
				continue;
			check_batch(bases[b] + (size_t)d, size, flags, usize,
			    nregs, locality);
		}
	}
}

TEST_BEGIN(test_batch_small)
	small_case(11, 0);
	small_case(11, MALLOCX_ZERO);
	small_case(7, MALLOCX_LG_ALIGN(4));
	unsigned arena = 0;
	size_t len = sizeof(arena);
	assert_d_eq(hm_mallctl("arenas.create", &arena, &len, NULL, 0), 0,
	    "arenas.create");
	small_case(11, MALLOCX_ARENA(arena));
TEST_END

TEST_BEGIN(test_batch_large)
	size_t tcache_max = 0, len = sizeof(tcache_max);
	assert_d_eq(hm_mallctl("arenas.tcache_max", &tcache_max, &len, NULL, 0),
	    0, "arenas.tcache_max");
	const size_t sizes[] = {16 * KiB, tcache_max + 1, 3 * MiB};
	for (size_t s = 0; s < HM_TEST_ARRAY_LEN(sizes); s++) {
		for (size_t num = 0; num < 4; num++)
			check_batch(num, sizes[s], 0, hm_nallocx(sizes[s], 0),
			    0, false);
	}
TEST_END

TEST_BEGIN(test_batch_errors)
	packet_t pk = {ptrs, 4, 32, 0};
	size_t filled = 0, len = sizeof(filled);
	expect_d_eq(hm_mallctl("experimental.batch_alloc", &filled, &len, &pk,
	    sizeof(pk) - 1), EINVAL, "packet of the wrong size");
	expect_d_eq(hm_mallctl("experimental.batch_alloc", NULL, NULL, &pk,
	    sizeof(pk)), EINVAL, "no count to write back");
	len = sizeof(filled) - 1;
	expect_d_eq(hm_mallctl("experimental.batch_alloc", &filled, &len, &pk,
	    sizeof(pk)), EINVAL, "count of the wrong size");
	packet_t none = {NULL, 4, 32, 0};
	len = sizeof(filled);
	expect_d_eq(hm_mallctl("experimental.batch_alloc", &filled, &len,
	    &none, sizeof(none)), EINVAL, "ptrs NULL");
	/* An arena past the last one that can be made: nothing filled. */
	packet_t bad = {ptrs, 4, 32, MALLOCX_ARENA(4094)};
	filled = 99;
	len = sizeof(filled);
	expect_d_eq(hm_mallctl("experimental.batch_alloc", &filled, &len, &bad,
	    sizeof(bad)), 0, "an arena that cannot be used");
	expect_zu_eq(filled, 0, "filled with a bad arena");
TEST_END

int
main(void) {
	return test(test_batch_small, test_batch_large, test_batch_errors);
}
