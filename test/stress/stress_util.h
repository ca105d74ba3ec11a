/*
 * Helpers shared by the stress tests: the block stamp, and the
 * HM_STRESS_SHORT and HM_STRESS_SECONDS settings.
 *
 * The stamp: byte o of a block is byte (o % 8) of test_mix64(key + o / 8),
 * where each test derives the key from the block's address, size and what
 * else it likes.  Only the stamped regions are written or read: the first
 * and last STAMP_EDGE bytes and one 8-byte word every `step` bytes (a page,
 * or sparser).
 *
 * Everything here is static inline: each test includes only what it uses.
 */
#ifndef HM_STRESS_UTIL_H
#define HM_STRESS_UTIL_H

#include "test.h"

#include <signal.h>
#include <unistd.h>

#define STAMP_EDGE 64
#define STAMP_PAGE 4096

/* The usual key: the block's address and size, and salt. */
static inline uint64_t
stamp_key(const void *p, size_t size, uint64_t salt) {
	return test_mix64((uint64_t)(uintptr_t)p ^ test_mix64(size) ^ salt);
}

/*
 * Stamps (write) bytes [a, b) of base, or checks them: returns the first
 * offset that does not match, or SIZE_MAX.
 */
static inline size_t
stamp_range(uint8_t *base, uint64_t key, size_t a, size_t b, bool write) {
	uint64_t w = 0;
	size_t wgroup = SIZE_MAX;
	for (size_t o = a; o < b; o++) {
		if (o / 8 != wgroup) {
			wgroup = o / 8;
			w = test_mix64(key + wgroup);
		}
		uint8_t v = (uint8_t)(w >> ((o % 8) * 8));
		if (write)
			base[o] = v;
		else if (base[o] != v)
			return o;
	}
	return SIZE_MAX;
}

/*
 * Stamps (write) or checks the stamped regions of a block of size bytes at
 * p, clipped to [0, limit): [from, STAMP_EDGE), the last STAMP_EDGE bytes
 * (not below from) and a word at every multiple of step.  from is 0, or
 * the length of a header the test keeps itself.  Returns the first offset
 * that does not match, or SIZE_MAX.
 */
static inline size_t
stamp_walk(void *p, uint64_t key, size_t from, size_t size, size_t limit,
    size_t step, bool write) {
	uint8_t *base = p;
	size_t r;
	size_t end = size < limit ? size : limit;
	if ((r = stamp_range(base, key, from,
	    STAMP_EDGE < end ? STAMP_EDGE : end, write)) != SIZE_MAX)
		return r;
	size_t tail = size > STAMP_EDGE + from ? size - STAMP_EDGE : from;
	if (tail < end && (r = stamp_range(base, key, tail, end, write))
	    != SIZE_MAX)
		return r;
	for (size_t o = step; o + 8 <= end; o += step) {
		if ((r = stamp_range(base, key, o, o + 8, write)) != SIZE_MAX)
			return r;
	}
	return SIZE_MAX;
}

/*
 * A block that carries its size in its first word: stamps (write) or
 * checks that word and the regions stamp_walk covers below limit, keyed by
 * address and size.  0 if the size word is wrong, else stamp_walk's.
 */
static inline size_t
stamp_sized(void *p, size_t size, size_t limit, bool write, size_t step) {
	if (write)
		*(uint64_t *)p = size;
	else if (*(uint64_t *)p != size)
		return 0;
	return stamp_walk(p, stamp_key(p, size, 0), 8, size, limit, step,
	    write);
}

/* The usable sizes of the Small classes, from the allocator's own
 * rounding, into sizes[max]; their number. */
static inline unsigned
stress_small_classes(size_t *sizes, unsigned max) {
	unsigned n = 0;
	for (size_t size = 1; size <= 14336; size++) {
		size_t usize = hm_nallocx(size, 0);
		if (n == 0 || usize != sizes[n - 1]) {
			assert_d_lt(n, max, "too many classes");
			sizes[n++] = usize;
		}
	}
	assert_zu_eq(sizes[n - 1], 14336, "the largest Small class");
	return n;
}

/* HM_STRESS_SHORT set (and not "0"): fewer operations. */
static inline bool
stress_short(void) {
	const char *s = getenv("HM_STRESS_SHORT");
	return s != NULL && *s != '\0' && strcmp(s, "0") != 0;
}

static inline void
stress_watchdog_fire(int sig) {
	(void)sig;
	static const char msg[] = "hung: the watchdog fired\n";
	if (write(2, msg, sizeof(msg) - 1) < 0) {
	}
	_exit(3);
}

/* A hang becomes a failure (exit 3) after seconds: SIGALRM's handler. */
static inline void
stress_watchdog(unsigned seconds) {
	signal(SIGALRM, stress_watchdog_fire);
	alarm(seconds);
}

/* HM_STRESS_SECONDS, default 90: the time box. */
static inline double
stress_time_box_s(void) {
	const char *s = getenv("HM_STRESS_SECONDS");
	return s != NULL ? strtod(s, NULL) : 90.0;
}

#endif /* HM_STRESS_UTIL_H */
