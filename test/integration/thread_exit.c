/*
 * Thread exit.  Thread state (thread caches, arena bindings) must be given
 * back when a thread exits, and allocation must keep working in the code
 * that runs during thread exit.
 *
 * test_many_short_threads: 5000 short threads, 50 at a time, each allocating
 *   and freeing a mix of sizes and leaving a few blocks for the main thread
 *   to free after the join.  Final RSS must stay below initial + 64 MiB.
 * test_key_destructor: a pthread key created after the first allocation;
 *   its destructor verifies and frees the thread's block, then allocates,
 *   verifies and frees more, and for two rounds sets a new value so that it
 *   runs again (glibc runs up to 4 rounds), after the allocator's own
 *   thread-exit clean-up may already have run.
 * test_tls_destructor: the same from a C++-style thread_local destructor
 *   (__cxa_thread_atexit_impl, as g++ emits for thread_local objects) that
 *   frees a __thread pointer.
 * Each of these checks content, destructor counts, and the RSS bound.
 */
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)
#define RSS_SLACK (64 * MiB)
#define PAGE 4096

/*
 * Stamps: the first 8 bytes, one word per page, and the last 8 bytes when
 * they do not overlap the others (size >= 16).
 */
static void
stamp(void *p, size_t size) {
	uint8_t *b = p;
	for (size_t o = 0; o + 8 <= size && (o == 0 || o + 16 <= size);
	    o += PAGE) {
		uint64_t w = test_mix64((uint64_t)(uintptr_t)p ^ size ^ o);
		memcpy(b + o, &w, 8);
	}
	uint64_t w = test_mix64((uint64_t)(uintptr_t)p ^ size ^ 0xe7d);
	if (size >= 16)
		memcpy(b + size - 8, &w, 8);
}

static bool
stamp_ok(const void *p, size_t size) {
	const uint8_t *b = p;
	uint64_t w;
	for (size_t o = 0; o + 8 <= size && (o == 0 || o + 16 <= size);
	    o += PAGE) {
		memcpy(&w, b + o, 8);
		if (w != test_mix64((uint64_t)(uintptr_t)p ^ size ^ o))
			return false;
	}
	if (size >= 16) {
		memcpy(&w, b + size - 8, 8);
		if (w != test_mix64((uint64_t)(uintptr_t)p ^ size ^ 0xe7d))
			return false;
	}
	return true;
}

static atomic_long nbad;     /* content or allocation failures */
static uint64_t seed;

static void
bad(const char *what, const void *p, size_t size) {
	if (atomic_fetch_add(&nbad, 1) < 10) {
		fprintf(stderr, "thread_exit: %s: block %p size %zu (seed "
		    "HM_TEST_SEED=%" PRIu64 ")\n", what, p, size, seed);
	}
}

/* Allocates, verifies and frees a few blocks of mixed sizes. */
static void
churn(uint64_t *rng, int n) {
	for (int i = 0; i < n; i++) {
		uint64_t r = test_rand_next(rng);
		size_t size = (r % 8 == 0) ? (64 << 10) + r % (192 << 10)
		    : 8 + r % 2048;
		void *p = (r >> 32) % 2 ? hm_malloc(size) : hm_calloc(1, size);
		if (p == NULL) {
			bad("allocation failed", NULL, size);
			continue;
		}
		stamp(p, size);
		if (!stamp_ok(p, size))
			bad("block corrupted", p, size);
		hm_free(p);
	}
}

/* test_many_short_threads */

#define SHORT_TOTAL 5000
#define SHORT_CONCURRENT 50
#define SHORT_NBLOCKS 64
#define SHORT_KEEP 4

struct short_arg {
	uint64_t rng;
	int idx;
	void *keep[SHORT_KEEP];
	size_t keep_size[SHORT_KEEP];
};

static void *
short_thread(void *varg) {
	struct short_arg *a = varg;
	void *p[SHORT_NBLOCKS];
	size_t sz[SHORT_NBLOCKS];
	for (int i = 0; i < SHORT_NBLOCKS; i++) {
		uint64_t r = test_rand_next(&a->rng);
		unsigned lg = 3 + (unsigned)(r % 12);        /* 8 B .. 32 KiB */
		sz[i] = ((size_t)1 << lg) + (r >> 20) % ((size_t)1 << lg);
		if (i == 0)
			sz[i] = 256 << 10;                   /* large */
		if (i == 1 && a->idx % 16 == 0)
			sz[i] = 4 * MiB;                     /* huge */
		p[i] = hm_malloc(sz[i]);
		if (p[i] == NULL) {
			bad("allocation failed", NULL, sz[i]);
			continue;
		}
		stamp(p[i], sz[i]);
	}
	for (int i = 0; i < SHORT_NBLOCKS; i++) {
		if (p[i] == NULL)
			continue;
		if (!stamp_ok(p[i], sz[i]))
			bad("block corrupted", p[i], sz[i]);
		if (i >= SHORT_NBLOCKS - SHORT_KEEP) {
			a->keep[i - (SHORT_NBLOCKS - SHORT_KEEP)] = p[i];
			a->keep_size[i - (SHORT_NBLOCKS - SHORT_KEEP)] = sz[i];
		} else {
			hm_free(p[i]);
		}
	}
	churn(&a->rng, 16);
	return NULL;
}

/* Runs n threads of fn, c at a time; after each join, calls after(arg). */
static void
run_threads(int n, int c, void *(*fn)(void *), void *args, size_t arg_size,
    void (*init)(void *, int), void (*after)(void *)) {
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	pthread_t th[64];
	for (int started = 0; started < n;) {
		int batch = n - started < c ? n - started : c;
		for (int i = 0; i < batch; i++) {
			void *arg = (char *)args + (size_t)i * arg_size;
			init(arg, started + i);
			int err = pthread_create(&th[i], &attr, fn, arg);
			assert_d_eq(err, 0, "pthread_create #%d", started + i);
		}
		for (int i = 0; i < batch; i++) {
			pthread_join(th[i], NULL);
			if (after != NULL)
				after((char *)args + (size_t)i * arg_size);
		}
		started += batch;
	}
	pthread_attr_destroy(&attr);
}

static void
short_init(void *varg, int idx) {
	struct short_arg *a = varg;
	memset(a, 0, sizeof(*a));
	a->idx = idx;
	a->rng = seed ^ test_mix64((uint64_t)idx);
}

static void
short_after(void *varg) {
	struct short_arg *a = varg;
	/* The thread has exited: its blocks are freed by another thread. */
	for (int k = 0; k < SHORT_KEEP; k++) {
		if (a->keep[k] == NULL)
			continue;
		if (!stamp_ok(a->keep[k], a->keep_size[k]))
			bad("kept block corrupted after its thread exited",
			    a->keep[k], a->keep_size[k]);
		hm_free(a->keep[k]);
		a->keep[k] = NULL;
	}
}

static void
check_rss(const char *name, size_t rss0, size_t rss_max) {
	size_t rss1 = test_rss_bytes();
	printf("thread_exit: %s: RSS initial %zu KiB, highest between batches "
	    "%zu KiB, final %zu KiB (bound initial + %zu MiB)\n", name,
	    rss0 >> 10, rss_max >> 10, rss1 >> 10, RSS_SLACK >> 20);
	expect_zu_lt(rss1, rss0 + RSS_SLACK, "%s: final RSS (seed "
	    "HM_TEST_SEED=%" PRIu64 ")", name, seed);
}

static size_t rss_high;

static void
short_after_rss(void *varg) {
	short_after(varg);
	struct short_arg *a = varg;
	if (a->idx % SHORT_CONCURRENT == SHORT_CONCURRENT - 1) {
		size_t r = test_rss_bytes();
		rss_high = r > rss_high ? r : rss_high;
	}
}

TEST_BEGIN(test_many_short_threads)
	seed = test_seed();
	atomic_store(&nbad, 0);
	/* Warm up the allocator and the C library's thread machinery. */
	static struct short_arg args[SHORT_CONCURRENT];
	run_threads(SHORT_CONCURRENT, SHORT_CONCURRENT, short_thread, args,
	    sizeof(args[0]), short_init, short_after);
	size_t rss0 = test_rss_bytes();
	rss_high = rss0;
	run_threads(SHORT_TOTAL, SHORT_CONCURRENT, short_thread, args,
	    sizeof(args[0]), short_init, short_after_rss);
	long nb = atomic_load(&nbad);
	expect_d_eq(nb, 0, "failures in threads (seed HM_TEST_SEED=%" PRIu64
	    ")", seed);
	check_rss("5000 short threads", rss0, rss_high);
TEST_END

/* test_key_destructor */

#define DTOR_TOTAL 2000
#define DTOR_CONCURRENT 50
#define DTOR_ROUNDS 3     /* calls per thread: the first value + 2 resets */

static pthread_key_t key;
static atomic_long ndtor_calls;

struct key_val {
	size_t size;
	int round;
	uint64_t rng;
};

static void
key_dtor(void *v) {
	struct key_val *kv = v;
	atomic_fetch_add(&ndtor_calls, 1);
	if (!stamp_ok((uint8_t *)kv + 64, kv->size - 64))
		bad("key value corrupted at thread exit", kv, kv->size);
	int round = kv->round;
	uint64_t rng = kv->rng;
	hm_free(kv);
	/* Allocation during thread exit, perhaps after the allocator's own
	 * thread clean-up has run. */
	churn(&rng, 8);
	void *big = hm_malloc(2 * MiB);
	if (big == NULL) {
		bad("malloc(2 MiB) in a key destructor failed", NULL, 2 * MiB);
	} else {
		stamp(big, 2 * MiB);
		if (!stamp_ok(big, 2 * MiB))
			bad("block corrupted", big, 2 * MiB);
		hm_free(big);
	}
	if (round + 1 < DTOR_ROUNDS) {
		/* Run again in the next round with a fresh value. */
		size_t size = 64 + 8 + test_rand_next(&rng) % 4000;
		struct key_val *n = hm_malloc(size);
		if (n == NULL) {
			bad("malloc in a key destructor failed", NULL, size);
			return;
		}
		n->size = size;
		n->round = round + 1;
		n->rng = rng;
		stamp((uint8_t *)n + 64, size - 64);
		pthread_setspecific(key, n);
	}
}

struct dtor_arg {
	uint64_t rng;
};

static void
dtor_init(void *varg, int idx) {
	struct dtor_arg *a = varg;
	a->rng = seed ^ test_mix64((uint64_t)idx + 1000000);
}

static void *
key_thread(void *varg) {
	struct dtor_arg *a = varg;
	churn(&a->rng, 8);
	size_t size = 64 + 8 + test_rand_next(&a->rng) % 4000;
	struct key_val *kv = hm_malloc(size);
	if (kv == NULL) {
		bad("malloc failed", NULL, size);
		return NULL;
	}
	kv->size = size;
	kv->round = 0;
	kv->rng = test_rand_next(&a->rng);
	stamp((uint8_t *)kv + 64, size - 64);
	pthread_setspecific(key, kv);
	return NULL;
}

/*
 * Runs DTOR_CONCURRENT threads of fn as a warm-up, then DTOR_TOTAL more;
 * returns the RSS between the two.
 */
static size_t
run_dtor_threads(void *(*fn)(void *)) {
	static struct dtor_arg args[DTOR_CONCURRENT];
	run_threads(DTOR_CONCURRENT, DTOR_CONCURRENT, fn, args,
	    sizeof(args[0]), dtor_init, NULL);
	size_t rss0 = test_rss_bytes();
	run_threads(DTOR_TOTAL, DTOR_CONCURRENT, fn, args, sizeof(args[0]),
	    dtor_init, NULL);
	return rss0;
}

TEST_BEGIN(test_key_destructor)
	seed = test_seed();
	atomic_store(&nbad, 0);
	atomic_store(&ndtor_calls, 0);
	/* The key is created after the allocator's first use. */
	hm_free(hm_malloc(10));
	assert_d_eq(pthread_key_create(&key, key_dtor), 0, "pthread_key_create");
	/* Warm-up batch, then measure. */
	size_t rss0 = run_dtor_threads(key_thread);
	long calls = atomic_load(&ndtor_calls);
	long nb = atomic_load(&nbad);
	printf("thread_exit: key destructor: %ld calls for %d threads\n", calls,
	    DTOR_TOTAL + DTOR_CONCURRENT);
	expect_d_eq(calls, (long)(DTOR_TOTAL + DTOR_CONCURRENT) * DTOR_ROUNDS,
	    "key destructor calls");
	expect_d_eq(nb, 0, "failures in destructors (seed HM_TEST_SEED=%"
	    PRIu64 ")", seed);
	check_rss("key destructors", rss0, rss0);
	pthread_key_delete(key);
TEST_END

/* test_tls_destructor */

extern int __cxa_thread_atexit_impl(void (*fn)(void *), void *obj,
    void *dso_symbol);
extern void *__dso_handle;

static __thread void *tls_block;
static __thread size_t tls_size;
static atomic_long ntls_calls;

static void
tls_dtor(void *arg) {
	uint64_t rng = (uint64_t)(uintptr_t)arg;
	atomic_fetch_add(&ntls_calls, 1);
	if (tls_block == NULL || !stamp_ok(tls_block, tls_size))
		bad("thread_local block corrupted at thread exit", tls_block,
		    tls_size);
	hm_free(tls_block);
	tls_block = NULL;
	churn(&rng, 16);
}

static void *
tls_thread(void *varg) {
	struct dtor_arg *a = varg;
	churn(&a->rng, 8);
	tls_size = 16 + test_rand_next(&a->rng) % 100000;
	tls_block = hm_malloc(tls_size);
	if (tls_block == NULL) {
		bad("malloc failed", NULL, tls_size);
		return NULL;
	}
	stamp(tls_block, tls_size);
	__cxa_thread_atexit_impl(tls_dtor,
	    (void *)(uintptr_t)test_rand_next(&a->rng), &__dso_handle);
	return NULL;
}

TEST_BEGIN(test_tls_destructor)
	seed = test_seed();
	atomic_store(&nbad, 0);
	atomic_store(&ntls_calls, 0);
	hm_free(hm_malloc(10));
	size_t rss0 = run_dtor_threads(tls_thread);
	long calls = atomic_load(&ntls_calls);
	long nb = atomic_load(&nbad);
	printf("thread_exit: thread_local destructor: %ld calls\n", calls);
	expect_d_eq(calls, (long)(DTOR_TOTAL + DTOR_CONCURRENT),
	    "thread_local destructor calls");
	expect_d_eq(nb, 0, "failures in destructors (seed HM_TEST_SEED=%"
	    PRIu64 ")", seed);
	check_rss("thread_local destructors", rss0, rss0);
TEST_END

int
main(void) {
	return test(test_many_short_threads, test_key_destructor,
	    test_tls_destructor);
}
