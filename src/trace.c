/* trace.c: see trace.h; the file format is docs/trace.md. */
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "log.h"
#include "mutex.h"
#include "tls.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the trace format is little-endian; this writer stores native words"
#endif

bool opt_trace = false;
char opt_trace_prefix[OPT_STRING_MAX] = "hmalloc";
bool hm_trace_on;

#define TRACE_VERSION 1
#define TRACE_FILE_HDR 64
#define TRACE_CHUNK_HDR 40
/* Records a chunk holds: a thread's buffer is this and its header. */
#define TRACE_BUF_SIZE ((size_t)32 << 10)
/* The most one call adds: a TIME and a THREAD record, then the call's
 * opcode and at most seven varints of 10 bytes. */
#define TRACE_REC_MAX 128
/* The coarse clock is read once every this many records. */
#define TRACE_TIME_EVERY 32
#define TRACE_OP_TIME 24
#define TRACE_OP_THREAD 25
#define TRACE_FLAG_NULL 0x80
/* 2^64 / the golden ratio, odd: the checksum's multiplier (docs/trace.md)
 * and the counters' hash. */
#define TRACE_GOLDEN 0x9E3779B97F4A7C15ULL

/*
 * Each call's fields, in docs/trace.md's order: V a varint, A an address
 * (a signed delta from the last one), Q a second order number (the
 * result's, taken when the record is written: after the call), and |
 * where a NULL result cuts the record short.
 */
static const char *const trace_fields[TRACE_NCALLS] = {
	[TRACE_MALLOC] = "V|A",
	[TRACE_CALLOC] = "VV|A",
	[TRACE_MEMALIGN] = "VV|A",
	[TRACE_ALIGNED_ALLOC] = "VV|A",
	[TRACE_POSIX_MEMALIGN] = "VV|A",
	[TRACE_VALLOC] = "V|A",
	[TRACE_PVALLOC] = "V|A",
	[TRACE_REALLOC] = "AV|QA",
	[TRACE_FREE] = "|A",
	[TRACE_FREE_SIZED] = "AVV",
	[TRACE_MALLOCX] = "VV|A",
	[TRACE_RALLOCX] = "VAV|QA",
	[TRACE_XALLOCX] = "VAVVV",
	[TRACE_DALLOCX] = "VA",
	[TRACE_SDALLOCX] = "VAV",
};

/*
 * A buffer of records: a thread's own (written without a lock; the lock
 * is taken only to write it out), or the shared one (every record under
 * the lock).  out holds the chunk header and then the records, so that a
 * chunk is one write(2); len, the bytes of complete records, is stored
 * with release order after each record, for the exit flush of another
 * thread (trace_exit).
 */
typedef struct trace_buf_s {
	mutex_t lock;
	struct trace_buf_s *all_next;   /* every buffer ever made */
	struct trace_buf_s *pool_next;  /* free ones, under trace_lock */
	_Atomic size_t len;
	/* Written out at exit by another thread: what its owner adds
	 * later is dropped, not written a second time. */
	bool abandoned;
	/* The decoding state docs/trace.md describes: the header's
	 * values, then the last record's. */
	uint32_t thread;
	uint32_t tid;
	uint32_t cur_thread;            /* the shared buffer's last writer */
	uint64_t seq_base;
	uint64_t seq;
	uint64_t ms_base;
	uint64_t ms;
	uint64_t addr;
	unsigned time_tick;
	uint8_t out[TRACE_CHUNK_HDR + TRACE_BUF_SIZE];
} trace_buf_t;

#define TRACE_DATA(b) ((b)->out + TRACE_CHUNK_HDR)

/* Buffers made and the pool of free ones (a thread's goes back at its
 * exit); the shared buffer. */
static mutex_t trace_lock = MUTEX_INITIALIZER(LOCK_RANK_TRACE);
static trace_buf_t *trace_all;
static trace_buf_t *trace_pool;
static trace_buf_t trace_shared = {
	.lock = MUTEX_INITIALIZER(LOCK_RANK_TRACE_BUF)
};

/*
 * The file: created at the first chunk, by this process (a fork child
 * makes its own), then opened by its name for each chunk: no descriptor
 * of hmalloc's stays open for the program to see, to close (a daemon
 * closing every descriptor) or to find reused under another file.  The
 * name is made absolute when the file is created, so that a chdir does
 * not move the rest of the trace.
 */
static mutex_t trace_file_lock = MUTEX_INITIALIZER(LOCK_RANK_TRACE_FILE);
static _Atomic bool trace_created;
static _Atomic bool trace_failed;  /* no file: chunks are dropped */
static char trace_path[4096 + OPT_STRING_MAX + 64];
static uint32_t trace_pid;
static uint32_t trace_ppid;
static bool trace_forked;
static uint64_t trace_start_ns;
static uint64_t trace_start_ms;

/*
 * The order numbers: one counter per 2 MiB region of addresses (hashed
 * into 2^TRACE_LG_NCOUNTERS of them), each on a line of its own.  The records of one
 * address all take their numbers from one counter, which orders them;
 * and a thread allocating and freeing in its own arena's chunks writes
 * lines no other thread does, where one counter for the process would
 * be a line every call of every thread fights over.
 */
#define TRACE_LG_NCOUNTERS 10
#define TRACE_LG_REGION 21
static struct {
	_Alignas(CACHELINE) _Atomic uint64_t next;
	char pad[CACHELINE - sizeof(uint64_t)];
} trace_counters[1 << TRACE_LG_NCOUNTERS];

static _Atomic uint32_t trace_nthreads;

static uint64_t
trace_clock_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
trace_start(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	trace_start_ns = (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
	trace_start_ms = trace_clock_ms();
	trace_pid = (uint32_t)getpid();
	trace_ppid = (uint32_t)getppid();
}

void
hm_trace_boot(void) {
	if (!opt_trace)
		return;
	trace_start();
	hm_trace_on = true;
}

uint64_t
hm_trace_seq(const void *addr) {
	uint64_t h = ((uintptr_t)addr >> TRACE_LG_REGION) * TRACE_GOLDEN;
	return atomic_fetch_add_explicit(
	    &trace_counters[h >> (64 - TRACE_LG_NCOUNTERS)].next, 1,
	    memory_order_relaxed) + 1;
}

static inline uint64_t
zigzag(uint64_t d) {
	return (d << 1) ^ (uint64_t)((int64_t)d >> 63);
}

static void
put32(uint8_t *p, uint32_t v) {
	memcpy(p, &v, 4);
}

static void
put64(uint8_t *p, uint64_t v) {
	memcpy(p, &v, 8);
}

static inline uint8_t *
put_varint(uint8_t *p, uint64_t v) {
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Stops recording, saying why (once). */
static void
trace_fail(const char *what, int err) {
	if (!atomic_exchange_explicit(&trace_failed, true,
	    memory_order_relaxed))
		hm_printf("<hmalloc>: trace: cannot %s %s (errno %d); "
		    "recording stops\n", what, trace_path, err);
}

/* Writes it all to fd and closes it, or stops recording. */
static void
trace_write(int fd, const uint8_t *p, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			trace_fail("write", w < 0 ? errno : ENOSPC);
			break;
		}
		p += w;
		n -= (size_t)w;
	}
	close(fd);
}

/* Creates the file: <prefix>.<pid>.trace, or .<pid>.<n>.trace when that
 * exists (an exec kept the pid), with its header; under the file lock. */
static void
trace_create(void) {
	char cwd[4096] = "";
	if (opt_trace_prefix[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
		cwd[0] = '\0';
	const char *sep = cwd[0] != '\0' ? "/" : "";
	int fd = -1;
	for (unsigned n = 0; n < 1000; n++) {
		if (n == 0)
			hm_snprintf(trace_path, sizeof(trace_path),
			    "%s%s%s.%u.trace", cwd, sep, opt_trace_prefix,
			    trace_pid);
		else
			hm_snprintf(trace_path, sizeof(trace_path),
			    "%s%s%s.%u.%u.trace", cwd, sep, opt_trace_prefix,
			    trace_pid, n);
		fd = open(trace_path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND
		    | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		trace_fail("create", errno);
		return;
	}
	uint8_t h[TRACE_FILE_HDR] = "HMTRACE";
	put32(h + 8, TRACE_VERSION);
	put32(h + 12, TRACE_FILE_HDR);
	put32(h + 16, trace_pid);
	put32(h + 20, trace_ppid);
	put64(h + 24, trace_start_ns);
	put64(h + 32, trace_start_ms);
	put32(h + 40, (uint32_t)PAGE);
	put32(h + 44, trace_forked ? 1 : 0);
	trace_write(fd, h, sizeof(h));
	atomic_store_explicit(&trace_created, true, memory_order_release);
}

/* The file, open for one chunk; -1 when recording has stopped. */
static int
trace_file(void) {
	if (!atomic_load_explicit(&trace_created, memory_order_acquire)) {
		mutex_lock(&trace_file_lock);
		if (!atomic_load_explicit(&trace_created, memory_order_relaxed)
		    && !atomic_load_explicit(&trace_failed,
		    memory_order_relaxed))
			trace_create();
		mutex_unlock(&trace_file_lock);
		if (!atomic_load_explicit(&trace_created,
		    memory_order_acquire))
			return -1;
	}
	int fd = open(trace_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		trace_fail("open", errno);
	return fd;
}

/* docs/trace.md's checksum of the len bytes at p.  The last word is
 * padded in a copy: the bytes after len may be another record being
 * written (the exit flush of another thread's buffer). */
static uint64_t
trace_checksum(const uint8_t *p, size_t len) {
	uint64_t h = len, w;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * TRACE_GOLDEN;
	}
	if (i < len) {
		w = 0;
		memcpy(&w, p + i, len - i);
		h = (h ^ w) * TRACE_GOLDEN;
	}
	return h;
}

/* Writes b's records as a chunk and empties it; b's lock is held. */
static void
trace_flush_locked(trace_buf_t *b) {
	size_t len = atomic_load_explicit(&b->len, memory_order_acquire);
	int saved = errno;
	if (len > 0 && !b->abandoned
	    && !atomic_load_explicit(&trace_failed, memory_order_relaxed)) {
		int fd = trace_file();
		if (fd >= 0) {
			uint8_t *h = b->out;
			memcpy(h, "HMCK", 4);
			put32(h + 4, (uint32_t)len);
			put32(h + 8, b->thread);
			put32(h + 12, b->tid);
			put64(h + 16, b->seq_base);
			put64(h + 24, b->ms_base);
			put64(h + 32, trace_checksum(TRACE_DATA(b), len));
			trace_write(fd, h, TRACE_CHUNK_HDR + len);
		}
	}
	atomic_store_explicit(&b->len, 0, memory_order_release);
	errno = saved;
}

static void
trace_flush(trace_buf_t *b) {
	mutex_lock(&b->lock);
	trace_flush_locked(b);
	mutex_unlock(&b->lock);
}

/* A buffer for the calling thread, from the pool or made; NULL without
 * memory (the thread then takes the shared one). */
static trace_buf_t *
trace_buf_get(void) {
	int saved = errno;
	mutex_lock(&trace_lock);
	trace_buf_t *b = trace_pool;
	if (b != NULL) {
		trace_pool = b->pool_next;
	} else {
		b = hm_base_alloc(sizeof(*b));
		if (b != NULL) {
			hm_mutex_init(&b->lock, LOCK_RANK_TRACE_BUF, NULL);
			b->all_next = trace_all;
			trace_all = b;
		}
	}
	if (b != NULL)
		b->abandoned = false;
	mutex_unlock(&trace_lock);
	errno = saved;
	return b;
}

/* The number of a record taken now: from the counter of its first
 * address (what it frees or made); 0 for a record with none. */
static uint64_t
trace_number(trace_call_t call, bool null, const uint64_t *f, unsigned nf) {
	unsigned i = 0;
	for (const char *k = trace_fields[call]; *k != '\0' && i < nf; k++) {
		if (*k == '|') {
			if (null)
				break;
		} else if (*k == 'A') {
			return hm_trace_seq((void *)(uintptr_t)f[i]);
		} else {
			i++;
		}
	}
	return 0;
}

/*
 * Starts a record in b (b's owner, or the holder of the shared buffer's
 * lock): a new chunk when b is full, the clock now and then, the thread
 * (shared buffer), then the opcode byte op and the order number seq (0:
 * none).  Returns where the fields go; trace_rec_end() completes it.
 */
static HM_ALWAYS_INLINE uint8_t *
trace_rec_begin(trace_buf_t *b, const tsd_t *tsd, unsigned op, uint64_t seq,
    bool shared) {
	size_t len = atomic_load_explicit(&b->len, memory_order_relaxed);
	if (unlikely(len > TRACE_BUF_SIZE - TRACE_REC_MAX)) {
		/* (The shared buffer's lock is held; an owner takes its
		 * buffer's, which the exit flush may hold.) */
		if (shared)
			trace_flush_locked(b);
		else
			trace_flush(b);
		len = 0;
	}
	uint8_t *p = TRACE_DATA(b) + len;
	if (unlikely(len == 0)) {
		b->thread = b->cur_thread = tsd->trace_thread;
		b->tid = tsd->trace_tid;
		b->seq_base = b->seq = seq;
		b->ms_base = b->ms = trace_clock_ms();
		b->addr = 0;
		b->time_tick = TRACE_TIME_EVERY;
	} else {
		if (unlikely(--b->time_tick == 0)) {
			b->time_tick = TRACE_TIME_EVERY;
			uint64_t ms = trace_clock_ms();
			if (ms > b->ms) {
				*p++ = TRACE_OP_TIME;
				p = put_varint(p, ms - b->ms);
				b->ms = ms;
			}
		}
		if (shared && b->cur_thread != tsd->trace_thread) {
			*p++ = TRACE_OP_THREAD;
			p = put_varint(p, tsd->trace_thread);
			p = put_varint(p, tsd->trace_tid);
			b->cur_thread = tsd->trace_thread;
		}
	}
	*p++ = (uint8_t)op;
	/* (A record with no address has no number: S is 0.) */
	if (seq == 0)
		seq = b->seq;
	p = put_varint(p, zigzag(seq - b->seq));
	b->seq = seq;
	return p;
}

static HM_ALWAYS_INLINE uint8_t *
trace_rec_addr(trace_buf_t *b, uint8_t *p, uint64_t v) {
	p = put_varint(p, zigzag(v - b->addr));
	b->addr = v;
	return p;
}

static HM_ALWAYS_INLINE void
trace_rec_end(trace_buf_t *b, uint8_t *p) {
	atomic_store_explicit(&b->len, (size_t)(p - TRACE_DATA(b)),
	    memory_order_release);
}

/* Appends one call to b, its fields as trace_fields lists them. */
static void
trace_put(trace_buf_t *b, const tsd_t *tsd, trace_call_t call,
    uint64_t seq, bool null, const uint64_t *f, unsigned nf, bool shared) {
	if (seq == 0)
		seq = trace_number(call, null, f, nf);
	uint8_t *p = trace_rec_begin(b, tsd,
	    call | (null ? TRACE_FLAG_NULL : 0), seq, shared);
	unsigned i = 0;
	for (const char *k = trace_fields[call]; *k != '\0'; k++) {
		if (*k == '|') {
			if (null)
				break;
			continue;
		}
		uint64_t v = i < nf ? f[i] : 0;
		i++;
		switch (*k) {
		case 'A':
			p = trace_rec_addr(b, p, v);
			break;
		case 'Q':
			/* The result's number, now that it is made: the
			 * result is the next field. */
			p = put_varint(p, zigzag(hm_trace_seq(
			    (void *)(uintptr_t)(i < nf ? f[i] : 0)) - seq));
			break;
		default:
			p = put_varint(p, v);
			break;
		}
	}
	trace_rec_end(b, p);
}

void
hm_trace_call(trace_call_t call, uint64_t seq, bool null, const uint64_t *f,
    unsigned nf) {
	tsd_t *tsd = &hm_tsd;
	/* A signal handler's call inside a record of this thread's: not
	 * recorded (the buffer is half written). */
	if (unlikely(tsd->trace_busy))
		return;
	tsd->trace_busy = true;
	if (unlikely(tsd->trace_thread == 0)) {
		tsd->trace_thread = atomic_fetch_add_explicit(&trace_nthreads, 1,
		    memory_order_relaxed) + 1;
		tsd->trace_tid = (uint32_t)syscall(SYS_gettid);
	}
	trace_buf_t *b = tsd->trace;
	if (unlikely(b == NULL) && tsd->state == TSD_NOMINAL) {
		b = tsd->trace = trace_buf_get();
		/* What the thread recorded before it had a buffer is in the
		 * shared one: written first, so that the thread's chunks in
		 * file order are its calls in order. */
		if (b != NULL && atomic_load_explicit(&trace_shared.len,
		    memory_order_relaxed) > 0)
			trace_flush(&trace_shared);
	}
	if (likely(b != NULL)) {
		trace_put(b, tsd, call, seq, null, f, nf, false);
	} else {
		mutex_lock(&trace_shared.lock);
		trace_put(&trace_shared, tsd, call, seq, null, f, nf, true);
		mutex_unlock(&trace_shared.lock);
	}
	tsd->trace_busy = false;
}

/*
 * The common calls, encoded directly into the thread's own buffer: a
 * record of an optional size (sized) and the block p.  The rest, and a
 * thread without a buffer, take hm_trace_call.
 */
static HM_ALWAYS_INLINE void
trace_quick(trace_call_t call, bool sized, size_t size, const void *p) {
	tsd_t *tsd = &hm_tsd;
	trace_buf_t *b = tsd->trace;
	if (unlikely(b == NULL || tsd->trace_busy || p == NULL)) {
		if (sized)
			TRACE_CALL(call, 0, p == NULL, size, (uintptr_t)p);
		else
			TRACE_CALL(call, 0, p == NULL, (uintptr_t)p);
		return;
	}
	tsd->trace_busy = true;
	uint8_t *q = trace_rec_begin(b, tsd, call, hm_trace_seq(p), false);
	if (sized)
		q = put_varint(q, size);
	trace_rec_end(b, trace_rec_addr(b, q, (uintptr_t)p));
	tsd->trace_busy = false;
}

void
hm_trace_alloc(trace_call_t call, size_t size, const void *p) {
	trace_quick(call, true, size, p);
}

void
hm_trace_free(const void *p) {
	trace_quick(TRACE_FREE, false, 0, p);
}

void
hm_trace_thread_exit(void) {
	tsd_t *tsd = &hm_tsd;
	trace_buf_t *b = tsd->trace;
	if (b == NULL)
		return;
	tsd->trace_busy = true;
	tsd->trace = NULL;
	trace_flush(b);
	mutex_lock(&trace_lock);
	b->pool_next = trace_pool;
	trace_pool = b;
	mutex_unlock(&trace_lock);
	tsd->trace_busy = false;
}

/*
 * At exit (hmalloc is a library loaded before the program's, so this
 * runs after the program's destructors and exit handlers): every buffer
 * goes to the file.  Another thread may still be adding to its own: what
 * it completed is written and the rest dropped (abandoned).
 */
__attribute__((destructor)) static void
trace_exit(void) {
	if (!hm_trace_on)
		return;
	tsd_t *tsd = &hm_tsd;
	bool busy = tsd->trace_busy;
	tsd->trace_busy = true;
	mutex_lock(&trace_lock);
	for (trace_buf_t *b = trace_all; b != NULL; b = b->all_next) {
		mutex_lock(&b->lock);
		trace_flush_locked(b);
		if (b != tsd->trace)
			b->abandoned = true;
		mutex_unlock(&b->lock);
	}
	mutex_unlock(&trace_lock);
	trace_flush(&trace_shared);
	tsd->trace_busy = busy;
}

void
hm_trace_prefork(void) {
	hm_mutex_prefork(&trace_lock);
}

void
hm_trace_postfork_parent(void) {
	hm_mutex_postfork_parent(&trace_lock);
}

/* The child: a file of its own, at its first chunk; what the buffers
 * hold is the parent's to write, and only this thread's buffer stays
 * in use. */
void
hm_trace_postfork_child(void) {
	hm_mutex_postfork_child(&trace_lock);
	if (!hm_trace_on)
		return;
	hm_mutex_postfork_child(&trace_file_lock);
	hm_mutex_postfork_child(&trace_shared.lock);
	atomic_store_explicit(&trace_created, false, memory_order_relaxed);
	atomic_store_explicit(&trace_failed, false, memory_order_relaxed);
	trace_forked = true;
	trace_start();
	tsd_t *tsd = &hm_tsd;
	tsd->trace_busy = false;
	tsd->trace_tid = (uint32_t)syscall(SYS_gettid);
	trace_pool = NULL;
	for (trace_buf_t *b = trace_all; b != NULL; b = b->all_next) {
		hm_mutex_postfork_child(&b->lock);
		atomic_store_explicit(&b->len, 0, memory_order_relaxed);
		b->abandoned = false;
		if (b != tsd->trace) {
			b->pool_next = trace_pool;
			trace_pool = b;
		}
	}
	atomic_store_explicit(&trace_shared.len, 0, memory_order_relaxed);
}
