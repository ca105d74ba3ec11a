/*
 * Sampled guarded allocations (san.h), at rate 1 (san_guard.env: every
 * allocation that fits a slot is guarded while a slot is free; 16 slots).
 *
 * test_kinds: an overflow, an underflow (past a slot's guard page too) and
 *   a use after free each kill the process with SIGSEGV after the exact
 *   report line and both stacks, named; a second free aborts with them.
 * test_chained: the program's own SIGSEGV handler, installed before the
 *   pool, still gets its own faults, and ours after the report.
 * test_blocks: a guarded block's usable size, alignment, arena, contents
 *   through realloc, sized free (and a wrong size), calloc on a reused
 *   slot, junk-free contents; posix_memalign up to a page.
 * test_pool_bounded: a long random run keeps the pool's mappings within
 *   2N + 1 and its bytes within N slots; a full pool serves unguarded.
 * test_threads_fork: blocks guarded in threads, freed by others; a child
 *   frees and allocates guarded blocks after fork.
 * test_active: san.active off stops guarding, on starts it again.
 * test_default_rate: with no options, guarding is on: a run of 16 times
 *   2^(lg + 1) bytes of small blocks is guarded, and no more often than
 *   the time bound lets; without the time bound, at least 16 times.
 */
#include "api_util.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "proc_maps.h"

#define NSLOTS 16

static uint64_t
san_total(void) {
	uint64_t epoch = 1;
	hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
	uint64_t v = 0;
	size_t sz = sizeof(v);
	assert_d_eq(hm_mallctl("stats.san.total", &v, &sz, NULL, 0), 0,
	    "stats.san.total");
	return v;
}

/* Every test but the default rate's runs at rate 1, with no canary (it
 * would take the word the overflow tests write to). */
static void
need_rate1(void) {
	bool on = false;
	size_t lg = 1, ms = 1, sz = sizeof(on);
	hm_mallctl("opt.san_guard", &on, &sz, NULL, 0);
	sz = sizeof(lg);
	hm_mallctl("opt.lg_san_guard_sample", &lg, &sz, NULL, 0);
	hm_mallctl("opt.san_guard_interval_ms", &ms, &sz, NULL, 0);
	if (!on || lg != 0 || ms != 0)
		test_skip("needs lg_san_guard_sample:0,san_guard_interval_ms:0 "
		    "(san_guard.env)");
	if (test_canary_on())
		test_skip("canary: the overflows would meet it first");
}

/* Where a guarded block sits in its slot. */
static bool
at_end(const void *p) {
	return (((uintptr_t)p + hm_malloc_usable_size((void *)p)) & 4095) == 0;
}

static bool
at_start(const void *p) {
	return ((uintptr_t)p & 4095) == 0;
}

/* The frames the reports must name: out of line, and kept. */
__attribute__((noinline)) static char *
site_alloc(size_t size) {
	char *p = hm_malloc(size);
	__asm__ volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) static void
site_free(void *p) {
	hm_free(p);
	__asm__ volatile("" ::: "memory");
}

/* A guarded block of size bytes against the end (or the start) of its
 * slot: placements alternate, so one of two tries has it. */
static char *
guarded(size_t size, bool end) {
	for (int i = 0; i < 4; i++) {
		uint64_t before = san_total();
		char *p = site_alloc(size);
		if (san_total() == before + 1 && (end ? at_end(p) : at_start(p)))
			return p;
		hm_free(p);
	}
	assert_true(false, "no guarded block of %zu bytes at its %s", size,
	    end ? "end" : "start");
	return NULL;
}

enum { K_OVERFLOW, K_UNDERFLOW, K_FAR_UNDERFLOW, K_UAF, K_DOUBLE };
static char *kind_block;

static void
kind_child(void *arg) {
	alarm(20);
	int k = (int)(intptr_t)arg;
	char *p = kind_block;
	switch (k) {
	case K_OVERFLOW:
		p[32] = 1; /* the first byte past a 24-byte request's class */
		break;
	case K_UNDERFLOW:
		p[-1] = 1;
		break;
	case K_FAR_UNDERFLOW:
		p[-100] = 1;
		break;
	case K_UAF:
		site_free(p);
		(void)*(volatile char *)p;
		break;
	case K_DOUBLE:
		site_free(p);
		hm_free(p);
		break;
	}
}

static void
expect_stack(const char *out, const char *what, const char *frame) {
	char want[128];
	snprintf(want, sizeof(want), "\n    %s by thread ", what);
	const char *s = strstr(out, want);
	expect_ptr_not_null(s, "a stack \"%s\" in:\n%s", want, out);
	if (s == NULL)
		return;
	int tid = 0;
	expect_d_eq(sscanf(s + strlen(want), "%d:", &tid), 1, "thread id");
	expect_d_gt(tid, 0, "thread id");
	snprintf(want, sizeof(want), ":\n      #0 %s+0x", frame);
	expect_ptr_not_null(strstr(s, want), "first frame %s in:\n%s", frame,
	    s);
}

static void
run_kind(int k, int sig, const char *line, bool freed) {
	char out[8192];
	int st = test_fork_capture(kind_child, (void *)(intptr_t)k, out,
	    sizeof(out));
	expect_true(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == sig,
	    "kind %d: the child should die of signal %d (status 0x%x)", k, sig,
	    st);
	expect_true(strncmp(out, line, strlen(line)) == 0,
	    "report line:\n  want %s  got  %s", line, out);
	expect_stack(out, "allocated", "site_alloc");
	if (freed)
		expect_stack(out, "freed", "site_free");
	else
		expect_ptr_null(strstr(out, "freed by"), "no free stack");
}

TEST_BEGIN(test_kinds)
	need_rate1();
	char line[256];
	char *p = guarded(24, true);
	kind_block = p;
	snprintf(line, sizeof(line), "<hmalloc>: heap overflow: write at %p, "
	    "offset 32 of the 32-byte block at %p\n", p + 32, (void *)p);
	run_kind(K_OVERFLOW, SIGSEGV, line, false);
	snprintf(line, sizeof(line), "<hmalloc>: use after free: read at %p, "
	    "offset 0 of the 32-byte block at %p\n", (void *)p, (void *)p);
	run_kind(K_UAF, SIGSEGV, line, true);
	snprintf(line, sizeof(line), "<hmalloc>: double free of a guarded "
	    "block: %p\n", (void *)p);
	run_kind(K_DOUBLE, SIGABRT, line, true);
	hm_free(p);

	p = guarded(100, false);
	kind_block = p;
	snprintf(line, sizeof(line), "<hmalloc>: heap underflow: write at %p, "
	    "offset -1 of the 112-byte block at %p\n", p - 1, (void *)p);
	run_kind(K_UNDERFLOW, SIGSEGV, line, false);
	snprintf(line, sizeof(line), "<hmalloc>: heap underflow: write at %p, "
	    "offset -100 of the 112-byte block at %p\n", p - 100, (void *)p);
	run_kind(K_FAR_UNDERFLOW, SIGSEGV, line, false);
	hm_free(p);
TEST_END

/* test_chained: runs in a new process (chain_main), so that its handler
 * is there before the pool. */
static sigjmp_buf chain_jmp;
static volatile sig_atomic_t chain_calls;
static void *volatile chain_addr;

static void
chain_handler(int sig, siginfo_t *info, void *uc) {
	(void)sig;
	(void)uc;
	chain_calls++;
	chain_addr = info->si_addr;
	siglongjmp(chain_jmp, 1);
}

static int
chain_main(void) {
	struct sigaction sa, cur;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = chain_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	char *p = NULL;
	for (int i = 0; i < 4 && (p == NULL || !at_end(p)); i++)
		p = hm_malloc(24);
	sigaction(SIGSEGV, NULL, &cur);
	if (cur.sa_sigaction == chain_handler) {
		printf("pool made before main\n");
		return 77;
	}
	/* A fault of the program's own: its handler, and no report. */
	char *own = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (sigsetjmp(chain_jmp, 1) == 0)
		own[10] = 1;
	if (chain_calls != 1 || chain_addr != own + 10) {
		printf("own fault: %d calls, at %p\n", (int)chain_calls,
		    chain_addr);
		return 1;
	}
	/* A guarded block's: the report, then the program's handler. */
	if (!at_end(p)) {
		printf("no block at its slot's end\n");
		return 1;
	}
	if (sigsetjmp(chain_jmp, 1) == 0)
		p[32] = 1;
	if (chain_calls != 2 || chain_addr != p + 32) {
		printf("guarded fault: %d calls, at %p\n", (int)chain_calls,
		    chain_addr);
		return 1;
	}
	printf("chained\n");
	return 0;
}

static void
exec_self(void *arg) {
	char *argv[] = {"san_guard", arg, NULL};
	execv("/proc/self/exe", argv);
	_exit(127);
}

/* (The purging thread, started by the library's constructor, would
 * allocate its thread's TLS before main.) */
static void
exec_chain(void *arg) {
	setenv("MALLOC_CONF", "lg_san_guard_sample:0,san_guard_interval_ms:0,"
	    "background_thread:false", 1);
	exec_self(arg);
}

TEST_BEGIN(test_chained)
	need_rate1();
	char out[8192];
	int st = test_fork_capture(exec_chain, "chain", out, sizeof(out));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		test_skip("the pool was made before main");
	expect_true(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "status 0x%x, output:\n%s", st, out);
	expect_ptr_not_null(strstr(out, "<hmalloc>: heap overflow: write at "),
	    "the report, in:\n%s", out);
	expect_ptr_not_null(strstr(out, "chained\n"), "handler ran: %s", out);
	const char *first = strstr(out, "<hmalloc>:");
	expect_true(first != NULL && strstr(first + 1, "<hmalloc>:") == NULL,
	    "one report:\n%s", out);
TEST_END

TEST_BEGIN(test_blocks)
	need_rate1();
	char *p = guarded(24, true);
	expect_zu_eq(hm_malloc_usable_size(p), 32, "usable size");
	unsigned ind = 99, want = 98;
	size_t sz = sizeof(ind);
	expect_d_eq(hm_mallctl("arenas.lookup", &ind, &sz, &p, sizeof(p)), 0,
	    "arenas.lookup");
	sz = sizeof(want);
	expect_d_eq(hm_mallctl("thread.arena", &want, &sz, NULL, 0), 0,
	    "thread.arena");
	expect_u_eq(ind, want, "a guarded block counts for the thread's arena");
	for (int i = 0; i < 24; i++)
		p[i] = (char)i;
	char *q = hm_realloc(p, 5000);
	assert_ptr_not_null(q, "realloc");
	for (int i = 0; i < 24; i++)
		expect_d_eq(q[i], i, "byte %d after realloc", i);
	memset(q + 24, 7, 5000 - 24);
	char *r = hm_realloc(q, 100000);
	assert_ptr_not_null(r, "realloc to Large");
	for (int i = 0; i < 24; i++)
		expect_d_eq(r[i], i, "byte %d after the second realloc", i);
	expect_d_eq(r[4999], 7, "last byte");
	hm_free(r);

	p = guarded(200, false);
	hm_free_sized(p, 200);
	p = guarded(200, true);
	hm_sdallocx(p, 200, 0);

	for (int i = 0; i < 3 * NSLOTS; i++) {
		char *c = hm_calloc(1, 3000);
		assert_ptr_not_null(c, "calloc");
		for (int j = 0; j < 3000; j++)
			if (c[j] != 0) {
				expect_d_eq(c[j], 0, "calloc byte %d, round %d",
				    j, i);
				break;
			}
		memset(c, 0xff, 3000);
		hm_free(c);
	}

	for (size_t align = 16; align <= 4096; align *= 2) {
		void *a = NULL;
		uint64_t before = san_total();
		expect_d_eq(hm_posix_memalign(&a, align, 100), 0,
		    "posix_memalign %zu", align);
		expect_zu_eq((uintptr_t)a % align, 0, "aligned to %zu", align);
		expect_true(san_total() == before + 1, "guarded at align %zu",
		    align);
		memset(a, 1, 100);
		hm_free(a);
	}
	void *a = NULL;
	uint64_t before = san_total();
	expect_d_eq(hm_posix_memalign(&a, 8192, 100), 0, "align 8192");
	expect_zu_eq((uintptr_t)a % 8192, 0, "aligned");
	expect_true(san_total() == before, "more than a page: not guarded");
	hm_free(a);
TEST_END

static void
misuse_sized(void *p) {
	hm_free_sized(p, 1000);
}

TEST_BEGIN(test_sized_wrong)
	need_rate1();
	char *p = guarded(24, true);
	char out[256];
	int st = test_fork_capture(misuse_sized, p, out, sizeof(out));
	expect_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status 0x%x",
	    st);
	char want[128];
	snprintf(want, sizeof(want), "<hmalloc>: sized free with wrong size: "
	    "%p\n", (void *)p);
	expect_str_eq(out, want, "the line");
	hm_free(p);
TEST_END

/* Mappings that meet [lo, hi). */
typedef struct {
	uintptr_t lo, hi;
	unsigned n;
} range_count_t;

static bool
count_fn(const proc_map_t *m, void *arg) {
	range_count_t *c = arg;
	if (m->end > c->lo && m->start < c->hi)
		c->n++;
	return false;
}

TEST_BEGIN(test_pool_bounded)
	need_rate1();
	enum { LIVE = 40, ROUNDS = 20000 };
	/* The harness's stdout buffer, a thread's TLS: blocks the test
	 * did not make may be guarded too. */
	size_t live0 = test_stat_size("stats.san.live");
	char *live[LIVE] = {NULL};
	size_t sizes[LIVE] = {0};
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	unsigned max_maps = 0;
	uint64_t seed = 42;
	uint64_t total0 = san_total();
	for (int round = 0; round < ROUNDS; round++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		unsigned i = (unsigned)(seed >> 33) % LIVE;
		if (live[i] != NULL) {
			for (size_t j = 0; j < sizes[i]; j += 97)
				expect_d_eq(live[i][j], (char)(i + j),
				    "block %u byte %zu", i, j);
			hm_free(live[i]);
		}
		sizes[i] = 1 + (seed >> 17) % 16384;
		uint64_t before = san_total();
		live[i] = hm_malloc(sizes[i]);
		assert_ptr_not_null(live[i], "malloc(%zu)", sizes[i]);
		for (size_t j = 0; j < sizes[i]; j += 97)
			live[i][j] = (char)(i + j);
		if (san_total() != before) {
			uintptr_t a = (uintptr_t)live[i];
			lo = a < lo ? a : lo;
			hi = a + 1 > hi ? a + 1 : hi;
		}
		if (round % 1000 == 999) {
			expect_zu_le(test_stat_size("stats.san.live"), NSLOTS,
			    "live guarded blocks");
			expect_zu_le(test_stat_size("stats.san.allocated"),
			    NSLOTS * 16384, "guarded bytes");
			range_count_t c = {lo, hi, 0};
			proc_maps_walk(false, count_fn, &c);
			if (c.n > max_maps)
				max_maps = c.n;
		}
	}
	expect_zu_eq(test_stat_size("stats.san.live"), NSLOTS,
	    "with 40 live blocks, every slot holds one");
	expect_true(san_total() - total0 > ROUNDS / 4, "guarded %llu",
	    (unsigned long long)(san_total() - total0));
	/* Every mapping between the lowest and the highest guarded block
	 * is the pool's: 2N + 1 at most. */
	expect_zu_le(max_maps, 2 * NSLOTS + 1, "mappings in the pool");
	expect_zu_gt(max_maps, NSLOTS, "the count sees the pool");
	for (int i = 0; i < LIVE; i++)
		hm_free(live[i]);
	expect_zu_eq(test_stat_size("stats.san.live"), live0, "the test's freed");
	range_count_t c = {lo, hi, 0};
	proc_maps_walk(false, count_fn, &c);
	expect_zu_le(c.n, 1 + 2 * live0, "freed slots join the pool's "
	    "mapping again");
TEST_END

#define NTHREADS 4
#define PER_THREAD 2000
static char *handoff[NTHREADS][PER_THREAD];

static void *
thread_main(void *arg) {
	unsigned t = (unsigned)(uintptr_t)arg;
	for (unsigned i = 0; i < PER_THREAD; i++) {
		size_t size = 16 + (i * 37 + t) % 2000;
		char *p = hm_malloc(size);
		assert_ptr_not_null(p, "malloc");
		memset(p, (int)(t + 1), size);
		__atomic_store_n(&handoff[t][i], p, __ATOMIC_RELEASE);
		/* Free what the previous thread made, when it has. */
		unsigned o = (t + NTHREADS - 1) % NTHREADS;
		char *q = __atomic_exchange_n(&handoff[o][i], NULL,
		    __ATOMIC_ACQ_REL);
		if (q != NULL) {
			expect_d_eq(q[0], (int)(o + 1), "thread %u block", o);
			hm_free(q);
		}
	}
	return NULL;
}

static void
fork_child(void *arg) {
	char *p = arg;
	if (p[0] != 5)
		_exit(2);
	hm_free(p);
	for (int i = 0; i < 100; i++) {
		char *q = hm_malloc(100);
		if (q == NULL)
			_exit(3);
		memset(q, 1, 100);
		hm_free(q);
	}
	if (san_total() == 0)
		_exit(4);
	_exit(0);
}

TEST_BEGIN(test_threads_fork)
	need_rate1();
	uint64_t before = san_total();
	size_t live0 = test_stat_size("stats.san.live");
	pthread_t th[NTHREADS];
	for (unsigned t = 0; t < NTHREADS; t++)
		assert_d_eq(pthread_create(&th[t], NULL, thread_main,
		    (void *)(uintptr_t)t), 0, "pthread_create");
	for (unsigned t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	for (unsigned t = 0; t < NTHREADS; t++)
		for (unsigned i = 0; i < PER_THREAD; i++)
			if (handoff[t][i] != NULL) {
				expect_d_eq(handoff[t][i][0], (int)(t + 1),
				    "left block");
				hm_free(handoff[t][i]);
			}
	expect_true(san_total() > before + NTHREADS, "threads guarded blocks");
	/* glibc keeps an exited thread's TLS block with its stack, for
	 * the next thread. */
	expect_zu_le(test_stat_size("stats.san.live"), live0 + NTHREADS,
	    "the threads' blocks freed");

	char *p = guarded(64, true);
	memset(p, 5, 64);
	char out[256];
	int st = test_fork_capture(fork_child, p, out, sizeof(out));
	expect_true(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x: %s",
	    st, out);
	expect_d_eq(p[63], 5, "the parent's block is still its own");
	hm_free(p);
TEST_END

TEST_BEGIN(test_active)
	need_rate1();
	bool on = false, off = false;
	size_t sz = sizeof(on);
	expect_d_eq(hm_mallctl("san.active", &on, &sz, &off, sizeof(off)), 0,
	    "san.active = false");
	expect_true(on, "it was on");
	uint64_t before = san_total();
	for (int i = 0; i < 100; i++)
		hm_free(hm_malloc(64));
	expect_true(san_total() == before, "nothing guarded while off");
	on = true;
	expect_d_eq(hm_mallctl("san.active", NULL, NULL, &on, sizeof(on)), 0,
	    "san.active = true");
	for (int i = 0; i < 100; i++)
		hm_free(hm_malloc(64));
	expect_true(san_total() > before, "guarded again");
TEST_END

static int
default_main(void) {
	bool on = false;
	size_t lg = 0, ms = 0, sz = sizeof(on);
	if (hm_mallctl("opt.san_guard", &on, &sz, NULL, 0) != 0 || !on) {
		printf("opt.san_guard off by default\n");
		return 1;
	}
	sz = sizeof(lg);
	hm_mallctl("opt.lg_san_guard_sample", &lg, &sz, NULL, 0);
	hm_mallctl("opt.san_guard_interval_ms", &ms, &sz, NULL, 0);
	/* The thresholds are uniform below 2^(lg + 1) bytes: 16 of those
	 * cross at least 16 of them.  Each crossing is guarded if the time
	 * bound lets it (one per ms milliseconds; none with ms 0). */
	size_t run = (size_t)16 << (lg + 1);
	uint64_t before = san_total();
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t done = 0; done < run; done += 64)
		hm_free(hm_malloc(64));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uint64_t n = san_total() - before;
	double elapsed_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3
	    + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("lg %zu, %zu ms: %llu guarded in %zu MiB, %.0f ms\n", lg, ms,
	    (unsigned long long)n, run >> 20, elapsed_ms);
	if (ms == 0)
		return n >= 16 ? 0 : 1;
	return n >= 1 && n <= (uint64_t)(elapsed_ms / (double)ms) + 2 ? 0 : 1;
}

static void
exec_default(void *arg) {
	unsetenv("MALLOC_CONF");
	exec_self(arg);
}

static void
exec_default_unbounded(void *arg) {
	setenv("MALLOC_CONF", "san_guard_interval_ms:0", 1);
	exec_self(arg);
}

TEST_BEGIN(test_default_rate)
	char out[1024];
	int st = test_fork_capture(exec_default, "default", out, sizeof(out));
	expect_true(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "the default: status 0x%x: %s", st, out);
	st = test_fork_capture(exec_default_unbounded, "default", out,
	    sizeof(out));
	expect_true(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "the default rate, no time bound: status 0x%x: %s", st, out);
TEST_END

int
main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "chain") == 0)
		return chain_main();
	if (argc > 1 && strcmp(argv[1], "default") == 0)
		return default_main();
	return test(test_kinds, test_chained, test_blocks, test_sized_wrong,
	    test_pool_bounded, test_threads_fork, test_active,
	    test_default_rate);
}
