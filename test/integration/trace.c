/*
 * Allocation traces (opt.trace): each test runs a scenario in a child,
 * this program exec'd again with trace:true and a prefix in a directory
 * of its own, then reads the files the child left with a reader of
 * docs/trace.md's format written here (bin/hmreplay has its own): every
 * call recorded as made, the order numbers of each address alternating
 * allocations and frees across threads, thread exits, fork and exec.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* ---- The reader. */

#define OP_TIME 24
#define OP_THREAD 25
#define FLAG_NULL 0x80
#define NF_MAX 5

static const char *const fields[16] = {
	[1] = "V|A", [2] = "VV|A", [3] = "VV|A", [4] = "VV|A", [5] = "VV|A",
	[6] = "V|A", [7] = "V|A", [8] = "AV|QA", [9] = "|A", [10] = "AVV",
	[11] = "VV|A", [12] = "VAV|QA", [13] = "VAVVV", [14] = "VA",
	[15] = "VAV",
};

/* One call: its fields in docs/trace.md's order, Q left out (num2). */
typedef struct {
	uint32_t tid;
	uint8_t op;
	bool null;
	uint8_t nf;
	uint64_t num;
	uint64_t num2;
	uint64_t f[NF_MAX];
} rec_t;

typedef struct {
	uint32_t pid;
	uint32_t ppid;
	uint32_t flags;
	size_t n;
	rec_t *r;
	const char *bad;   /* why the file is not well formed, or NULL */
} trace_t;

static uint64_t
rd(const unsigned char *p, int n) {
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static bool
varint(const unsigned char *p, size_t end, size_t *i, uint64_t *v) {
	*v = 0;
	for (int s = 0; s < 64; s += 7) {
		if (*i >= end)
			return false;
		unsigned char c = p[(*i)++];
		*v |= (uint64_t)(c & 0x7f) << s;
		if (c < 0x80)
			return true;
	}
	return false;
}

static uint64_t
unzig(uint64_t v) {
	return (v >> 1) ^ (0 - (v & 1));
}

static bool
read_chunk(trace_t *t, const unsigned char *p, size_t len, uint32_t tid,
    uint64_t seq) {
	uint64_t addr = 0, v;
	size_t i = 0;
	while (i < len) {
		unsigned op = p[i] & 0x1f, fl = p[i] & 0xe0;
		i++;
		if (op == OP_TIME || op == OP_THREAD) {
			if (fl != 0 || !varint(p, len, &i, &v))
				return false;
			if (op == OP_THREAD && !varint(p, len, &i, &v))
				return false;
			if (op == OP_THREAD)
				tid = (uint32_t)v;
			continue;
		}
		if (op == 0 || op > 15 || (fl & ~FLAG_NULL) != 0)
			return false;
		rec_t *r = &t->r[t->n++];
		memset(r, 0, sizeof(*r));
		r->tid = tid;
		r->op = (uint8_t)op;
		r->null = fl != 0;
		if (!varint(p, len, &i, &v))
			return false;
		seq += unzig(v);
		r->num = seq;
		for (const char *k = fields[op]; *k != '\0'; k++) {
			if (*k == '|') {
				if (r->null)
					break;
				continue;
			}
			if (!varint(p, len, &i, &v))
				return false;
			if (*k == 'Q') {
				r->num2 = seq + unzig(v);
				continue;
			}
			if (*k == 'A') {
				addr += unzig(v);
				v = addr;
			}
			r->f[r->nf++] = v;
		}
	}
	return i == len;
}

/* Reads a trace; t->bad says what is wrong with it, if anything. */
static void
trace_read(const char *path, trace_t *t) {
	memset(t, 0, sizeof(*t));
	t->bad = "unreadable";
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return;
	fseek(f, 0, SEEK_END);
	size_t size = (size_t)ftell(f);
	rewind(f);
	unsigned char *d = malloc(size + 1);
	bool ok = d != NULL && fread(d, 1, size, f) == size;
	fclose(f);
	/* Each record is at least two bytes. */
	t->r = ok ? malloc((size / 2 + 1) * sizeof(rec_t)) : NULL;
	if (t->r == NULL) {
		free(d);
		return;
	}
	t->bad = "header";
	if (size < 64 || memcmp(d, "HMTRACE", 8) != 0 || rd(d + 8, 4) != 1
	    || rd(d + 12, 4) != 64 || rd(d + 40, 4) != 4096)
		goto out;
	t->pid = (uint32_t)rd(d + 16, 4);
	t->ppid = (uint32_t)rd(d + 20, 4);
	t->flags = (uint32_t)rd(d + 44, 4);
	for (size_t off = 64; off < size;) {
		t->bad = "chunk header";
		if (size - off < 40 || memcmp(d + off, "HMCK", 4) != 0)
			goto out;
		size_t len = (size_t)rd(d + off + 4, 4);
		t->bad = "chunk length";
		if (len > size - off - 40)
			goto out;
		const unsigned char *p = d + off + 40;
		uint64_t h = len;
		for (size_t i = 0; i < len; i += 8) {
			unsigned char w[8] = {0};
			memcpy(w, p + i, len - i < 8 ? len - i : 8);
			h = (h ^ rd(w, 8)) * 0x9E3779B97F4A7C15ULL;
		}
		t->bad = "checksum";
		if (h != rd(d + off + 32, 8))
			goto out;
		t->bad = "records";
		if (!read_chunk(t, p, len, (uint32_t)rd(d + off + 12, 4),
		    rd(d + off + 16, 8)))
			goto out;
		off += 40 + len;
	}
	t->bad = NULL;
out:
	free(d);
}

/* ---- Running a scenario. */

static char dir[200];
/* A file of dir: its name, then the name of a file in it. */
#define TRACE_PATH_MAX (sizeof(dir) + 256)

/* The directory's trace files, into names (up to n), sorted. */
static size_t
trace_files(char names[][TRACE_PATH_MAX], size_t n) {
	size_t k = 0;
	DIR *dp = opendir(dir);
	if (dp == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(dp)) != NULL && k < n) {
		size_t l = strlen(e->d_name);
		if (l > 6 && strcmp(e->d_name + l - 6, ".trace") == 0)
			snprintf(names[k++], TRACE_PATH_MAX, "%s/%s", dir, e->d_name);
	}
	closedir(dp);
	qsort(names, k, TRACE_PATH_MAX, (int (*)(const void *, const void *))strcmp);
	return k;
}

static void
dir_clean(void) {
	char names[16][TRACE_PATH_MAX];
	size_t n = trace_files(names, 16);
	for (size_t i = 0; i < n; i++)
		unlink(names[i]);
	char p[TRACE_PATH_MAX];
	snprintf(p, sizeof(p), "%s/expect", dir);
	unlink(p);
	rmdir(dir);
}

static void
exec_scenario(void *arg) {
	const char *scenario = arg;
	const char *base = getenv("MALLOC_CONF");
	char conf[1024];
	/* ("chdir": a prefix relative to the directory the child starts
	 * in.) */
	bool rel = strcmp(scenario, "chdir") == 0;
	snprintf(conf, sizeof(conf), "%s%strace:true,trace_prefix:%s%s%s",
	    base != NULL ? base : "", base != NULL && *base ? "," : "",
	    rel ? "" : dir, rel ? "" : "/",
	    strcmp(scenario, "noprefix") == 0 ? "missing/t" : "t");
	if (rel && chdir(dir) != 0)
		_exit(126);
	setenv("MALLOC_CONF", conf, 1);
	char *argv[] = {"trace", "child", (char *)scenario, dir, NULL};
	execv("/proc/self/exe", argv);
	_exit(127);
}

/* Runs scenario in a fresh directory; its output into out. */
static int
run_scenario(const char *scenario, char *out, size_t outsize) {
	snprintf(dir, sizeof(dir), "%s/hmtrace.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	return test_fork_capture(exec_scenario, (void *)scenario, out,
	    outsize);
}

/* The trace of the child this process ran (its parent pid is ours). */
static bool
child_trace(trace_t *t, const char *name_end) {
	char names[16][TRACE_PATH_MAX];
	size_t n = trace_files(names, 16);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names[i]), e = strlen(name_end);
		if (l < e || strcmp(names[i] + l - e, name_end) != 0)
			continue;
		trace_read(names[i], t);
		if (t->ppid == (uint32_t)getpid() || t->bad != NULL)
			return true;
		free(t->r);
	}
	memset(t, 0, sizeof(*t));
	return false;
}

/* Runs scenario, which must succeed, and reads the trace its process
 * left, which must be well formed. */
static void
scenario_trace(const char *scenario, trace_t *t) {
	char out[4096];
	int st = run_scenario(scenario, out, sizeof(out));
	assert_d_eq(st, 0, "child: %s", out);
	assert_true(child_trace(t, ".trace"), "no trace file in %s", dir);
	assert_ptr_null(t->bad, "trace not well formed: %s", t->bad);
}

/* The same for a scenario whose processes leave two traces, read in the
 * order of their names. */
static void
scenario_traces(const char *scenario, char names[2][TRACE_PATH_MAX],
    trace_t t[2]) {
	char out[4096];
	int st = run_scenario(scenario, out, sizeof(out));
	assert_d_eq(st, 0, "child: %s", out);
	char all[16][TRACE_PATH_MAX];
	size_t n = trace_files(all, 16);
	assert_zu_eq(n, 2, "trace files in %s", dir);
	for (unsigned i = 0; i < 2; i++) {
		memcpy(names[i], all[i], TRACE_PATH_MAX);
		trace_read(names[i], &t[i]);
		assert_ptr_null(t[i].bad, "%s: %s", names[i], t[i].bad);
	}
}

/* ---- Scenarios (in the child, recording). */

/* What the calls scenario expects to see recorded, in order. */
static rec_t expect[64];
static unsigned nexpect;
static uint32_t calls_tid;

static void
want(unsigned op, void *result, unsigned nf, ...) {
	rec_t *r = &expect[nexpect++];
	memset(r, 0, sizeof(*r));
	r->op = (uint8_t)op;
	r->nf = (uint8_t)nf;
	va_list ap;
	va_start(ap, nf);
	for (unsigned i = 0; i < nf; i++)
		r->f[i] = va_arg(ap, uint64_t);
	va_end(ap);
	/* (free(NULL) is a FREE with the NULL flag and no field.) */
	r->null = op == 9 ? nf == 0 : result == NULL;
	if (!r->null && op != 9 && op != 10 && op != 13 && op != 14
	    && op != 15)
		r->f[r->nf++] = (uintptr_t)result;
}

#define U(x) ((uint64_t)(uintptr_t)(x))

static void *
calls_thread(void *arg) {
	(void)arg;
	calls_tid = (uint32_t)syscall(SYS_gettid);
	void *volatile p, *volatile q, *volatile r;
	p = hm_malloc(0);
	want(1, p, 1, U(0));
	q = hm_malloc(100);
	want(1, q, 1, U(100));
	r = hm_malloc((size_t)3 << 20);
	want(1, r, 1, U((size_t)3 << 20));
	hm_free(p);
	want(9, p, 1, U(p));
	hm_free(NULL);
	want(9, NULL, 0);
	p = hm_malloc(SIZE_MAX / 2);
	want(1, NULL, 1, U(SIZE_MAX / 2));
	p = hm_calloc(10, 10);
	want(2, p, 2, U(10), U(10));
	void *old = p;
	p = hm_realloc(p, 5000);
	want(8, p, 2, U(old), U(5000));
	old = r;
	r = hm_realloc(r, (size_t)4 << 20);
	want(8, r, 2, U(old), U((size_t)4 << 20));
	hm_free(r);
	want(9, r, 1, U(r));
	/* realloc(NULL, n) is malloc, realloc(p, 0) free (the default). */
	r = hm_realloc(NULL, 50);
	want(1, r, 1, U(50));
	void *volatile z = hm_realloc(r, 0);
	(void)z;
	want(9, r, 1, U(r));
	r = hm_memalign(64, 100);
	want(3, r, 2, U(64), U(100));
	hm_free(r);
	want(9, r, 1, U(r));
	r = hm_memalign(8, 24);
	want(1, r, 1, U(24));
	hm_free_sized(r, 24);
	want(10, r, 3, U(r), U(24), U(0));
	r = hm_aligned_alloc(4096, 8192);
	want(4, r, 2, U(4096), U(8192));
	hm_free_aligned_sized(r, 4096, 8192);
	want(10, r, 3, U(r), U(8192), U(4096));
	void *m = NULL;
	int err = hm_posix_memalign(&m, 256, 1000);
	want(5, err == 0 ? m : NULL, 2, U(256), U(1000));
	hm_free(m);
	want(9, m, 1, U(m));
	r = hm_valloc(100);
	want(6, r, 1, U(100));
	hm_free(r);
	want(9, r, 1, U(r));
	r = hm_pvalloc(5000);
	want(7, r, 1, U(5000));
	hm_free(r);
	want(9, r, 1, U(r));
	int fl = MALLOCX_ALIGN(64) | MALLOCX_ZERO;
	r = hm_mallocx(200, fl);
	want(11, r, 2, U(fl), U(200));
	old = r;
	r = hm_rallocx(r, 40000, fl);
	want(12, r, 3, U(fl), U(old), U(40000));
	size_t us = hm_xallocx(r, 50000, 0, 0);
	want(13, r, 5, U(0), U(r), U(50000), U(0), U(us));
	hm_dallocx(r, MALLOCX_TCACHE_NONE);
	want(14, r, 2, U(MALLOCX_TCACHE_NONE), U(r));
	r = hm_malloc(300);
	want(1, r, 1, U(300));
	hm_sdallocx(r, 300, 0);
	want(15, r, 3, U(0), U(r), U(300));
	hm_free(q);
	want(9, q, 1, U(q));
	hm_free(p);
	want(9, p, 1, U(p));
	return NULL;
}

/* Writes the expected records where the test reads them. */
static void
write_expect(const char *d) {
	char path[TRACE_PATH_MAX];
	snprintf(path, sizeof(path), "%s/expect", d);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		ssize_t w = write(fd, &calls_tid, sizeof(calls_tid));
		w += write(fd, expect, nexpect * sizeof(rec_t));
		(void)w;
		close(fd);
	}
}

#define NTHREADS 4
#define NSLOTS 512
#define NOPS 20000
static _Atomic(void *) slots[NSLOTS];

/* Trades blocks with the other threads through the slots. */
static void *
trade_thread(void *arg) {
	uint32_t s = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
	for (int i = 0; i < NOPS; i++) {
		s = s * 1103515245 + 12345;
		void *n = hm_malloc(16 + (s >> 20) % 3000);
		void *o = atomic_exchange(&slots[(s >> 8) % NSLOTS], n);
		if ((s & 7) == 5 && o != NULL)
			o = hm_realloc(o, 32 + (s >> 22) % 5000);
		hm_free(o);
	}
	return NULL;
}

/* Allocates until the process ends. */
static void *
busy_thread(void *arg) {
	(void)arg;
	for (unsigned i = 0;; i++) {
		void *volatile p = hm_malloc(16 + i % 512);
		hm_free(p);
	}
	return NULL;
}

/* A thread's life: a known count of calls, then exit. */
static void *
short_thread(void *arg) {
	for (unsigned i = 0; i < 1000; i++) {
		void *volatile p = hm_malloc(777100 + (uintptr_t)arg);
		hm_free(p);
	}
	return NULL;
}

static int
child_main(const char *scenario, const char *d) {
	if (strcmp(scenario, "calls") == 0) {
		pthread_t t;
		pthread_create(&t, NULL, calls_thread, NULL);
		pthread_join(t, NULL);
		write_expect(d);
	} else if (strcmp(scenario, "trade") == 0) {
		pthread_t t[NTHREADS];
		for (uintptr_t i = 0; i < NTHREADS; i++)
			pthread_create(&t[i], NULL, trade_thread, (void *)i);
		for (unsigned i = 0; i < NTHREADS; i++)
			pthread_join(t[i], NULL);
		for (unsigned k = 0; k < NSLOTS; k++)
			hm_free(slots[k]);
	} else if (strcmp(scenario, "exits") == 0) {
		/* 16 threads, 4 at a time; then an exit that runs no
		 * destructor: only the exited threads' calls are sure to
		 * be written. */
		for (uintptr_t i = 0; i < 16; i += 4) {
			pthread_t t[4];
			for (uintptr_t j = 0; j < 4; j++)
				pthread_create(&t[j], NULL, short_thread,
				    (void *)(i + j));
			for (unsigned j = 0; j < 4; j++)
				pthread_join(t[j], NULL);
		}
		_exit(0);
	} else if (strcmp(scenario, "busyexit") == 0) {
		/* exit() while two threads fill and write out their
		 * buffers: the file must stay well formed. */
		pthread_t t[2];
		for (int i = 0; i < 2; i++)
			pthread_create(&t[i], NULL, busy_thread, NULL);
		usleep(20 * 1000);
		exit(0);
	} else if (strcmp(scenario, "fork") == 0) {
		void *volatile p = hm_malloc(777001);
		pid_t pid = fork();
		if (pid == 0) {
			for (int i = 0; i < 10; i++) {
				void *volatile q = hm_malloc(777002);
				hm_free(q);
			}
			exit(0);
		}
		waitpid(pid, NULL, 0);
		hm_free(p);
	} else if (strcmp(scenario, "exec") == 0) {
		/* More than a buffer, so that this image's file exists
		 * before the exec, which keeps the pid. */
		for (int i = 0; i < 20000; i++) {
			void *volatile p = hm_malloc(5);
			hm_free(p);
		}
		char *argv[] = {"trace", "child", "exec2", (char *)d, NULL};
		execv("/proc/self/exe", argv);
		return 127;
	} else if (strcmp(scenario, "exec2") == 0) {
		void *volatile p = hm_malloc(777003);
		hm_free(p);
	} else if (strcmp(scenario, "chdir") == 0) {
		/* The file is made (more than a buffer), then the program
		 * moves and closes every descriptor, as a daemon does. */
		for (int i = 0; i < 20000; i++) {
			void *volatile p = hm_malloc(777004);
			hm_free(p);
		}
		if (chdir("/") != 0)
			return 1;
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		for (int i = 0; i < 10; i++) {
			void *volatile p = hm_malloc(777005);
			hm_free(p);
		}
	} else if (strcmp(scenario, "noprefix") == 0) {
		for (int i = 0; i < 20000; i++) {
			void *volatile p = hm_malloc(5 + i % 100);
			hm_free(p);
		}
		puts("done");
	}
	return 0;
}

/* ---- Tests. */

static size_t
count_size(const trace_t *t, uint8_t op, uint64_t size) {
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++)
		n += t->r[i].op == op && t->r[i].nf > 0 && t->r[i].f[0] == size;
	return n;
}

TEST_BEGIN(test_calls)
	trace_t t;
	scenario_trace("calls", &t);
	expect_u_eq(t.flags, 0, "not a fork child");
	/* The expected records, from the child. */
	char path[TRACE_PATH_MAX];
	snprintf(path, sizeof(path), "%s/expect", dir);
	int fd = open(path, O_RDONLY);
	assert_d_ge(fd, 0, "no %s", path);
	uint32_t tid;
	ssize_t n = read(fd, &tid, sizeof(tid));
	n = read(fd, expect, sizeof(expect));
	close(fd);
	assert_d_gt(n, 0, "expected records");
	nexpect = (unsigned)((size_t)n / sizeof(rec_t));
	/* The thread's records are exactly the calls it made. */
	unsigned k = 0;
	for (size_t i = 0; i < t.n; i++) {
		const rec_t *r = &t.r[i];
		if (r->tid != tid)
			continue;
		if (k >= nexpect) {
			/* The thread's exit in libc may free what it kept. */
			expect_u_eq(r->op, 9, "record %u past the calls", k);
			continue;
		}
		const rec_t *e = &expect[k];
		expect_u_eq(r->op, e->op, "record %u: call", k);
		expect_d_eq(r->null, e->null, "record %u (op %u): NULL", k,
		    e->op);
		expect_u_eq(r->nf, e->nf, "record %u (op %u): fields", k,
		    e->op);
		for (unsigned j = 0; j < e->nf && j < r->nf; j++)
			expect_u64_eq(r->f[j], e->f[j],
			    "record %u (op %u): field %u", k, e->op, j);
		/* A realloc that moved takes a second number. */
		if ((e->op == 8 || e->op == 12) && !e->null)
			expect_true(r->num2 != 0, "record %u: no second "
			    "number", k);
		k++;
	}
	expect_u_eq(k, nexpect, "records of the calls' thread");
	free(t.r);
	dir_clean();
TEST_END

/* The records of each address, sorted by number, alternate: one
 * allocation, then its free, whichever threads made them. */
typedef struct {
	uint64_t addr;
	uint64_t num;
	uint32_t tid;
	bool alloc;
} ev_t;

static int
ev_cmp(const void *a, const void *b) {
	const ev_t *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->num < y->num ? -1 : x->num > y->num;
}

TEST_BEGIN(test_trade)
	trace_t t;
	scenario_trace("trade", &t);
	ev_t *ev = malloc(2 * t.n * sizeof(ev_t));
	assert_ptr_not_null(ev, "events");
	size_t n = 0, mallocs = 0;
	for (size_t i = 0; i < t.n; i++) {
		const rec_t *r = &t.r[i];
		if (r->null)
			continue;
		if (r->op == 1) {
			mallocs++;
			ev[n++] = (ev_t){r->f[1], r->num, r->tid, true};
		} else if (r->op == 9) {
			ev[n++] = (ev_t){r->f[0], r->num, r->tid, false};
		} else if (r->op == 8 && r->f[2] != r->f[0]) {
			ev[n++] = (ev_t){r->f[0], r->num, r->tid, false};
			ev[n++] = (ev_t){r->f[2], r->num2, r->tid, true};
		}
	}
	expect_zu_ge(mallocs, (size_t)NTHREADS * NOPS, "malloc records");
	qsort(ev, n, sizeof(ev_t), ev_cmp);
	size_t bad = 0, cross = 0;
	for (size_t i = 0; i < n; i++) {
		bool first = i == 0 || ev[i].addr != ev[i - 1].addr;
		/* An address's first record may be a free of a block from
		 * before the child's main (none here) : not allowed. */
		if (first ? !ev[i].alloc : ev[i].alloc == ev[i - 1].alloc) {
			if (bad++ < 5)
				expect_not_reached("address 0x%" PRIx64
				    ": two %s in a row (numbers %" PRIu64 ")",
				    ev[i].addr, ev[i].alloc ? "allocations"
				    : "frees", ev[i].num);
		}
		if (!first && !ev[i].alloc && ev[i - 1].alloc
		    && ev[i].tid != ev[i - 1].tid)
			cross++;
	}
	expect_zu_eq(bad, 0, "records out of order");
	expect_zu_gt(cross, 1000, "frees by another thread than the "
	    "allocating one");
	free(ev);
	free(t.r);
	dir_clean();
TEST_END

TEST_BEGIN(test_thread_exits)
	trace_t t;
	scenario_trace("exits", &t);
	for (unsigned i = 0; i < 16; i++)
		expect_zu_eq(count_size(&t, 1, 777100 + i), 1000,
		    "thread %u's mallocs", i);
	free(t.r);
	dir_clean();
TEST_END

/* Threads still allocating while the process exits: what is written is
 * well formed (whole chunks, each once), however they interleave with the
 * exit's flush. */
TEST_BEGIN(test_busy_exit)
	for (int round = 0; round < 2; round++) {
		trace_t t;
		scenario_trace("busyexit", &t);
		expect_zu_gt(t.n, 1000, "round %d: records", round);
		free(t.r);
		dir_clean();
	}
TEST_END

TEST_BEGIN(test_fork)
	char names[2][TRACE_PATH_MAX];
	trace_t t[2];
	scenario_traces("fork", names, t);
	/* The parent's file and its child's: whose is whose. */
	unsigned c = t[0].ppid == (uint32_t)getpid() ? 1 : 0;
	trace_t *parent = &t[1 - c], *child = &t[c];
	expect_u_eq(parent->ppid, (unsigned)getpid(), "the parent's parent");
	expect_u_eq(child->ppid, parent->pid, "the child's parent");
	expect_u_eq(parent->flags, 0, "parent: not a fork child");
	expect_u_eq(child->flags, 1, "child: a fork child");
	expect_zu_eq(count_size(parent, 1, 777001), 1, "parent's malloc");
	expect_zu_eq(count_size(child, 1, 777001), 0,
	    "the parent's buffer is not the child's to write");
	expect_zu_eq(count_size(child, 1, 777002), 10, "child's mallocs");
	expect_zu_eq(count_size(parent, 1, 777002), 0, "no child's calls");
	free(t[0].r);
	free(t[1].r);
	dir_clean();
TEST_END

TEST_BEGIN(test_exec)
	char names[2][TRACE_PATH_MAX];
	trace_t t[2];
	scenario_traces("exec", names, t);
	/* Sorted: t.<pid>.1.trace (the image after exec) first. */
	char want[TRACE_PATH_MAX];
	snprintf(want, sizeof(want), "%s/t.%u.1.trace", dir, t[1].pid);
	expect_str_eq(names[0], want, "the second image's file");
	expect_u_eq(t[0].pid, t[1].pid, "one pid");
	expect_zu_eq(count_size(&t[0], 1, 777003), 1, "after exec");
	expect_zu_eq(count_size(&t[1], 1, 777003), 0, "before exec");
	expect_zu_ge(count_size(&t[1], 1, 5), 6000, "before exec");
	free(t[0].r);
	free(t[1].r);
	dir_clean();
TEST_END

/* A relative prefix names the directory the program was in when the file
 * was made; a program that moves or closes every descriptor loses
 * nothing. */
TEST_BEGIN(test_chdir_closefds)
	trace_t t;
	scenario_trace("chdir", &t);
	expect_zu_eq(count_size(&t, 1, 777004), 20000, "before chdir");
	expect_zu_eq(count_size(&t, 1, 777005), 10, "after chdir and "
	    "closing every descriptor");
	free(t.r);
	dir_clean();
TEST_END

TEST_BEGIN(test_no_file)
	char out[4096];
	int st = run_scenario("noprefix", out, sizeof(out));
	expect_d_eq(st, 0, "status");
	expect_true(strstr(out, "done\n") != NULL, "the program ran: %s", out);
	char line[400];
	snprintf(line, sizeof(line), "<hmalloc>: trace: cannot create %s/"
	    "missing/t.", dir);
	const char *at = strstr(out, line);
	expect_ptr_not_null(at, "the reason: %s", out);
	if (at != NULL)
		expect_ptr_null(strstr(at + 1, "<hmalloc>"), "once: %s", out);
	dir_clean();
TEST_END

int
main(int argc, char **argv) {
	if (argc > 3 && strcmp(argv[1], "child") == 0)
		return child_main(argv[2], argv[3]);
	if (HM_TEST_SANITIZED)
		return 77;
	return test(test_calls, test_trade, test_thread_exits, test_busy_exit,
	    test_fork, test_exec, test_chdir_closefds, test_no_file);
}
