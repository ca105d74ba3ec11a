/*
 * Exhaustion.  With RLIMIT_AS set to the current VmSize + 256 MiB, the
 * allocator is driven until it refuses, with small (64 B), large (256 KiB)
 * and huge (16 MiB) requests in separate phases: it must return NULL with
 * errno ENOMEM, never crash, and have handed out a good part of the headroom
 * first.  After everything is freed, service must resume: 64 MiB of mixed
 * sizes within the lowered limit, then 100 MiB more with the limit raised
 * back, all verified.
 *
 * test_overflow: requests no system can satisfy (SIZE_MAX, calloc and
 * reallocarray overflow, alignments and sizes beyond the address space)
 * fail cleanly with ENOMEM, or EINVAL for an invalid alignment, leaving the
 * original block intact for realloc.
 *
 * test_threads_after_free: under the limit, once everything is freed, new
 * threads can map their stacks (hmalloc keeps no address space for reuse
 * while there is a limit: stats.retained stays 0).
 *
 * test_first_small_block: with the address space used up by large
 * blocks, a first block of each small size class (in an arena that has no
 * slab yet) is still served, from the reserve chunk, and again after
 * everything was freed and used up once more (the reserve refilled).
 *
 * The RLIMIT_AS tests are skipped under sanitizers: they reserve terabytes
 * of shadow address space.
 */
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)
#define HEADROOM (256 * MiB)
#define PAGE 4096

/* Hides a constant from the compiler's allocation-size warnings. */
static size_t
opaque(size_t x) {
	volatile size_t v = x;
	return v;
}

/* Hides a pointer from the compiler's use-after-free tracking. */
static void *
opaque_ptr(void *p) {
	void *volatile v = p;
	return v;
}

/*
 * Blocks are kept on a list threaded through themselves: word 0 links to
 * the next, word 1 holds the size, and the last word and one word per page
 * hold a check value.  Every block is at least 24 bytes.
 */
struct node {
	struct node *next;
	size_t size;
};

static uint64_t
check_word(const void *p, size_t size, size_t off) {
	return test_mix64((uint64_t)(uintptr_t)p ^ (size * 31) ^ off);
}

static void
node_fill(struct node *n, size_t size, struct node *next) {
	n->next = next;
	n->size = size;
	uint8_t *b = (uint8_t *)n;
	for (size_t o = PAGE; o + 8 <= size - 8; o += PAGE) {
		uint64_t w = check_word(n, size, o);
		memcpy(b + o, &w, 8);
	}
	uint64_t w = check_word(n, size, size - 8);
	memcpy(b + size - 8, &w, 8);
}

/* Returns the first bad offset or SIZE_MAX. */
static size_t
node_check(const struct node *n, size_t size) {
	const uint8_t *b = (const uint8_t *)n;
	if (n->size != size)
		return 8;
	for (size_t o = PAGE; o + 8 <= size - 8; o += PAGE) {
		uint64_t w;
		memcpy(&w, b + o, 8);
		if (w != check_word(n, size, o))
			return o;
	}
	uint64_t w;
	memcpy(&w, b + size - 8, 8);
	if (w != check_word(n, size, size - 8))
		return size - 8;
	return SIZE_MAX;
}

/* Frees a list, verifying each block; returns the number of bad blocks. */
static size_t
free_list(struct node *head) {
	size_t nbad = 0;
	while (head != NULL) {
		struct node *next = head->next;
		size_t bad = node_check(head, head->size);
		if (bad != SIZE_MAX) {
			if (nbad++ < 5)
				expect_not_reached("block %p size %zu corrupted "
				    "at offset %zu", (void *)head, head->size,
				    bad);
		}
		hm_free(head);
		head = next;
	}
	return nbad;
}

/*
 * Allocates `total` bytes in mixed sizes (24 B .. 8 MiB, a third of the
 * bytes in each of small, large and huge), verifies and frees them.
 * Returns false, with errno, if an allocation failed.
 */
static bool
mixed_service(size_t total, uint64_t *rng, const char *when) {
	struct node *head = NULL;
	size_t got[3] = {0, 0, 0};
	size_t done = 0;
	bool ok = true;
	while (done < total) {
		int cls = (int)(test_rand_next(rng) % 3);
		if (got[cls] >= total / 3 + 1) {
			cls = got[0] <= got[1] ? 0 : 1;
			cls = got[cls] <= got[2] ? cls : 2;
		}
		size_t size;
		uint64_t r = test_rand_next(rng);
		switch (cls) {
		case 0: size = 24 + r % 4096; break;
		case 1: size = 8192 + r % (512 << 10); break;
		default: size = MiB + r % (7 * MiB); break;
		}
		struct node *n = (r >> 40) % 2 ? hm_malloc(size)
		    : hm_calloc(1, size);
		if (n == NULL) {
			int e = errno;
			expect_not_reached("%s: allocating %zu bytes failed "
			    "(errno %d) after %zu of %zu bytes", when, size, e,
			    done, total);
			ok = false;
			break;
		}
		node_fill(n, size, head);
		head = n;
		got[cls] += size;
		done += size;
	}
	expect_zu_eq(free_list(head), 0, "%s: corrupted blocks", when);
	return ok;
}

static void
set_as_limit(rlim_t cur) {
	struct rlimit rl;
	assert_d_eq(getrlimit(RLIMIT_AS, &rl), 0, "getrlimit");
	rl.rlim_cur = cur;
	assert_d_eq(setrlimit(RLIMIT_AS, &rl), 0, "setrlimit(%llu)",
	    (unsigned long long)cur);
}

static void
exhaust(size_t size, const char *name, uint64_t *rng) {
	struct rlimit old;
	assert_d_eq(getrlimit(RLIMIT_AS, &old), 0, "getrlimit");
	size_t vm0 = test_proc_status_kb("VmSize:") * 1024;
	assert_zu_gt(vm0, 0, "VmSize from /proc/self/status");
	set_as_limit((rlim_t)(vm0 + HEADROOM));

	struct node *head = NULL;
	size_t n = 0, total = 0;
	int err = 0;
	/* A limit that works stops us long before this. */
	const size_t give_up = 16 * HEADROOM;
	for (;;) {
		errno = 0;
		struct node *p = hm_malloc(size);
		if (p == NULL) {
			err = errno;
			break;
		}
		node_fill(p, size, head);
		head = p;
		n++;
		total += size;
		if (total > give_up)
			break;
	}
	size_t vm1 = test_proc_status_kb("VmSize:") * 1024;
	/* After the refusal, the process carries on: a free and a retry. */
	struct node *again = NULL;
	if (head != NULL) {
		struct node *next = head->next;
		expect_zu_eq(node_check(head, size), SIZE_MAX,
		    "%s: last block", name);
		hm_free(head);
		head = next;
		n--;
		again = hm_malloc(size <= 64 ? size : 64);
	}
	printf("rlimit: %s: %zu blocks of %zu B = %zu MiB before NULL "
	    "(headroom %zu MiB, VmSize %zu -> %zu MiB)\n", name, n, size,
	    total >> 20, HEADROOM >> 20, vm0 >> 20, vm1 >> 20);
	expect_zu_le(total, give_up, "%s: allocated %zu MiB past a limit of "
	    "%zu MiB headroom without a NULL", name, total >> 20,
	    HEADROOM >> 20);
	expect_d_eq(err, ENOMEM, "%s: errno after NULL", name);
	expect_zu_ge(total, HEADROOM / 2, "%s: refused after only %zu MiB of "
	    "%zu MiB headroom", name, total >> 20, HEADROOM >> 20);
	if (again != NULL)
		hm_free(again);

	expect_zu_eq(free_list(head), 0, "%s: corrupted blocks", name);

	/* Within the old limit: the freed memory serves again. */
	char when[96];
	snprintf(when, sizeof(when), "%s: after freeing, under the limit",
	    name);
	mixed_service(64 * MiB, rng, when);

	set_as_limit(old.rlim_cur);
	snprintf(when, sizeof(when), "%s: after raising the limit back", name);
	mixed_service(100 * MiB, rng, when);
}

TEST_BEGIN(test_rlimit_as)
	if (HM_TEST_SANITIZED)
		test_skip("sanitizers reserve huge shadow mappings");
	uint64_t seed = test_seed();
	uint64_t rng = seed;
	/* Warm up: the allocator is initialised before the limit is set. */
	hm_free(hm_malloc(1));
	exhaust(64, "small", &rng);
	exhaust(256 << 10, "large", &rng);
	exhaust(16 * MiB, "huge", &rng);
TEST_END

/* Allocates blocks of size (with flags) until refused; a list. */
static struct node *
use_up(size_t size, int flags, size_t *n) {
	struct node *head = NULL;
	*n = 0;
	for (size_t total = 0; total <= 16 * HEADROOM; total += size) {
		struct node *p = hm_mallocx(size, flags);
		if (p == NULL)
			break;
		node_fill(p, size, head);
		head = p;
		(*n)++;
	}
	return head;
}

static void *
thread_stack_user(void *arg) {
	(void)arg;
	void *p = hm_malloc(1000);
	if (p != NULL)
		memset(p, 1, 1000);
	return p;
}

TEST_BEGIN(test_threads_after_free)
	if (HM_TEST_SANITIZED)
		test_skip("sanitizers reserve huge shadow mappings");
	hm_free(hm_malloc(1));
	static const size_t sizes[] = {MiB, 64 << 10, 64};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct rlimit old;
		assert_d_eq(getrlimit(RLIMIT_AS, &old), 0, "getrlimit");
		size_t vm0 = test_proc_status_kb("VmSize:") * 1024;
		set_as_limit((rlim_t)(vm0 + HEADROOM));
		size_t n;
		struct node *head = use_up(sizes[i], 0, &n);
		expect_zu_gt(n, 0, "%zu-byte blocks", sizes[i]);
		expect_zu_eq(free_list(head), 0, "%zu-byte blocks: corrupted",
		    sizes[i]);
		/* Cached blocks go back too, as at thread exit. */
		hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
		expect_zu_eq(test_stat_size("stats.retained"), 0,
		    "%zu-byte blocks: address space retained under the limit",
		    sizes[i]);
		/* Each thread maps a stack of several MiB; all at once. */
		enum { NTHREADS = 8 };
		pthread_t t[NTHREADS];
		int err[NTHREADS];
		for (int j = 0; j < NTHREADS; j++)
			err[j] = pthread_create(&t[j], NULL, thread_stack_user,
			    NULL);
		for (int j = 0; j < NTHREADS; j++) {
			expect_d_eq(err[j], 0, "after %zu-byte blocks: "
			    "pthread_create %d of %d", sizes[i], j + 1,
			    NTHREADS);
			if (err[j] == 0) {
				void *p;
				pthread_join(t[j], &p);
				expect_ptr_not_null(p, "the thread's malloc");
				hm_free(p);
			}
		}
		printf("rlimit: %zu-byte blocks: %zu before NULL; VmSize %zu "
		    "MiB after freeing (limit %zu MiB)\n", sizes[i], n,
		    test_proc_status_kb("VmSize:") >> 10,
		    (vm0 + HEADROOM) >> 20);
		set_as_limit(old.rlim_cur);
	}
TEST_END

TEST_BEGIN(test_first_small_block)
	if (HM_TEST_SANITIZED)
		test_skip("sanitizers reserve huge shadow mappings");
	unsigned arena, nbins;
	size_t sz = sizeof(arena);
	assert_d_eq(hm_mallctl("arenas.create", &arena, &sz, NULL, 0), 0,
	    "arenas.create");
	sz = sizeof(nbins);
	assert_d_eq(hm_mallctl("arenas.nbins", &nbins, &sz, NULL, 0), 0,
	    "arenas.nbins");
	int flags = MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE;
	for (int round = 0; round < 2; round++) {
		static const size_t large[] = {MiB, 64 << 10};
		for (size_t k = 0; k < 2; k++) {
			struct rlimit old;
			assert_d_eq(getrlimit(RLIMIT_AS, &old), 0, "getrlimit");
			size_t vm0 = test_proc_status_kb("VmSize:") * 1024;
			set_as_limit((rlim_t)(vm0 + HEADROOM));
			size_t n;
			struct node *head = use_up(large[k], flags, &n);
			expect_zu_gt(n, 0, "%zu-byte blocks", large[k]);
			/* A first block of every small class. */
			struct node *small = NULL;
			unsigned served = 0;
			for (unsigned b = 0; b < nbins; b++) {
				size_t size = test_stat_size(
				    "arenas.bin.%u.size", b);
				if (size < sizeof(struct node) + 8)
					size = sizeof(struct node) + 8;
				struct node *p = hm_mallocx(size, flags);
				if (p == NULL)
					continue;
				node_fill(p, size, small);
				small = p;
				served++;
			}
			expect_u_eq(served, nbins, "round %d, after %zu-byte "
			    "blocks: small classes served", round, large[k]);
			expect_zu_eq(free_list(small), 0, "small blocks");
			expect_zu_eq(free_list(head), 0, "%zu-byte blocks",
			    large[k]);
			set_as_limit(old.rlim_cur);
		}
	}
TEST_END

static void
expect_enomem(void *p, int err, const char *what) {
	expect_true(p == NULL, "%s returned %p", what, p);
	expect_d_eq(err, ENOMEM, "%s: errno", what);
	if (p != NULL)
		hm_free(p);
}

TEST_BEGIN(test_overflow)
	void *p;
	int err;
	const size_t half = SIZE_MAX / 2 + 1;
	const size_t beyond_as = (size_t)1 << 47;  /* more than user space */

#define TRY(expr) do { errno = 0; p = (expr); err = errno; } while (0)
	TRY(hm_malloc(opaque(SIZE_MAX)));
	expect_enomem(p, err, "malloc(SIZE_MAX)");
	TRY(hm_malloc(opaque(SIZE_MAX - 4096)));
	expect_enomem(p, err, "malloc(SIZE_MAX - 4096)");
	TRY(hm_malloc(opaque((size_t)PTRDIFF_MAX + 1)));
	expect_enomem(p, err, "malloc(PTRDIFF_MAX + 1)");
	TRY(hm_malloc(opaque(beyond_as)));
	expect_enomem(p, err, "malloc(2^47)");

	TRY(hm_calloc(opaque(half), 2));
	expect_enomem(p, err, "calloc(SIZE_MAX / 2 + 1, 2)");
	TRY(hm_calloc(2, opaque(half)));
	expect_enomem(p, err, "calloc(2, SIZE_MAX / 2 + 1)");
	TRY(hm_calloc(opaque((size_t)1 << 32), opaque((size_t)1 << 32)));
	expect_enomem(p, err, "calloc(2^32, 2^32)");
	TRY(hm_calloc(opaque(SIZE_MAX), opaque(SIZE_MAX)));
	expect_enomem(p, err, "calloc(SIZE_MAX, SIZE_MAX)");

	/* realloc and reallocarray: NULL, ENOMEM, and the block survives. */
	char *keep = hm_malloc(100);
	assert_true(keep != NULL, "malloc(100)");
	memset(keep, 0x5a, 100);
	TRY(hm_realloc(opaque_ptr(keep), opaque(SIZE_MAX)));
	expect_enomem(p, err, "realloc(p, SIZE_MAX)");
	TRY(hm_realloc(opaque_ptr(keep), opaque(beyond_as)));
	expect_enomem(p, err, "realloc(p, 2^47)");
	TRY(hm_reallocarray(opaque_ptr(keep), opaque(half), 2));
	expect_enomem(p, err, "reallocarray(p, SIZE_MAX / 2 + 1, 2)");
	TRY(hm_reallocarray(NULL, opaque((size_t)1 << 33),
	    opaque((size_t)1 << 33)));
	expect_enomem(p, err, "reallocarray(NULL, 2^33, 2^33)");
	for (int i = 0; i < 100; i++) {
		if ((uint8_t)keep[i] != 0x5a) {
			expect_not_reached("block changed by a failed realloc "
			    "at offset %d", i);
			break;
		}
	}
	/* A large block too: failed growth leaves it in place. */
	char *big = hm_malloc(3 * MiB);
	assert_true(big != NULL, "malloc(3 MiB)");
	memset(big, 0xa5, 3 * MiB);
	TRY(hm_realloc(opaque_ptr(big), opaque(SIZE_MAX - MiB)));
	expect_enomem(p, err, "realloc(3 MiB block, SIZE_MAX - 1 MiB)");
	TRY(hm_realloc(opaque_ptr(big), opaque(beyond_as)));
	expect_enomem(p, err, "realloc(3 MiB block, 2^47)");
	expect_d_eq((uint8_t)big[0], 0xa5, "start of the block");
	expect_d_eq((uint8_t)big[3 * MiB - 1], 0xa5, "end of the block");
	hm_free(big);

	/* Alignment: valid but unsatisfiable is ENOMEM, invalid EINVAL. */
	void *q = NULL;
	expect_d_eq(hm_posix_memalign(&q, (size_t)1 << 20, opaque(SIZE_MAX)),
	    ENOMEM, "posix_memalign(1 MiB, SIZE_MAX)");
	expect_d_eq(hm_posix_memalign(&q, opaque((size_t)1 << 46),
	    opaque(beyond_as)), ENOMEM, "posix_memalign(2^46, 2^47)");
	expect_d_eq(hm_posix_memalign(&q, opaque(half), 16), ENOMEM,
	    "posix_memalign(2^63, 16)");
	expect_d_eq(hm_posix_memalign(&q, opaque((size_t)1 << 62),
	    opaque((size_t)1 << 40)), ENOMEM, "posix_memalign(2^62, 2^40)");
	expect_d_eq(hm_posix_memalign(&q, 24, 64), EINVAL,
	    "posix_memalign(24, 64): not a power of two");
	expect_d_eq(hm_posix_memalign(&q, 4, 64), EINVAL,
	    "posix_memalign(4, 64): below sizeof(void *)");
	expect_d_eq(hm_posix_memalign(&q, 0, 64), EINVAL,
	    "posix_memalign(0, 64)");

	TRY(hm_aligned_alloc(opaque((size_t)1 << 46), opaque(beyond_as)));
	expect_enomem(p, err, "aligned_alloc(2^46, 2^47)");
	TRY(hm_aligned_alloc(opaque(half), 16));
	expect_enomem(p, err, "aligned_alloc(2^63, 16)");
	TRY(hm_aligned_alloc(4096, opaque(SIZE_MAX - 100)));
	expect_enomem(p, err, "aligned_alloc(4096, SIZE_MAX - 100)");
	/* Not a power of two: EINVAL (C17, jemalloc), or glibc 2.36's
	 * rounding up to the next power of two; nothing else. */
	TRY(hm_aligned_alloc(opaque(3), 64));
	if (p == NULL) {
		expect_d_eq(err, EINVAL, "aligned_alloc(3, 64): errno");
	} else {
		expect_zu_eq((uintptr_t)p % 4, 0, "aligned_alloc(3, 64) = %p",
		    p);
		hm_free(p);
	}
	TRY(hm_memalign(opaque((size_t)1 << 46), opaque(beyond_as)));
	expect_enomem(p, err, "memalign(2^46, 2^47)");

	/* jemalloc's API: NULL (or 0 from nallocx), the block unchanged. */
	p = hm_mallocx(opaque(SIZE_MAX), 0);
	expect_true(p == NULL, "mallocx(SIZE_MAX) returned %p", p);
	p = hm_mallocx(opaque(beyond_as), MALLOCX_ALIGN(4096));
	expect_true(p == NULL, "mallocx(2^47, align 4096) returned %p", p);
	p = hm_mallocx(64, MALLOCX_LG_ALIGN(62));
	expect_true(p == NULL, "mallocx(64, align 2^62) returned %p", p);
	expect_zu_eq(hm_nallocx(opaque(SIZE_MAX), 0), 0, "nallocx(SIZE_MAX)");
	size_t usize = hm_sallocx(keep, 0);
	p = hm_rallocx(opaque_ptr(keep), opaque(SIZE_MAX), 0);
	expect_true(p == NULL, "rallocx(p, SIZE_MAX) returned %p", p);
	expect_zu_eq(hm_xallocx(keep, opaque(SIZE_MAX - 10), 0, 0), usize,
	    "xallocx(p, SIZE_MAX - 10) must leave the size");
	expect_zu_eq(hm_sallocx(keep, 0), usize, "sallocx after failures");
	expect_d_eq((uint8_t)keep[99], 0x5a, "block after rallocx");
	hm_free(keep);

	/* And the allocator still works. */
	p = hm_malloc(1000);
	expect_true(p != NULL, "malloc(1000) after the failures");
	hm_free(p);
#undef TRY
TEST_END

int
main(void) {
	return test(test_rlimit_as, test_threads_after_free,
	    test_first_small_block, test_overflow);
}
