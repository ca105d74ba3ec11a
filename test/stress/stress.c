/*
 * Stress: NTHREADS threads each run a seeded stream of random allocation
 * calls (malloc, calloc, realloc, free, posix_memalign, aligned_alloc,
 * free_sized, free_aligned_sized) against one shared pool of slots, so most
 * blocks are freed or reallocated by a thread other than the one that
 * allocated them.
 *
 * Every block is stamped with a pattern derived from (address, size, serial):
 * its first and last 64 bytes and one 8-byte word per 4 KiB page.  The stamp
 * is verified before every free and realloc, and after a realloc on the
 * preserved prefix.  At every checkpoint (each CHECK_EVERY operations per
 * thread, all threads paused at a barrier) and at the end, every live block
 * is verified and the blocks, as [p, p + malloc_usable_size(p)), are sorted
 * by address and checked for overlap.
 *
 * Sizes are log-uniform from 1 B to 64 KiB for 99 % of the draws and from
 * 64 KiB to 8 MiB for the rest.  Live requested bytes are capped at LIVE_CAP.
 *
 * Environment: HM_STRESS_SHORT=1 runs 100,000 operations per thread instead
 * of 1,000,000 (sanitizer builds); HM_STRESS_SECONDS (default 90) is the time
 * box: past it, the threads stop at the next checkpoint and say so.
 * HM_TEST_SEED replays a run.  On failure the seed, thread, operation index,
 * block address and size are printed.
 */
#include "stress_util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 4
#define NSLOTS 16384
#define CHECK_EVERY 10000
#define LIVE_CAP ((size_t)1 << 30)

enum kind { KIND_MALLOC, KIND_CALLOC, KIND_POSIX_MEMALIGN, KIND_ALIGNED_ALLOC,
	KIND_REALLOC };
static const char *kind_names[] = {"malloc", "calloc", "posix_memalign",
	"aligned_alloc", "realloc"};

struct blk {
	void *p;          /* NULL: no block; first, for test_cmp_addr */
	size_t size;      /* requested size */
	size_t align;     /* requested alignment, 0 when none */
	uint64_t serial;  /* unique per block: thread in the top bits */
	int kind;         /* enum kind: the call that produced it */
};

struct slot {
	atomic_int lock;  /* 0 free, 1 held: guards blk */
	struct blk blk;
};

static struct slot slots[NSLOTS];

static uint64_t seed;
static size_t nops;
static double time_box_s;
static struct timespec t_start;
static atomic_int failed;
static atomic_size_t live_bytes;
static bool stop;            /* written by thread 0 between two barriers */
static size_t ops_done_at_stop;
static pthread_barrier_t barrier;

static struct blk check_buf[NSLOTS];
static size_t check_usable[NSLOTS];

struct thread_ctx {
	int tid;
	uint64_t rng;
	uint64_t nserial;
	size_t op;            /* index of the current operation */
	size_t nfail_local;
	size_t counts[8];     /* operations done, by kind of call */
};

enum { CNT_MALLOC, CNT_CALLOC, CNT_PMA, CNT_AA, CNT_REALLOC, CNT_FREE,
	CNT_FREE_SIZED, CNT_HANDOFF };

static double
elapsed_s(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t_start.tv_sec)
	    + (double)(t.tv_nsec - t_start.tv_nsec) * 1e-9;
}

/* The stamp's key (see stress_util.h): address, size and serial. */
static uint64_t
blk_key(const struct blk *b) {
	return test_mix64((uint64_t)(uintptr_t)b->p
	    ^ test_mix64(b->size + 0x1234567)
	    ^ test_mix64(b->serial ^ 0xabcdef));
}

static void
stamp(const struct blk *b) {
	stamp_walk(b->p, blk_key(b), 0, b->size, b->size, STAMP_PAGE, true);
}

/* Returns the first bad offset below limit, or SIZE_MAX. */
static size_t
verify_at(const struct blk *b, const void *where, size_t limit) {
	return stamp_walk((void *)where, blk_key(b), 0, b->size, limit,
	    STAMP_PAGE, false);
}

/* calloc'd memory: all zero up to 64 KiB, beyond that the stamped regions. */
static size_t
verify_zero(const struct blk *b) {
	const uint8_t *p = b->p;
	if (b->size <= 65536) {
		for (size_t o = 0; o < b->size; o++) {
			if (p[o] != 0)
				return o;
		}
		return SIZE_MAX;
	}
	for (size_t o = 0; o < STAMP_EDGE; o++) {
		if (p[o] != 0)
			return o;
	}
	for (size_t o = b->size - STAMP_EDGE; o < b->size; o++) {
		if (p[o] != 0)
			return o;
	}
	for (size_t o = STAMP_PAGE; o + 8 <= b->size; o += STAMP_PAGE) {
		for (size_t i = o; i < o + 8; i++) {
			if (p[i] != 0)
				return i;
		}
	}
	return SIZE_MAX;
}

static void
report(struct thread_ctx *ctx, const struct blk *b, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
report(struct thread_ctx *ctx, const struct blk *b, const char *fmt, ...) {
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "stress: FAIL seed HM_TEST_SEED=%" PRIu64
	    " thread %d op %zu block %p size %zu align %zu serial %#" PRIx64
	    " (%s): %s\n", seed, ctx != NULL ? ctx->tid : -1,
	    ctx != NULL ? ctx->op : (size_t)0, b != NULL ? b->p : NULL,
	    b != NULL ? b->size : 0, b != NULL ? b->align : 0,
	    b != NULL ? b->serial : 0,
	    b != NULL ? kind_names[b->kind] : "-", msg);
	if (ctx != NULL)
		ctx->nfail_local++;
	atomic_store(&failed, 1);
}

static void
slot_lock(struct slot *s) {
	for (int spins = 0;; spins++) {
		if (atomic_load_explicit(&s->lock, memory_order_relaxed) == 0
		    && atomic_exchange_explicit(&s->lock, 1,
		    memory_order_acquire) == 0)
			return;
		if (spins > 64)
			sched_yield();
	}
}

static void
slot_unlock(struct slot *s) {
	atomic_store_explicit(&s->lock, 0, memory_order_release);
}

/* Takes the slot's block (possibly none) out of the pool. */
static struct blk
slot_take(struct slot *s) {
	slot_lock(s);
	struct blk b = s->blk;
	s->blk.p = NULL;
	slot_unlock(s);
	return b;
}

/* Puts b into the slot; returns what was there (possibly none). */
static struct blk
slot_put(struct slot *s, struct blk b) {
	slot_lock(s);
	struct blk old = s->blk;
	s->blk = b;
	slot_unlock(s);
	return old;
}

static size_t
draw_size(uint64_t *rng) {
	uint64_t r = test_rand_next(rng);
	unsigned lg;
	if (r % 100 == 0)
		lg = 16 + (unsigned)((r >> 8) % 7);   /* 64 KiB .. 8 MiB */
	else
		lg = (unsigned)((r >> 8) % 16);       /* 1 B .. 64 KiB */
	size_t base = (size_t)1 << lg;
	return base + (size_t)(test_rand_next(rng) % (base + 1));
}

static size_t
draw_lg_align(uint64_t *rng, unsigned lo) {
	uint64_t r = test_rand_next(rng);
	if (r % 20 == 0)
		return 13 + (r >> 8) % 9;    /* 8 KiB .. 2 MiB */
	return lo + (r >> 8) % (13 - lo);    /* 2^lo .. 4 KiB */
}

static bool
check_new(struct thread_ctx *ctx, const struct blk *b) {
	uintptr_t a = (uintptr_t)b->p;
	size_t want = b->align;
	if (want == 0) {
		/* Fundamental alignment, or the size's when it is smaller. */
		want = 16;
		while (want > 1 && want > b->size)
			want /= 2;
	}
	if (a % want != 0) {
		report(ctx, b, "misaligned: want %zu", want);
		return false;
	}
	size_t usable = hm_malloc_usable_size(b->p);
	if (usable < b->size) {
		report(ctx, b, "malloc_usable_size %zu < size", usable);
		return false;
	}
	return true;
}

static void
free_blk(struct thread_ctx *ctx, struct blk *b) {
	size_t bad = verify_at(b, b->p, b->size);
	if (bad != SIZE_MAX) {
		report(ctx, b, "stamp corrupted at offset %zu before free "
		    "(leaking the block)", bad);
		return;
	}
	uint64_t r = test_rand_next(&ctx->rng) % 4;
	atomic_fetch_sub(&live_bytes, b->size);
	if (r == 0 && b->kind == KIND_ALIGNED_ALLOC) {
		hm_free_aligned_sized(b->p, b->align, b->size);
		ctx->counts[CNT_FREE_SIZED]++;
	} else if (r == 0 && b->kind != KIND_POSIX_MEMALIGN) {
		hm_free_sized(b->p, b->size);
		ctx->counts[CNT_FREE_SIZED]++;
	} else {
		hm_free(b->p);
		ctx->counts[CNT_FREE]++;
	}
	b->p = NULL;
}

static bool
alloc_blk(struct thread_ctx *ctx, struct blk *b) {
	uint64_t *rng = &ctx->rng;
	size_t size = draw_size(rng);
	if (atomic_fetch_add(&live_bytes, size) + size > LIVE_CAP) {
		atomic_fetch_sub(&live_bytes, size);
		size = 1 + test_rand_next(rng) % 4096;
		atomic_fetch_add(&live_bytes, size);
	}
	uint64_t r = test_rand_next(rng) % 100;
	b->size = size;
	b->align = 0;
	b->serial = ((uint64_t)ctx->tid << 56) | ++ctx->nserial;
	errno = 0;
	if (r < 50) {
		b->kind = KIND_MALLOC;
		b->p = hm_malloc(size);
		ctx->counts[CNT_MALLOC]++;
	} else if (r < 70) {
		b->kind = KIND_CALLOC;
		/* Split the size into n * m when it divides evenly. */
		size_t m = (size % 16 == 0) ? 16 : 1;
		b->p = hm_calloc(size / m, m);
		ctx->counts[CNT_CALLOC]++;
	} else if (r < 85) {
		b->kind = KIND_POSIX_MEMALIGN;
		b->align = (size_t)1 << draw_lg_align(rng, 3);
		void *p = (void *)1;
		int err = hm_posix_memalign(&p, b->align, size);
		if (err != 0) {
			b->p = NULL;
			errno = err;
		} else {
			b->p = p;
		}
		ctx->counts[CNT_PMA]++;
	} else {
		b->kind = KIND_ALIGNED_ALLOC;
		b->align = (size_t)1 << draw_lg_align(rng, 0);
		b->p = hm_aligned_alloc(b->align, size);
		ctx->counts[CNT_AA]++;
	}
	if (b->p == NULL) {
		int e = errno;
		report(ctx, b, "%s(%zu) returned NULL (errno %d)",
		    kind_names[b->kind], size, e);
		atomic_fetch_sub(&live_bytes, size);
		return false;
	}
	if (!check_new(ctx, b))
		return false;   /* leaked: do not touch a suspect block */
	if (b->kind == KIND_CALLOC) {
		size_t bad = verify_zero(b);
		if (bad != SIZE_MAX) {
			report(ctx, b, "calloc memory not zero at offset %zu",
			    bad);
			return false;
		}
	}
	stamp(b);
	return true;
}

static bool
realloc_blk(struct thread_ctx *ctx, struct blk *b) {
	uint64_t *rng = &ctx->rng;
	size_t bad = verify_at(b, b->p, b->size);
	if (bad != SIZE_MAX) {
		report(ctx, b, "stamp corrupted at offset %zu before realloc",
		    bad);
		return false;
	}
	size_t nsize;
	uint64_t r = test_rand_next(rng) % 4;
	if (r == 0)
		nsize = draw_size(rng);
	else if (r == 1)
		nsize = b->size + 1 + test_rand_next(rng) % (b->size / 2 + 16);
	else if (r == 2)
		nsize = b->size / 2 + 1;
	else
		nsize = b->size - b->size / 16 + test_rand_next(rng) % 64;
	if (nsize > b->size) {
		size_t d = nsize - b->size;
		if (atomic_fetch_add(&live_bytes, d) + d > LIVE_CAP) {
			atomic_fetch_sub(&live_bytes, d);
			nsize = b->size / 2 + 1;
		}
	}
	if (nsize <= b->size)
		atomic_fetch_sub(&live_bytes, b->size - nsize);
	errno = 0;
	void *q = hm_realloc(b->p, nsize);
	ctx->counts[CNT_REALLOC]++;
	if (q == NULL) {
		int e = errno;
		report(ctx, b, "realloc to %zu returned NULL (errno %d)",
		    nsize, e);
		return false;
	}
	size_t keep = nsize < b->size ? nsize : b->size;
	bad = verify_at(b, q, keep);
	if (bad != SIZE_MAX) {
		report(ctx, b, "realloc to %zu at %p lost the prefix at "
		    "offset %zu", nsize, q, bad);
		return false;
	}
	b->p = q;
	b->size = nsize;
	b->align = 0;
	b->kind = KIND_REALLOC;
	b->serial = ((uint64_t)ctx->tid << 56) | ++ctx->nserial;
	if (!check_new(ctx, b))
		return false;
	stamp(b);
	return true;
}

/*
 * Verifies every block in the pool and that no two overlap.  Called with
 * every thread paused (or joined).  Returns the number of live blocks.
 */
static size_t
check_pool(const char *when) {
	size_t n = 0;
	for (size_t i = 0; i < NSLOTS; i++) {
		if (slots[i].blk.p != NULL)
			check_buf[n++] = slots[i].blk;
	}
	qsort(check_buf, n, sizeof(check_buf[0]), test_cmp_addr);
	for (size_t i = 0; i < n; i++) {
		struct blk *b = &check_buf[i];
		size_t bad = verify_at(b, b->p, b->size);
		if (bad != SIZE_MAX)
			report(NULL, b, "%s: stamp corrupted at offset %zu",
			    when, bad);
		check_usable[i] = hm_malloc_usable_size(b->p);
		if (check_usable[i] < b->size)
			report(NULL, b, "%s: malloc_usable_size %zu < size",
			    when, check_usable[i]);
	}
	for (size_t i = 0; i + 1 < n; i++) {
		uintptr_t end = (uintptr_t)check_buf[i].p + check_usable[i];
		if (end > (uintptr_t)check_buf[i + 1].p) {
			report(NULL, &check_buf[i], "%s: overlaps the next "
			    "block %p (size %zu): usable size %zu", when,
			    check_buf[i + 1].p, check_buf[i + 1].size,
			    check_usable[i]);
		}
	}
	return n;
}

/* All threads meet; thread 0 checks the pool and decides whether to stop. */
static bool
checkpoint(struct thread_ctx *ctx) {
	pthread_barrier_wait(&barrier);
	if (ctx->tid == 0) {
		char when[64];
		snprintf(when, sizeof(when), "checkpoint at op %zu", ctx->op);
		check_pool(when);
		if (atomic_load(&failed)) {
			stop = true;
		} else if (elapsed_s() > time_box_s) {
			stop = true;
			ops_done_at_stop = ctx->op;
		}
	}
	pthread_barrier_wait(&barrier);
	return stop;
}

static void *
thread_main(void *arg) {
	struct thread_ctx *ctx = arg;
	for (ctx->op = 0; ctx->op < nops; ctx->op++) {
		if (ctx->op % CHECK_EVERY == 0 && ctx->op > 0
		    && checkpoint(ctx))
			break;
		struct slot *s = &slots[test_rand_next(&ctx->rng) % NSLOTS];
		struct blk b = slot_take(s);
		if (b.p == NULL) {
			if (!alloc_blk(ctx, &b))
				continue;
		} else {
			uint64_t r = test_rand_next(&ctx->rng) % 100;
			if (r < 55) {
				free_blk(ctx, &b);
				continue;
			} else if (r < 85) {
				if (!realloc_blk(ctx, &b))
					continue;
			} else {
				/* Hand over unchanged, verified. */
				size_t bad = verify_at(&b, b.p, b.size);
				if (bad != SIZE_MAX) {
					report(ctx, &b, "stamp corrupted at "
					    "offset %zu", bad);
					continue;
				}
				ctx->counts[CNT_HANDOFF]++;
			}
		}
		struct blk old = slot_put(s, b);
		if (old.p != NULL)
			free_blk(ctx, &old);
	}
	return NULL;
}

TEST_BEGIN(test_stress)
	seed = test_seed();
	nops = stress_short() ? 100000 : 1000000;
	time_box_s = stress_time_box_s();
	printf("stress: %d threads x %zu operations, %d slots, time box %.0f s\n",
	    NTHREADS, nops, NSLOTS, time_box_s);

	clock_gettime(CLOCK_MONOTONIC, &t_start);
	pthread_barrier_init(&barrier, NULL, NTHREADS);
	pthread_t th[NTHREADS];
	static struct thread_ctx ctx[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		ctx[i].tid = i;
		ctx[i].rng = seed ^ ((uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL);
		assert_d_eq(pthread_create(&th[i], NULL, thread_main, &ctx[i]),
		    0, "pthread_create");
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&barrier);
	double t = elapsed_s();

	size_t total[8] = {0};
	for (int i = 0; i < NTHREADS; i++) {
		for (int k = 0; k < 8; k++)
			total[k] += ctx[i].counts[k];
	}
	if (ops_done_at_stop != 0) {
		printf("stress: time box of %.0f s reached: stopped after %zu "
		    "of %zu operations per thread\n", time_box_s,
		    ops_done_at_stop, nops);
	}
	printf("stress: %.1f s; malloc %zu calloc %zu posix_memalign %zu "
	    "aligned_alloc %zu realloc %zu free %zu free_sized %zu "
	    "handoff %zu\n", t, total[CNT_MALLOC], total[CNT_CALLOC],
	    total[CNT_PMA], total[CNT_AA], total[CNT_REALLOC],
	    total[CNT_FREE], total[CNT_FREE_SIZED], total[CNT_HANDOFF]);

	size_t n = check_pool("final check");
	printf("stress: %zu blocks live at the end, %zu bytes requested\n", n,
	    atomic_load(&live_bytes));
	int nfailed = atomic_load(&failed);
	assert_d_eq(nfailed, 0, "see the FAIL lines above; "
	    "replay with HM_TEST_SEED=%" PRIu64, seed);

	struct thread_ctx main_ctx = {.tid = NTHREADS, .rng = seed};
	for (size_t i = 0; i < NSLOTS; i++) {
		if (slots[i].blk.p != NULL) {
			free_blk(&main_ctx, &slots[i].blk);
		}
	}
	size_t live_end = atomic_load(&live_bytes);
	expect_zu_eq(live_end, 0, "live byte accounting");
	nfailed = atomic_load(&failed);
	expect_d_eq(nfailed, 0, "see the FAIL lines above; "
	    "replay with HM_TEST_SEED=%" PRIu64, seed);
TEST_END

int
main(void) {
	return test(test_stress);
}
