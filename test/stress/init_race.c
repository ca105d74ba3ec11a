/*
 * Initialisation races.  This program's first test must run first in its
 * process: 16 threads are started, spin on an atomic flag until all of them
 * are running, and are then released together, so that each thread's first
 * allocation (and, as far as we can arrange it, the process's first) happens
 * at the same moment in 16 threads.  Each thread then allocates small, large
 * and huge blocks and reads mallctl("thread.arena"); the main thread checks
 * that all blocks are valid (aligned, usable size, contents) and that no two
 * overlap, and that every arena index is below arenas.narenas.
 *
 * Caveat: the process's very first allocation cannot be guaranteed to be in
 * one of the racing threads.  The C library may allocate before main (the
 * dynamic loader, stdio set-up), and pthread_create itself allocates (glibc
 * callocs each new thread's DTV), so the main thread usually initialises the
 * allocator in its first pthread_create.  What is certain is that each
 * thread's first allocation, and hence its thread-state set-up and arena
 * choice, races with 15 others.  The main thread itself allocates nothing
 * before the threads are released.
 *
 * test_thread_churn: 64 threads at a time, 2000 in all, each allocating,
 * checking its arena binding (thread.arena < arenas.narenas), rebinding
 * itself now and then, and leaving blocks for the main thread to free.
 */
#include "stress_util.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#define NRACE 16
#define NBLOCKS 24

struct block {
	void *p;              /* first, for test_cmp_addr */
	size_t size;
};

struct race_result {
	int tid;
	uint64_t rng;
	unsigned arena;       /* thread.arena after the first allocation */
	unsigned arena2;      /* thread.arena after all the allocations */
	int mallctl_err;
	int mallctl_err2;
	int nnull;            /* allocations that returned NULL */
	struct block blocks[NBLOCKS];
};

static atomic_int nready;
static atomic_int go;
static struct race_result results[NRACE];

/* Stamps or checks the first and last 64 bytes and a word per page. */
static size_t
walk(void *p, size_t size, uint64_t owner, bool write) {
	return stamp_walk(p, stamp_key(p, size, owner), 0, size, size,
	    STAMP_PAGE, write);
}

/* Small, large and huge: i picks the range so every thread has all three. */
static size_t
race_size(uint64_t *rng, int i) {
	uint64_t r = test_rand_next(rng);
	switch (i % 8) {
	case 6: return (64 << 10) + r % (192 << 10);       /* large */
	case 7: return (2 << 20) + r % (6 << 20);          /* huge */
	default: return 1 + r % (4 << 10);                 /* small */
	}
}

static void *
race_thread(void *arg) {
	struct race_result *res = arg;
	atomic_fetch_add(&nready, 1);
	while (!atomic_load_explicit(&go, memory_order_acquire)) {
		/* Spin; yield so 16 spinners do not starve the main thread. */
		sched_yield();
	}
	/* The first allocation of this thread, now racing with 15 others. */
	res->blocks[0].size = 24;
	res->blocks[0].p = hm_malloc(24);
	unsigned u = UINT_MAX;
	size_t sz = sizeof(u);
	res->mallctl_err = hm_mallctl("thread.arena", &u, &sz, NULL, 0);
	res->arena = u;
	for (int i = 1; i < NBLOCKS; i++) {
		res->blocks[i].size = race_size(&res->rng, i);
		res->blocks[i].p = (i % 3 == 0)
		    ? hm_calloc(1, res->blocks[i].size)
		    : hm_malloc(res->blocks[i].size);
	}
	for (int i = 0; i < NBLOCKS; i++) {
		if (res->blocks[i].p == NULL) {
			res->nnull++;
			continue;
		}
		walk(res->blocks[i].p, res->blocks[i].size, (uint64_t)res->tid,
		    true);
	}
	u = UINT_MAX;
	sz = sizeof(u);
	res->mallctl_err2 = hm_mallctl("thread.arena", &u, &sz, NULL, 0);
	res->arena2 = u;
	return NULL;
}

static unsigned
get_narenas(void) {
	unsigned n = 0;
	size_t sz = sizeof(n);
	int err = hm_mallctl("arenas.narenas", &n, &sz, NULL, 0);
	expect_d_eq(err, 0, "mallctl(\"arenas.narenas\")");
	expect_zu_eq(sz, sizeof(unsigned), "arenas.narenas is unsigned");
	expect_d_gt(n, 0, "arenas.narenas");
	return n;
}

/* Must be the first test: see the top of the file. */
TEST_BEGIN(test_first_allocation_race)
	uint64_t seed = test_seed();
	pthread_t th[NRACE];
	for (int i = 0; i < NRACE; i++) {
		results[i].tid = i;
		results[i].rng = seed ^ test_mix64((uint64_t)i);
		assert_d_eq(pthread_create(&th[i], NULL, race_thread,
		    &results[i]), 0, "pthread_create");
	}
	while (atomic_load(&nready) < NRACE)
		sched_yield();
	atomic_store_explicit(&go, 1, memory_order_release);
	for (int i = 0; i < NRACE; i++)
		pthread_join(th[i], NULL);

	unsigned narenas = get_narenas();
	static struct block all[NRACE * NBLOCKS];
	static uint64_t owner[NRACE * NBLOCKS];
	size_t n = 0;
	for (int t = 0; t < NRACE; t++) {
		struct race_result *res = &results[t];
		expect_d_eq(res->nnull, 0, "thread %d: allocations failed", t);
		expect_d_eq(res->mallctl_err, 0, "thread %d: thread.arena", t);
		expect_d_eq(res->mallctl_err2, 0, "thread %d: thread.arena", t);
		expect_d_lt(res->arena, narenas, "thread %d: arena index", t);
		expect_d_lt(res->arena2, narenas, "thread %d: arena index", t);
		for (int i = 0; i < NBLOCKS; i++) {
			if (res->blocks[i].p == NULL)
				continue;
			owner[n] = (uint64_t)t;
			all[n++] = res->blocks[i];
		}
	}
	/* Verify contents and alignment, keeping the owner with the block. */
	for (size_t i = 0; i < n; i++) {
		size_t bad = walk(all[i].p, all[i].size, owner[i], false);
		expect_zu_eq(bad, SIZE_MAX, "thread %" PRIu64 " block %p size "
		    "%zu corrupted (seed HM_TEST_SEED=%" PRIu64 ")", owner[i],
		    all[i].p, all[i].size, seed);
		size_t align = all[i].size >= 16 ? 16 : 8;
		if (all[i].size < 8)
			align = 1;
		expect_zu_eq((uintptr_t)all[i].p % align, 0,
		    "block %p size %zu misaligned", all[i].p, all[i].size);
		expect_zu_ge(hm_malloc_usable_size(all[i].p), all[i].size,
		    "usable size of %p", all[i].p);
	}
	qsort(all, n, sizeof(all[0]), test_cmp_addr);
	for (size_t i = 0; i + 1 < n; i++) {
		uintptr_t end = (uintptr_t)all[i].p
		    + hm_malloc_usable_size(all[i].p);
		expect_zu_le(end, (uintptr_t)all[i + 1].p, "block %p (size %zu) "
		    "overlaps %p (size %zu)", all[i].p, all[i].size,
		    all[i + 1].p, all[i + 1].size);
	}
	unsigned lo = UINT_MAX, hi = 0;
	for (int t = 0; t < NRACE; t++) {
		lo = results[t].arena < lo ? results[t].arena : lo;
		hi = results[t].arena > hi ? results[t].arena : hi;
	}
	printf("init_race: %d threads, %zu blocks, arenas %u..%u of %u\n",
	    NRACE, n, lo, hi, narenas);
	for (size_t i = 0; i < n; i++)
		hm_free(all[i].p);
TEST_END

#define CHURN_CONCURRENT 64
#define CHURN_TOTAL 2000
#define CHURN_KEEP 4

struct churn_result {
	uint64_t rng;
	unsigned narenas;
	unsigned arena;
	int err;             /* first failure code, 0 when all went well */
	char msg[160];
	struct block keep[CHURN_KEEP];  /* freed by the main thread */
};

static void
churn_fail(struct churn_result *res, int code, const char *msg, void *p,
    size_t size, unsigned val) {
	if (res->err != 0)
		return;
	res->err = code;
	snprintf(res->msg, sizeof(res->msg), "%s (block %p size %zu value %u)",
	    msg, p, size, val);
}

static void *
churn_thread(void *arg) {
	struct churn_result *res = arg;
	void *blocks[16];
	size_t sizes[16];
	bool huge = test_rand_next(&res->rng) % 4 == 0;
	for (int i = 0; i < 16; i++) {
		sizes[i] = race_size(&res->rng, (i == 7 && !huge) ? 0 : i);
		blocks[i] = hm_malloc(sizes[i]);
		if (blocks[i] == NULL) {
			churn_fail(res, 1, "malloc failed", NULL, sizes[i], 0);
			return NULL;
		}
		walk(blocks[i], sizes[i], (uint64_t)(uintptr_t)res, true);
	}
	unsigned u = UINT_MAX;
	size_t sz = sizeof(u);
	int err = hm_mallctl("thread.arena", &u, &sz, NULL, 0);
	if (err != 0)
		churn_fail(res, 2, "mallctl(thread.arena) failed", NULL, 0,
		    (unsigned)err);
	else if (u >= res->narenas)
		churn_fail(res, 3, "thread.arena >= arenas.narenas", NULL, 0, u);
	res->arena = u;
	/* Now and then rebind the thread to another arena and use it. */
	if (err == 0 && test_rand_next(&res->rng) % 8 == 0) {
		unsigned want = (u + 1) % res->narenas;
		err = hm_mallctl("thread.arena", NULL, NULL, &want,
		    sizeof(want));
		if (err != 0) {
			churn_fail(res, 4, "writing thread.arena failed", NULL,
			    0, (unsigned)err);
		} else {
			u = UINT_MAX;
			sz = sizeof(u);
			err = hm_mallctl("thread.arena", &u, &sz, NULL, 0);
			if (err != 0 || u != want)
				churn_fail(res, 5, "thread.arena did not take "
				    "the new value", NULL, want, u);
		}
		void *p = hm_malloc(100);
		if (p == NULL)
			churn_fail(res, 1, "malloc after rebinding failed",
			    NULL, 100, 0);
		hm_free(p);
	}
	for (int i = 0; i < 16; i++) {
		size_t bad = walk(blocks[i], sizes[i], (uint64_t)(uintptr_t)res,
		    false);
		if (bad != SIZE_MAX) {
			churn_fail(res, 6, "block corrupted", blocks[i],
			    sizes[i], (unsigned)bad);
			continue;
		}
		if (i < CHURN_KEEP) {
			res->keep[i].p = blocks[i];
			res->keep[i].size = sizes[i];
		} else {
			hm_free(blocks[i]);
		}
	}
	return NULL;
}

TEST_BEGIN(test_thread_churn)
	uint64_t seed = test_seed();
	unsigned narenas = get_narenas();
	static struct churn_result res[CHURN_CONCURRENT];
	pthread_t th[CHURN_CONCURRENT];
	int nstarted = 0, nbad = 0;
	while (nstarted < CHURN_TOTAL) {
		int batch = CHURN_TOTAL - nstarted < CHURN_CONCURRENT
		    ? CHURN_TOTAL - nstarted : CHURN_CONCURRENT;
		for (int i = 0; i < batch; i++) {
			memset(&res[i], 0, sizeof(res[i]));
			res[i].rng = seed ^ test_mix64((uint64_t)(nstarted + i));
			res[i].narenas = narenas;
			assert_d_eq(pthread_create(&th[i], NULL, churn_thread,
			    &res[i]), 0, "pthread_create");
		}
		for (int i = 0; i < batch; i++) {
			pthread_join(th[i], NULL);
			if (res[i].err != 0 && nbad++ < 10) {
				expect_not_reached("thread %d: %s (seed "
				    "HM_TEST_SEED=%" PRIu64 ")", nstarted + i,
				    res[i].msg, seed);
			}
			/* Blocks of a thread that has exited. */
			for (int k = 0; k < CHURN_KEEP; k++) {
				struct block *b = &res[i].keep[k];
				if (b->p == NULL)
					continue;
				size_t bad = walk(b->p, b->size,
				    (uint64_t)(uintptr_t)&res[i], false);
				expect_zu_eq(bad, SIZE_MAX, "kept block %p "
				    "size %zu corrupted after its thread "
				    "exited", b->p, b->size);
				hm_free(b->p);
			}
		}
		nstarted += batch;
	}
	printf("init_race: %d threads, %d at a time, %u arenas, %d failed\n",
	    CHURN_TOTAL, CHURN_CONCURRENT, narenas, nbad);
	expect_d_eq(nbad, 0, "threads failed");
TEST_END

int
main(void) {
	return test(test_first_allocation_race, test_thread_churn);
}
