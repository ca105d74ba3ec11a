/* prof.c: see prof.h. */
#include "prof.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <link.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

#include "base.h"
#include "log.h"
#include "mutex.h"
#include "os.h"
#include "prof_sym.h"
#include "secure.h"
#include "tls.h"

bool opt_prof = false;
bool opt_prof_active = true;
bool opt_prof_thread_active_init = true;
size_t opt_lg_prof_sample = 19;
ssize_t opt_lg_prof_interval = -1;
bool opt_prof_gdump = false;
bool opt_prof_final = false;
bool opt_prof_leak = false;
bool opt_prof_accum = false;
char opt_prof_prefix[OPT_STRING_MAX] = "jeprof";

/* A distinct stack: its PCs (return addresses, innermost first) and the
 * sampled objects attributed to it. */
typedef struct prof_site_s prof_site_t;
struct prof_site_s {
	prof_site_t *next;      /* hash chain, and the list of all sites */
	uint64_t hash;
	uint64_t curobjs, curbytes;     /* sampled and still live */
	uint64_t accumobjs, accumbytes; /* sampled ever (prof_accum) */
	unsigned len;
	uintptr_t vec[];
};

/* A thread as the profile sees it.  Outlives the thread while objects it
 * allocated are still live (the dump's per-thread lines). */
typedef struct prof_thread_s {
	struct prof_thread_s *next;      /* every record */
	struct prof_thread_s *next_free;
	uint64_t uid;
	uint64_t curobjs, curbytes, accumobjs, accumbytes;
	bool dead, free;
	char name[PROF_THREAD_NAME_MAX];
} prof_thread_t;

struct prof_sample_s {
	prof_sample_t *next, *prev;     /* live samples */
	prof_site_t *site;
	prof_thread_t *thread;
	arena_t *arena;
	size_t usize;                   /* the class the program sees */
	uint64_t epoch;                 /* prof.reset generation */
};

#define PROF_SITE_BUCKETS 4096

/* Everything below is under prof_lock. */
static mutex_t prof_lock;
static prof_site_t **prof_buckets;
static base_pool_t prof_sample_pool;
static prof_sample_t prof_live;          /* sentinel */
static prof_thread_t *prof_threads;
static prof_thread_t *prof_threads_free;
static uint64_t prof_thread_uid;
static uint64_t prof_epoch;
static uint64_t prof_dump_seq;
static uint64_t prof_dump_seq_kind[4]; /* m, i, u, f */
/* prof.reset changes it under prof_lock; threads read it drawing their
 * next sample point. */
static _Atomic size_t prof_lg_sample;

static _Atomic bool prof_active;
static _Atomic bool prof_gdump_on;
static _Atomic bool prof_thread_active_init;
static _Atomic uint64_t prof_interval_bytes; /* since the last dump */
static _Atomic size_t prof_gdump_max;        /* mapped bytes at the last */
static uint64_t prof_interval_len;           /* 0: no interval dumps */

/* The address range of hmalloc's own code: leading frames inside it are
 * the allocator's, not the program's.  Empty when hmalloc is linked into
 * the executable (then jeprof cuts stacks at malloc by name). */
static _Atomic uintptr_t prof_text_lo, prof_text_hi;
static _Atomic bool prof_text_known;

bool
hm_prof_boot(void) {
	atomic_store(&prof_active, opt_prof_active);
	atomic_store(&prof_gdump_on, opt_prof_gdump);
	atomic_store(&prof_thread_active_init, opt_prof_thread_active_init);
	atomic_store_explicit(&prof_lg_sample, opt_lg_prof_sample,
	    memory_order_relaxed);
	prof_interval_len = opt_lg_prof_interval >= 0
	    ? (uint64_t)1 << opt_lg_prof_interval : 0;
	if (hm_mutex_init(&prof_lock, LOCK_RANK_PROF, "prof"))
		return true;
	if (!opt_prof)
		return false;
	prof_buckets = hm_base_alloc(PROF_SITE_BUCKETS * sizeof(prof_site_t *));
	if (prof_buckets == NULL)
		return true;
	prof_sample_pool.size = sizeof(prof_sample_t);
	prof_live.next = prof_live.prev = &prof_live;
	return false;
}

/* Sampling: the next threshold. */

static uint64_t
prof_prng(tsd_t *tsd) {
	if (tsd->prof_prng == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		tsd->prof_prng = (hm_secret ^ (uintptr_t)tsd
		    ^ ((uint64_t)ts.tv_nsec << 20)) | 1;
	}
	/* xorshift64* */
	uint64_t x = tsd->prof_prng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	tsd->prof_prng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/*
 * ln(x) for x in (0, 1], without libm (a static link then needs nothing
 * more): x = m * 2^e with m in [1, 2), and ln(m) = 2 atanh((m-1)/(m+1)),
 * whose series converges fast there (|error| < 1e-7, plenty for a draw).
 */
static double
prof_ln(double x) {
	uint64_t bits;
	memcpy(&bits, &x, sizeof(bits));
	int e = (int)((bits >> 52) & 0x7ff) - 1023;
	bits = (bits & ((1ULL << 52) - 1)) | (1023ULL << 52);
	double m;
	memcpy(&m, &bits, sizeof(m));
	double z = (m - 1) / (m + 1), z2 = z * z, term = z, sum = 0;
	for (int k = 1; k <= 13; k += 2) {
		sum += term / k;
		term *= z2;
	}
	return 2 * sum + e * 0.69314718055994530942;
}

/* 1 - exp(-r) for r >= 0 (jeprof's chance of sampling an object). */
static double
prof_sample_chance(double r) {
	if (r > 40)
		return 1.0;
	/* exp(-r) = exp(-f) / 2^k, f = r - k ln 2 in [0, ln 2). */
	int k = (int)(r / 0.69314718055994530942);
	double f = r - k * 0.69314718055994530942;
	if (k == 0) {
		/* Small r: the series of 1 - exp(-f) itself keeps the
		 * precision that 1 - (something close to 1) would lose. */
		double term = f, sum = 0;
		for (int n = 1; n <= 20; n++) {
			sum += term;
			term *= -f / (n + 1);
		}
		return sum;
	}
	double term = 1, e = 0;
	for (int n = 1; n <= 20; n++) {
		e += term;
		term *= -f / n;
	}
	while (k-- > 0)
		e *= 0.5;
	return 1 - e;
}

/* An exponential distance with mean 2^lg_sample bytes (at least 1). */
static uint64_t
prof_draw(tsd_t *tsd) {
	size_t lg = atomic_load_explicit(&prof_lg_sample, memory_order_relaxed);
	if (lg == 0)
		return 0; /* every allocation */
	/* u in (0, 1]: 53 random bits. */
	double u = (double)((prof_prng(tsd) >> 11) + 1) * 0x1p-53;
	double d = -prof_ln(u) * (double)((uint64_t)1 << lg);
	if (d >= 0x1p62)
		return (uint64_t)1 << 62;
	return (uint64_t)d;
}

void
hm_prof_thread_start(void) {
	tsd_t *tsd = &hm_tsd;
	if (!opt_prof) {
		tsd->prof_next = PROF_NEVER;
		tsd_event_update(tsd);
		return;
	}
	tsd->prof_inactive = !atomic_load_explicit(&prof_thread_active_init,
	    memory_order_relaxed);
	tsd->prof_last = tsd->allocated;
	tsd->prof_next = tsd->allocated + prof_draw(tsd);
	tsd_event_update(tsd);
}

static void
prof_thread_free_locked(prof_thread_t *t) {
	if (t->free)
		return;
	t->free = true;
	t->next_free = prof_threads_free;
	prof_threads_free = t;
}

void
hm_prof_thread_exit(void) {
	tsd_t *tsd = &hm_tsd;
	tsd->prof_next = PROF_NEVER;
	tsd_event_update(tsd);
	prof_thread_t *t = tsd->prof_thread;
	if (t == NULL)
		return;
	tsd->prof_thread = NULL;
	mutex_lock(&prof_lock);
	t->dead = true;
	if (t->curobjs == 0)
		prof_thread_free_locked(t);
	mutex_unlock(&prof_lock);
}

/* The calling thread's record, made on first use; NULL without memory. */
static prof_thread_t *
prof_thread_get_locked(tsd_t *tsd) {
	prof_thread_t *t = tsd->prof_thread;
	if (t != NULL)
		return t;
	t = prof_threads_free;
	if (t != NULL) {
		prof_threads_free = t->next_free;
		prof_thread_t *next = t->next;
		memset(t, 0, sizeof(*t));
		t->next = next;
	} else {
		t = hm_base_alloc(sizeof(*t));
		if (t == NULL)
			return NULL;
		t->next = prof_threads;
		prof_threads = t;
	}
	t->uid = prof_thread_uid++;
	tsd->prof_thread = t;
	return t;
}

/* Automatic dumps. */

enum { DUMP_MANUAL, DUMP_INTERVAL, DUMP_GDUMP, DUMP_FINAL };
static const char prof_dump_kind_char[4] = {'m', 'i', 'u', 'f'};

static int prof_dump_locked(const char *filename, int kind,
    char *name_out, size_t name_len);

static void
prof_dump_auto(int kind) {
	if (opt_prof_prefix[0] == '\0')
		return;
	mutex_lock(&prof_lock);
	prof_dump_locked(NULL, kind, NULL, 0);
	mutex_unlock(&prof_lock);
}

bool
hm_prof_event(size_t usize) {
	tsd_t *tsd = &hm_tsd;
	if (!opt_prof || tsd->state == TSD_DEAD) {
		tsd->prof_next = PROF_NEVER;
		tsd_event_update(tsd);
		return false;
	}
	if (tsd->state != TSD_NOMINAL)
		return false; /* binding will draw the first threshold */
	uint64_t now = tsd->allocated + usize;
	uint64_t delta = now - tsd->prof_last;
	tsd->prof_last = now;
	tsd->prof_next = now + prof_draw(tsd);
	tsd_event_update(tsd);
	if (tsd->prof_busy || tsd->prof_inactive
	    || !atomic_load_explicit(&prof_active, memory_order_relaxed))
		return false;
	tsd->prof_busy = true;
	if (prof_interval_len != 0) {
		/* One dump per event at most: an interval shorter than the
		 * sample period is honoured on average only. */
		uint64_t b = atomic_fetch_add_explicit(&prof_interval_bytes,
		    delta, memory_order_relaxed) + delta;
		if (b >= prof_interval_len) {
			atomic_fetch_sub_explicit(&prof_interval_bytes,
			    prof_interval_len, memory_order_relaxed);
			prof_dump_auto(DUMP_INTERVAL);
		}
	}
	if (atomic_load_explicit(&prof_gdump_on, memory_order_relaxed)) {
		size_t mapped = hm_os_mapped_bytes();
		size_t max = atomic_load_explicit(&prof_gdump_max,
		    memory_order_relaxed);
		if (mapped > max && atomic_compare_exchange_strong(
		    &prof_gdump_max, &max, mapped))
			prof_dump_auto(DUMP_GDUMP);
	}
	tsd->prof_busy = false;
	return true;
}

/* Stack capture. */

static int
prof_text_cb(struct dl_phdr_info *info, size_t size, void *arg) {
	(void)size;
	unsigned *nth = arg;
	uintptr_t self = (uintptr_t)&hm_prof_backtrace;
	bool main_program = (*nth)++ == 0;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	bool mine = false;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		uintptr_t b = a + ph->p_memsz;
		if (self >= a && self < b)
			mine = true;
		if (a < lo)
			lo = a;
		if (b > hi)
			hi = b;
	}
	if (!mine)
		return 0;
	if (!main_program) {
		atomic_store(&prof_text_lo, lo);
		atomic_store(&prof_text_hi, hi);
	}
	return 1;
}

static void
prof_text_find(void) {
	unsigned nth = 0;
	dl_iterate_phdr(prof_text_cb, &nth);
	atomic_store_explicit(&prof_text_known, true, memory_order_release);
}

typedef struct {
	uintptr_t *vec;
	unsigned len;
	uintptr_t lo, hi;
} prof_unwind_t;

static _Unwind_Reason_Code
prof_unwind_cb(struct _Unwind_Context *ctx, void *arg) {
	prof_unwind_t *u = arg;
	uintptr_t ip = _Unwind_GetIP(ctx);
	if (ip == 0)
		return _URC_END_OF_STACK;
	if (u->len == 0 && ip >= u->lo && ip < u->hi)
		return _URC_NO_REASON; /* still inside hmalloc */
	u->vec[u->len++] = ip;
	return u->len == PROF_BT_MAX ? _URC_END_OF_STACK : _URC_NO_REASON;
}

unsigned
hm_prof_backtrace(uintptr_t *vec) {
	tsd_t *tsd = &hm_tsd;
	bool busy = tsd->prof_busy;
	tsd->prof_busy = true;
	if (!atomic_load_explicit(&prof_text_known, memory_order_acquire))
		prof_text_find();
	prof_unwind_t u = {vec, 0, atomic_load(&prof_text_lo),
	    atomic_load(&prof_text_hi)};
	_Unwind_Backtrace(prof_unwind_cb, &u);
	tsd->prof_busy = busy;
	return u.len;
}

static uint64_t
prof_hash(const uintptr_t *vec, unsigned len) {
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;
	for (unsigned i = 0; i < len; i++) {
		h ^= vec[i];
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return h;
}

static prof_site_t *
prof_site_get_locked(const uintptr_t *vec, unsigned len) {
	uint64_t h = prof_hash(vec, len);
	prof_site_t **bucket = &prof_buckets[h % PROF_SITE_BUCKETS];
	for (prof_site_t *s = *bucket; s != NULL; s = s->next) {
		if (s->hash == h && s->len == len
		    && memcmp(s->vec, vec, len * sizeof(*vec)) == 0)
			return s;
	}
	prof_site_t *s = hm_base_alloc(sizeof(*s) + len * sizeof(*vec));
	if (s == NULL)
		return NULL;
	s->hash = h;
	s->len = len;
	memcpy(s->vec, vec, len * sizeof(*vec));
	s->next = *bucket;
	*bucket = s;
	return s;
}

prof_sample_t *
hm_prof_record(const uintptr_t *vec, unsigned len, size_t usize,
    arena_t *arena) {
	tsd_t *tsd = &hm_tsd;
	bool busy = tsd->prof_busy;
	tsd->prof_busy = true;
	mutex_lock(&prof_lock);
	prof_site_t *site = prof_site_get_locked(vec, len);
	prof_thread_t *t = site != NULL ? prof_thread_get_locked(tsd) : NULL;
	prof_sample_t *s = t != NULL ? hm_base_pool_get(&prof_sample_pool)
				     : NULL;
	if (s != NULL) {
		s->site = site;
		s->thread = t;
		s->arena = arena;
		s->usize = usize;
		s->epoch = prof_epoch;
		s->next = prof_live.next;
		s->prev = &prof_live;
		prof_live.next->prev = s;
		prof_live.next = s;
		site->curobjs++;
		site->curbytes += usize;
		t->curobjs++;
		t->curbytes += usize;
		if (opt_prof_accum) {
			site->accumobjs++;
			site->accumbytes += usize;
			t->accumobjs++;
			t->accumbytes += usize;
		}
	}
	mutex_unlock(&prof_lock);
	tsd->prof_busy = busy;
	return s;
}

static void
prof_release_locked(prof_sample_t *s) {
	s->prev->next = s->next;
	s->next->prev = s->prev;
	if (s->epoch == prof_epoch) {
		s->site->curobjs--;
		s->site->curbytes -= s->usize;
		prof_thread_t *t = s->thread;
		t->curobjs--;
		t->curbytes -= s->usize;
		if (t->dead && t->curobjs == 0)
			prof_thread_free_locked(t);
	}
	hm_base_pool_put(&prof_sample_pool, s);
}

void
hm_prof_release(prof_sample_t *s) {
	mutex_lock(&prof_lock);
	prof_release_locked(s);
	mutex_unlock(&prof_lock);
}

size_t
hm_prof_usize(const prof_sample_t *s) {
	return s->usize;
}

void
hm_prof_arena_reset(arena_t *arena) {
	if (!opt_prof)
		return;
	mutex_lock(&prof_lock);
	prof_sample_t *s = prof_live.next;
	while (s != &prof_live) {
		prof_sample_t *next = s->next;
		if (s->arena == arena)
			prof_release_locked(s);
		s = next;
	}
	mutex_unlock(&prof_lock);
}

/* Control. */

bool
hm_prof_active_get(void) {
	return atomic_load(&prof_active);
}

void
hm_prof_active_set(bool active) {
	atomic_store(&prof_active, active);
}

bool
hm_prof_gdump_get(void) {
	return atomic_load(&prof_gdump_on);
}

void
hm_prof_gdump_set(bool on) {
	atomic_store(&prof_gdump_on, on);
}

bool
hm_prof_thread_active_init_get(void) {
	return atomic_load(&prof_thread_active_init);
}

void
hm_prof_thread_active_init_set(bool on) {
	atomic_store(&prof_thread_active_init, on);
}

bool
hm_prof_thread_active_get(void) {
	return !hm_tsd.prof_inactive;
}

void
hm_prof_thread_active_set(bool active) {
	hm_tsd.prof_inactive = !active;
}

const char *
hm_prof_thread_name_get(void) {
	prof_thread_t *t = hm_tsd.prof_thread;
	return t != NULL ? t->name : "";
}

int
hm_prof_thread_name_set(const char *name) {
	tsd_t *tsd = &hm_tsd;
	if (tsd->state != TSD_NOMINAL)
		return EAGAIN;
	/* Printable characters only, as jemalloc: the name ends a line of
	 * the dump. */
	for (const char *c = name; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			return EFAULT;
	}
	mutex_lock(&prof_lock);
	prof_thread_t *t = prof_thread_get_locked(tsd);
	if (t != NULL)
		hm_snprintf(t->name, sizeof(t->name), "%s", name);
	mutex_unlock(&prof_lock);
	return t != NULL ? 0 : EAGAIN;
}

void
hm_prof_reset(size_t lg_sample) {
	mutex_lock(&prof_lock);
	for (unsigned b = 0; b < PROF_SITE_BUCKETS; b++) {
		for (prof_site_t *s = prof_buckets[b]; s != NULL; s = s->next)
			s->curobjs = s->curbytes = s->accumobjs =
			    s->accumbytes = 0;
	}
	for (prof_thread_t *t = prof_threads; t != NULL; t = t->next) {
		t->curobjs = t->curbytes = t->accumobjs = t->accumbytes = 0;
		if (t->dead)
			prof_thread_free_locked(t);
	}
	prof_epoch++;
	atomic_store_explicit(&prof_lg_sample, lg_sample, memory_order_relaxed);
	mutex_unlock(&prof_lock);
	/* The caller's next sample point follows the new rate at once;
	 * other threads' follow it from their next sample on. */
	tsd_t *tsd = &hm_tsd;
	if (tsd->state == TSD_NOMINAL && tsd->prof_next != PROF_NEVER) {
		tsd->prof_next = tsd->allocated + prof_draw(tsd);
		tsd_event_update(tsd);
	}
}

size_t
hm_prof_lg_sample(void) {
	return atomic_load_explicit(&prof_lg_sample, memory_order_relaxed);
}

uint64_t
hm_prof_interval(void) {
	return prof_interval_len;
}

/* Dumps: formatted into a static buffer (prof_lock), written with write(). */

#define PROF_BUF_SIZE 65536
static char prof_buf[PROF_BUF_SIZE];
static size_t prof_buf_len;
static int prof_buf_fd;
static bool prof_buf_err;

static void
prof_flush(void) {
	size_t off = 0;
	while (off < prof_buf_len && !prof_buf_err) {
		ssize_t n = write(prof_buf_fd, prof_buf + off,
		    prof_buf_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			prof_buf_err = true;
		else
			off += (size_t)n;
	}
	prof_buf_len = 0;
}

static void
prof_put(const char *s, size_t len) {
	while (len > 0) {
		if (prof_buf_len == PROF_BUF_SIZE)
			prof_flush();
		size_t n = PROF_BUF_SIZE - prof_buf_len;
		if (n > len)
			n = len;
		memcpy(prof_buf + prof_buf_len, s, n);
		prof_buf_len += n;
		s += n;
		len -= n;
	}
}

__attribute__((format(printf, 1, 2))) static void
prof_printf(const char *fmt, ...) {
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	size_t n = hm_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	prof_put(line, n < sizeof(line) ? n : sizeof(line) - 1);
}

static void
prof_counts(uint64_t co, uint64_t cb, uint64_t ao, uint64_t ab) {
	prof_printf("%llu: %llu [%llu: %llu]", (unsigned long long)co,
	    (unsigned long long)cb, (unsigned long long)ao,
	    (unsigned long long)ab);
}

static void
prof_dump_maps(void) {
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	prof_put("\nMAPPED_LIBRARIES:\n", 19);
	for (;;) {
		if (prof_buf_len == PROF_BUF_SIZE)
			prof_flush();
		ssize_t n = read(fd, prof_buf + prof_buf_len,
		    PROF_BUF_SIZE - prof_buf_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		prof_buf_len += (size_t)n;
	}
	close(fd);
}

static void
prof_dump_name(char *buf, size_t len, int kind) {
	hm_snprintf(buf, len, "%s.%d.%llu.%c%llu.heap", opt_prof_prefix,
	    (int)getpid(), (unsigned long long)prof_dump_seq,
	    prof_dump_kind_char[kind],
	    (unsigned long long)prof_dump_seq_kind[kind]);
	prof_dump_seq++;
	prof_dump_seq_kind[kind]++;
}

static int
prof_dump_locked(const char *filename, int kind, char *name_out,
    size_t name_len) {
	char auto_name[OPT_STRING_MAX + 96];
	if (filename == NULL) {
		prof_dump_name(auto_name, sizeof(auto_name), kind);
		filename = auto_name;
	}
	if (name_out != NULL)
		hm_snprintf(name_out, name_len, "%s", filename);
	int fd = open(filename, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);
	if (fd < 0)
		return errno != 0 ? errno : EFAULT;
	prof_buf_fd = fd;
	prof_buf_len = 0;
	prof_buf_err = false;
	uint64_t co = 0, cb = 0, ao = 0, ab = 0;
	for (unsigned b = 0; b < PROF_SITE_BUCKETS; b++) {
		for (prof_site_t *s = prof_buckets[b]; s != NULL; s = s->next) {
			co += s->curobjs;
			cb += s->curbytes;
			ao += s->accumobjs;
			ab += s->accumbytes;
		}
	}
	prof_printf("heap_v2/%llu\n  t*: ",
	    (unsigned long long)((uint64_t)1 << hm_prof_lg_sample()));
	prof_counts(co, cb, ao, ab);
	prof_put("\n", 1);
	for (prof_thread_t *t = prof_threads; t != NULL; t = t->next) {
		if (t->free)
			continue;
		prof_printf("  t%llu: ", (unsigned long long)t->uid);
		prof_counts(t->curobjs, t->curbytes, t->accumobjs,
		    t->accumbytes);
		prof_printf("%s%s\n", t->name[0] != '\0' ? " " : "", t->name);
	}
	for (unsigned b = 0; b < PROF_SITE_BUCKETS; b++) {
		for (prof_site_t *s = prof_buckets[b]; s != NULL; s = s->next) {
			if (s->curobjs == 0 && s->accumobjs == 0)
				continue;
			prof_put("@", 1);
			/* Return addresses; jeprof takes one off all but the
			 * first, so the first is given as its call. */
			for (unsigned i = 0; i < s->len; i++)
				prof_printf(" 0x%llx", (unsigned long long)
				    (s->vec[i] - (i == 0)));
			prof_put("\n  t*: ", 7);
			prof_counts(s->curobjs, s->curbytes, s->accumobjs,
			    s->accumbytes);
			prof_put("\n", 1);
		}
	}
	prof_dump_maps();
	prof_flush();
	bool err = prof_buf_err;
	if (close(fd) != 0)
		err = true;
	return err ? EIO : 0;
}

int
hm_prof_dump(const char *filename) {
	if (filename == NULL && opt_prof_prefix[0] == '\0')
		return EFAULT;
	tsd_t *tsd = &hm_tsd;
	bool busy = tsd->prof_busy;
	tsd->prof_busy = true;
	mutex_lock(&prof_lock);
	int err = prof_dump_locked(filename, DUMP_MANUAL, NULL, 0);
	mutex_unlock(&prof_lock);
	tsd->prof_busy = busy;
	/* jemalloc's answer to a file that could not be written. */
	return err != 0 ? EFAULT : 0;
}

/* Exit: the final dump and the leak report. */

/* jeprof's estimate: a site whose n samples hold s bytes. */
static double
prof_scale(uint64_t n, uint64_t s) {
	size_t lg = hm_prof_lg_sample();
	if (n == 0 || lg == 0)
		return 1.0;
	double ratio = ((double)s / (double)n)
	    / (double)((uint64_t)1 << lg);
	return 1.0 / prof_sample_chance(ratio);
}

#define PROF_LEAK_TOP 8
#define PROF_LEAK_FRAMES 4

/*
 * The report is composed under prof_lock and printed after it is
 * released: a malloc_message hook may allocate and free, and a free of a
 * sampled block takes the lock.
 */
static char prof_report[(PROF_LEAK_TOP + 3) * 1024];
static size_t prof_report_len;

__attribute__((format(printf, 1, 2))) static void
prof_report_printf(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	size_t room = sizeof(prof_report) - prof_report_len;
	size_t n = hm_vsnprintf(prof_report + prof_report_len, room, fmt, ap);
	va_end(ap);
	prof_report_len += n < room ? n : room - 1;
}

static void
prof_leak_report_locked(const char *dumpname) {
	uint64_t co = 0, nsites = 0;
	double est_bytes = 0, est_objs = 0;
	for (unsigned b = 0; b < PROF_SITE_BUCKETS; b++) {
		for (prof_site_t *s = prof_buckets[b]; s != NULL; s = s->next) {
			if (s->curobjs == 0)
				continue;
			double k = prof_scale(s->curobjs, s->curbytes);
			co += s->curobjs;
			est_bytes += k * (double)s->curbytes;
			est_objs += k * (double)s->curobjs;
			nsites++;
		}
	}
	if (co == 0) {
		prof_report_printf("<hmalloc>: leak summary: no sampled object "
		    "is still allocated\n");
		return;
	}
	prof_report_printf("<hmalloc>: leak summary: ~%llu bytes in ~%llu "
	    "objects still allocated, from %llu site%s (%llu samples)\n",
	    (unsigned long long)est_bytes, (unsigned long long)est_objs,
	    (unsigned long long)nsites, nsites == 1 ? "" : "s",
	    (unsigned long long)co);
	hm_sym_t sym;
	bool have_sym = hm_sym_open(&sym);
	/* The largest sites first, by selection: nothing to sort into. */
	double last = 1e300;
	const prof_site_t *last_site = NULL;
	for (unsigned rank = 0; rank < PROF_LEAK_TOP; rank++) {
		const prof_site_t *best = NULL;
		double best_bytes = -1;
		bool past = false;
		for (unsigned b = 0; b < PROF_SITE_BUCKETS; b++) {
			for (prof_site_t *s = prof_buckets[b]; s != NULL;
			    s = s->next) {
				if (s->curobjs == 0)
					continue;
				if (s == last_site) {
					past = true;
					continue;
				}
				double e = prof_scale(s->curobjs, s->curbytes)
				    * (double)s->curbytes;
				/* Ties keep table order: below last, or equal
				 * and met after it. */
				if ((e < last || (e == last && past))
				    && e > best_bytes) {
					best = s;
					best_bytes = e;
				}
			}
		}
		if (best == NULL)
			break;
		char line[1024];
		size_t n = hm_snprintf(line, sizeof(line),
		    "<hmalloc>:   ~%llu bytes in ~%llu objects at",
		    (unsigned long long)best_bytes,
		    (unsigned long long)(prof_scale(best->curobjs,
		    best->curbytes) * (double)best->curobjs));
		for (unsigned i = 0; i < best->len && i < PROF_LEAK_FRAMES
		    && n < sizeof(line); i++) {
			char name[256];
			if (have_sym)
				hm_sym_name(&sym, best->vec[i] - 1, name,
				    sizeof(name));
			else
				hm_snprintf(name, sizeof(name), "0x%llx",
				    (unsigned long long)(best->vec[i] - 1));
			n += hm_snprintf(line + n, sizeof(line) - n, "%s%s",
			    i == 0 ? " " : " < ", name);
		}
		prof_report_printf("%s\n", line);
		last = best_bytes;
		last_site = best;
	}
	if (have_sym)
		hm_sym_close(&sym);
	if (dumpname != NULL)
		prof_report_printf("<hmalloc>: every site: jeprof --text "
		    "PROGRAM %s\n",
		    dumpname);
}

static void
prof_atexit(void) {
	tsd_t *tsd = &hm_tsd;
	tsd->prof_busy = true;
	char name[OPT_STRING_MAX + 96];
	bool dumped = false;
	mutex_lock(&prof_lock);
	if (opt_prof_prefix[0] != '\0')
		dumped = prof_dump_locked(NULL, DUMP_FINAL, name,
		    sizeof(name)) == 0;
	prof_report_len = 0;
	if (opt_prof_leak)
		prof_leak_report_locked(dumped ? name : NULL);
	mutex_unlock(&prof_lock);
	if (prof_report_len > 0)
		hm_write(prof_report);
	tsd->prof_busy = false;
}

void
hm_prof_post_init(void) {
	if (opt_prof && (opt_prof_final || opt_prof_leak))
		atexit(prof_atexit);
}

void
hm_prof_prefork(void) {
	hm_mutex_prefork(&prof_lock);
}

void
hm_prof_postfork_parent(void) {
	hm_mutex_postfork_parent(&prof_lock);
}

void
hm_prof_postfork_child(void) {
	hm_mutex_postfork_child(&prof_lock);
	/* Only the forking thread lives on; the others' records stay while
	 * objects they allocated do (the child has them too). */
	for (prof_thread_t *t = prof_threads; t != NULL; t = t->next) {
		if (t == hm_tsd.prof_thread || t->free)
			continue;
		t->dead = true;
		if (t->curobjs == 0)
			prof_thread_free_locked(t);
	}
}
