/*
 * The test harness, after jemalloc's: TEST_BEGIN/TEST_END around each test
 * function, expect_* records a failure and carries on, assert_* records it
 * and leaves the test.  A failure prints both values.  HM_TEST=name runs one
 * test only.  Exit status: 0 all passed, 1 a failure, 77 all skipped.
 *
 * Tests call the public API through its hm_ names; in the ordinary build
 * those map onto the standard names, in the prefixed (sanitizer) build they
 * are the library's real names.
 */
#ifndef HM_TEST_H
#define HM_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hmalloc.h>

#ifndef HM_PREFIXED
#  define hm_malloc malloc
#  define hm_calloc calloc
#  define hm_realloc realloc
#  define hm_free free
#  define hm_posix_memalign posix_memalign
#  define hm_aligned_alloc aligned_alloc
#  define hm_memalign memalign
#  define hm_valloc valloc
#  define hm_pvalloc pvalloc
#  define hm_malloc_usable_size malloc_usable_size
#  define hm_reallocarray reallocarray
#  define hm_free_sized free_sized
#  define hm_free_aligned_sized free_aligned_sized
#  define hm_malloc_trim malloc_trim
#  define hm_mallinfo mallinfo
#  define hm_mallinfo2 mallinfo2
#  define hm_malloc_stats malloc_stats
#  define hm_malloc_info malloc_info
#  define hm_mallopt mallopt
#  define hm_mallocx mallocx
#  define hm_rallocx rallocx
#  define hm_xallocx xallocx
#  define hm_sallocx sallocx
#  define hm_dallocx dallocx
#  define hm_sdallocx sdallocx
#  define hm_nallocx nallocx
#  define hm_mallctl mallctl
#  define hm_mallctlnametomib mallctlnametomib
#  define hm_mallctlbymib mallctlbymib
#  define hm_malloc_stats_print malloc_stats_print
#  define hm_malloc_message malloc_message
#  define hm_hmalloc_atinit hmalloc_atinit
#endif

/* True when built for a sanitizer; some tests cannot run there. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#  define HM_TEST_SANITIZED 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#    define HM_TEST_SANITIZED 1
#  endif
#endif
#ifndef HM_TEST_SANITIZED
#  define HM_TEST_SANITIZED 0
#endif
/* ThreadSanitizer in particular. */
#if defined(__SANITIZE_THREAD__)
#  define HM_TEST_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define HM_TEST_TSAN 1
#  endif
#endif
#ifndef HM_TEST_TSAN
#  define HM_TEST_TSAN 0
#endif

typedef void test_fn_t(void);

enum test_status { test_status_pass, test_status_skip, test_status_fail };

extern const char *test_name_current;
extern enum test_status test_status_current;
extern jmp_buf test_jmp;

void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int test_run_all(const char *file, test_fn_t **fns, const char **names, int n);

#define TEST_BEGIN(f)                                                      \
	static void f(void) {                                              \
		test_name_current = #f;

#define TEST_END }

/* Leaves the current test: for assert_* and test_skip callers. */
#define test_leave() longjmp(test_jmp, 1)

/* After a failed comparison: the caller's message, then leave if kind. */
#define HM_TEST_FAILED(kind, ...)                                          \
	do {                                                               \
		fprintf(stderr, "    " __VA_ARGS__);                       \
		fprintf(stderr, "\n");                                     \
		if (kind)                                                  \
			test_leave();                                      \
	} while (0)

#define HM_TEST_CMP(kind, t, fmt, a, op, b, ...)                           \
	do {                                                               \
		t a_ = (a);                                                \
		t b_ = (b);                                                \
		if (!(a_ op b_)) {                                         \
			test_fail(__FILE__, __LINE__,                      \
			    "%s (" fmt ") " #op " %s (" fmt ") failed",    \
			    #a, a_, #b, b_);                               \
			HM_TEST_FAILED(kind, __VA_ARGS__);                 \
		}                                                          \
	} while (0)

#define expect_cmp(t, fmt, a, op, b, ...) HM_TEST_CMP(0, t, fmt, a, op, b, __VA_ARGS__)
#define assert_cmp(t, fmt, a, op, b, ...) HM_TEST_CMP(1, t, fmt, a, op, b, __VA_ARGS__)

#define expect_ptr_eq(a, b, ...) expect_cmp(const void *, "%p", a, ==, b, __VA_ARGS__)
#define expect_ptr_ne(a, b, ...) expect_cmp(const void *, "%p", a, !=, b, __VA_ARGS__)
#define expect_ptr_null(a, ...) expect_cmp(const void *, "%p", a, ==, NULL, __VA_ARGS__)
#define expect_ptr_not_null(a, ...) expect_cmp(const void *, "%p", a, !=, NULL, __VA_ARGS__)
#define assert_ptr_eq(a, b, ...) assert_cmp(const void *, "%p", a, ==, b, __VA_ARGS__)
#define assert_ptr_ne(a, b, ...) assert_cmp(const void *, "%p", a, !=, b, __VA_ARGS__)
#define assert_ptr_null(a, ...) assert_cmp(const void *, "%p", a, ==, NULL, __VA_ARGS__)
#define assert_ptr_not_null(a, ...) assert_cmp(const void *, "%p", a, !=, NULL, __VA_ARGS__)

#define expect_zu_eq(a, b, ...) expect_cmp(size_t, "%zu", a, ==, b, __VA_ARGS__)
#define expect_zd_eq(a, b, ...) expect_cmp(ssize_t, "%zd", a, ==, b, __VA_ARGS__)
#define expect_u_eq(a, b, ...) expect_cmp(unsigned, "%u", a, ==, b, __VA_ARGS__)
#define expect_zu_ne(a, b, ...) expect_cmp(size_t, "%zu", a, !=, b, __VA_ARGS__)
#define expect_zu_lt(a, b, ...) expect_cmp(size_t, "%zu", a, <, b, __VA_ARGS__)
#define expect_zu_le(a, b, ...) expect_cmp(size_t, "%zu", a, <=, b, __VA_ARGS__)
#define expect_zu_gt(a, b, ...) expect_cmp(size_t, "%zu", a, >, b, __VA_ARGS__)
#define expect_zu_ge(a, b, ...) expect_cmp(size_t, "%zu", a, >=, b, __VA_ARGS__)
#define assert_zu_eq(a, b, ...) assert_cmp(size_t, "%zu", a, ==, b, __VA_ARGS__)
#define assert_zu_ne(a, b, ...) assert_cmp(size_t, "%zu", a, !=, b, __VA_ARGS__)
#define assert_zu_lt(a, b, ...) assert_cmp(size_t, "%zu", a, <, b, __VA_ARGS__)
#define assert_zu_le(a, b, ...) assert_cmp(size_t, "%zu", a, <=, b, __VA_ARGS__)
#define assert_zu_gt(a, b, ...) assert_cmp(size_t, "%zu", a, >, b, __VA_ARGS__)
#define assert_zu_ge(a, b, ...) assert_cmp(size_t, "%zu", a, >=, b, __VA_ARGS__)

#define expect_d_eq(a, b, ...) expect_cmp(long long, "%lld", a, ==, b, __VA_ARGS__)
#define expect_d_ne(a, b, ...) expect_cmp(long long, "%lld", a, !=, b, __VA_ARGS__)
#define expect_d_lt(a, b, ...) expect_cmp(long long, "%lld", a, <, b, __VA_ARGS__)
#define expect_d_le(a, b, ...) expect_cmp(long long, "%lld", a, <=, b, __VA_ARGS__)
#define expect_d_gt(a, b, ...) expect_cmp(long long, "%lld", a, >, b, __VA_ARGS__)
#define expect_d_ge(a, b, ...) expect_cmp(long long, "%lld", a, >=, b, __VA_ARGS__)
#define assert_d_eq(a, b, ...) assert_cmp(long long, "%lld", a, ==, b, __VA_ARGS__)
#define assert_d_ne(a, b, ...) assert_cmp(long long, "%lld", a, !=, b, __VA_ARGS__)
#define assert_d_lt(a, b, ...) assert_cmp(long long, "%lld", a, <, b, __VA_ARGS__)
#define assert_d_le(a, b, ...) assert_cmp(long long, "%lld", a, <=, b, __VA_ARGS__)
#define assert_d_gt(a, b, ...) assert_cmp(long long, "%lld", a, >, b, __VA_ARGS__)
#define assert_d_ge(a, b, ...) assert_cmp(long long, "%lld", a, >=, b, __VA_ARGS__)

#define expect_u64_eq(a, b, ...) expect_cmp(uint64_t, "%" PRIu64, a, ==, b, __VA_ARGS__)
#define expect_u64_ne(a, b, ...) expect_cmp(uint64_t, "%" PRIu64, a, !=, b, __VA_ARGS__)
#define expect_u64_gt(a, b, ...) expect_cmp(uint64_t, "%" PRIu64, a, >, b, __VA_ARGS__)
#define expect_u64_le(a, b, ...) expect_cmp(uint64_t, "%" PRIu64, a, <=, b, __VA_ARGS__)
#define assert_u64_eq(a, b, ...) assert_cmp(uint64_t, "%" PRIu64, a, ==, b, __VA_ARGS__)

#define expect_true(a, ...) expect_cmp(int, "%d", !!(a), ==, 1, __VA_ARGS__)
#define expect_false(a, ...) expect_cmp(int, "%d", !!(a), ==, 0, __VA_ARGS__)
#define assert_true(a, ...) assert_cmp(int, "%d", !!(a), ==, 1, __VA_ARGS__)
#define assert_false(a, ...) assert_cmp(int, "%d", !!(a), ==, 0, __VA_ARGS__)

#define HM_TEST_STR(kind, a, op, b, ...)                                   \
	do {                                                               \
		const char *a_ = (a), *b_ = (b);                           \
		if (!(strcmp(a_, b_) op 0)) {                              \
			test_fail(__FILE__, __LINE__,                      \
			    "%s (\"%s\") " #op " %s (\"%s\") failed",      \
			    #a, a_, #b, b_);                               \
			HM_TEST_FAILED(kind, __VA_ARGS__);                 \
		}                                                          \
	} while (0)
#define expect_str_eq(a, b, ...) HM_TEST_STR(0, a, ==, b, __VA_ARGS__)
#define expect_str_ne(a, b, ...) HM_TEST_STR(0, a, !=, b, __VA_ARGS__)
#define assert_str_eq(a, b, ...) HM_TEST_STR(1, a, ==, b, __VA_ARGS__)

/* Unconditional failure with a message. */
#define expect_not_reached(...) test_fail(__FILE__, __LINE__, __VA_ARGS__)
#define assert_not_reached(...)                                            \
	do {                                                               \
		test_fail(__FILE__, __LINE__, __VA_ARGS__);                \
		test_leave();                                              \
	} while (0)

/* test(test_a, test_b, ...) runs the named tests; main returns its value. */
#define test(...)                                                          \
	test_run_all(__FILE__, (test_fn_t *[]){__VA_ARGS__},               \
	    hm_test_split_names(#__VA_ARGS__),                             \
	    (int)(sizeof((test_fn_t *[]){__VA_ARGS__}) / sizeof(test_fn_t *)))

const char **hm_test_split_names(const char *list);

/* Small helpers shared by tests. */
#define HM_TEST_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* splitmix64's finaliser: a well-mixed 64-bit hash of z. */
static inline uint64_t
test_mix64(uint64_t z) {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
uint64_t test_rand_next(uint64_t *state);       /* splitmix64 */
uint64_t test_seed(void);  /* HM_TEST_SEED or time-based; printed */
/* Resident bytes less lazily freed ones (smaps_rollup, else statm); read
 * without allocating. */
size_t test_rss_bytes(void);

/* Sleeps ms milliseconds (the tests that wait for decay poll with it). */
void test_sleep_ms(long ms);

/* True when freed memory is zeroed, held back or unmapped at once
 * (zero_free, quarantine, guard): tests of what happens to freed pages
 * skip then. */
bool test_frees_altered(void);

/* A size_t statistic (printf-style name, e.g. "stats.arenas.%u.mapped")
 * after an "epoch" refresh; the calls must succeed. */
size_t test_stat_size(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* True with canary (secure.h): Small blocks keep a word for it, so size
 * classes are not the bare ladder; tests of the ladder skip then. */
bool test_canary_on(void);
/* Stops sampled guarded allocations (san.h) for the rest of the run: for
 * the tests of where blocks land, and of the messages of other paths. */
void test_san_off(void);

/* True when the heap profiler samples (opt.prof and prof.active): sampled
 * Small blocks are served from Large runs, which moves exact counts. */
bool test_prof_on(void);
/*
 * Runs child(arg) in a forked process with its stdout and stderr sent to a
 * pipe; returns the wait status, the output in out (NUL-terminated).  The
 * child exits 0 if child() returns.
 */
int test_fork_capture(void (*child)(void *), void *arg, char *out,
    size_t outsize);
/* A "Name:  N kB" field of /proc/self/status, in kB (0 if absent). */
size_t test_proc_status_kb(const char *field);
/*
 * qsort comparator by address, for arrays of pointers or of structs whose
 * first member is a pointer (void * or a character pointer).
 */
int test_cmp_addr(const void *a, const void *b);

#endif /* HM_TEST_H */
