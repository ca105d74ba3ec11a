/*
 * The fuzzer's interpreter: an input is a sequence of operations on a
 * table of NSLOTS slots, each result checked against a shadow model.
 *
 * Every live block is recorded with its requested size, the alignment
 * asked for (what a sized free passes back), its usable size, its arena
 * (arenas.lookup) and a tag from which its contents derive: word i of the
 * block is tag ^ (i * GOLDEN), written over its usable size (sampled past
 * CHECK_HEAD).  Each operation checks what the API promises (jemalloc
 * 5.3's manual for the *allocx calls, glibc's for the rest): non-NULL for
 * sizes that fit, NULL and ENOMEM for absurd ones; alignment; usable size
 * >= requested, equal to sallocx and to nallocx of the request; contents
 * preserved up to the smaller usable size across realloc, rallocx and
 * xallocx, zero where calloc and MALLOCX_ZERO promise it; live blocks
 * never overlap; the thread's allocated and deallocated byte counters
 * move by exactly the usable sizes; statistics cover the live blocks
 * (live <= allocated <= active <= mapped, and per arena).  A mismatch
 * prints the input, the operation and what differed, then aborts
 * (libFuzzer saves the input).
 *
 * Threads: operations run on the current thread of NTHREADS (0, the
 * caller, and fixed workers).  A THREAD operation changes it: the caller
 * hands the rest of the input to that thread, which runs operations until
 * the next THREAD operation, and waits.  So exactly one thread runs at a
 * time and a run is a function of its input (hmalloc's background thread
 * aside), while blocks are freed and resized on other threads than their
 * allocator's.
 *
 * Input format: an operation is one byte, mapped to a kind through
 * op_table[byte % 32], followed by its parameters, one byte each unless
 * noted (a size takes two, see decode_size).  Reading past the end gives
 * zeroes; the run ends when the input is consumed.
 *
 *   MALLOC    slot size2              CALLOC   slot n size2
 *   REALLOC   slot variant size2      FREE     slot variant pick2 flags
 *   SDALLOCX  slot pick2 flags        ALIGNED  slot variant align size2
 *   USABLE    slot                    MALLOCX  slot size2 flags2
 *   RALLOCX   slot size2 flags2       XALLOCX  slot size2 extra flags
 *   MALLCTL   what arg                THREAD   thread
 *   ARENA     what arg                TCACHE   what arg
 *   FAIL      what arg slot           CHECK    (none)
 *
 * test/fuzz/gen_corpus.py writes inputs in this format; keep the two in
 * step.  Manual arenas (arenas.create) and explicit caches (tcache.create)
 * are bounded (MAX_ARENAS, MAX_TCACHES) and destroyed at the end of each
 * input, after every thread's cache is flushed and rebound to its first
 * arena: as the manual says, a discarded arena's blocks must be in no
 * cache.  The model holds under the default options and those the CI
 * crosses (tcache:false, narenas:1, decay times, junk), and per-CPU
 * arenas.
 */
#include "interp.h"

#ifndef HM_PREFIXED
#  error "the fuzzer links the prefixed build: compile with -DHM_PREFIXED"
#endif

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <hmalloc.h>

#define NSLOTS 64
#define NTHREADS 4
#define MAX_ARENAS 2
#define MAX_TCACHES 3
#define MAX_CLASSES 128
/* Contents: every byte of the first CHECK_HEAD bytes of a block, then the
 * first and last CHECK_EDGE bytes of each CHECK_UNIT, so that a multi-MiB
 * block costs a few pages' faults while a page range lost or misplaced by
 * a move is still seen. */
#define CHECK_HEAD ((size_t)64 << 10)
#define CHECK_UNIT ((size_t)64 << 10)
#define CHECK_EDGE ((size_t)16)
#define GOLDEN 0x9e3779b97f4a7c15ull
#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

const char *const hmfuzz_kind_names[FZ_NKINDS] = {
	"malloc", "calloc", "realloc", "free", "sdallocx", "aligned",
	"usable_size", "mallocx", "rallocx", "xallocx", "mallctl", "thread",
	"arena", "tcache", "fail", "check",
};

uint64_t hmfuzz_stats[FZ_NKINDS];
const char *hmfuzz_input_name = "(input)";
int hmfuzz_trace;

/* Kinds by opcode, weighted toward the allocation calls. */
static const unsigned char op_table[32] = {
	FZ_MALLOC, FZ_MALLOC, FZ_MALLOC, FZ_MALLOC, FZ_CALLOC,
	FZ_REALLOC, FZ_REALLOC, FZ_FREE, FZ_FREE, FZ_FREE, FZ_FREE,
	FZ_SDALLOCX, FZ_SDALLOCX, FZ_ALIGNED, FZ_ALIGNED, FZ_USABLE,
	FZ_MALLOCX, FZ_MALLOCX, FZ_MALLOCX, FZ_RALLOCX, FZ_RALLOCX,
	FZ_XALLOCX, FZ_XALLOCX, FZ_MALLCTL, FZ_MALLCTL, FZ_THREAD, FZ_THREAD,
	FZ_ARENA, FZ_TCACHE, FZ_TCACHE, FZ_FAIL, FZ_CHECK,
};

typedef struct {
	unsigned char *p;  /* NULL: empty */
	size_t req;        /* size asked for (what a sized free may pass) */
	size_t usize;      /* usable size */
	size_t align;      /* alignment asked for, 0 for none */
	uint64_t tag;      /* contents: word i is tag ^ (i * GOLDEN) */
	unsigned arena;    /* arenas.lookup of p */
} slot_t;

/* One thread of the pool; the model fields are its caller's view. */
typedef struct {
	pthread_t thr;
	pthread_cond_t cv;    /* a job posted to it, or its job done */
	void (*fn)(void *);   /* a job posted to the thread (pool_lock) */
	void *arg;
	unsigned poster;      /* the thread that posted it */
	bool busy;            /* a job posted and not finished (pool_lock) */
	unsigned home;        /* arena bound at start, restored per input */
	unsigned arena;       /* arena bound now */
	bool tcache_on;       /* thread.tcache.enabled */
	uint64_t *allocatedp; /* thread.allocatedp, .deallocatedp */
	uint64_t *deallocatedp;
} fthread_t;

typedef struct {
	unsigned ind;
	unsigned arena;  /* the creating thread's arena */
} xtcache_t;

typedef struct {
	const uint8_t *p, *end;
	size_t op;           /* index of the running operation */
	unsigned kind;
	unsigned cur;        /* current thread */
	uint64_t gen;        /* tags */
	slot_t slots[NSLOTS];
	unsigned arenas[MAX_ARENAS];
	unsigned narenas;
	xtcache_t tcaches[MAX_TCACHES];
	unsigned ntcaches;
} fz_t;

static fthread_t threads[NTHREADS];
/* The index of the running thread in threads[]. */
static _Thread_local unsigned self;
static pthread_t caller;
static unsigned narenas_auto;
/* Options that change what the model may expect: thread caches off
 * (tcache:false, or junk and zero, which turn them off) and per-CPU
 * arenas, which rebind threads by themselves. */
static bool tcache_usable;
static bool percpu;
/* Size classes from arenas.bin.<j>.size and arenas.lextent.<j>.size up
 * to 6 MiB: requests at a class and one byte either side. */
static size_t classes[MAX_CLASSES];
static unsigned nclasses;

static const char *const fail_names[] = {"malloc", "calloc", "realloc",
	"mallocx", "rallocx", "posix_memalign", "posix_memalign EINVAL",
	"aligned_alloc", "nallocx", "reallocarray", "pvalloc",
	"memalign EINVAL"};

/* Requests no system can satisfy: past the largest class, or a class
 * whose mapping the kernel refuses (the reclaim-and-retry path). */
static const size_t absurd_sizes[] = {SIZE_MAX, SIZE_MAX - 4095,
	((size_t)7 << 60) + 1, (size_t)1 << 62, (size_t)1 << 60,
	(size_t)1 << 56};
#define NABSURD (sizeof(absurd_sizes) / sizeof(absurd_sizes[0]))

static void fail(fz_t *fz, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void
fail(fz_t *fz, const char *fmt, ...) {
	va_list ap;
	fprintf(stderr, "hmfuzz: %s: op %zu (%s, thread %u): ",
	    hmfuzz_input_name, fz->op, hmfuzz_kind_names[fz->kind], fz->cur);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

static void
trace(fz_t *fz, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
trace(fz_t *fz, const char *fmt, ...) {
	if (!hmfuzz_trace)
		return;
	va_list ap;
	fprintf(stderr, "%5zu t%u ", fz->op, fz->cur);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Setup failures (before any input): no operation to name. */
static void
die(const char *what, int err) {
	fprintf(stderr, "hmfuzz: %s: %s\n", what, strerror(err));
	abort();
}

static unsigned
rd(fz_t *fz) {
	return fz->p < fz->end ? *fz->p++ : 0;
}

static unsigned
rd16(fz_t *fz) {
	unsigned a = rd(fz);
	return a | rd(fz) << 8;
}

/*
 * A size from two bytes: the low three bits of the first pick a range,
 * the rest place the size in it.  Ranges: tiny, Small, around the
 * Small/Large boundary, Large, up to the chunk, Huge (to about 5 MiB),
 * and a class boundary (a class, or one byte either side).
 */
static size_t
decode_size(fz_t *fz) {
	unsigned a = rd(fz), b = rd(fz), hi = a >> 3;
	switch (a & 7) {
	case 0:
	case 1:
		return b;
	case 2:
		return (size_t)hi << 8 | b;
	case 3:
		return 8 * KiB + ((size_t)hi << 9) + b;
	case 4:
		return ((size_t)hi << 14) + ((size_t)b << 6);
	case 5:
		return ((size_t)hi << 16) + ((size_t)b << 8);
	case 6:
		return MiB + ((size_t)hi << 17) + ((size_t)b << 9);
	default: {
		size_t c = classes[b % nclasses];
		return c + (hi % 3) - 1;
	}
	}
}

/* Contents.  The loops over block contents carry no sanitizer or
 * coverage instrumentation: hmalloc's memory is mapped, which ASan does
 * not track, and libFuzzer would trace each word's comparison. */
#if defined(__clang__) && __clang_major__ >= 13
#  define NO_COVERAGE __attribute__((no_sanitize("address", "coverage")))
#else
#  define NO_COVERAGE
#endif

NO_COVERAGE static inline uint64_t
pat_word(uint64_t tag, size_t i) {
	return tag ^ (i * GOLDEN);
}

/* The next checked range at or after off below end: [*from, *to). */
NO_COVERAGE static bool
checked_next(size_t off, size_t end, size_t *from, size_t *to) {
	if (off >= end)
		return false;
	if (off < CHECK_HEAD) {
		*from = off;
		*to = end < CHECK_HEAD ? end : CHECK_HEAD;
		return true;
	}
	size_t in = off & (CHECK_UNIT - 1), unit = off - in;
	if (in < CHECK_EDGE) {
		*from = off;
		*to = unit + CHECK_EDGE;
	} else if (in < CHECK_UNIT - CHECK_EDGE) {
		*from = unit + CHECK_UNIT - CHECK_EDGE;
		*to = unit + CHECK_UNIT;
	} else {
		*from = off;
		*to = unit + CHECK_UNIT;
	}
	if (*from >= end)
		return false;
	if (*to > end)
		*to = end;
	return true;
}

NO_COVERAGE static inline uint8_t
pat_byte(uint64_t tag, size_t off) {
	return (uint8_t)(pat_word(tag, off / 8) >> (off % 8 * 8));
}

/* Words where the range allows, bytes at its ends (a usable size need
 * not be a multiple of 8: secure mode's canary takes the last bytes). */
NO_COVERAGE static void
pat_fill(unsigned char *p, uint64_t tag, size_t from, size_t to) {
	size_t a, b;
	for (size_t off = from; checked_next(off, to, &a, &b); off = b) {
		for (; a < b && a % 8 != 0; a++)
			p[a] = pat_byte(tag, a);
		uint64_t *w = (uint64_t *)p;
		for (; a + 8 <= b; a += 8)
			w[a / 8] = pat_word(tag, a / 8);
		for (; a < b; a++)
			p[a] = pat_byte(tag, a);
	}
}

/* The first offset in [from, to) that does not hold the pattern, or to. */
NO_COVERAGE static size_t
pat_find_bad(const unsigned char *p, uint64_t tag, size_t from, size_t to) {
	size_t a, b;
	for (size_t off = from; checked_next(off, to, &a, &b); off = b) {
		for (; a < b && a % 8 != 0; a++) {
			if (p[a] != pat_byte(tag, a))
				return a;
		}
		const uint64_t *w = (const uint64_t *)p;
		for (; a + 8 <= b; a += 8) {
			if (w[a / 8] != pat_word(tag, a / 8))
				break;
		}
		for (; a < b; a++) {
			if (p[a] != pat_byte(tag, a))
				return a;
		}
	}
	return to;
}

static void
pat_check(fz_t *fz, const slot_t *s, size_t from, size_t to,
    const char *when) {
	size_t bad = pat_find_bad(s->p, s->tag, from, to);
	if (bad < to) {
		size_t end = bad + 8 < to ? bad + 8 : to;
		char got[40] = "", want[40] = "";
		for (size_t i = bad; i < end; i++) {
			snprintf(got + strlen(got), 4, "%02x ", s->p[i]);
			snprintf(want + strlen(want), 4, "%02x ",
			    pat_byte(s->tag, i));
		}
		fail(fz, "%s: block %p (size %zu, usable %zu) changed at "
		    "offset %zu: %s, expected %s", when, (void *)s->p, s->req,
		    s->usize, bad, got, want);
	}
}

/* The first offset in [from, to) that is not zero, or to. */
NO_COVERAGE static size_t
zero_find_bad(const unsigned char *p, size_t from, size_t to) {
	size_t a, b;
	for (size_t off = from; checked_next(off, to, &a, &b); off = b) {
		for (; a < b && a % 8 != 0; a++) {
			if (p[a] != 0)
				return a;
		}
		for (; a + 8 <= b && *(const uint64_t *)(p + a) == 0; a += 8)
			;
		for (; a < b; a++) {
			if (p[a] != 0)
				return a;
		}
	}
	return to;
}

static void
zero_check(fz_t *fz, const unsigned char *p, size_t from, size_t to,
    const char *what) {
	size_t bad = zero_find_bad(p, from, to);
	if (bad < to)
		fail(fz, "%s: byte %zu of %p is %#x, not zero", what, bad,
		    (const void *)p, p[bad]);
}

/* The thread's byte counters (thread.allocatedp, .deallocatedp). */

typedef struct {
	uint64_t a, d;
} counters_t;

static counters_t
counters(fz_t *fz) {
	fthread_t *t = &threads[fz->cur];
	return (counters_t){*t->allocatedp, *t->deallocatedp};
}

static void
counters_expect(fz_t *fz, counters_t before, size_t da, size_t dd,
    const char *what) {
	counters_t now = counters(fz);
	if (now.a - before.a != da || now.d - before.d != dd) {
		fail(fz, "%s: thread.allocated moved by %llu, deallocated by "
		    "%llu; expected %zu and %zu", what,
		    (unsigned long long)(now.a - before.a),
		    (unsigned long long)(now.d - before.d), da, dd);
	}
}

/* mallctl helpers: every call the interpreter makes is checked. */

static int
ctl(const char *name, void *oldp, size_t oldlen, const void *newp,
    size_t newlen) {
	size_t len = oldlen;
	int err = hm_mallctl(name, oldp, oldp != NULL ? &len : NULL,
	    (void *)newp, newlen);
	if (err == 0 && oldp != NULL && len != oldlen)
		return -1;
	return err;
}

static void
ctl_ok(fz_t *fz, const char *name, void *oldp, size_t oldlen,
    const void *newp, size_t newlen) {
	int err = ctl(name, oldp, oldlen, newp, newlen);
	if (err != 0)
		fail(fz, "mallctl(\"%s\") = %d", name, err);
}

/* arenas.lookup by MIB: it runs on every check. */
static size_t lookup_mib[4];
static size_t lookup_miblen;

static unsigned
lookup(fz_t *fz, const void *p) {
	unsigned ind;
	size_t len = sizeof(ind);
	int err = hm_mallctlbymib(lookup_mib, lookup_miblen, &ind, &len,
	    (void *)&p, sizeof(p));
	if (err == 0 && len != sizeof(ind))
		err = -1;
	if (err != 0)
		fail(fz, "arenas.lookup(%p) = %d", p, err);
	return ind;
}

/* Checks on live blocks. */

static void
check_no_overlap(fz_t *fz, unsigned s) {
	const slot_t *a = &fz->slots[s];
	for (unsigned i = 0; i < NSLOTS; i++) {
		const slot_t *b = &fz->slots[i];
		if (i == s || b->p == NULL)
			continue;
		if (a->p < b->p + b->usize && b->p < a->p + a->usize) {
			fail(fz, "slot %u [%p, +%zu) overlaps slot %u "
			    "[%p, +%zu)",
			    s, (void *)a->p, a->usize, i, (void *)b->p,
			    b->usize);
		}
	}
}

static void
check_usable(fz_t *fz, const slot_t *s) {
	size_t u = hm_malloc_usable_size(s->p);
	size_t x = hm_sallocx(s->p, 0);
	if (u != s->usize || x != s->usize) {
		fail(fz, "%p: malloc_usable_size %zu, sallocx %zu, "
		    "expected %zu",
		    (void *)s->p, u, x, s->usize);
	}
}

/* Whole check of a live block: size, arena, contents. */
static void
check_block(fz_t *fz, unsigned s, const char *when) {
	const slot_t *b = &fz->slots[s];
	check_usable(fz, b);
	unsigned a = lookup(fz, b->p);
	if (a != b->arena)
		fail(fz, "%p: arenas.lookup %u, was %u", (void *)b->p, a,
		    b->arena);
	pat_check(fz, b, 0, b->usize, when);
}

/* Alignment flags of an alignment (0 for none). */
static int
align_flags(size_t align) {
	return align > 1 ? MALLOCX_ALIGN(align) : 0;
}

/*
 * A block an operation produced or moved into slot s: p, request req
 * with alignment align (0 for none), expected usable size usize; zero
 * from which offset it must read zero (SIZE_MAX: nowhere); arena, when
 * not -1, the arena it must come from.  What the slot held before, if
 * anything, must survive up to the smaller usable size; the rest is
 * filled.
 */
static void
block_set(fz_t *fz, unsigned s, void *p, size_t req, size_t align,
    size_t usize, size_t zero, int arena, const char *what) {
	slot_t *b = &fz->slots[s];
	if (p == NULL)
		fail(fz, "%s(%zu) returned NULL (errno %d)", what, req, errno);
	size_t need = align > 16 ? align : 16;
	if ((uintptr_t)p % need != 0)
		fail(fz, "%s(%zu): %p not aligned to %zu", what, req, p, need);
	size_t u = hm_malloc_usable_size(p), x = hm_sallocx(p, 0);
	if (u != usize || x != usize || u < req) {
		fail(fz, "%s(%zu, align %zu) = %p: malloc_usable_size %zu, "
		    "sallocx %zu, expected %zu", what, req, align, p, u, x,
		    usize);
	}
	unsigned a = lookup(fz, p);
	if (arena >= 0 && a != (unsigned)arena)
		fail(fz, "%s(%zu) = %p: arena %u, asked for %d", what, req, p,
		    a, arena);
	size_t keep = 0;
	uint64_t tag = b->tag;
	if (b->p != NULL) {
		/* Resized or moved: what was there must have come along. */
		keep = b->usize < usize ? b->usize : usize;
		slot_t moved = *b;
		moved.p = p;
		pat_check(fz, &moved, 0, keep, what);
	} else {
		tag = ++fz->gen * GOLDEN ^ (uint64_t)s << 56;
	}
	if (zero < usize)
		zero_check(fz, p, zero, usize, what);
	*b = (slot_t){p, req, usize, align, tag, a};
	pat_fill(p, tag, keep, usize);
	check_no_overlap(fz, s);
	trace(fz, "  -> %p usable %zu arena %u", p, usize, a);
}

/* Frees slot s with free(), after checking it. */
static void
slot_free(fz_t *fz, unsigned s) {
	slot_t *b = &fz->slots[s];
	check_block(fz, s, "before free");
	counters_t c = counters(fz);
	hm_free(b->p);
	counters_expect(fz, c, 0, b->usize, "free");
	b->p = NULL;
}

/* An empty slot s, freeing what it holds. */
static unsigned
slot_empty(fz_t *fz, unsigned s) {
	if (fz->slots[s].p != NULL)
		slot_free(fz, s);
	return s;
}

/* The next slot byte; NSLOTS when it names an empty slot (an operation
 * on a live block then does nothing). */
static unsigned
rd_live(fz_t *fz) {
	unsigned s = rd(fz) % NSLOTS;
	return fz->slots[s].p != NULL ? s : NSLOTS;
}

/* Flags for mallocx and rallocx from two bytes: alignment (up to 64 KiB,
 * rarely to 4 MiB), MALLOCX_ZERO, a cache (none or an explicit one),
 * an arena (a manual one or an automatic one). */
typedef struct {
	int flags;
	size_t align;
	int arena;  /* -1: the thread's */
	bool zero;
} xflags_t;

static xflags_t
decode_xflags(fz_t *fz) {
	unsigned f = rd(fz), g = rd(fz);
	xflags_t x = {0, 0, -1, false};
	if (f & 1) {
		unsigned lg = (f & 0xc0) == 0xc0 ? 17 + g % 6 : g % 17;
		x.align = lg > 0 ? (size_t)1 << lg : 0;
		x.flags |= MALLOCX_LG_ALIGN(lg);
	}
	if (f & 2) {
		x.zero = true;
		x.flags |= MALLOCX_ZERO;
	}
	switch ((f >> 2) & 3) {
	case 1:
		x.flags |= MALLOCX_TCACHE_NONE;
		break;
	case 2:
		if (fz->ntcaches > 0)
			x.flags |= MALLOCX_TCACHE(
			    fz->tcaches[(g >> 4) % fz->ntcaches].ind);
		break;
	}
	switch ((f >> 4) & 3) {
	case 2:
		if (fz->narenas > 0)
			x.arena = (int)fz->arenas[(g >> 3) % fz->narenas];
		break;
	case 3:
		x.arena = (int)((g >> 3) % narenas_auto);
		break;
	}
	if (x.arena >= 0)
		x.flags |= MALLOCX_ARENA(x.arena);
	return x;
}

/* Flags for a deallocation: a cache choice and, when asked, the
 * block's own alignment. */
static int
decode_dflags(fz_t *fz, unsigned f, const slot_t *b) {
	int flags = 0;
	if (f & 1)
		flags |= align_flags(b->align);
	switch ((f >> 1) & 3) {
	case 1:
		flags |= MALLOCX_TCACHE_NONE;
		break;
	case 2:
		if (fz->ntcaches > 0)
			flags |= MALLOCX_TCACHE(
			    fz->tcaches[(f >> 3) % fz->ntcaches].ind);
		break;
	}
	return flags;
}

/* Allocation operations. */

static void
op_malloc(fz_t *fz) {
	unsigned s = slot_empty(fz, rd(fz) % NSLOTS);
	size_t size = decode_size(fz);
	trace(fz, "malloc(%zu) slot %u", size, s);
	counters_t c = counters(fz);
	void *p = hm_malloc(size);
	size_t usize = hm_nallocx(size ? size : 1, 0);
	block_set(fz, s, p, size, 0, usize, SIZE_MAX, -1, "malloc");
	counters_expect(fz, c, usize, 0, "malloc");
}

static void
op_calloc(fz_t *fz) {
	unsigned s = slot_empty(fz, rd(fz) % NSLOTS);
	size_t n = 1 + rd(fz) % 8, size = decode_size(fz) / n;
	trace(fz, "calloc(%zu, %zu) slot %u", n, size, s);
	counters_t c = counters(fz);
	void *p = hm_calloc(n, size);
	size_t usize = hm_nallocx(n * size != 0 ? n * size : 1, 0);
	block_set(fz, s, p, n * size, 0, usize, 0, -1, "calloc");
	counters_expect(fz, c, usize, 0, "calloc");
}

static void
op_realloc(fz_t *fz) {
	unsigned s = rd(fz) % NSLOTS, v = rd(fz);
	size_t size = decode_size(fz);
	slot_t *b = &fz->slots[s];
	bool array = v & 1;
	size_t n = array ? 1 + (v >> 1) % 4 : 1;
	size /= n;
	trace(fz, "%s(%p, %zu * %zu) slot %u", array ? "reallocarray"
	    : "realloc", (void *)b->p, n, size, s);
	if (b->p != NULL)
		check_block(fz, s, "before realloc");
	counters_t c = counters(fz);
	size_t old = b->p != NULL ? b->usize : 0;
	void *p = array ? hm_reallocarray(b->p, n, size)
			: hm_realloc(b->p, n * size);
	if (n * size == 0 && b->p != NULL) {
		/* glibc's realloc(p, 0): frees p, returns NULL. */
		if (p != NULL)
			fail(fz, "realloc(%p, 0) = %p, not NULL", (void *)b->p,
			    p);
		counters_expect(fz, c, 0, old, "realloc to 0");
		b->p = NULL;
		return;
	}
	size_t usize = hm_nallocx(n * size != 0 ? n * size : 1, 0);
	block_set(fz, s, p, n * size, 0, usize, SIZE_MAX, -1, "realloc");
	counters_expect(fz, c, usize, old, "realloc");
}

static void
op_aligned(fz_t *fz) {
	unsigned s = slot_empty(fz, rd(fz) % NSLOTS), v = rd(fz) % 6;
	unsigned a = rd(fz);
	size_t size = decode_size(fz);
	unsigned lg = a % 17;
	size_t align = (size_t)1 << lg, req = size;
	void *p = NULL;
	const char *what;
	counters_t c = counters(fz);
	switch (v) {
	case 0:
	default: {
		if (align < sizeof(void *))
			align = sizeof(void *);
		what = "posix_memalign";
		trace(fz, "posix_memalign(%zu, %zu) slot %u", align, size, s);
		int err = hm_posix_memalign(&p, align, size);
		if (err != 0)
			fail(fz, "posix_memalign(%zu, %zu) = %d", align, size,
			    err);
		break;
	}
	case 1:
		what = "aligned_alloc";
		trace(fz, "aligned_alloc(%zu, %zu) slot %u", align, size, s);
		p = hm_aligned_alloc(align, size);
		break;
	case 2:
		/* A non-power of two rounds up to the next power (glibc). */
		what = "memalign";
		trace(fz, "memalign(%zu, %zu) slot %u", align * 3 / 4 + 1,
		    size, s);
		p = hm_memalign(align * 3 / 4 + 1, size);
		break;
	case 3:
		what = "valloc";
		align = 4096;
		trace(fz, "valloc(%zu) slot %u", size, s);
		p = hm_valloc(size);
		break;
	case 4:
		what = "pvalloc";
		align = 4096;
		trace(fz, "pvalloc(%zu) slot %u", size, s);
		p = hm_pvalloc(size);
		req = (size + 4095) & ~(size_t)4095;
		break;
	case 5:
		what = "memalign";
		trace(fz, "memalign(%zu, %zu) slot %u", align, size, s);
		p = hm_memalign(align, size);
		break;
	}
	if (align <= 16)
		align = 0;
	size_t usize = hm_nallocx(req ? req : 1, align_flags(align));
	block_set(fz, s, p, req, align, usize, SIZE_MAX, -1, what);
	if (v == 4)
		fz->slots[s].req = size;
	counters_expect(fz, c, usize, 0, what);
}

static void
op_mallocx(fz_t *fz) {
	unsigned s = slot_empty(fz, rd(fz) % NSLOTS);
	size_t size = decode_size(fz);
	if (size == 0)
		size = 1; /* mallocx(0) is undefined */
	xflags_t x = decode_xflags(fz);
	trace(fz, "mallocx(%zu, %#x) slot %u", size, (unsigned)x.flags, s);
	counters_t c = counters(fz);
	void *p = hm_mallocx(size, x.flags);
	size_t usize = hm_nallocx(size, x.flags);
	block_set(fz, s, p, size, x.align, usize, x.zero ? 0 : SIZE_MAX,
	    x.arena, "mallocx");
	counters_expect(fz, c, usize, 0, "mallocx");
}

static void
op_rallocx(fz_t *fz) {
	unsigned s = rd_live(fz);
	size_t size = decode_size(fz);
	xflags_t x = decode_xflags(fz);
	if (s == NSLOTS)
		return;
	if (size == 0)
		size = 1;
	slot_t *b = &fz->slots[s];
	trace(fz, "rallocx(%p, %zu, %#x) slot %u", (void *)b->p, size,
	    (unsigned)x.flags, s);
	check_block(fz, s, "before rallocx");
	counters_t c = counters(fz);
	size_t old = b->usize;
	void *p = hm_rallocx(b->p, size, x.flags);
	size_t usize = hm_nallocx(size, x.flags);
	/* MALLOCX_ZERO: what lies past the old usable size. */
	block_set(fz, s, p, size, x.align, usize, x.zero ? old : SIZE_MAX,
	    x.arena, "rallocx");
	counters_expect(fz, c, usize, old, "rallocx");
}

/*
 * xallocx (jemalloc 5.3): resizes in place to at least size, to
 * size + extra if it can, and returns the usable size, which is below
 * size when the block could not grow; the block never moves.
 */
static void
op_xallocx(fz_t *fz) {
	unsigned s = rd_live(fz);
	size_t size = decode_size(fz);
	unsigned e = rd(fz), f = rd(fz);
	if (s == NSLOTS)
		return;
	if (size == 0)
		size = 1; /* xallocx(p, 0, ...) is undefined */
	size_t extra = e < 96 ? 0 : e < 224 ? (size_t)(e - 96) << 12
					    : (size_t)(e - 223) << 18;
	slot_t *b = &fz->slots[s];
	size_t align = f & 2 ? (size_t)1 << (f >> 2) % 17 : b->align;
	if (align <= 16)
		align = 0;
	int flags = align_flags(align) | (f & 1 ? MALLOCX_ZERO : 0);
	trace(fz, "xallocx(%p, %zu, %zu, %#x) slot %u usable %zu",
	    (void *)b->p, size, extra, (unsigned)flags, s, b->usize);
	check_block(fz, s, "before xallocx");
	counters_t c = counters(fz);
	size_t old = b->usize;
	size_t r = hm_xallocx(b->p, size, extra, flags);
	size_t lo = hm_nallocx(size, flags), hi = hm_nallocx(size + extra,
	    flags);
	if (r != old && (r < lo || r > hi))
		fail(fz, "xallocx(%p, %zu, %zu, %#x) = %zu: neither the old "
		    "usable size %zu nor in [%zu, %zu]", (void *)b->p, size,
		    extra, (unsigned)flags, r, old, lo, hi);
	if (r < size && r != old)
		fail(fz, "xallocx = %zu below size %zu, yet changed from %zu",
		    r, size, old);
	if (r == old) {
		counters_expect(fz, c, 0, 0, "xallocx unchanged");
		check_usable(fz, b);
		pat_check(fz, b, 0, old, "xallocx unchanged");
		return;
	}
	/* The request that names the new size, for a later sized free. */
	size_t req = r == lo ? size : r == hi ? size + extra : r;
	block_set(fz, s, b->p, req, align, r, f & 1 ? old : SIZE_MAX,
	    (int)b->arena, "xallocx");
	counters_expect(fz, c, r, old, "xallocx");
}

/*
 * Frees: free, dallocx, sdallocx, free_sized and free_aligned_sized.  A
 * sized free passes a size in [requested, usable] and the alignment
 * asked for.
 */
static void
do_free(fz_t *fz, unsigned s, unsigned v, unsigned pick, unsigned f) {
	slot_t *b = &fz->slots[s];
	size_t size = b->req + pick % (b->usize - b->req + 1);
	check_block(fz, s, "before free");
	counters_t c = counters(fz);
	int flags = decode_dflags(fz, f, b);
	switch (v) {
	case 0:
	default:
		trace(fz, "free(%p) slot %u", (void *)b->p, s);
		hm_free(b->p);
		break;
	case 1:
		trace(fz, "dallocx(%p, %#x) slot %u", (void *)b->p,
		    (unsigned)flags, s);
		hm_dallocx(b->p, flags);
		break;
	case 2:
		flags |= align_flags(b->align);
		if (size == 0)
			size = b->usize; /* sdallocx(p, 0) is undefined */
		trace(fz, "sdallocx(%p, %zu, %#x) slot %u", (void *)b->p, size,
		    (unsigned)flags, s);
		hm_sdallocx(b->p, size, flags);
		break;
	case 3:
		if (b->align == 0) {
			trace(fz, "free_sized(%p, %zu) slot %u", (void *)b->p,
			    size, s);
			hm_free_sized(b->p, size);
		} else {
			trace(fz, "free_aligned_sized(%p, %zu, %zu) slot %u",
			    (void *)b->p, b->align, size, s);
			hm_free_aligned_sized(b->p, b->align, size);
		}
		break;
	}
	counters_expect(fz, c, 0, b->usize, "free");
	b->p = NULL;
}

static void
op_free(fz_t *fz) {
	unsigned s = rd_live(fz), v = rd(fz) % 4, pick = rd16(fz), f = rd(fz);
	if (s != NSLOTS)
		do_free(fz, s, v, pick, f);
}

static void
op_sdallocx(fz_t *fz) {
	unsigned s = rd_live(fz), pick = rd16(fz), f = rd(fz);
	if (s != NSLOTS)
		do_free(fz, s, 2, pick, f);
}

static void
op_usable(fz_t *fz) {
	unsigned s = rd_live(fz);
	if (s == NSLOTS)
		return;
	trace(fz, "check slot %u %p", s, (void *)fz->slots[s].p);
	check_block(fz, s, "usable_size");
}

static void
op_check(fz_t *fz) {
	trace(fz, "check all");
	for (unsigned s = 0; s < NSLOTS; s++) {
		if (fz->slots[s].p != NULL) {
			check_block(fz, s, "check");
			check_no_overlap(fz, s);
		}
	}
}

/* A value the compiler cannot see, so that it does not warn about
 * requests made too large on purpose. */
static size_t
opaque(size_t v) {
	volatile size_t x = v;
	return x;
}

/* Requests that must fail, and leave the block they name untouched. */
static void
op_fail(fz_t *fz) {
	unsigned what = rd(fz) % 12, arg = rd(fz), s = rd_live(fz);
	size_t size = absurd_sizes[arg % NABSURD];
	slot_t *b = s != NSLOTS ? &fz->slots[s] : NULL;
	if ((what == 2 || what == 4 || what == 9) && b == NULL)
		return;
	trace(fz, "%s(%#zx) must fail", fail_names[what], size);
	counters_t c = counters(fz);
	errno = 0;
	void *p = NULL, *q = (void *)&p;
	int err = ENOMEM, want = ENOMEM;
	switch (what) {
	case 0:
		p = hm_malloc(size);
		break;
	case 1:
		if (arg & 0x80)
			p = hm_calloc(size, 1);
		else
			p = hm_calloc(opaque(SIZE_MAX / 2 + 1 + (arg & 7)), 2);
		break;
	case 2:
		p = hm_realloc(b->p, size);
		break;
	case 3:
		p = hm_mallocx(size, (arg >> 3) & 1 ? MALLOCX_ZERO : 0);
		err = 0;
		break;
	case 4:
		p = hm_rallocx(b->p, size, 0);
		err = 0;
		break;
	case 5:
		err = hm_posix_memalign(&q, (size_t)16 << (arg >> 4), size);
		if (err != ENOMEM || q != (void *)&p)
			fail(fz, "posix_memalign(%#zx) = %d, memptr %s", size,
			    err, q != (void *)&p ? "written" : "untouched");
		err = 0;
		break;
	case 6: {
		static const size_t bad[] = {0, 1, 4, 24, 48, 100, 4097};
		size_t align = bad[arg % (sizeof(bad) / sizeof(bad[0]))];
		err = hm_posix_memalign(&q, align, 64);
		if (err != EINVAL || q != (void *)&p)
			fail(fz, "posix_memalign(align %zu) = %d, memptr %s",
			    align, err, q != (void *)&p ? "written"
							: "untouched");
		err = 0;
		break;
	}
	case 7:
		p = hm_aligned_alloc((size_t)16 << (arg >> 4), size);
		break;
	case 8:
		if (hm_nallocx(size, 0) != 0 && size > ((size_t)7 << 60))
			fail(fz, "nallocx(%#zx) = %zu, not 0", size,
			    hm_nallocx(size, 0));
		err = 0;
		break;
	case 9:
		p = hm_reallocarray(b->p, opaque(SIZE_MAX / 4 + 1 + (arg & 7)),
		    4);
		break;
	case 10:
		p = hm_pvalloc(SIZE_MAX - (arg & 0xff));
		break;
	case 11:
		p = hm_memalign(SIZE_MAX / 2 + 2 + arg, 64);
		want = EINVAL;
		break;
	}
	if (p != NULL)
		fail(fz, "%s(%#zx) = %p, not NULL", fail_names[what], size, p);
	if (err != 0 && errno != want)
		fail(fz, "%s(%#zx): errno %d, expected %d", fail_names[what],
		    size, errno, want);
	counters_expect(fz, c, 0, 0, "failed request");
	if (b != NULL)
		check_block(fz, s, "after a failed request");
}

/* Threads. */

/*
 * The pool shares one lock; each thread sleeps on its own condition.  A
 * thread that waits for a job it posted serves the jobs posted to it
 * meanwhile, so a job may post jobs to any other thread, the caller
 * included (an arena reset flushes every thread's cache).
 */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

/* With pool_lock held: runs the jobs posted to this thread until
 * wait_for (if not NULL) has finished its own. */
static void
serve(const fthread_t *wait_for) {
	fthread_t *me = &threads[self];
	for (;;) {
		if (me->fn != NULL) {
			void (*fn)(void *) = me->fn;
			me->fn = NULL;
			pthread_mutex_unlock(&pool_lock);
			fn(me->arg);
			pthread_mutex_lock(&pool_lock);
			me->busy = false;
			pthread_cond_signal(&threads[me->poster].cv);
			continue;
		}
		if (wait_for != NULL && !wait_for->busy)
			return;
		pthread_cond_wait(&me->cv, &pool_lock);
	}
}

static void *
worker_main(void *arg) {
	fthread_t *t = arg;
	self = (unsigned)(t - threads);
	pthread_mutex_lock(&pool_lock);
	serve(NULL);
	return NULL;
}

/* Runs fn(arg) on thread k and waits for it. */
static void
run_on(unsigned k, void (*fn)(void *), void *arg) {
	if (k == self) {
		fn(arg);
		return;
	}
	fthread_t *t = &threads[k];
	pthread_mutex_lock(&pool_lock);
	t->fn = fn;
	t->arg = arg;
	t->poster = self;
	t->busy = true;
	pthread_cond_signal(&t->cv);
	serve(t);
	pthread_mutex_unlock(&pool_lock);
}

/* On each thread once: its arena and counters. */
static void
thread_boot(void *arg) {
	fthread_t *t = arg;
	fz_t dummy = {.kind = FZ_THREAD};
	ctl_ok(&dummy, "thread.arena", &t->home, sizeof(t->home), NULL, 0);
	t->arena = t->home;
	bool on;
	ctl_ok(&dummy, "thread.tcache.enabled", &on, sizeof(on), NULL, 0);
	t->tcache_on = on;
	ctl_ok(&dummy, "thread.allocatedp", &t->allocatedp,
	    sizeof(t->allocatedp), NULL, 0);
	ctl_ok(&dummy, "thread.deallocatedp", &t->deallocatedp,
	    sizeof(t->deallocatedp), NULL, 0);
}

static void
boot(void) {
	caller = pthread_self();
	fz_t dummy = {.kind = FZ_THREAD};
	ctl_ok(&dummy, "opt.narenas", &narenas_auto, sizeof(narenas_auto),
	    NULL, 0);
	unsigned nbins, nlext;
	ctl_ok(&dummy, "arenas.nbins", &nbins, sizeof(nbins), NULL, 0);
	ctl_ok(&dummy, "arenas.nlextents", &nlext, sizeof(nlext), NULL, 0);
	char name[64];
	for (unsigned j = 0; j < nbins && nclasses < MAX_CLASSES; j++) {
		snprintf(name, sizeof(name), "arenas.bin.%u.size", j);
		ctl_ok(&dummy, name, &classes[nclasses++], sizeof(size_t),
		    NULL, 0);
	}
	for (unsigned j = 0; j < nlext && nclasses < MAX_CLASSES; j++) {
		size_t c;
		snprintf(name, sizeof(name), "arenas.lextent.%u.size", j);
		ctl_ok(&dummy, name, &c, sizeof(c), NULL, 0);
		if (c > 6 * MiB)
			break;
		classes[nclasses++] = c;
	}
	int err = pthread_cond_init(&threads[0].cv, NULL);
	if (err != 0)
		die("condition variable", err);
	lookup_miblen = sizeof(lookup_mib) / sizeof(lookup_mib[0]);
	err = hm_mallctlnametomib("arenas.lookup", lookup_mib, &lookup_miblen);
	if (err != 0)
		die("mallctlnametomib(\"arenas.lookup\")", err);
	thread_boot(&threads[0]);
	tcache_usable = threads[0].tcache_on;
	const char *pc;
	ctl_ok(&dummy, "opt.percpu_arena", &pc, sizeof(pc), NULL, 0);
	percpu = strcmp(pc, "disabled") != 0;
	for (unsigned k = 1; k < NTHREADS; k++) {
		fthread_t *t = &threads[k];
		err = pthread_cond_init(&t->cv, NULL);
		if (err == 0)
			err = pthread_create(&t->thr, NULL, worker_main, t);
		if (err != 0)
			die("worker thread", err);
		run_on(k, thread_boot, t);
	}
}

/* Mallctl operations. */

/* An arena index for arena.<i>.* names: a manual arena, an automatic
 * one, MALLCTL_ARENAS_ALL or the older "all", arenas.narenas. */
static unsigned
pick_arena_index(fz_t *fz, unsigned arg) {
	switch (arg & 3) {
	case 0:
		if (fz->narenas > 0)
			return fz->arenas[(arg >> 2) % fz->narenas];
		/* Fall through. */
	case 1:
		return (arg >> 2) % narenas_auto;
	case 2:
		return MALLCTL_ARENAS_ALL;
	default: {
		unsigned n;
		ctl_ok(fz, "arenas.narenas", &n, sizeof(n), NULL, 0);
		return n;
	}
	}
}

/* Statistics cover the live blocks: in all and per arena. */
static void
check_stats(fz_t *fz, unsigned arg) {
	uint64_t epoch = 1;
	ctl_ok(fz, "epoch", &epoch, sizeof(epoch), &epoch, sizeof(epoch));
	size_t allocated, active, mapped, live = 0;
	ctl_ok(fz, "stats.allocated", &allocated, sizeof(allocated), NULL, 0);
	ctl_ok(fz, "stats.active", &active, sizeof(active), NULL, 0);
	ctl_ok(fz, "stats.mapped", &mapped, sizeof(mapped), NULL, 0);
	for (unsigned s = 0; s < NSLOTS; s++)
		live += fz->slots[s].p != NULL ? fz->slots[s].usize : 0;
	trace(fz, "stats: allocated %zu active %zu mapped %zu live %zu",
	    allocated, active, mapped, live);
	if (live > allocated || allocated > active || active > mapped)
		fail(fz, "stats: live %zu, allocated %zu, active %zu, mapped "
		    "%zu: not in increasing order", live, allocated, active,
		    mapped);
	unsigned ind = pick_arena_index(fz, arg);
	unsigned n;
	ctl_ok(fz, "arenas.narenas", &n, sizeof(n), NULL, 0);
	if (ind == n)
		ind = MALLCTL_ARENAS_ALL;
	char name[80];
	size_t small, large, in_arena = 0;
	snprintf(name, sizeof(name), "stats.arenas.%u.small.allocated", ind);
	int err = ctl(name, &small, sizeof(small), NULL, 0);
	if (err == EFAULT || err == ENOENT) {
		/* An automatic arena no thread has used yet. */
		if (ind < narenas_auto)
			return;
	}
	if (err != 0)
		fail(fz, "mallctl(\"%s\") = %d", name, err);
	snprintf(name, sizeof(name), "stats.arenas.%u.large.allocated", ind);
	ctl_ok(fz, name, &large, sizeof(large), NULL, 0);
	for (unsigned s = 0; s < NSLOTS; s++) {
		const slot_t *b = &fz->slots[s];
		if (b->p != NULL && (ind == MALLCTL_ARENAS_ALL
		    || b->arena == ind))
			in_arena += b->usize;
	}
	if (in_arena > small + large)
		fail(fz, "stats.arenas.%u: small %zu + large %zu allocated, "
		    "below the %zu bytes live in it", ind, small, large,
		    in_arena);
}

static void
op_mallctl(fz_t *fz) {
	unsigned what = rd(fz) % 10, arg = rd(fz);
	fthread_t *t = &threads[fz->cur];
	char name[64];
	switch (what) {
	case 0:
		trace(fz, "thread.tcache.flush");
		ctl_ok(fz, "thread.tcache.flush", NULL, 0, NULL, 0);
		break;
	case 1:
	case 2: {
		unsigned ind = pick_arena_index(fz, arg);
		snprintf(name, sizeof(name), "arena.%u.%s", ind,
		    what == 1 ? "purge" : "decay");
		trace(fz, "%s", name);
		int err = ctl(name, NULL, 0, NULL, 0);
		/* An automatic arena not created yet: EFAULT. */
		if (err != 0 && !(err == EFAULT && ind < narenas_auto))
			fail(fz, "mallctl(\"%s\") = %d", name, err);
		break;
	}
	case 3:
		trace(fz, "stats");
		check_stats(fz, arg);
		break;
	case 4: {
		uint64_t a, d;
		trace(fz, "thread.allocated");
		ctl_ok(fz, "thread.allocated", &a, sizeof(a), NULL, 0);
		ctl_ok(fz, "thread.deallocated", &d, sizeof(d), NULL, 0);
		if (a != *t->allocatedp || d != *t->deallocatedp)
			fail(fz, "thread.allocated %llu, deallocated %llu; "
			    "through the pointers %llu, %llu",
			    (unsigned long long)a, (unsigned long long)d,
			    (unsigned long long)*t->allocatedp,
			    (unsigned long long)*t->deallocatedp);
		break;
	}
	case 5:
		trace(fz, "malloc_trim");
		hm_malloc_trim(0);
		break;
	case 6: {
		/* Decay times of manual arenas only: the automatic ones'
		 * would outlive the input. */
		if (fz->narenas == 0)
			break;
		static const ssize_t times[] = {0, -1, 10, 10000};
		unsigned ind = fz->arenas[arg % fz->narenas];
		ssize_t v = times[(arg >> 2) % 4], old;
		snprintf(name, sizeof(name), "arena.%u.%s_decay_ms", ind,
		    arg & 0x10 ? "muzzy" : "dirty");
		trace(fz, "%s = %zd", name, v);
		ctl_ok(fz, name, &old, sizeof(old), &v, sizeof(v));
		ssize_t now;
		ctl_ok(fz, name, &now, sizeof(now), NULL, 0);
		if (now != v)
			fail(fz, "%s reads %zd after writing %zd", name, now,
			    v);
		break;
	}
	case 7: {
		if (percpu)
			break; /* threads follow their CPU */
		unsigned ind = fz->narenas > 0 && (arg & 1)
		    ? fz->arenas[(arg >> 1) % fz->narenas]
		    : (arg >> 1) % narenas_auto;
		unsigned old;
		trace(fz, "thread.arena = %u", ind);
		ctl_ok(fz, "thread.arena", &old, sizeof(old), &ind,
		    sizeof(ind));
		if (old != t->arena)
			fail(fz, "thread.arena was %u, expected %u", old,
			    t->arena);
		t->arena = ind;
		ctl_ok(fz, "thread.arena", &old, sizeof(old), NULL, 0);
		if (old != ind)
			fail(fz, "thread.arena reads %u after writing %u", old,
			    ind);
		break;
	}
	case 8: {
		/* An address in a live block, then one in no block. */
		unsigned s = arg % NSLOTS;
		const slot_t *b = &fz->slots[s];
		if (b->p != NULL) {
			size_t off = (size_t)arg * 977 % b->usize;
			if (off >= ((size_t)256 << 10))
				off = 0; /* Huge blocks: their first chunk */
			trace(fz, "arenas.lookup(%p + %zu)", (void *)b->p, off);
			unsigned a = lookup(fz, b->p + off);
			if (a != b->arena)
				fail(fz, "arenas.lookup(%p + %zu) = %u, "
				    "expected %u", (void *)b->p, off, a,
				    b->arena);
		}
		unsigned ind;
		const void *p = &ind;
		int err = ctl("arenas.lookup", &ind, sizeof(ind), &p,
		    sizeof(p));
		if (err != EINVAL)
			fail(fz, "arenas.lookup(stack address) = %d, not "
			    "EINVAL", err);
		break;
	}
	case 9: {
		/* nallocx agrees with what mallocx gives. */
		size_t size = 1 + (size_t)arg * arg * 37;
		size_t n = hm_nallocx(size, 0);
		trace(fz, "nallocx(%zu) = %zu", size, n);
		void *p = hm_mallocx(size, MALLOCX_TCACHE_NONE);
		if (p == NULL || hm_sallocx(p, 0) != n)
			fail(fz, "mallocx(%zu) = %p, usable %zu, nallocx %zu",
			    size, p, p != NULL ? hm_sallocx(p, 0) : 0, n);
		hm_dallocx(p, MALLOCX_TCACHE_NONE);
		break;
	}
	}
}

static void
op_thread(fz_t *fz) {
	unsigned k = rd(fz) % NTHREADS;
	trace(fz, "switch to thread %u", k);
	fz->cur = k;
}

/* Arenas: create, reset, destroy. */

static void
flush_one(void *arg) {
	(void)arg;
	fz_t dummy = {.kind = FZ_ARENA};
	ctl_ok(&dummy, "thread.tcache.flush", NULL, 0, NULL, 0);
}

/* Every cache flushed, as a discarded arena's blocks must be in none;
 * explicit caches of the arena destroyed when it is (destroy). */
static void
flush_everything(fz_t *fz, int destroyed) {
	for (unsigned k = 0; k < NTHREADS; k++)
		run_on(k, flush_one, NULL);
	for (unsigned i = 0; i < fz->ntcaches;) {
		xtcache_t *x = &fz->tcaches[i];
		bool gone = destroyed >= 0 && x->arena == (unsigned)destroyed;
		ctl_ok(fz, gone ? "tcache.destroy" : "tcache.flush", NULL, 0,
		    &x->ind, sizeof(x->ind));
		if (gone)
			*x = fz->tcaches[--fz->ntcaches];
		else
			i++;
	}
}

static void
arena_discard(fz_t *fz, unsigned i, bool destroy) {
	unsigned ind = fz->arenas[i];
	bool bound = false;
	for (unsigned k = 0; k < NTHREADS; k++)
		bound |= threads[k].arena == ind;
	trace(fz, "arena.%u.%s%s", ind, destroy ? "destroy" : "reset",
	    bound ? " (a thread is bound to it)" : "");
	flush_everything(fz, destroy && !bound ? (int)ind : -1);
	/* The blocks it holds, which the model gives up with it. */
	for (unsigned s = 0; s < NSLOTS; s++) {
		const slot_t *b = &fz->slots[s];
		if (b->p != NULL && (b->arena == ind) != (lookup(fz, b->p)
		    == ind))
			fail(fz, "slot %u %p: arenas.lookup disagrees with %u",
			    s, (void *)b->p, b->arena);
	}
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.%s", ind,
	    destroy ? "destroy" : "reset");
	int err = ctl(name, NULL, 0, NULL, 0);
	int want = destroy && bound ? EFAULT : 0;
	if (err != want)
		fail(fz, "mallctl(\"%s\") = %d, expected %d", name, err, want);
	if (err != 0)
		return;
	for (unsigned s = 0; s < NSLOTS; s++) {
		if (fz->slots[s].p != NULL && fz->slots[s].arena == ind)
			fz->slots[s].p = NULL;
	}
	if (destroy)
		fz->arenas[i] = fz->arenas[--fz->narenas];
}

static void
op_arena(fz_t *fz) {
	unsigned what = rd(fz) % 4, arg = rd(fz);
	if (what <= 1 || fz->narenas == 0) {
		if (fz->narenas == MAX_ARENAS)
			return;
		unsigned ind;
		ctl_ok(fz, "arenas.create", &ind, sizeof(ind), NULL, 0);
		trace(fz, "arenas.create = %u", ind);
		if (ind < narenas_auto)
			fail(fz, "arenas.create = %u, an automatic arena", ind);
		for (unsigned i = 0; i < fz->narenas; i++) {
			if (fz->arenas[i] == ind)
				fail(fz, "arenas.create = %u twice", ind);
		}
		fz->arenas[fz->narenas++] = ind;
		return;
	}
	arena_discard(fz, arg % fz->narenas, what == 3);
}

/* Explicit caches and thread.tcache.enabled. */
static void
op_tcache(fz_t *fz) {
	unsigned what = rd(fz) % 6, arg = rd(fz);
	fthread_t *t = &threads[fz->cur];
	unsigned ind;
	int err;
	if (what >= 1 && what <= 2 && fz->ntcaches == 0)
		what = 0;
	switch (what) {
	case 0:
		if (fz->ntcaches == MAX_TCACHES)
			return;
		err = ctl("tcache.create", &ind, sizeof(ind), NULL, 0);
		if (err == EAGAIN && !tcache_usable)
			return;
		if (err != 0)
			fail(fz, "mallctl(\"tcache.create\") = %d", err);
		trace(fz, "tcache.create = %u", ind);
		fz->tcaches[fz->ntcaches++] = (xtcache_t){ind, t->arena};
		break;
	case 1:
	case 2: {
		unsigned i = arg % fz->ntcaches;
		ind = fz->tcaches[i].ind;
		trace(fz, "tcache.%s(%u)", what == 1 ? "flush" : "destroy",
		    ind);
		ctl_ok(fz, what == 1 ? "tcache.flush" : "tcache.destroy", NULL,
		    0, &ind, sizeof(ind));
		if (what == 2)
			fz->tcaches[i] = fz->tcaches[--fz->ntcaches];
		break;
	}
	case 3:
	case 4: {
		if (!tcache_usable)
			return;
		bool v = !t->tcache_on, old;
		trace(fz, "thread.tcache.enabled = %d", v);
		ctl_ok(fz, "thread.tcache.enabled", &old, sizeof(old), &v,
		    sizeof(v));
		if (old != t->tcache_on)
			fail(fz, "thread.tcache.enabled was %d, expected %d",
			    old, t->tcache_on);
		t->tcache_on = v;
		break;
	}
	case 5: {
		/* An index no cache has: EFAULT. */
		ind = 4000 + arg % 90;
		trace(fz, "tcache.flush(%u) of no cache", ind);
		err = ctl("tcache.flush", NULL, 0, &ind, sizeof(ind));
		if (err != EFAULT)
			fail(fz, "tcache.flush(%u) = %d, not EFAULT", ind, err);
		break;
	}
	}
}

/* One operation on the current thread. */
static void
step(void *arg) {
	fz_t *fz = arg;
	fz->kind = op_table[rd(fz) % 32];
	hmfuzz_stats[fz->kind]++;
	switch (fz->kind) {
	case FZ_MALLOC: op_malloc(fz); break;
	case FZ_CALLOC: op_calloc(fz); break;
	case FZ_REALLOC: op_realloc(fz); break;
	case FZ_FREE: op_free(fz); break;
	case FZ_SDALLOCX: op_sdallocx(fz); break;
	case FZ_ALIGNED: op_aligned(fz); break;
	case FZ_USABLE: op_usable(fz); break;
	case FZ_MALLOCX: op_mallocx(fz); break;
	case FZ_RALLOCX: op_rallocx(fz); break;
	case FZ_XALLOCX: op_xallocx(fz); break;
	case FZ_MALLCTL: op_mallctl(fz); break;
	case FZ_THREAD: op_thread(fz); break;
	case FZ_ARENA: op_arena(fz); break;
	case FZ_TCACHE: op_tcache(fz); break;
	case FZ_FAIL: op_fail(fz); break;
	case FZ_CHECK: op_check(fz); break;
	}
}

/* Operations on this thread until one switches to another. */
static void
run_ops(void *arg) {
	fz_t *fz = arg;
	while (fz->p < fz->end && fz->cur == self) {
		step(fz);
		fz->op++;
	}
}

/* On each thread at the end of an input: its cache back on and flushed,
 * its first arena back. */
static void
thread_restore(void *arg) {
	fthread_t *t = arg;
	fz_t dummy = {.kind = FZ_THREAD};
	if (!t->tcache_on) {
		bool on = true;
		ctl_ok(&dummy, "thread.tcache.enabled", NULL, 0, &on,
		    sizeof(on));
		t->tcache_on = true;
	}
	if (t->arena != t->home) {
		ctl_ok(&dummy, "thread.arena", NULL, 0, &t->home,
		    sizeof(t->home));
		t->arena = t->home;
	}
	ctl_ok(&dummy, "thread.tcache.flush", NULL, 0, NULL, 0);
}

static void
finish(fz_t *fz) {
	fz->cur = 0;
	fz->kind = FZ_CHECK;
	for (unsigned s = 0; s < NSLOTS; s++) {
		if (fz->slots[s].p != NULL)
			slot_free(fz, s);
	}
	for (unsigned i = 0; i < fz->ntcaches; i++) {
		ctl_ok(fz, "tcache.destroy", NULL, 0, &fz->tcaches[i].ind,
		    sizeof(unsigned));
	}
	fz->ntcaches = 0;
	for (unsigned k = 0; k < NTHREADS; k++)
		run_on(k, thread_restore, &threads[k]);
	char name[64];
	for (unsigned i = 0; i < fz->narenas; i++) {
		snprintf(name, sizeof(name), "arena.%u.destroy", fz->arenas[i]);
		ctl_ok(fz, name, NULL, 0, NULL, 0);
	}
	fz->narenas = 0;
}

size_t
hmfuzz_run(const uint8_t *data, size_t size) {
	static bool booted;
	static fz_t fz;
	if (!booted) {
		boot();
		booted = true;
	}
	if (!pthread_equal(pthread_self(), caller)) {
		fprintf(stderr, "hmfuzz: hmfuzz_run called from another "
		    "thread\n");
		abort();
	}
	memset(&fz, 0, sizeof(fz));
	fz.p = data;
	fz.end = data + size;
	while (fz.p < fz.end)
		run_on(fz.cur, run_ops, &fz);
	size_t nops = fz.op;
	finish(&fz);
	return nops;
}
