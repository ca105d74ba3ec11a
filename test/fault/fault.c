/*
 * Fault injection: every system call a workload makes, failed in turn.
 *
 * Built by test/fault/fault.mk against a variant of its own: prefixed names
 * (hm_malloc, hm_mallctl ...), so that this program's stdio keeps glibc's
 * malloc, and -DHM_FAULT_INJECT, with which os.c counts the system calls
 * it makes (mmap, munmap, madvise, mremap, sbrk) and fails the one
 * hm_os_fault_set() names as the kernel would (MAP_FAILED or -1, ENOMEM).
 *
 * The workload (workload()) is a fixed sequence that reaches every path
 * making system calls: small, large and huge malloc, calloc, realloc
 * (huge blocks shrinking, growing in place, moving; moves between
 * ranges), aligned allocations up to beyond the chunk, frees that fill
 * the huge cache and take from it, a manual arena purging lazily at once
 * (dirty_decay_ms 0, muzzy -1: MADV_FREE, then arena.<i>.purge), a manual
 * arena on the data segment (dss primary: sbrk), zeroed blocks from purged
 * pages, an explicit tcache, a thread whose blocks the main thread frees,
 * epoch, arena.<i>.decay, arena.<all>.purge, malloc_trim,
 * arena.<i>.destroy.  It leaves about a third of its blocks for the
 * clean-up.  It runs under two configurations, each in a process of its
 * own (this program runs itself with HMALLOC_CONF set): "retain"
 * (retain:true, thp:never, metadata_thp:always: the retained pool,
 * MAP_FIXED over retained ranges, growth over them, THP advice on data
 * and metadata) and "unmap" (retain:false: munmap).  Both turn the
 * background thread off and decay by events only (dirty_decay_ms:-1 but
 * where the workload sets 0), so that the calls do not depend on time.
 *
 * Per configuration:
 *   1. A warm-up run and a clean-up (without the data segment: brk chunks
 *      are kept for reuse, so later runs would not call sbrk), then the
 *      baseline.
 *   2. Count: the workload without faults, in a forked child: T calls,
 *      and how many of each kind.
 *   3. Single faults: for N = 1..T, a forked child fails call N alone.
 *      Each child starts from the state the count started from, so call
 *      N is the count's call N: together the children must have failed
 *      each of the T calls once, kind by kind, which is the coverage.
 *   4. Faults from N on: the same with call N and every later one
 *      failing (the kernel refusing everything from some point on).
 *   5. Single faults again, N = 1..T, in this process: state carries
 *      over from one run to the next (so the calls are not quite the
 *      count's), which is the stronger test of service afterwards; a
 *      full run without faults ends it.
 * A faulted run is checked as it goes:
 *   - an allocation either succeeds with the usable size and alignment
 *     asked for, zeroed where asked, or returns NULL (posix_memalign:
 *     ENOMEM) with errno ENOMEM, and only if a system call failed during
 *     it; a failed realloc leaves the block as it was;
 *   - every block keeps its fill pattern (checked when it is resized,
 *     freed, and after the run): nothing was handed out twice or lost
 *     its pages;
 *   - mallctl calls answer 0, or EAGAIN when a system call failed;
 *   - nothing crashes or hangs (children have an alarm);
 * then, with faults off, every block still held is checked and freed, the
 * caches flushed, manual arenas destroyed, everything purged, the
 * retained pool released, and (check_baseline()):
 *   - stats.allocated and stats.active are back to the baseline, exactly;
 *   - no arena keeps a wholly free chunk (one the purge could not see);
 *   - what os.c counts as mapped and no arena or base owns (os mapped less
 *     stats.mapped) is back to the baseline, plus at most the bytes of
 *     munmap calls that failed: a range the kernel would not unmap stays
 *     mapped and counted (os.c), nothing else may;
 *   - the kernel agrees: the private anonymous memory of the process
 *     (/proc/self/maps) less hmalloc's mmap'd and retained bytes is
 *     exactly what it was at the baseline, so no range is mapped that
 *     hmalloc does not count, nor counted and gone;
 * and again after a short probe (a block of each range, resized, freed)
 * or the whole workload, with faults off: every allocation must succeed.
 * Chunk counts are not compared with the baseline: a bin keeps its
 * current slab when it empties, and where those slabs lie (which chunks
 * they keep) depends on the run.
 *
 * The last line printed gives the coverage, failure points exercised out
 * of the system calls the workload makes, per kind and in total.
 */
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "base.h"
#include "chunk.h"
#include "os.h"
#include "pages.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static const char *const kind_names[HM_OS_NKINDS] = {
	"mmap", "munmap", "madvise", "mremap", "sbrk"
};

/*
 * Failure reports: the first few are printed with the run they come from
 * (configuration, mode, N), all are counted.
 */
static char run_name[96] = "setup";
static unsigned nfailures;
/* Allocations and reallocs that returned NULL (after a failed call). */
static unsigned long nnull;

static void fail_at(int line, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fail_at(int line, const char *fmt, ...) {
	if (nfailures++ < 25) {
		/* One write: the configurations run side by side. */
		char msg[512];
		int len = snprintf(msg, sizeof(msg), "fault.c:%d: %s: ", line,
		    run_name);
		va_list ap;
		va_start(ap, fmt);
		len += vsnprintf(msg + len, sizeof(msg) - (size_t)len, fmt, ap);
		va_end(ap);
		if (len > (int)sizeof(msg) - 2)
			len = (int)sizeof(msg) - 2;
		msg[len++] = '\n';
		if (write(STDERR_FILENO, msg, (size_t)len) < 0)
			abort();
	}
}
#define check(cond, ...)                                                    \
	do {                                                               \
		if (!(cond))                                               \
			fail_at(__LINE__, __VA_ARGS__);                    \
	} while (0)

/*
 * Blocks.  A block's contents are a pattern of its seed and the byte's
 * offset, so that what realloc keeps is checked against the same pattern.
 * Blocks up to 16 KiB are filled whole; bigger ones in their first 4 KiB,
 * one word at the start of each of up to NSAMPLES pages evenly spread,
 * and their last 8 bytes: enough to see a range lost, shared or
 * misplaced, at a small cost in page faults (which are most of the
 * run's time).
 */
#define NSLOTS 448
#define FULL_FILL (16 * KiB)
#define NSAMPLES 4
#define MIN_STRIDE (16 * KiB)

typedef struct slot_s {
	unsigned char *p;
	size_t size;      /* bytes the pattern was written over */
	uint64_t seed;
	size_t align;     /* asked for, 0: none (for sized frees) */
	unsigned arena;   /* manual arena it came from (index), or 0 */
} slot_t;

static slot_t slots[NSLOTS];
static uint64_t seed_next = 1;

/* Word j of a block: every 8-byte word of every block differs. */
static inline uint64_t
pattern_word(uint64_t seed, size_t j) {
	return ((seed << 40) + j) * 0x9e3779b97f4a7c15ULL;
}

enum { OP_SET, OP_CHECK, OP_ZERO };
static size_t bad_offset; /* where the last failed check failed */

static inline bool
byte_op(unsigned char *p, size_t i, uint64_t seed, int op) {
	/* Little-endian: byte i is byte i % 8 of its word. */
	unsigned char want = op == OP_ZERO ? 0
	    : (unsigned char)(pattern_word(seed, i >> 3) >> ((i & 7) * 8));
	if (op == OP_SET) {
		p[i] = want;
		return true;
	}
	bad_offset = i;
	return p[i] == want;
}

/* op on the bytes [a, b) of p (8-aligned); false at the first that
 * differs. */
static bool
range_op(unsigned char *p, size_t a, size_t b, uint64_t seed, int op) {
	size_t i = a;
	for (; i < b && (i & 7) != 0; i++)
		if (!byte_op(p, i, seed, op))
			return false;
	for (; i + 8 <= b; i += 8) {
		uint64_t want = op == OP_ZERO ? 0 : pattern_word(seed, i >> 3);
		if (op == OP_SET) {
			memcpy(p + i, &want, 8);
			continue;
		}
		uint64_t have;
		memcpy(&have, p + i, 8);
		if (have != want) {
			bad_offset = i
			    + (size_t)__builtin_ctzll(have ^ want) / 8;
			return false;
		}
	}
	for (; i < b; i++)
		if (!byte_op(p, i, seed, op))
			return false;
	return true;
}

/* range_op on [a, b) within [from, limit). */
static inline bool
span_op(unsigned char *p, size_t a, size_t b, size_t from, size_t limit,
    uint64_t seed, int op) {
	if (a < from)
		a = from;
	if (b > limit)
		b = limit;
	return a >= b || range_op(p, a, b, seed, op);
}

/* op on what the pattern of a block of size bytes covers within
 * [from, limit). */
static bool
each_range(size_t size, size_t from, size_t limit, unsigned char *p,
    uint64_t seed, int op) {
	if (limit > size)
		limit = size;
	if (size <= FULL_FILL)
		return span_op(p, 0, size, from, limit, seed, op);
	if (!span_op(p, 0, 4 * KiB, from, limit, seed, op))
		return false;
	size_t stride = (size / NSAMPLES + 4 * KiB - 1) & ~(4 * KiB - 1);
	if (stride < MIN_STRIDE)
		stride = MIN_STRIDE;
	for (size_t pg = stride; pg + 8 <= size && pg < limit; pg += stride)
		if (!span_op(p, pg, pg + 8, from, limit, seed, op))
			return false;
	return span_op(p, size - 8, size, from, limit, seed, op);
}

static void
fill(slot_t *s) {
	each_range(s->size, 0, s->size, s->p, s->seed, OP_SET);
}

/* Checks the pattern of slot s below limit. */
static void
verify_below(const slot_t *s, size_t limit, int line) {
	if (!each_range(s->size, 0, limit, s->p, s->seed, OP_CHECK))
		fail_at(line, "block %p (size %zu) corrupt at offset %zu",
		    (void *)s->p, s->size, bad_offset);
}
#define verify(s) verify_below((s), (s)->size, __LINE__)

/* Failed system calls so far in this run (of any kind). */
static unsigned long
nfailed(void) {
	return hm_os_fault_failed(HM_OS_NKINDS);
}

/*
 * Takes the result of an allocation into slot ind: NULL must come with
 * errno ENOMEM (err) and a failed system call during the call (faulted);
 * a block must have the usable size and alignment asked for, and be zero
 * if asked.  Then it gets its pattern.
 */
static bool
took(unsigned ind, void *p, size_t size, size_t align, bool zero,
    int err, bool faulted, unsigned arena, int line) {
	slot_t *s = &slots[ind];
	check(s->p == NULL, "line %d: slot %u reused while live", line, ind);
	if (p == NULL) {
		nnull++;
		if (!faulted)
			fail_at(line, "allocation of %zu failed (errno %d) "
			    "with no failed system call", size, err);
		else if (err != ENOMEM)
			fail_at(line, "allocation of %zu failed with errno "
			    "%d, not ENOMEM", size, err);
		return false;
	}
	size_t usable = hm_malloc_usable_size(p);
	if (usable < size)
		fail_at(line, "usable size %zu < %zu", usable, size);
	if (align != 0 && ((uintptr_t)p & (align - 1)) != 0)
		fail_at(line, "%p not aligned to %zu", p, align);
	if (zero && !each_range(size, 0, size, p, 0, OP_ZERO))
		fail_at(line, "zeroed block of %zu (%p) not zero at %zu",
		    size, p, bad_offset);
	s->p = p;
	s->size = size;
	s->seed = seed_next++;
	s->align = align;
	s->arena = arena;
	fill(s);
	return true;
}

/* Runs an allocation expression into slot ind. */
#define ALLOC(ind, size, align, zero, arena, expr)                          \
	do {                                                               \
		unsigned long f0_ = nfailed();                             \
		errno = 0;                                                 \
		void *p_ = (expr);                                         \
		int e_ = errno;                                            \
		took((ind), p_, (size), (align), (zero), e_,               \
		    nfailed() > f0_, (arena), __LINE__);                   \
	} while (0)

/* posix_memalign reports in its result, not errno. */
static void *
pm_alloc(size_t align, size_t size) {
	void *p = NULL;
	int err = hm_posix_memalign(&p, align, size);
	if (err != 0) {
		errno = err;
		return NULL;
	}
	return p;
}

/* Frees slot ind (checked first) by one of the ways there are. */
static void
release(unsigned ind) {
	slot_t *s = &slots[ind];
	if (s->p == NULL)
		return;
	verify(s);
	switch (s->arena != 0 ? 4 : ind % 4) {
	case 0: hm_free(s->p); break;
	case 1:
		hm_sdallocx(s->p, s->size, s->align != 0
		    ? MALLOCX_ALIGN(s->align) : 0);
		break;
	case 2:
		if (s->align != 0)
			hm_free_aligned_sized(s->p, s->align, s->size);
		else
			hm_free_sized(s->p, s->size);
		break;
	case 3: hm_dallocx(s->p, 0); break;
	default: hm_dallocx(s->p, MALLOCX_TCACHE_NONE); break;
	}
	s->p = NULL;
}

/* Resizes slot ind: by realloc, or rallocx with flags. */
static void
resize(unsigned ind, size_t size, bool by_rallocx, int flags, int line) {
	slot_t *s = &slots[ind];
	if (s->p == NULL)
		return;
	verify_below(s, s->size, line);
	unsigned long f0 = nfailed();
	errno = 0;
	void *q = by_rallocx ? hm_rallocx(s->p, size, flags)
			     : hm_realloc(s->p, size);
	int err = errno;
	if (q == NULL) {
		nnull++;
		if (nfailed() == f0)
			fail_at(line, "realloc to %zu failed with no failed "
			    "system call", size);
		else if (!by_rallocx && err != ENOMEM)
			fail_at(line, "realloc failed with errno %d", err);
		/* The block must be as it was. */
		verify_below(s, s->size, line);
		return;
	}
	size_t usable = hm_malloc_usable_size(q);
	if (usable < size)
		fail_at(line, "usable size %zu < %zu after realloc", usable,
		    size);
	s->p = q;
	s->align = 0;
	verify_below(s, size, line);
	/* With MALLOCX_ZERO, what the block grew by reads as zero. */
	if ((flags & MALLOCX_ZERO) && size > s->size
	    && !each_range(size, s->size, size, s->p, 0, OP_ZERO))
		fail_at(line, "rallocx ZERO: grown byte %zu not zero",
		    bad_offset);
	s->size = size;
	fill(s);
}

/* xallocx: in place or not at all; the block keeps its contents. */
static void
resize_in_place(unsigned ind, size_t size, size_t extra, int line) {
	slot_t *s = &slots[ind];
	if (s->p == NULL)
		return;
	size_t got = hm_xallocx(s->p, size, extra, 0);
	size_t usable = hm_malloc_usable_size(s->p);
	check(got == usable, "line %d: xallocx %zu, usable %zu", line, got,
	    usable);
	size_t keep = got < s->size ? got : s->size;
	verify_below(s, keep, line);
	s->size = got < size + extra ? got : size + extra;
	fill(s);
}

/* mallctl calls: 0, or EAGAIN when a system call failed meanwhile. */
static int
ctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
    size_t newlen, int line) {
	unsigned long f0 = nfailed();
	int err = hm_mallctl(name, oldp, oldlenp, newp, newlen);
	if (err != 0 && !(err == EAGAIN && nfailed() > f0))
		fail_at(line, "mallctl(\"%s\") = %d", name, err);
	return err;
}
#define CTL(name, o, ol, n, nl) ctl((name), (o), (ol), (n), (nl), __LINE__)

static void
ctl_arena(const char *op, unsigned ind, int line) {
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.%s", ind, op);
	ctl(name, NULL, NULL, NULL, 0, line);
}

static const size_t small_sizes[] = {
	8, 16, 24, 48, 100, 128, 200, 256, 500, 1000, 1024, 2000, 3000,
	4096, 6000, 8192, 10000, 14336
};
static const size_t large_sizes[] = {
	16 * KiB, 20000, 40000, 64 * KiB, 100000, 200000, 400000, 700000,
	1000000, 1500000, 1792 * KiB
};
static const size_t huge_sizes[] = {
	2 * MiB, 2 * MiB + 512 * KiB, 3 * MiB + 1, 4 * MiB, 6 * MiB, 9 * MiB
};
#define NSMALL HM_TEST_ARRAY_LEN(small_sizes)
#define NLARGE HM_TEST_ARRAY_LEN(large_sizes)
#define NHUGE HM_TEST_ARRAY_LEN(huge_sizes)

/* Slot ranges of the workload's steps. */
enum {
	S_SMALL = 0,      /* 128 */
	S_CALLOC = 128,   /* 16 */
	S_LARGE = 144,    /* 32 */
	S_ALIGNED = 176,  /* 16 */
	S_HUGE = 192,     /* 16 */
	S_ARENA_A = 208,  /* 32 */
	S_ARENA_B = 240,  /* 16 */
	S_TCACHE = 256,   /* 32 */
	S_THREAD = 288,   /* 64 */
	S_LATE = 352,     /* 48 */
	S_REUSE = 400,    /* 40 */
	S_PROBE = 440,    /* 8 */
};

/* State the workload leaves for the clean-up. */
static unsigned arena_a, arena_b, tcache_ind;
static bool have_a, have_b, have_tcache;

/* A manual arena with the given decay times; false if none was made. */
static bool
make_arena(unsigned *ind, ssize_t dirty_ms, ssize_t muzzy_ms,
    const char *dss) {
	size_t len = sizeof(*ind);
	if (CTL("arenas.create", ind, &len, NULL, 0) != 0)
		return false;
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", *ind);
	CTL(name, NULL, NULL, &dirty_ms, sizeof(dirty_ms));
	snprintf(name, sizeof(name), "arena.%u.muzzy_decay_ms", *ind);
	CTL(name, NULL, NULL, &muzzy_ms, sizeof(muzzy_ms));
	if (dss != NULL) {
		snprintf(name, sizeof(name), "arena.%u.dss", *ind);
		CTL(name, NULL, NULL, &dss, sizeof(dss));
	}
	return true;
}

static void *
thread_main(void *arg) {
	(void)arg;
	for (unsigned i = 0; i < 48; i++) {
		size_t size = i % 3 == 2 ? large_sizes[i % NLARGE]
					 : small_sizes[(i * 5) % NSMALL];
		ALLOC(S_THREAD + i, size, 0, false, 0, hm_malloc(size));
	}
	for (unsigned i = 48; i < 52; i++)
		ALLOC(S_THREAD + i, huge_sizes[i % NHUGE], 0, false, 0,
		    hm_malloc(huge_sizes[i % NHUGE]));
	resize(S_THREAD + 48, 7 * MiB, false, 0, __LINE__);
	resize(S_THREAD + 50, 200000, false, 0, __LINE__);
	for (unsigned i = 0; i < 52; i += 2)
		release(S_THREAD + i);
	/* The rest is freed by the main thread, remotely; the thread's
	 * cache goes back at its exit. */
	return NULL;
}

/*
 * The workload: a fixed sequence of calls.  Failed allocations leave
 * their slot empty and later steps skip empty slots, so after a fault
 * the run goes on with what it has.  About a third of the blocks are
 * still held at the end, for the clean-up to check and free.
 */
static void
workload(bool use_dss) {
	have_a = make_arena(&arena_a, 0, -1, NULL);
	have_b = make_arena(&arena_b, 0, 0, use_dss ? "primary" : "disabled");
	size_t len = sizeof(tcache_ind);
	have_tcache = CTL("tcache.create", &tcache_ind, &len, NULL, 0) == 0;

	/* Small (thread cache), calloc, large. */
	for (unsigned i = 0; i < 128; i++) {
		size_t size = small_sizes[i % NSMALL];
		ALLOC(S_SMALL + i, size, 0, false, 0, hm_malloc(size));
	}
	for (unsigned i = 0; i < 16; i++) {
		size_t size = i < 8 ? small_sizes[(i * 3) % NSMALL]
				    : large_sizes[i % 6];
		ALLOC(S_CALLOC + i, size, 0, true, 0, hm_calloc(1, size));
	}
	for (unsigned i = 0; i < 32; i++) {
		size_t size = large_sizes[(i * 7) % NLARGE];
		if (i % 4 == 3 && size <= 200000)
			ALLOC(S_LARGE + i, size, 0, true, 0,
			    hm_calloc(size / 8, 8));
		else
			ALLOC(S_LARGE + i, size, 0, false, 0, hm_malloc(size));
	}

	/* Aligned, up to beyond the chunk. */
	ALLOC(S_ALIGNED + 0, 1000, 64, false, 0, pm_alloc(64, 1000));
	ALLOC(S_ALIGNED + 1, 20000, 4096, false, 0, pm_alloc(4096, 20000));
	ALLOC(S_ALIGNED + 2, 64 * KiB, 64 * KiB, false, 0,
	    hm_aligned_alloc(64 * KiB, 64 * KiB));
	ALLOC(S_ALIGNED + 3, 300000, MiB, false, 0,
	    hm_memalign(MiB, 300000));
	ALLOC(S_ALIGNED + 4, 100000, 4 * MiB, false, 0,
	    hm_mallocx(100000, MALLOCX_ALIGN(4 * MiB)));
	ALLOC(S_ALIGNED + 5, 3 * MiB, 2 * MiB, false, 0,
	    pm_alloc(2 * MiB, 3 * MiB));
	ALLOC(S_ALIGNED + 6, 5000, 8192, true, 0,
	    hm_mallocx(5000, MALLOCX_ALIGN(8192) | MALLOCX_ZERO));
	ALLOC(S_ALIGNED + 7, 10000, 4096, false, 0, hm_valloc(10000));
	ALLOC(S_ALIGNED + 8, 5 * MiB, 8 * MiB, true, 0,
	    hm_mallocx(5 * MiB, MALLOCX_ALIGN(8 * MiB) | MALLOCX_ZERO));

	/* Huge. */
	for (unsigned i = 0; i < 12; i++) {
		size_t size = huge_sizes[i % NHUGE];
		if (i % 4 == 1)
			ALLOC(S_HUGE + i, size, 0, true, 0, hm_calloc(1, size));
		else
			ALLOC(S_HUGE + i, size, 0, false, 0, hm_malloc(size));
	}

	/* A manual arena that purges lazily at once (MADV_FREE), and one on
	 * the data segment. */
	for (unsigned i = 0; have_a && i < 32; i++) {
		size_t size = i % 8 == 7 ? huge_sizes[i % NHUGE]
		    : i % 2 ? large_sizes[i % NLARGE]
			    : small_sizes[(i * 5) % NSMALL];
		ALLOC(S_ARENA_A + i, size, 0, false, arena_a,
		    hm_mallocx(size, MALLOCX_ARENA(arena_a)
		    | MALLOCX_TCACHE_NONE));
	}
	for (unsigned i = 0; have_b && i < 12; i++) {
		size_t size = large_sizes[4 + i % (NLARGE - 4)];
		ALLOC(S_ARENA_B + i, size, 0, false, arena_b,
		    hm_mallocx(size, MALLOCX_ARENA(arena_b)
		    | MALLOCX_TCACHE_NONE));
	}
	/* An explicit cache. */
	for (unsigned i = 0; have_tcache && i < 32; i++) {
		size_t size = small_sizes[(i * 7) % NSMALL];
		ALLOC(S_TCACHE + i, size, 0, false, 0,
		    hm_mallocx(size, MALLOCX_TCACHE(tcache_ind)));
	}

	/* Frees: the thread cache, runs coalescing, the huge cache. */
	for (unsigned i = 0; i < 128; i += 2)
		release(S_SMALL + i);
	for (unsigned i = 0; i < 32; i += 3)
		release(S_LARGE + i);
	release(S_HUGE + 0);
	release(S_HUGE + 3);
	release(S_HUGE + 5);
	release(S_ALIGNED + 5);

	/* Resizes: huge shrinking, growing (in place over the space it gave
	 * back, else moved), across classes. */
	resize(S_HUGE + 11, 5 * MiB, false, 0, __LINE__);
	resize(S_HUGE + 11, 9 * MiB, false, 0, __LINE__);
	resize(S_HUGE + 4, 6 * MiB + 4 * KiB, false, 0, __LINE__);
	resize(S_HUGE + 1, 12 * MiB, false, 0, __LINE__);
	resize(S_HUGE + 2, 5 * MiB, true, MALLOCX_ZERO, __LINE__);
	resize(S_HUGE + 6, 300000, false, 0, __LINE__);
	resize(S_HUGE + 7, 40000, false, 0, __LINE__);
	resize(S_LARGE + 2, 3 * MiB, false, 0, __LINE__);
	resize(S_LARGE + 1, 64 * KiB, false, 0, __LINE__);
	resize(S_LARGE + 4, 800000, true, MALLOCX_ZERO, __LINE__);
	resize(S_SMALL + 1, 100000, false, 0, __LINE__);
	resize(S_SMALL + 3, 9, false, 0, __LINE__);
	resize_in_place(S_HUGE + 8, 8 * MiB, 2 * MiB, __LINE__);
	resize_in_place(S_HUGE + 9, 2 * MiB, 0, __LINE__);
	resize_in_place(S_LARGE + 5, 300000, 0, __LINE__);

	/* Huge blocks from the cache (cut to size). */
	for (unsigned i = 0; i < 4; i++)
		ALLOC(S_REUSE + i, 2 * MiB + i * MiB, 0, i == 1, 0,
		    i == 1 ? hm_calloc(1, 2 * MiB + i * MiB)
			   : hm_malloc(2 * MiB + i * MiB));

	/* The manual arenas give back as they free. */
	for (unsigned i = 0; i < 32; i += 2)
		release(S_ARENA_A + i);
	if (have_a)
		ctl_arena("purge", arena_a, __LINE__);
	/* Purged pages are known zero: zeroed blocks from them are not
	 * cleared again. */
	for (unsigned i = 0; have_a && i < 8; i += 2) {
		size_t size = large_sizes[i];
		ALLOC(S_ARENA_A + i, size, 0, true, arena_a,
		    hm_mallocx(size, MALLOCX_ARENA(arena_a)
		    | MALLOCX_TCACHE_NONE | MALLOCX_ZERO));
	}
	for (unsigned i = 0; i < 12; i += 2)
		release(S_ARENA_B + i);
	for (unsigned i = 12; have_b && i < 16; i++)
		ALLOC(S_ARENA_B + i, 1500000, 0, true, arena_b,
		    hm_mallocx(1500000, MALLOCX_ARENA(arena_b)
		    | MALLOCX_TCACHE_NONE | MALLOCX_ZERO));

	/* A thread, whose blocks are then freed here. */
	pthread_t t;
	if (pthread_create(&t, NULL, thread_main, NULL) == 0)
		pthread_join(t, NULL);
	else
		fail_at(__LINE__, "pthread_create");
	for (unsigned i = 1; i < 52; i += 4)
		release(S_THREAD + i);

	uint64_t epoch = 1;
	CTL("epoch", NULL, NULL, &epoch, sizeof(epoch));
	ctl_arena("decay", 0, __LINE__);
	ctl_arena("purge", MALLCTL_ARENAS_ALL, __LINE__);

	/* Allocations after the purge: chunks come back (from the retained
	 * pool when there is one). */
	for (unsigned i = 0; i < 48; i++) {
		size_t size = i % 6 == 5 ? huge_sizes[i % NHUGE]
		    : i % 2 ? large_sizes[(i * 3) % NLARGE]
			    : small_sizes[i % NSMALL];
		if (i % 4 == 1 && size <= 200000)
			ALLOC(S_LATE + i, size, 0, true, 0, hm_calloc(1, size));
		else
			ALLOC(S_LATE + i, size, 0, false, 0, hm_malloc(size));
	}
	resize(S_LATE + 5, 20 * MiB, false, 0, __LINE__);
	resize(S_LATE + 11, 2 * MiB, false, 0, __LINE__);

	if (have_tcache)
		CTL("tcache.flush", NULL, NULL, &tcache_ind,
		    sizeof(tcache_ind));
	CTL("thread.tcache.flush", NULL, NULL, NULL, 0);
	for (unsigned i = 1; i < 128; i += 6)
		release(S_SMALL + i);
	for (unsigned i = 0; i < 16; i += 2)
		release(S_HUGE + i);
	hm_malloc_trim(0);

	/* Arena A goes with what it still holds (checked first). */
	if (have_a) {
		for (unsigned i = 0; i < 32; i++)
			if (slots[S_ARENA_A + i].p != NULL)
				verify(&slots[S_ARENA_A + i]);
		ctl_arena("destroy", arena_a, __LINE__);
		for (unsigned i = 0; i < 32; i++)
			slots[S_ARENA_A + i].p = NULL;
		have_a = false;
	}
	for (unsigned i = 0; i < 48; i += 3)
		release(S_LATE + i);
	for (unsigned i = 0; i < 32; i += 3)
		release(S_TCACHE + i);
}

/* Frees everything, with no fault: what a run leaves behind. */
static void
clean_up(void) {
	for (unsigned i = 0; i < NSLOTS; i++) {
		if (slots[i].p == NULL)
			continue;
		verify(&slots[i]);
		/* Explicit-cache blocks go back through any cache. */
		release(i);
	}
	if (have_tcache)
		CTL("tcache.destroy", NULL, NULL, &tcache_ind,
		    sizeof(tcache_ind));
	if (have_a)
		ctl_arena("destroy", arena_a, __LINE__);
	if (have_b)
		ctl_arena("destroy", arena_b, __LINE__);
	have_a = have_b = have_tcache = false;
	CTL("thread.tcache.flush", NULL, NULL, NULL, 0);
	ctl_arena("purge", MALLCTL_ARENAS_ALL, __LINE__);
	hm_pages_retained_release();
}

/*
 * The kernel's count: bytes of private anonymous read-write mappings
 * (no name: not the data segment, stacks or files), read from
 * /proc/self/maps without allocating.
 */
static size_t
kernel_anon_bytes(void) {
	static char buf[1 << 20];
	int fd = open("/proc/self/maps", O_RDONLY);
	if (fd < 0) {
		fail_at(__LINE__, "open /proc/self/maps: %s", strerror(errno));
		return 0;
	}
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	size_t total = 0;
	for (char *line = buf; *line != '\0';) {
		char *end = strchr(line, '\n');
		if (end != NULL)
			*end = '\0';
		unsigned long lo, hi, inode;
		char perms[8];
		int pathpos = 0;
		if (sscanf(line, "%lx-%lx %7s %*x %*x:%*x %lu %n", &lo, &hi,
		    perms, &inode, &pathpos) >= 4
		    && strcmp(perms, "rw-p") == 0 && inode == 0
		    && line[pathpos] == '\0')
			total += hi - lo;
		if (end == NULL)
			break;
		line = end + 1;
	}
	return total;
}

/*
 * Walks every arena's chunks (internals; nothing runs concurrently): a
 * chunk wholly free after a purge is one the purge could not see, kept for
 * good.  Returns the bytes of chunks from the data segment, which the
 * kernel does not show as anonymous mappings.
 */
static size_t
walk_chunks(const char *when) {
	size_t dss = 0;
	for (unsigned i = 0; i < hm_narenas; i++) {
		arena_t *arena = hm_arena_get(i, false);
		if (arena == NULL)
			continue;
		for (chunk_t *c = arena->chunks; c != NULL; c = c->next) {
			run_t *run = chunk_map_get(c, 0);
			if (run != NULL && run->state == RUN_FREE
			    && run->npages == hm_chunk_npages)
				fail_at(__LINE__, "%s: arena %u keeps the "
				    "wholly free chunk %p (ndirty %u, nmuzzy "
				    "%u)", when, i, (void *)c->addr,
				    run->ndirty, run->nmuzzy);
			if (hm_os_in_dss(c->addr))
				dss += hm_chunksize;
		}
	}
	return dss;
}

typedef struct snap_s {
	size_t allocated, active;
	/* hm_os_mapped_bytes() less stats.mapped: what os.c counts and no
	 * arena or base owns (the chunk map's root, ranges stuck mapped). */
	size_t unowned;
	/* The kernel's private anonymous bytes less hmalloc's mmap'd and
	 * retained ones: the rest of the process. */
	size_t other;
} snap_t;

static size_t
stat_size(const char *name) {
	size_t v = 0, len = sizeof(v);
	if (hm_mallctl(name, &v, &len, NULL, 0) != 0)
		fail_at(__LINE__, "mallctl(\"%s\")", name);
	return v;
}

static snap_t
snap(const char *when) {
	snap_t s;
	uint64_t epoch = 1;
	hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
	s.allocated = stat_size("stats.allocated");
	s.active = stat_size("stats.active");
	size_t os = hm_os_mapped_bytes();
	s.unowned = os - stat_size("stats.mapped");
	size_t dss = walk_chunks(when);
	s.other = kernel_anon_bytes() - (os - dss + hm_pages_retained_bytes());
	return s;
}

static snap_t baseline;

/*
 * After a clean-up: back to the baseline.  stuck: bytes of failed munmap
 * calls, which may stay mapped (and counted) for good.  Chunks may differ:
 * a bin keeps its current slab when it empties, and with it its chunk;
 * where those slabs are depends on the run.
 */
static void
check_baseline(size_t stuck, const char *when) {
	snap_t s = snap(when);
	check(s.allocated == baseline.allocated,
	    "%s: stats.allocated %zu, baseline %zu", when, s.allocated,
	    baseline.allocated);
	check(s.active == baseline.active, "%s: stats.active %zu, baseline "
	    "%zu", when, s.active, baseline.active);
	check(s.unowned >= baseline.unowned
	    && s.unowned - baseline.unowned <= stuck,
	    "%s: %zu bytes mapped that no arena owns, %zu at the baseline "
	    "(+ at most %zu of failed munmap calls)", when, s.unowned,
	    baseline.unowned, stuck);
	check(s.other == baseline.other, "%s: the kernel maps %zd bytes more "
	    "than hmalloc counts, %zd at the baseline", when,
	    (ssize_t)s.other, (ssize_t)baseline.other);
}

/* With faults off, after a faulted run: a block of each range, resized
 * and freed. */
static void
probe(void) {
	ALLOC(S_PROBE + 0, 100, 0, false, 0, hm_malloc(100));
	ALLOC(S_PROBE + 1, 300000, 0, true, 0, hm_calloc(1, 300000));
	ALLOC(S_PROBE + 2, 5 * MiB, 0, false, 0, hm_malloc(5 * MiB));
	ALLOC(S_PROBE + 3, 70000, 64 * KiB, false, 0,
	    pm_alloc(64 * KiB, 70000));
	ALLOC(S_PROBE + 4, 3 * MiB, 4 * MiB, true, 0,
	    hm_mallocx(3 * MiB, MALLOCX_ALIGN(4 * MiB) | MALLOCX_ZERO));
	resize(S_PROBE + 0, 20000, false, 0, __LINE__);
	resize(S_PROBE + 1, 3 * MiB, false, 0, __LINE__);
	resize(S_PROBE + 2, 11 * MiB, false, 0, __LINE__);
	for (unsigned i = 0; i < 5; i++)
		release(S_PROBE + i);
}

/* One configuration's results, sent to the parent process. */
typedef struct result_s {
	unsigned long total[HM_OS_NKINDS];    /* calls of the workload */
	unsigned long single[HM_OS_NKINDS];   /* failed alone, forked */
	unsigned long later[HM_OS_NKINDS];    /* failed with all later */
	unsigned long inproc_runs, inproc_failed;
	unsigned long nnull_single, nnull_later, nnull_inproc;
	size_t munmap_failed;   /* bytes of failed munmap calls, in-process */
	size_t stuck;           /* of them, left mapped (and counted) */
	size_t metadata_growth;
	unsigned failures;
} result_t;

/* What a forked run tells its parent (MAP_SHARED, not hmalloc's). */
typedef struct shared_s {
	unsigned long calls;      /* made by the faulted workload */
	unsigned long kind_calls[HM_OS_NKINDS];
	unsigned long nfailed;    /* of them failed */
	unsigned long nnull;      /* allocations that returned NULL */
	int failed_kind;          /* of the only failed call; -1: none or
				     more than one */
	unsigned failures;
} shared_t;

static shared_t *shared;

/*
 * A faulted run: the workload with call n failing (and every later one
 * if and_later), then with faults off: clean-up, checks, the probe (or
 * the whole workload again if full), clean-up, checks.  *stuck adds the
 * bytes of failed munmap calls.
 */
static void
faulted_run(unsigned long n, bool and_later, bool full, size_t *stuck) {
	hm_os_fault_set(n, and_later);
	nnull = 0;
	workload(true);
	shared->nnull = nnull;
	shared->calls = hm_os_fault_calls(HM_OS_NKINDS);
	for (unsigned k = 0; k < HM_OS_NKINDS; k++)
		shared->kind_calls[k] = hm_os_fault_calls(k);
	shared->nfailed = nfailed();
	shared->failed_kind = -1;
	for (unsigned k = 0; k < HM_OS_NKINDS; k++)
		if (shared->nfailed == 1 && hm_os_fault_failed(k) == 1)
			shared->failed_kind = (int)k;
	*stuck += hm_os_fault_failed_bytes(HM_OS_MUNMAP);
	hm_os_fault_set(0, false);
	clean_up();
	check_baseline(*stuck, "after the faulted run");
	if (full)
		workload(true);
	else
		probe();
	check(nfailed() == 0, "a system call failed with faults off");
	clean_up();
	check_baseline(*stuck, full ? "after a run with no fault"
	    : "after the probe");
}

/* A faulted run in a forked child, which starts from this process's
 * state and leaves it as it was: every child makes the same calls. */
static void
in_child(unsigned long n, bool and_later) {
	fflush(stdout);
	fflush(stderr);
	memset(shared, 0, sizeof(*shared));
	shared->failed_kind = -1;
	pid_t pid = fork();
	if (pid < 0) {
		fail_at(__LINE__, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		nfailures = 0;
		alarm(30);
		size_t stuck = 0;
		faulted_run(n, and_later, n == 0, &stuck);
		shared->failures = nfailures;
		fflush(stderr);
		_exit(nfailures != 0);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status))
		fail_at(__LINE__, "child killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (WEXITSTATUS(status) != 0)
		fail_at(__LINE__, "child failed (%u failures)",
		    shared->failures);
}

static double
now_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * base's reserve (base.c): with every mapping refused, a block's worth of
 * metadata is still handed out (what is left of the current block, then
 * the reserve), so a first slab can still be described under an
 * address-space limit.  Without the reserve, all of it fits only when
 * the current block happens to be nearly empty.
 */
static void
base_reserve_check(const char *conf) {
	snprintf(run_name, sizeof(run_name), "%s base reserve", conf);
	enum { N = 1000, SIZE = 256 };  /* 250 KiB, less than a block */
	hm_os_fault_set(1, true);
	unsigned got = 0;
	for (unsigned i = 0; i < N; i++) {
		unsigned char *p = hm_base_alloc(SIZE);
		if (p == NULL)
			break;
		p[0] = 1;
		p[SIZE - 1] = 1;
		got++;
	}
	hm_os_fault_set(0, false);
	check(got == N, "%u of %u metadata allocations with every mapping "
	    "refused", got, (unsigned)N);
}

static int
run_conf(const char *conf, int outfd) {
	result_t r;
	memset(&r, 0, sizeof(r));
	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	double t0 = now_s();

	/*
	 * Warm-up: what is made once (arenas, the thread's stack, chunk map
	 * leaves, caches' pools) is made before the baseline.  Not the data
	 * segment: brk chunks are kept for reuse, so the runs would not
	 * call sbrk.
	 */
	base_reserve_check(conf);
	snprintf(run_name, sizeof(run_name), "%s warm-up", conf);
	hm_os_fault_set(0, false);
	workload(false);
	clean_up();
	baseline = snap("baseline");
	size_t meta0 = hm_base_mapped();

	/* Count: kind_at[n] is the kind of call n. */
	snprintf(run_name, sizeof(run_name), "%s count", conf);
	in_child(0, false);
	unsigned long total = shared->calls;
	for (unsigned k = 0; k < HM_OS_NKINDS; k++)
		r.total[k] = shared->kind_calls[k];
	check(total > 0, "the workload made no system call");
	static unsigned char kind_at[1 << 16];
	if (total >= sizeof(kind_at)) {
		fail_at(__LINE__, "%lu calls: too many", total);
		total = 0;
	}

	/* Single faults, each in a child from the same state. */
	for (unsigned long n = 1; n <= total && nfailures < 25; n++) {
		snprintf(run_name, sizeof(run_name), "%s, fail call %lu of "
		    "%lu", conf, n, total);
		in_child(n, false);
		if (shared->failed_kind < 0) {
			fail_at(__LINE__, "%lu calls failed, not one",
			    shared->nfailed);
			continue;
		}
		kind_at[n] = (unsigned char)shared->failed_kind;
		r.nnull_single += shared->nnull;
		r.single[kind_at[n]]++;
		check(shared->calls >= n, "%lu calls made", shared->calls);
	}
	double t1 = now_s();

	/* Faults from call n on, each in a child: the first n - 1 calls
	 * are those of the count, so call n is of kind kind_at[n]. */
	for (unsigned long n = 1; n <= total && nfailures < 25; n++) {
		snprintf(run_name, sizeof(run_name), "%s, fail calls %lu.. of "
		    "%lu", conf, n, total);
		in_child(n, true);
		r.nnull_later += shared->nnull;
		if (shared->calls >= n
		    && shared->nfailed == shared->calls - n + 1)
			r.later[kind_at[n]]++;
		else
			fail_at(__LINE__, "%lu calls made, %lu failed",
			    shared->calls, shared->nfailed);
	}
	double t2 = now_s();

	/*
	 * Single faults again, in this process: the state carries over
	 * from one run to the next (the calls differ from the count's, as
	 * caches and the retained pool do), and every run after a fault is
	 * service after one.  Ranges whose munmap failed stay mapped.
	 */
	for (unsigned long n = 1; n <= total && nfailures < 25; n++) {
		snprintf(run_name, sizeof(run_name), "%s, fail call %lu "
		    "(in-process)", conf, n);
		faulted_run(n, false, false, &r.munmap_failed);
		r.inproc_runs++;
		r.inproc_failed += shared->nfailed;
		r.nnull_inproc += shared->nnull;
	}
	snprintf(run_name, sizeof(run_name), "%s, after the in-process runs",
	    conf);
	faulted_run(0, false, true, &r.munmap_failed);
	r.stuck = snap("the end").unowned - baseline.unowned;
	r.metadata_growth = hm_base_mapped() - meta0;

	/* Every call of the count failed once, alone and with all later
	 * ones: the walks saw the count's calls, kind by kind. */
	for (unsigned k = 0; k < HM_OS_NKINDS && nfailures < 25; k++)
		check(r.single[k] == r.total[k] && r.later[k] == r.total[k],
		    "%s: %lu calls, %lu failed alone, %lu with all later",
		    kind_names[k], r.total[k], r.single[k], r.later[k]);
	r.failures = nfailures;
	printf("%s: %lu calls (", conf, total);
	for (unsigned k = 0; k < HM_OS_NKINDS; k++)
		printf("%s%s %lu", k ? ", " : "", kind_names[k], r.total[k]);
	printf("); forked: single faults %.1fs, %lu NULL results; faults "
	    "from N on %.1fs, %lu NULL results; in-process: %lu runs, %lu "
	    "calls failed, %lu NULL results, %.1fs, munmap refused %zu bytes "
	    "of which %zu stay mapped, metadata +%zu bytes\n", t1 - t0,
	    r.nnull_single, t2 - t1, r.nnull_later, r.inproc_runs,
	    r.inproc_failed, r.nnull_inproc, now_s() - t2, r.munmap_failed,
	    r.stuck, r.metadata_growth);
	if (write(outfd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		perror("write");
	return nfailures != 0;
}

/* Options of each configuration (HMALLOC_CONF, read last). */
static const struct {
	const char *name;
	const char *conf;
} confs[] = {
	{"retain", "abort_conf:true,background_thread:false,"
	    "dirty_decay_ms:-1,muzzy_decay_ms:-1,retain:true,thp:never,"
	    "metadata_thp:always"},
	{"unmap", "abort_conf:true,background_thread:false,"
	    "dirty_decay_ms:-1,muzzy_decay_ms:-1,retain:false"},
};

int
main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 4 && strcmp(argv[1], "--conf") == 0)
		return run_conf(argv[2], atoi(argv[3]));

	/* The configurations run side by side, one process each. */
	enum { NCONFS = HM_TEST_ARRAY_LEN(confs) };
	pid_t pids[NCONFS];
	int fds[NCONFS];
	for (size_t c = 0; c < NCONFS; c++) {
		int p[2];
		if (pipe(p) != 0) {
			perror("pipe");
			return 1;
		}
		pids[c] = fork();
		if (pids[c] == 0) {
			close(p[0]);
			char fd[16];
			snprintf(fd, sizeof(fd), "%d", p[1]);
			setenv("HMALLOC_CONF", confs[c].conf, 1);
			execl("/proc/self/exe", argv[0], "--conf",
			    confs[c].name, fd, (char *)NULL);
			perror("execl");
			_exit(127);
		}
		close(p[1]);
		fds[c] = p[0];
	}
	result_t sum;
	memset(&sum, 0, sizeof(sum));
	bool ok = true;
	for (size_t c = 0; c < NCONFS; c++) {
		result_t r;
		ssize_t n = pids[c] > 0 ? read(fds[c], &r, sizeof(r)) : -1;
		close(fds[c]);
		int status = 0;
		if (pids[c] > 0)
			waitpid(pids[c], &status, 0);
		if (pids[c] < 0 || n != (ssize_t)sizeof(r)
		    || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			printf("%s: FAILED (status %#x)\n", confs[c].name,
			    status);
			ok = false;
			if (n != (ssize_t)sizeof(r))
				continue;
		}
		for (unsigned k = 0; k < HM_OS_NKINDS; k++) {
			sum.total[k] += r.total[k];
			sum.single[k] += r.single[k];
			sum.later[k] += r.later[k];
		}
		sum.inproc_runs += r.inproc_runs;
	}
	unsigned long total = 0, single = 0, later = 0;
	printf("coverage, failure points exercised / system calls of the "
	    "workload:");
	for (unsigned k = 0; k < HM_OS_NKINDS; k++) {
		printf(" %s %lu/%lu,", kind_names[k], sum.single[k],
		    sum.total[k]);
		total += sum.total[k];
		single += sum.single[k];
		later += sum.later[k];
	}
	printf(" all %lu/%lu (single faults), %lu/%lu (faults from N on), "
	    "%lu in-process runs\n", single, total, later, total,
	    sum.inproc_runs);
	printf("fault: %s\n", ok ? "pass" : "fail");
	return ok ? 0 : 1;
}
