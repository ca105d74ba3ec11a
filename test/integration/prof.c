/*
 * The heap profiler through the public API, with every allocation sampled
 * (prof.env: lg_prof_sample:0), so that counts in the dumps are exact.
 *
 * test_opts: opt.* and prof.* read back what prof.env asked for.
 * test_sampled_blocks: sampled blocks of every range behave as any other
 *   (usable size is the class's, contents survive realloc both ways, sized
 *   free with the requested size, calloc zeroes, alignment holds).
 * test_resized: a Large or Huge block resized in place is counted once,
 *   at its new size.
 * test_dump_counts: a site's line in the dump counts its live objects and
 *   bytes, and follows frees.
 * test_reset: prof.reset forgets every sample (frees of older blocks
 *   count nothing afterwards) and sets a new rate.
 * test_active: prof.active false samples nothing; true again does.
 * test_threads: thread.prof.active false on one thread; thread.prof.name
 *   on another, read back and written on its dump line; bad names.
 * test_auto_name: prof.dump with no name writes prof_prefix.<pid>.<seq>.
 *   m<seq>.heap in the working directory; an unwritable file is EFAULT.
 * test_fork: a forked child's dump has the parent's live samples, and
 *   frees in the child take them out.
 * test_double_free_sampled: a second free of a sampled block aborts with
 *   the usual message.
 */
#include "api_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../corrupt/corrupt.h"

/* Dumps are read with system calls into a static buffer: the reads then
 * allocate nothing that would land in the next dump. */
static char dump_buf[4 << 20];
static char dump_path[256];

static bool
prof_on(void) {
	bool on = false;
	size_t len = sizeof(on);
	if (hm_mallctl("opt.prof", &on, &len, NULL, 0) != 0 || !on)
		return false;
	size_t lg = 99;
	len = sizeof(lg);
	hm_mallctl("prof.lg_sample", &lg, &len, NULL, 0);
	return lg == 0;
}

#define NEED_PROF()                                                        \
	do {                                                               \
		if (!prof_on())                                            \
			test_skip("needs prof:true,lg_prof_sample:0");     \
	} while (0)

/* Writes a dump and reads it back into dump_buf; its text. */
static const char *
dump(void) {
	if (dump_path[0] == '\0')
		snprintf(dump_path, sizeof(dump_path), "/tmp/hm_prof_test.%d.heap",
		    (int)getpid());
	const char *name = dump_path;
	assert_d_eq(hm_mallctl("prof.dump", NULL, NULL, &name, sizeof(name)), 0,
	    "prof.dump to %s", name);
	int fd = open(dump_path, O_RDONLY);
	assert_d_ge(fd, 0, "open %s", dump_path);
	size_t n = 0;
	ssize_t r;
	while ((r = read(fd, dump_buf + n, sizeof(dump_buf) - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	unlink(dump_path);
	dump_buf[n] = '\0';
	assert_true(strncmp(dump_buf, "heap_v2/", 8) == 0, "header: %.40s",
	    dump_buf);
	return dump_buf;
}

/* True if the dump has a stack whose counts are n objects, b bytes. */
static bool
has_site(const char *d, unsigned long n, unsigned long b) {
	char want[64];
	snprintf(want, sizeof(want), "\n  t*: %lu: %lu [", n, b);
	const char *stacks = strstr(d, "\n@ ");
	return stacks != NULL && strstr(stacks, want) != NULL;
}

static void
set_bool(const char *name, bool v) {
	assert_d_eq(hm_mallctl(name, NULL, NULL, &v, sizeof(v)), 0,
	    "%s = %d", name, v);
}

static void
reset(size_t lg) {
	assert_d_eq(hm_mallctl("prof.reset", NULL, NULL, &lg, sizeof(lg)), 0,
	    "prof.reset(%zu)", lg);
}

TEST_BEGIN(test_opts)
	NEED_PROF();
	bool b = false;
	size_t len = sizeof(b);
	assert_d_eq(hm_mallctl("config.prof", &b, &len, NULL, 0), 0, "read");
	expect_true(b, "config.prof");
	assert_d_eq(hm_mallctl("prof.active", &b, &len, NULL, 0), 0, "read");
	expect_true(b, "prof.active");
	uint64_t interval = 1;
	len = sizeof(interval);
	assert_d_eq(hm_mallctl("prof.interval", &interval, &len, NULL, 0), 0,
	    "read");
	expect_u64_eq(interval, 0, "prof.interval without lg_prof_interval");
	const char *prefix = NULL;
	len = sizeof(prefix);
	assert_d_eq(hm_mallctl("opt.prof_prefix", &prefix, &len, NULL, 0), 0,
	    "read");
	expect_str_eq(prefix, "jeprof", "opt.prof_prefix");
	ssize_t lgi = 0;
	len = sizeof(lgi);
	assert_d_eq(hm_mallctl("opt.lg_prof_interval", &lgi, &len, NULL, 0), 0,
	    "read");
	expect_zd_eq(lgi, -1, "opt.lg_prof_interval");
TEST_END

TEST_BEGIN(test_sampled_blocks)
	NEED_PROF();
	static const size_t sizes[] = {1, 24, 100, 4096, 14336, 16384, 100000,
	    3 << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		unsigned char *p = hm_malloc(n);
		assert_ptr_not_null(p, "malloc(%zu)", n);
		expect_zu_eq(hm_malloc_usable_size(p), hm_nallocx(n, 0),
		    "usable size of sampled malloc(%zu)", n);
		pattern_fill(p, n, i);
		unsigned char *q = hm_realloc(p, n * 2 + 1);
		assert_ptr_not_null(q, "realloc up from %zu", n);
		expect_zu_eq(pattern_check(q, n, i), n, "grown from %zu", n);
		expect_zu_eq(hm_malloc_usable_size(q), hm_nallocx(n * 2 + 1, 0),
		    "usable size after realloc");
		p = hm_realloc(q, n / 2 + 1);
		assert_ptr_not_null(p, "realloc down to %zu", n / 2 + 1);
		expect_zu_eq(pattern_check(p, n / 2 + 1, i), n / 2 + 1, "shrunk");
		hm_sdallocx(p, n / 2 + 1, 0);

		/* Dirty memory first, so that calloc has to clear it. */
		p = hm_malloc(n);
		memset(p, 0xee, n);
		hm_free(p);
		p = hm_calloc(1, n);
		assert_ptr_not_null(p, "calloc(%zu)", n);
		expect_zu_eq(bytes_check(p, 0, n, 0), n,
		    "calloc(%zu) of a sampled block", n);
		hm_free(p);

		void *a = NULL;
		assert_d_eq(hm_posix_memalign(&a, 256, n), 0, "memalign");
		expect_zu_eq((uintptr_t)a % 256, 0, "aligned to 256");
		hm_free(a);
		a = hm_aligned_alloc(8192, n);
		assert_ptr_not_null(a, "aligned_alloc(8192, %zu)", n);
		expect_zu_eq((uintptr_t)a % 8192, 0, "aligned to 8192");
		hm_free(a);
	}
TEST_END

/* A Large or Huge block resized in place (or moved by mremap) is, for
 * the profiler, a free and a new allocation: the dump counts it once, at
 * its new size. */
TEST_BEGIN(test_resized)
	NEED_PROF();
	static const size_t sizes[][2] = {{100000, 120000}, {120000, 60000},
	    {3 << 20, 5 << 20}, {5 << 20, 3 << 20}};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t from = hm_nallocx(sizes[i][0], 0);
		size_t to = hm_nallocx(sizes[i][1], 0);
		unsigned char *p = hm_malloc(sizes[i][0]);
		assert_ptr_not_null(p, "malloc(%zu)", sizes[i][0]);
		memset(p, 0x3c, sizes[i][0]);
		expect_true(has_site(dump(), 1, from), "%zu sampled", from);
		unsigned char *q = hm_realloc(p, sizes[i][1]);
		assert_ptr_not_null(q, "realloc to %zu", sizes[i][1]);
		const char *d = dump();
		expect_true(has_site(d, 1, to), "%zu -> %zu: the new size", from,
		    to);
		expect_false(has_site(d, 1, from), "%zu -> %zu: the old one gone",
		    from, to);
		size_t keep = sizes[i][0] < sizes[i][1] ? sizes[i][0] : sizes[i][1];
		expect_zu_eq(bytes_check(q, 0, keep, 0x3c), keep, "contents kept");
		hm_free(q);
		expect_false(has_site(dump(), 1, to), "freed");
	}
TEST_END

enum { MARK_N = 10, MARK_SIZE = 1000, MARK_CLASS = 1024 };
static void *marks[MARK_N];

static void
alloc_marks(void) {
	for (int i = 0; i < MARK_N; i++) {
		marks[i] = hm_malloc(MARK_SIZE);
		assert_ptr_not_null(marks[i], "malloc");
	}
}

static void
free_marks(int from, int to) {
	for (int i = from; i < to; i++)
		hm_free(marks[i]);
}

TEST_BEGIN(test_dump_counts)
	NEED_PROF();
	alloc_marks();
	expect_true(has_site(dump(), MARK_N, MARK_N * MARK_CLASS),
	    "a site with %d objects of %d bytes", MARK_N, MARK_CLASS);
	free_marks(0, 4);
	const char *d = dump();
	expect_true(has_site(d, MARK_N - 4, (MARK_N - 4) * MARK_CLASS),
	    "after 4 frees");
	expect_false(has_site(d, MARK_N, MARK_N * MARK_CLASS), "old count");
	free_marks(4, MARK_N);
	expect_false(has_site(dump(), MARK_N - 4, (MARK_N - 4) * MARK_CLASS),
	    "all freed");
TEST_END

TEST_BEGIN(test_reset)
	NEED_PROF();
	alloc_marks();
	reset(0);
	/* Nothing allocated between the reset and the dump. */
	expect_true(strncmp(dump(), "heap_v2/1\n  t*: 0: 0 [0: 0]\n", 27) == 0,
	    "after prof.reset: %.60s", dump_buf);
	free_marks(0, MARK_N);
	expect_true(strncmp(dump(), "heap_v2/1\n  t*: 0: 0 [0: 0]\n", 27) == 0,
	    "frees of blocks sampled before the reset count nothing: %.60s",
	    dump_buf);
	reset(5);
	size_t lg = 0, len = sizeof(lg);
	assert_d_eq(hm_mallctl("prof.lg_sample", &lg, &len, NULL, 0), 0, "read");
	expect_zu_eq(lg, 5, "prof.lg_sample after prof.reset(5)");
	expect_true(strncmp(dump(), "heap_v2/32\n", 11) == 0, "header %.20s",
	    dump_buf);
	size_t bad = 63;
	expect_d_eq(hm_mallctl("prof.reset", NULL, NULL, &bad, sizeof(bad)),
	    EINVAL, "lg_sample 63");
	reset(0);
	alloc_marks();
	expect_true(has_site(dump(), MARK_N, MARK_N * MARK_CLASS),
	    "sampling again after the reset");
	free_marks(0, MARK_N);
TEST_END

TEST_BEGIN(test_active)
	NEED_PROF();
	set_bool("prof.active", false);
	alloc_marks();
	expect_false(has_site(dump(), MARK_N, MARK_N * MARK_CLASS),
	    "prof.active false samples nothing");
	free_marks(0, MARK_N);
	set_bool("prof.active", true);
	alloc_marks();
	expect_true(has_site(dump(), MARK_N, MARK_N * MARK_CLASS),
	    "prof.active true again");
	free_marks(0, MARK_N);
TEST_END

enum { A_N = 11, A_SIZE = 3000, A_CLASS = 3072, B_N = 7, B_SIZE = 5000,
    B_CLASS = 5120 };
static void *blocks_a[A_N], *blocks_b[B_N];

static void *
thread_inactive(void *arg) {
	(void)arg;
	bool off = false, old = true;
	size_t len = sizeof(old);
	expect_d_eq(hm_mallctl("thread.prof.active", &old, &len, &off,
	    sizeof(off)), 0, "thread.prof.active");
	expect_true(old, "a new thread starts active (thread_active_init)");
	for (int i = 0; i < A_N; i++)
		blocks_a[i] = hm_malloc(A_SIZE);
	return NULL;
}

static void *
thread_named(void *arg) {
	(void)arg;
	const char *name = "worker-b";
	expect_d_eq(hm_mallctl("thread.prof.name", NULL, NULL, &name,
	    sizeof(name)), 0, "thread.prof.name");
	const char *got = NULL;
	size_t len = sizeof(got);
	expect_d_eq(hm_mallctl("thread.prof.name", &got, &len, NULL, 0), 0,
	    "read thread.prof.name");
	expect_str_eq(got, "worker-b", "thread.prof.name read back");
	const char *bad = "bad\001name";
	expect_d_eq(hm_mallctl("thread.prof.name", NULL, NULL, &bad,
	    sizeof(bad)), EFAULT, "a control character");
	expect_d_eq(hm_mallctl("thread.prof.name", &got, &len, &name,
	    sizeof(name)), EPERM, "read and write at once");
	for (int i = 0; i < B_N; i++)
		blocks_b[i] = hm_malloc(B_SIZE);
	return NULL;
}

TEST_BEGIN(test_threads)
	NEED_PROF();
	pthread_t a, b;
	assert_d_eq(pthread_create(&a, NULL, thread_inactive, NULL), 0, "a");
	assert_d_eq(pthread_create(&b, NULL, thread_named, NULL), 0, "b");
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	/* Both threads are gone; what they allocated is not. */
	const char *d = dump();
	expect_false(has_site(d, A_N, A_N * A_CLASS),
	    "thread.prof.active false: not sampled");
	expect_true(has_site(d, B_N, B_N * B_CLASS), "the named thread's site");
	char want[64];
	snprintf(want, sizeof(want), ": %d: %d [0: 0] worker-b\n", B_N,
	    B_N * B_CLASS);
	expect_ptr_not_null(strstr(d, want), "per-thread line \"%s\" in:\n%.400s",
	    want, d);
	for (int i = 0; i < A_N; i++)
		hm_free(blocks_a[i]);
	for (int i = 0; i < B_N; i++)
		hm_free(blocks_b[i]);
	expect_ptr_null(strstr(dump(), "worker-b"),
	    "an exited thread with nothing live leaves the dump");
TEST_END

TEST_BEGIN(test_auto_name)
	NEED_PROF();
	char dir[] = "/tmp/hm_prof_auto.XXXXXX", cwd[4096];
	assert_ptr_not_null(mkdtemp(dir), "mkdtemp");
	assert_ptr_not_null(getcwd(cwd, sizeof(cwd)), "getcwd");
	assert_d_eq(chdir(dir), 0, "chdir");
	expect_d_eq(hm_mallctl("prof.dump", NULL, NULL, NULL, 0), 0,
	    "prof.dump without a name");
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "jeprof.%d.", (int)getpid());
	DIR *dp = opendir(".");
	assert_ptr_not_null(dp, "opendir");
	struct dirent *e;
	int found = 0;
	while ((e = readdir(dp)) != NULL) {
		size_t len = strlen(e->d_name);
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0
		    && strstr(e->d_name, ".m") != NULL
		    && strcmp(e->d_name + len - 5, ".heap") == 0) {
			found++;
			unlink(e->d_name);
		}
	}
	closedir(dp);
	expect_d_eq(found, 1, "one %s*.m*.heap file", prefix);
	assert_d_eq(chdir(cwd), 0, "chdir back");
	rmdir(dir);
	const char *bad = "/nonexistent-dir/x.heap";
	expect_d_eq(hm_mallctl("prof.dump", NULL, NULL, &bad, sizeof(bad)),
	    EFAULT, "a file that cannot be written");
TEST_END

TEST_BEGIN(test_fork)
	NEED_PROF();
	alloc_marks();
	pid_t pid = fork();
	assert_d_ge(pid, 0, "fork");
	if (pid == 0) {
		alarm(30);
		snprintf(dump_path, sizeof(dump_path),
		    "/tmp/hm_prof_test.%d.heap", (int)getpid());
		int bad = 0;
		if (!has_site(dump(), MARK_N, MARK_N * MARK_CLASS))
			bad |= 1;
		free_marks(0, MARK_N);
		if (has_site(dump(), MARK_N, MARK_N * MARK_CLASS))
			bad |= 2;
		void *p = hm_malloc(MARK_SIZE);
		if (p == NULL || !has_site(dump(), 1, MARK_CLASS))
			bad |= 4;
		_exit(bad);
	}
	int status = 0;
	assert_d_eq(waitpid(pid, &status, 0), pid, "waitpid");
	expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child: status %#x (1: parent's samples missing, 2: frees not "
	    "counted, 4: new sample missing)", status);
	/* The parent's profile is its own. */
	expect_true(has_site(dump(), MARK_N, MARK_N * MARK_CLASS), "parent");
	free_marks(0, MARK_N);
TEST_END

/*
 * A sampled block lives in a Large run; once freed, the run may merge with
 * a free neighbour, and then all hmalloc can tell is that the pointer
 * starts no block: "invalid free" rather than "double free".
 */
static void
expect_second_free_aborts(void *p) {
	struct misuse_s m = {misuse_free, p};
	char out[4096], dbl[160], inv[160];
	int status = test_fork_capture(misuse_run, &m, out, sizeof(out));
	expect_true(status != -1 && WIFSIGNALED(status)
	    && WTERMSIG(status) == SIGABRT,
	    "second free of %p: SIGABRT (status %#x)", p, status);
	snprintf(dbl, sizeof(dbl), "<hmalloc>: double free: %p\n", p);
	snprintf(inv, sizeof(inv), "<hmalloc>: invalid free: %p\n", p);
	expect_true(strcmp(out, dbl) == 0 || strcmp(out, inv) == 0,
	    "second free of %p said: %s", p, out);
}

TEST_BEGIN(test_double_free_sampled)
	NEED_PROF();
	void *small = hm_malloc(64), *large = hm_malloc(100000);
	void *huge = hm_malloc(3 << 20);
	assert_ptr_not_null(small, "malloc");
	assert_ptr_not_null(large, "malloc");
	assert_ptr_not_null(huge, "malloc");
	hm_free(small);
	hm_free(large);
	hm_free(huge);
	expect_second_free_aborts(small);
	expect_second_free_aborts(large);
	expect_second_free_aborts(huge);
TEST_END

int
main(void) {
	return test(test_opts, test_sampled_blocks, test_resized, test_dump_counts,
	    test_reset, test_active, test_threads, test_auto_name, test_fork,
	    test_double_free_sampled);
}
