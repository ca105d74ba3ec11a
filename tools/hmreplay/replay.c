/*
 * replay.c: the replay engine.
 *
 * One thread per recorded thread runs its event stream.  Block i (see
 * blocks.c) has a word in a table: 0 until it is made, then its address,
 * with bit 0 set for a block too small for its 8-byte tag (or NULL, a
 * block that failed here).  A call on a block another thread makes waits
 * until the word is set: spinning a little, then yielding, then sleeping
 * in growing steps.  Every wait is for a call the recorded run made
 * earlier, so the waits end unless the trace's threads contradict each
 * other; the sampler thread reports that case rather than hang.
 *
 * The allocation functions are looked up at run time, and an extension
 * (mallocx, pvalloc, free_sized, ...) is used only when the object that
 * provides malloc provides it too: a preloaded allocator that lacks
 * pvalloc must not have its blocks freed by glibc's.
 */
#include "hmreplay.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TAG_MIX UINT64_C(0x4852000000000000)	/* "HR" in the top bytes */
#define SPINS 256
#define YIELDS 64
#define STACK_SIZE (256u << 10)
#define MAX_SAMPLES 16384
#define PAGE 4096
#define STALL_NS (UINT64_C(10) * 1000000000u)

struct rthread {
	_Atomic uint64_t calls;	/* read by the sampler: a line of its own */
	uint8_t pad[56];
	const uint8_t *stream;
	uint32_t base, nblocks;
	uint64_t counts[OP_NCALL];
	uint64_t dep_sleeps, misordered, failed, null_ok, xallocx_skipped;
	uint64_t on_null_block;
	uint64_t end_ns;
	pthread_t pt;
};

struct sample {
	uint64_t ns, calls, kib;
};

static struct {
	void *(*malloc)(size_t);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void (*free)(void *);
	void *(*memalign)(size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*usable)(void *);
	void (*free_sized)(void *, size_t);
	void (*free_aligned_sized)(void *, size_t, size_t);
	void *(*mallocx)(size_t, int);
	void *(*rallocx)(void *, size_t, int);
	size_t (*xallocx)(void *, size_t, size_t, int);
	void (*dallocx)(void *, int);
	void (*sdallocx)(void *, size_t, int);
	void (*stats_print)(void (*)(void *, const char *), void *,
	    const char *);
} F;


static _Atomic uint64_t *blocks;
static uint64_t nblocks_all;
static struct rthread *rts;
static uint32_t nrts;
static _Atomic uint32_t go;
static _Atomic uint32_t done;
static _Atomic uint32_t running;	/* replay threads not finished */
static _Atomic uint32_t sleeping;	/* of them, sleeping in a wait */
static uint64_t t0;

static struct sample *samples;
static uint64_t nsamples;
static uint64_t sample_period_ns;

static long
futex(_Atomic uint32_t *addr, int op, uint32_t val,
    const struct timespec *ts) {
	return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

static void
cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

static uint64_t
rv(const uint8_t **pp) {
	const uint8_t *p = *pp;
	uint64_t v = *p++;
	if (v & 0x80) {
		unsigned shift = 7;
		uint8_t b;
		v &= 0x7f;
		do {
			b = *p++;
			v |= (uint64_t)(b & 0x7f) << shift;
			shift += 7;
		} while (b & 0x80);
	}
	*pp = p;
	return v;
}

static HMR_NORETURN HMR_PRINTF(1, 2) void
replay_fail(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	/* Other threads are still calling the allocator: no exit
	 * handlers. */
	die_v(true, "replay: ", fmt, ap);
}

static uint64_t
tag_of(uint32_t id) {
	return ((uint64_t)id + 1) ^ TAG_MIX;
}

/* The word of block src, made by another thread: waited for. */
static uint64_t
wait_block(struct rthread *rt, uint32_t src) {
	uint64_t w;
	unsigned i = 0;
	long nap = 10000;
	while ((w = atomic_load_explicit(&blocks[src],
	    memory_order_acquire)) == 0) {
		if (i < SPINS) {
			cpu_relax();
		} else if (i < SPINS + YIELDS) {
			sched_yield();
		} else {
			struct timespec ts = { 0, nap };
			if (i == SPINS + YIELDS) {
				rt->dep_sleeps++;
				atomic_fetch_add(&sleeping, 1);
			}
			nanosleep(&ts, NULL);
			if (nap < 500000)
				nap *= 2;
		}
		i++;
	}
	if (i > SPINS + YIELDS)
		atomic_fetch_sub(&sleeping, 1);
	return w;
}

/* The word of the block a call uses; 0 when there is none to use. */
static uint64_t
use_block(struct rthread *rt, uint32_t src, uint32_t made) {
	if (src == NO_BLOCK)
		return 0;
	if (src - rt->base < rt->nblocks) {
		/* One of this thread's: made before, in its own order, or
		 * the trace puts the use first (a thread's records from the
		 * shared buffer may be out of place): skipped. */
		if (src - rt->base >= made) {
			rt->misordered++;
			return 0;
		}
		return atomic_load_explicit(&blocks[src], memory_order_relaxed);
	}
	return wait_block(rt, src);
}

/* The first 8 bytes get the block's number, then one byte in each 4 KiB
 * page the block spans, and its last byte: the pages a program using the
 * block would have made resident. */
static void
touch(void *ptr, uint64_t size, uint64_t tag) {
	unsigned char *p = ptr;
	if (size == 0)
		return;
	memcpy(p, &tag, size < 8 ? size : 8);
	if (size <= 8)
		return;
	uintptr_t a = ((uintptr_t)p + 8 + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
	uintptr_t end = (uintptr_t)p + size;
	for (; a < end; a += PAGE)
		*(volatile unsigned char *)a = (unsigned char)tag;
	p[size - 1] = (unsigned char)tag;
}

static void
check_tag(uint64_t w, uint32_t id, const char *what) {
	uint64_t got;
	const void *ptr = (const void *)(uintptr_t)(w & ~(uint64_t)1);
	if (w & 1)
		return;
	memcpy(&got, ptr, 8);
	if (got == tag_of(id))
		return;
	uint64_t other = (got ^ TAG_MIX) - 1;
	if (other < nblocks_all) {
		replay_fail("before %s: block %u at %p holds the number of "
		    "block %llu: two live blocks overlap", what, id, ptr,
		    (unsigned long long)other);
	}
	replay_fail("before %s: block %u at %p holds 0x%016llx, not its "
	    "number: another live block overlapped it", what, id, ptr,
	    (unsigned long long)got);
}

/* Block id is made: at q (NULL: it failed here), tagged unless notag. */
static void
make_block(struct rthread *rt, uint32_t id, void *q, bool notag) {
	uint64_t w = (uint64_t)(uintptr_t)q;
	if (q == NULL)
		w = 1;
	else if (w & 1)
		replay_fail("block %u: the allocator returned an odd address "
		    "(%p)", id, q);
	else if (notag)
		w |= 1;
	(void)rt;
	atomic_store_explicit(&blocks[id], w, memory_order_release);
}

static uint64_t
mul_sat(uint64_t a, uint64_t b) {
	uint64_t r;
	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* jemalloc's flags, less the arena and thread cache (numbers from the
 * traced process mean nothing here); "no cache" is kept. */
static int
je_flags(uint64_t f, bool zero_ok) {
	int r = (int)(f & (zero_ok ? 0x7f : 0x3f));
	if (((f >> 8) & 0xfff) == 1)
		r |= 0x100;
	return r;
}

static void *
aligned(uint64_t align, uint64_t size) {
	void *q;
	uint64_t a = align < sizeof(void *) ? sizeof(void *) : align;
	if (a & (a - 1)) {
		if (a > UINT64_C(1) << 62)
			return NULL;
		a = UINT64_C(1) << (64 - __builtin_clzll(a));
	}
	return F.posix_memalign(&q, a, size) == 0 ? q : NULL;
}

static void *
do_mallocx(uint64_t f, uint64_t size) {
	if (F.mallocx != NULL)
		return F.mallocx(size, je_flags(f, true));
	unsigned lg = f & 0x3f;
	bool zero = f & 0x40;
	if (lg == 0)
		return zero ? F.calloc(1, size) : F.malloc(size);
	void *q = aligned(UINT64_C(1) << lg, size);
	if (q != NULL && zero)
		memset(q, 0, size);
	return q;
}

static void *
do_rallocx(void *old, uint64_t size, uint64_t f) {
	if (F.rallocx != NULL)
		return F.rallocx(old, size, je_flags(f, true));
	unsigned lg = f & 0x3f;
	bool zero = f & 0x40;
	if (lg == 0 && !zero)
		return F.realloc(old, size);
	size_t had = F.usable != NULL ? F.usable(old) : 0;
	void *q;
	if (lg == 0) {
		q = F.realloc(old, size);
	} else {
		q = aligned(UINT64_C(1) << lg, size);
		if (q != NULL) {
			memcpy(q, old, had < size ? had : size);
			F.free(old);
		}
	}
	if (q != NULL && zero && size > had)
		memset((char *)q + had, 0, size - had);
	return q;
}

static void *
do_alloc(unsigned op, uint64_t arg, uint64_t size) {
	void *q;
	switch (op) {
	case OP_MALLOC:
		return F.malloc(size);
	case OP_CALLOC:
		return F.calloc(arg, size);
	case OP_MEMALIGN:
		return F.memalign ? F.memalign(arg, size) : aligned(arg, size);
	case OP_ALIGNED_ALLOC:
		return F.aligned_alloc ? F.aligned_alloc(arg, size) :
		    aligned(arg, size);
	case OP_POSIX_MEMALIGN:
		return F.posix_memalign(&q, arg, size) == 0 ? q : NULL;
	case OP_VALLOC:
		return F.valloc ? F.valloc(size) : aligned(PAGE, size);
	case OP_PVALLOC:
		return F.pvalloc ? F.pvalloc(size) : aligned(PAGE,
		    size == 0 ? PAGE : (size + PAGE - 1) & ~(uint64_t)(PAGE - 1));
	default:
		return do_mallocx(arg, size);
	}
}

static void
do_free(unsigned op, void *p, uint64_t size, uint64_t arg) {
	switch (op) {
	case OP_FREE_SIZED:
		if (arg == 0 && F.free_sized != NULL)
			F.free_sized(p, size);
		else if (arg != 0 && F.free_aligned_sized != NULL)
			F.free_aligned_sized(p, arg, size);
		else
			F.free(p);
		break;
	case OP_DALLOCX:
		if (F.dallocx != NULL)
			F.dallocx(p, je_flags(arg, false));
		else
			F.free(p);
		break;
	case OP_SDALLOCX:
		if (F.sdallocx != NULL)
			F.sdallocx(p, size, je_flags(arg, false));
		else
			F.free(p);
		break;
	default:
		F.free(p);
	}
}

static void
start_gate(void) {
	while (atomic_load_explicit(&go, memory_order_acquire) == 0)
		futex(&go, FUTEX_WAIT_PRIVATE, 0, NULL);
}

static bool
is_alloc(unsigned op) {
	return op < OP_REALLOC || op == OP_MALLOCX;
}

/* A resize: of block w (0: none, a block from before the trace), made
 * block id. */
static void
resize(struct rthread *rt, unsigned op, bool failed_rec, uint64_t w,
    uint32_t src, uint32_t id, const uint8_t **pp) {
	uint64_t f = op != OP_REALLOC ? rv(pp) : 0;
	uint64_t size = rv(pp), extra = 0, usable = 0;
	if (op == OP_XALLOCX) {
		extra = rv(pp);
		usable = rv(pp);
	}
	void *old = (void *)(uintptr_t)(w & ~(uint64_t)1), *q;
	if (w != 0 && old == NULL)
		rt->on_null_block++;
	if (old == NULL) {
		/* Nothing to resize: a realloc makes a new block, as
		 * realloc(NULL) does. */
		if (op == OP_XALLOCX || failed_rec) {
			make_block(rt, id, NULL, true);
			return;
		}
		q = op == OP_REALLOC ? F.malloc(size) : do_mallocx(f, size);
		if (q == NULL)
			rt->failed++;
		else
			touch(q, size, tag_of(id));
		make_block(rt, id, q, size < 8);
		return;
	}
	check_tag(w, src, op_names[op]);
	bool notag = w & 1;
	if (op == OP_XALLOCX) {
		q = old;
		if (F.xallocx != NULL) {
			uint64_t got = F.xallocx(old, size, extra,
			    je_flags(f, true));
			/* Usable both here and when recorded. */
			uint64_t u = got < usable ? got : usable;
			touch(old, u, tag_of(id));
			notag = u < 8;
		} else {
			rt->xallocx_skipped++;
		}
	} else {
		q = op == OP_REALLOC ? F.realloc(old, size) :
		    do_rallocx(old, size, f);
		if (failed_rec) {
			/* Failed when recorded: untouched, wherever it is
			 * now. */
			if (q != NULL) {
				rt->null_ok++;
				notag = notag || size < 8;
			} else {
				q = old;
			}
		} else if (q == NULL) {
			rt->failed++;
			q = old;
		} else {
			notag = size < 8;
			touch(q, size, tag_of(id));
		}
	}
	if (!notag) {
		uint64_t tag = tag_of(id);
		memcpy(q, &tag, 8);
	}
	make_block(rt, id, q, notag);
}

static void *
replay_thread(void *arg) {
	struct rthread *rt = arg;
	const uint8_t *p = rt->stream;
	uint32_t made = 0;
	uint64_t calls = 0;
	start_gate();
	for (;;) {
		unsigned b = *p++;
		unsigned op = b & REC_OP_MASK;
		bool failed_rec = b & EV_NULL;
		if (op == EV_LINK) {
			const uint8_t *link;
			memcpy(&link, p, sizeof(link));
			p = link;
			continue;
		}
		if (op == EV_END)
			break;
		if (op == OP_FREE && failed_rec) {
			F.free(NULL);
		} else if (is_alloc(op)) {
			uint64_t a = 0, size;
			if (op != OP_MALLOC && op != OP_VALLOC &&
			    op != OP_PVALLOC)
				a = rv(&p);
			size = rv(&p);
			void *q = do_alloc(op, a, size);
			if (failed_rec) {
				/* Not a block of the trace: given back at
				 * once, untouched. */
				if (q != NULL) {
					rt->null_ok++;
					F.free(q);
				}
			} else {
				uint32_t id = rt->base + made++;
				if (op == OP_CALLOC)
					size = mul_sat(a, size);
				if (q == NULL)
					rt->failed++;
				else
					touch(q, size, tag_of(id));
				make_block(rt, id, q, size < 8);
			}
		} else {
			uint32_t src;
			memcpy(&src, p, 4);
			p += 4;
			uint64_t w = use_block(rt, src, made);
			if (op == OP_REALLOC || op == OP_RALLOCX ||
			    op == OP_XALLOCX) {
				resize(rt, op, failed_rec, w, src,
				    rt->base + made++, &p);
			} else {
				uint64_t size = 0, a = 0;
				if (op == OP_FREE_SIZED) {
					size = rv(&p);
					a = rv(&p);
				} else if (op == OP_DALLOCX) {
					a = rv(&p);
				} else if (op == OP_SDALLOCX) {
					a = rv(&p);
					size = rv(&p);
				}
				void *old = (void *)(uintptr_t)(w &
				    ~(uint64_t)1);
				/* No block (counted by the numbering or
				 * above): no call. */
				if (w == 0)
					continue;
				if (old == NULL) {
					rt->on_null_block++;
				} else {
					check_tag(w, src, op_names[op]);
					do_free(op, old, size, a);
				}
			}
		}
		rt->counts[op]++;
		atomic_store_explicit(&rt->calls, ++calls, memory_order_relaxed);
	}
	rt->end_ns = now_ns();
	atomic_fetch_sub(&running, 1);
	return NULL;
}

uint64_t
rss_anon_kib(void) {
	static int fd = -1;
	static long page_kib;
	char buf[256];
	unsigned long long size, resident, shared;
	if (fd < 0) {
		fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return 0;
		page_kib = sysconf(_SC_PAGESIZE) / 1024;
	}
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) != 3)
		return 0;
	/* statm's shared is RssFile + RssShmem (Linux 4.5 on): what is left
	 * is RssAnon. */
	return resident > shared ? (resident - shared) * (uint64_t)page_kib : 0;
}

static void
take_sample(void) {
	uint64_t calls = 0;
	if (nsamples == MAX_SAMPLES) {
		/* Full: keep every other sample and sample half as often,
		 * so that a long replay still spans the table. */
		for (uint64_t i = 0; i < MAX_SAMPLES / 2; i++)
			samples[i] = samples[2 * i + 1];
		nsamples = MAX_SAMPLES / 2;
		sample_period_ns *= 2;
	}
	for (uint32_t i = 0; i < nrts; i++)
		calls += atomic_load_explicit(&rts[i].calls,
		    memory_order_relaxed);
	struct sample *sm = &samples[nsamples++];
	sm->kib = rss_anon_kib();
	sm->calls = calls;
	sm->ns = now_ns() - t0;
}

/* No call for STALL_NS while every unfinished thread sleeps in a wait:
 * the waits form a cycle, which only a trace whose threads contradict
 * each other can make.  Reported rather than left to hang. */
static void
check_stall(uint64_t *last_calls, uint64_t *since) {
	uint64_t calls = samples[nsamples - 1].calls, now = now_ns();
	uint32_t run = atomic_load(&running);
	if (calls != *last_calls || run == 0 ||
	    atomic_load(&sleeping) < run) {
		*last_calls = calls;
		*since = now;
		return;
	}
	if (now - *since > STALL_NS) {
		replay_fail("stalled after %llu calls: each of the %u "
		    "threads left waits for a block another has not made "
		    "(the threads' records contradict each other)",
		    (unsigned long long)calls, run);
	}
}

/* --stats-at: the allocator's statistics report, on standard error, once
 * the calls replayed reach the share asked for (the replay threads go on
 * meanwhile: a snapshot of a moving heap). */
static void
stats_when_due(const struct replay_opts *o, uint64_t total, bool *shown) {
	uint64_t calls = samples[nsamples - 1].calls;
	if (*shown || o->stats_at < 0 || (double)calls < o->stats_at *
	    (double)total)
		return;
	*shown = true;
	char line[160];
	int n = snprintf(line, sizeof(line), "hmreplay: the allocator's "
	    "statistics after %llu of %llu calls, RssAnon %llu KiB:\n",
	    (unsigned long long)calls, (unsigned long long)total,
	    (unsigned long long)samples[nsamples - 1].kib);
	write_all(2, line, (size_t)n);
	F.stats_print(NULL, NULL, o->stats_opts);
}

static const struct replay_opts *sampler_opts;
static uint64_t sampler_total;

static void *
sampler_thread(void *arg) {
	uint64_t last_calls = UINT64_MAX, since = 0;
	bool shown = false;
	(void)arg;
	start_gate();
	while (!atomic_load(&done)) {
		take_sample();
		stats_when_due(sampler_opts, sampler_total, &shown);
		check_stall(&last_calls, &since);
		struct timespec ts = {
			(time_t)(sample_period_ns / 1000000000u),
			(long)(sample_period_ns % 1000000000u)
		};
		futex(&done, FUTEX_WAIT_PRIVATE, 0, &ts);
	}
	return NULL;
}

static void *
sym(const char *name, const void *home) {
	Dl_info di;
	void *f = dlsym(RTLD_DEFAULT, name);
	if (f == NULL || home == NULL)
		return f;
	if (dladdr(f, &di) == 0 || di.dli_fbase != home)
		return NULL;
	return f;
}

static void
resolve(struct replay_result *r) {
	Dl_info di;
	const void *home = NULL;
	F.malloc = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "malloc");
	if (F.malloc == NULL)
		die("no malloc");
	if (dladdr((void *)F.malloc, &di) != 0)
		home = di.dli_fbase;
#define SYM(field, name) \
	do { \
		void *f_ = sym(name, home); \
		memcpy(&F.field, &f_, sizeof(f_)); \
	} while (0)
	SYM(calloc, "calloc");
	SYM(realloc, "realloc");
	SYM(free, "free");
	SYM(memalign, "memalign");
	SYM(aligned_alloc, "aligned_alloc");
	SYM(posix_memalign, "posix_memalign");
	SYM(valloc, "valloc");
	SYM(pvalloc, "pvalloc");
	SYM(usable, "malloc_usable_size");
	SYM(free_sized, "free_sized");
	SYM(free_aligned_sized, "free_aligned_sized");
	SYM(mallocx, "mallocx");
	SYM(rallocx, "rallocx");
	SYM(xallocx, "xallocx");
	SYM(dallocx, "dallocx");
	SYM(sdallocx, "sdallocx");
	SYM(stats_print, "malloc_stats_print");
#undef SYM
	if (F.calloc == NULL || F.realloc == NULL || F.free == NULL ||
	    F.posix_memalign == NULL) {
		die("the allocator that provides malloc lacks calloc, realloc, "
		    "free or posix_memalign");
	}
	r->jemalloc_api = F.mallocx != NULL && F.rallocx != NULL &&
	    F.xallocx != NULL && F.dallocx != NULL && F.sdallocx != NULL;
}

static void
write_csv(const char *path, const struct replay_result *r) {
	char buf[65536];
	size_t n = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	n += (size_t)snprintf(buf, sizeof(buf),
	    "ms,calls,fraction,rss_anon_kib\n");
	for (uint64_t i = 0; i < nsamples; i++) {
		const struct sample *sm = &samples[i];
		if (sizeof(buf) - n < 128) {
			if (!write_all(fd, buf, n))
				die("%s: %s", path, strerror(errno));
			n = 0;
		}
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
		    "%.3f,%llu,%.6f,%llu\n", (double)sm->ns / 1e6,
		    (unsigned long long)sm->calls, r->calls ?
		    (double)sm->calls / (double)r->calls : 1.0,
		    (unsigned long long)sm->kib);
	}
	if (!write_all(fd, buf, n) || close(fd) != 0)
		die("%s: %s", path, strerror(errno));
}

void
replay_run(const struct trace *t, const struct plan *plan,
    const struct replay_opts *o, struct replay_result *r) {
	memset(r, 0, sizeof(*r));
	resolve(r);
	if (o->stats_at >= 0 && F.stats_print == NULL)
		die("--stats-at: the allocator has no malloc_stats_print");
	sampler_opts = o;
	sampler_total = t->ncalls;
	nrts = t->nthreads;
	nblocks_all = plan->nblocks_all;
	rts = pool_alloc(sizeof(struct rthread) * (nrts ? nrts : 1));
	blocks = pool_alloc(sizeof(uint64_t) * (nblocks_all ? nblocks_all : 1));
	/* Fault the table in now rather than during the replay. */
	memset((void *)blocks, 0, sizeof(uint64_t) * nblocks_all);
	samples = pool_alloc(sizeof(struct sample) * MAX_SAMPLES);
	memset(samples, 0, sizeof(struct sample) * MAX_SAMPLES);
	sample_period_ns = (uint64_t)(o->sample_ms ? o->sample_ms : 1) *
	    1000000u;

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	atomic_store(&running, nrts);
	for (uint32_t i = 0; i < nrts; i++) {
		rts[i].base = plan->base[i];
		rts[i].nblocks = plan->nblocks[i];
		rts[i].stream = plan->streams[i];
		int err = pthread_create(&rts[i].pt, &attr, replay_thread,
		    &rts[i]);
		if (err != 0)
			die("cannot start replay thread %u of %u: %s", i + 1,
			    nrts, strerror(err));
	}
	pthread_t sampler;
	int err = pthread_create(&sampler, &attr, sampler_thread, NULL);
	if (err != 0)
		die("cannot start the sampler thread: %s", strerror(err));
	pthread_attr_destroy(&attr);

	r->baseline_kib = rss_anon_kib();
	t0 = now_ns();
	atomic_store(&go, 1);
	futex(&go, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
	uint64_t end = t0;
	for (uint32_t i = 0; i < nrts; i++) {
		pthread_join(rts[i].pt, NULL);
		if (rts[i].end_ns > end)
			end = rts[i].end_ns;
	}
	r->wall_ns = end - t0;
	atomic_store(&done, 1);
	futex(&done, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
	pthread_join(sampler, NULL);
	take_sample();

	for (uint32_t i = 0; i < nrts; i++) {
		struct rthread *rt = &rts[i];
		r->calls += atomic_load(&rt->calls);
		for (unsigned k = 0; k < OP_NCALL; k++)
			r->calls_op[k] += rt->counts[k];
		r->dep_sleeps += rt->dep_sleeps;
		r->misordered += rt->misordered;
		r->failed += rt->failed;
		r->null_ok += rt->null_ok;
		r->xallocx_skipped += rt->xallocx_skipped;
		r->on_null_block += rt->on_null_block;
	}
	r->final_kib = samples[nsamples - 1].kib;
	r->peak_kib = r->baseline_kib;
	for (uint64_t i = 0; i < nsamples; i++)
		if (samples[i].kib > r->peak_kib)
			r->peak_kib = samples[i].kib;
	r->nsamples = nsamples;
	r->sample_ns = sample_period_ns;
	if (o->rss_csv != NULL)
		write_csv(o->rss_csv, r);
}
