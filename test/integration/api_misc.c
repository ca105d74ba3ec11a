/*
 * glibc's introspection and tuning calls, answered by hmalloc:
 * malloc_trim (0 or 1, allocator keeps working), mallinfo2 / mallinfo
 * (in-use bytes follow allocation and free), malloc_info (well-formed XML
 * starting with "<malloc"), malloc_stats (writes to stderr), mallopt
 * (M_ARENA_MAX accepted, anything else answered 0 or 1 without harm).
 */
#include "api_util.h"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/stat.h>

/* Allocates, fills, checks and frees a spread of sizes. */
static void
expect_allocator_works(const char *after) {
	static const size_t sizes[] = {1, 100, 5000, 100000, 5 << 20};
	void *p[5];
	for (int i = 0; i < 5; i++) {
		p[i] = hm_malloc(sizes[i]);
		assert_ptr_not_null(p[i], "malloc(%zu) after %s", sizes[i], after);
		pattern_fill(p[i], sizes[i], (uint64_t)i);
	}
	for (int i = 0; i < 5; i++) {
		expect_zu_eq(pattern_check(p[i], sizes[i], (uint64_t)i), sizes[i],
		    "block of %zu after %s", sizes[i], after);
		hm_free(p[i]);
	}
}

TEST_BEGIN(test_malloc_trim)
	int r = hm_malloc_trim(0);
	expect_true(r == 0 || r == 1, "malloc_trim(0) = %d", r);
	/* Free a lot, then trim with and without padding. */
	enum { N = 200 };
	void *ptrs[N];
	for (int i = 0; i < N; i++) {
		ptrs[i] = hm_malloc(i % 2 ? 300 * KiB : 1000);
		assert_ptr_not_null(ptrs[i], "malloc");
		memset(ptrs[i], 0xee, i % 2 ? 300 * KiB : 1000);
	}
	/* Keep every fourth block and check it survives trimming. */
	for (int i = 0; i < N; i++) {
		if (i % 4 != 0)
			hm_free(ptrs[i]);
	}
	r = hm_malloc_trim(0);
	expect_true(r == 0 || r == 1, "malloc_trim(0) = %d", r);
	r = hm_malloc_trim(MiB);
	expect_true(r == 0 || r == 1, "malloc_trim(1 MiB) = %d", r);
	r = hm_malloc_trim(SIZE_MAX);
	expect_true(r == 0 || r == 1, "malloc_trim(SIZE_MAX) = %d", r);
	for (int i = 0; i < N; i += 4) {
		size_t n = i % 2 ? 300 * KiB : 1000;
		expect_zu_eq(bytes_check(ptrs[i], 0, n, 0xee), n,
		    "live block %d changed by malloc_trim", i);
		hm_free(ptrs[i]);
	}
	expect_allocator_works("malloc_trim");
TEST_END

TEST_BEGIN(test_mallinfo2_tracks_allocation)
	enum { N = 1000, SIZE = 10000 };
	static void *ptrs[N];
	struct mallinfo2 before = hm_mallinfo2();
	for (int i = 0; i < N; i++) {
		ptrs[i] = hm_malloc(SIZE);
		assert_ptr_not_null(ptrs[i], "malloc(%d)", SIZE);
		memset(ptrs[i], 1, SIZE);
	}
	struct mallinfo2 during = hm_mallinfo2();
	expect_zu_ge(during.uordblks, before.uordblks + (size_t)N * SIZE,
	    "mallinfo2().uordblks before %zu, after allocating %d x %d bytes",
	    before.uordblks, N, SIZE);
	for (int i = 0; i < N; i++)
		hm_free(ptrs[i]);
	struct mallinfo2 after = hm_mallinfo2();
	expect_zu_le(after.uordblks + (size_t)N * SIZE / 2, during.uordblks,
	    "mallinfo2().uordblks after freeing %d x %d bytes (was %zu)", N,
	    SIZE, during.uordblks);
TEST_END

TEST_BEGIN(test_mallinfo_tracks_allocation)
	/* The old int-sized struct: the same figures while they fit. */
	enum { N = 1000, SIZE = 10000 };
	static void *ptrs[N];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	struct mallinfo before = hm_mallinfo();
	for (int i = 0; i < N; i++) {
		ptrs[i] = hm_malloc(SIZE);
		assert_ptr_not_null(ptrs[i], "malloc(%d)", SIZE);
		memset(ptrs[i], 1, SIZE);
	}
	struct mallinfo during = hm_mallinfo();
	for (int i = 0; i < N; i++)
		hm_free(ptrs[i]);
	struct mallinfo after = hm_mallinfo();
#pragma GCC diagnostic pop
	expect_d_ge((long long)during.uordblks,
	    (long long)before.uordblks + (long long)N * SIZE,
	    "mallinfo().uordblks after allocating %d x %d bytes", N, SIZE);
	expect_d_le((long long)after.uordblks + (long long)N * SIZE / 2,
	    (long long)during.uordblks,
	    "mallinfo().uordblks after freeing %d x %d bytes", N, SIZE);
TEST_END

/* Reads a whole stream into a NUL-terminated buffer (caller frees). */
static char *
slurp(FILE *f, size_t *len) {
	fflush(f);
	rewind(f);
	size_t cap = 4096, n = 0;
	char *buf = hm_malloc(cap);
	if (buf == NULL)
		return NULL;
	for (;;) {
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
		if (cap - n - 1 == 0) {
			cap *= 2;
			char *nbuf = hm_realloc(buf, cap);
			if (nbuf == NULL) {
				hm_free(buf);
				return NULL;
			}
			buf = nbuf;
		}
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * A small well-formedness check: every <tag> is closed by a matching </tag>
 * in order, <tag/> closes itself, <?...?> and <!...> are skipped, and
 * nothing is left open.  Returns NULL if balanced, else a description.
 */
static const char *
xml_balance(const char *s, char *why, size_t whylen) {
	enum { DEPTH = 64, NAME = 64 };
	char stack[DEPTH][NAME];
	int depth = 0, ntags = 0;
	for (const char *c = s; (c = strchr(c, '<')) != NULL;) {
		const char *end = strchr(c, '>');
		if (end == NULL) {
			snprintf(why, whylen, "unterminated tag at offset %td", c - s);
			return why;
		}
		if (c[1] == '?' || c[1] == '!') {
			c = end + 1;
			continue;
		}
		bool closing = c[1] == '/';
		const char *name = c + 1 + closing;
		size_t nlen = strcspn(name, " \t\r\n/>");
		if (nlen == 0 || nlen >= NAME) {
			snprintf(why, whylen, "bad tag name at offset %td", c - s);
			return why;
		}
		bool self_closing = end[-1] == '/';
		ntags++;
		if (closing) {
			if (depth == 0 || strlen(stack[depth - 1]) != nlen
			    || strncmp(stack[depth - 1], name, nlen) != 0) {
				snprintf(why, whylen, "</%.*s> at offset %td closes %s",
				    (int)nlen, name, c - s,
				    depth > 0 ? stack[depth - 1] : "nothing");
				return why;
			}
			depth--;
		} else if (!self_closing) {
			if (depth == DEPTH) {
				snprintf(why, whylen, "nesting deeper than %d", DEPTH);
				return why;
			}
			memcpy(stack[depth], name, nlen);
			stack[depth][nlen] = '\0';
			depth++;
		}
		c = end + 1;
	}
	if (depth != 0) {
		snprintf(why, whylen, "<%s> never closed", stack[depth - 1]);
		return why;
	}
	if (ntags == 0) {
		snprintf(why, whylen, "no tags");
		return why;
	}
	return NULL;
}

TEST_BEGIN(test_malloc_info)
	/* Some state to describe. */
	void *keep[3] = {hm_malloc(100), hm_malloc(50000), hm_malloc(5 << 20)};
	FILE *f = tmpfile();
	assert_ptr_not_null(f, "tmpfile");
	int r = hm_malloc_info(0, f);
	expect_d_eq(r, 0, "malloc_info(0, f)");
	size_t len = 0;
	char *xml = slurp(f, &len);
	fclose(f);
	assert_ptr_not_null(xml, "reading malloc_info output");
	expect_zu_gt(len, 0, "malloc_info wrote nothing");
	expect_d_eq(strncmp(xml, "<malloc", 7), 0,
	    "malloc_info output starts with \"%.20s\"", xml);
	char why[200];
	const char *bad = xml_balance(xml, why, sizeof(why));
	expect_ptr_null(bad, "malloc_info XML is not balanced: %s", bad);
	hm_free(xml);
	/* glibc: options must be 0, else EINVAL and nothing is written. */
	f = tmpfile();
	assert_ptr_not_null(f, "tmpfile");
	r = hm_malloc_info(1, f);
	expect_d_ne(r, 0, "malloc_info(1, f)");
	fclose(f);
	for (int i = 0; i < 3; i++)
		hm_free(keep[i]);
TEST_END

TEST_BEGIN(test_xml_balance_checker)
	/* The checker itself must be able to fail. */
	char why[200];
	expect_ptr_null(xml_balance("<malloc a=\"1\"><x/><y></y></malloc>", why,
	    sizeof(why)), "balanced input");
	expect_ptr_not_null(xml_balance("<malloc><x></malloc>", why, sizeof(why)),
	    "unbalanced input");
	expect_ptr_not_null(xml_balance("<malloc>", why, sizeof(why)),
	    "unclosed input");
	expect_ptr_not_null(xml_balance("<malloc", why, sizeof(why)),
	    "unterminated input");
TEST_END

TEST_BEGIN(test_malloc_stats_writes_stderr)
	void *keep = hm_malloc(1000);
	char path[] = "/tmp/hm_malloc_stats_XXXXXX";
	int fd = mkstemp(path);
	assert_d_ge(fd, 0, "mkstemp");
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	assert_d_ge(saved, 0, "dup(2)");
	assert_d_eq(dup2(fd, 2), 2, "dup2");
	hm_malloc_stats();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	struct stat st;
	assert_d_eq(fstat(fd, &st), 0, "fstat");
	expect_d_gt((long long)st.st_size, 0, "malloc_stats wrote nothing to stderr");
	close(fd);
	hm_free(keep);
TEST_END

/*
 * malloc_stats is not a cancellation point (glibc's is not): a thread
 * with a cancel pending comes back from it and is cancelled at the next
 * point instead.
 */
static volatile int cancel_reached;

static void *
cancel_thread(void *arg) {
	(void)arg;
	pthread_cancel(pthread_self());
	hm_malloc_stats();
	cancel_reached = 1;
	pthread_testcancel();
	cancel_reached = 2;
	return NULL;
}

TEST_BEGIN(test_malloc_stats_not_cancellable)
	fflush(stderr);
	int saved = dup(2);
	assert_d_ge(saved, 0, "dup(2)");
	int null = open("/dev/null", O_WRONLY);
	assert_d_ge(null, 0, "open /dev/null");
	dup2(null, 2);
	close(null);
	pthread_t t;
	void *ret = NULL;
	int err = pthread_create(&t, NULL, cancel_thread, NULL);
	if (err == 0)
		pthread_join(t, &ret);
	dup2(saved, 2);
	close(saved);
	assert_d_eq(err, 0, "pthread_create");
	expect_ptr_eq(ret, PTHREAD_CANCELED, "the thread was cancelled");
	expect_d_eq(cancel_reached, 1,
	    "cancelled inside malloc_stats (0) or not at all (2)");
TEST_END

TEST_BEGIN(test_mallopt)
	/* M_ARENA_MAX is meaningful to hmalloc and accepted. */
	expect_d_eq(hm_mallopt(M_ARENA_MAX, 8), 1, "mallopt(M_ARENA_MAX, 8)");
	/* glibc's other parameters, and unknown ones: 0 or 1, no harm done. */
	static const int params[][2] = {
		{M_TRIM_THRESHOLD, 128 * 1024}, {M_TOP_PAD, 0},
		{M_MMAP_THRESHOLD, 128 * 1024}, {M_MXFAST, 64},
		{M_ARENA_TEST, 8}, {M_CHECK_ACTION, 3},
		{12345, 1}, {-100, 5}, {0, 0}, {INT32_MAX, -1},
	};
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		int r = hm_mallopt(params[i][0], params[i][1]);
		expect_true(r == 0 || r == 1, "mallopt(%d, %d) = %d", params[i][0],
		    params[i][1], r);
	}
	expect_allocator_works("mallopt");
TEST_END

int
main(void) {
	return test(test_malloc_trim, test_mallinfo2_tracks_allocation,
	    test_mallinfo_tracks_allocation, test_malloc_info,
	    test_xml_balance_checker, test_malloc_stats_writes_stderr,
	    test_malloc_stats_not_cancellable, test_mallopt);
}
