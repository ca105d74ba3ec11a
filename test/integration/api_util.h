/*
 * Helpers shared by the api_*.c integration tests: a reference model of the
 * size classes, fast pattern fill/check over whole blocks, values the
 * compiler cannot see through (so that malloc(SIZE_MAX) is really called and
 * draws no -Walloc-size-larger-than warning), and checks for impossible
 * sizes and in-use bytes.
 *
 * Everything here is static inline: each test includes only what it uses.
 */
#ifndef HM_API_UTIL_H
#define HM_API_UTIL_H

#include "test.h"

#include <malloc.h>
#include <unistd.h>

/*
 * test.h's pointer comparisons expand to "const void * a_ = ..., b_ = ...",
 * which declares b_ as const void and does not compile.  Until the harness
 * is fixed, the api tests use these equivalents built on a typedef.
 */
typedef const void *hm_test_cptr_t;
#undef expect_ptr_eq
#undef expect_ptr_ne
#undef expect_ptr_null
#undef expect_ptr_not_null
#undef assert_ptr_eq
#undef assert_ptr_ne
#undef assert_ptr_null
#undef assert_ptr_not_null
#define expect_ptr_eq(a, b, ...) expect_cmp(hm_test_cptr_t, "%p", a, ==, b, __VA_ARGS__)
#define expect_ptr_ne(a, b, ...) expect_cmp(hm_test_cptr_t, "%p", a, !=, b, __VA_ARGS__)
#define expect_ptr_null(a, ...) expect_cmp(hm_test_cptr_t, "%p", a, ==, NULL, __VA_ARGS__)
#define expect_ptr_not_null(a, ...) expect_cmp(hm_test_cptr_t, "%p", a, !=, NULL, __VA_ARGS__)
#define assert_ptr_eq(a, b, ...) assert_cmp(hm_test_cptr_t, "%p", a, ==, b, __VA_ARGS__)
#define assert_ptr_ne(a, b, ...) assert_cmp(hm_test_cptr_t, "%p", a, !=, b, __VA_ARGS__)
#define assert_ptr_null(a, ...) assert_cmp(hm_test_cptr_t, "%p", a, ==, NULL, __VA_ARGS__)
#define assert_ptr_not_null(a, ...) assert_cmp(hm_test_cptr_t, "%p", a, !=, NULL, __VA_ARGS__)

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

/* x, hidden from the optimiser. */
static inline size_t
opaque_zu(size_t x) {
	__asm__ volatile("" : "+r"(x));
	return x;
}

/*
 * p, hidden from the optimiser: a failed realloc(opaque_ptr(p), ...) leaves
 * p live, which -Wuse-after-free cannot know.
 */
static inline void *
opaque_ptr(void *p) {
	__asm__ volatile("" : "+r"(p));
	return p;
}

static inline size_t
page_size(void) {
	return (size_t)sysconf(_SC_PAGESIZE);
}

/*
 * jemalloc's size classes with a 16-byte quantum, computed independently of
 * the library: 16, 32, 48, 64, then four classes per doubling; the group
 * (2^k, 2^(k+1)] has spacing 2^(k-2) (never below the quantum).
 */
static inline size_t
ref_size_class(size_t size) {
	if (size <= 16)
		return 16;
	unsigned lg = 63u - (unsigned)__builtin_clzll((unsigned long long)(size - 1));
	size_t delta = lg >= 6 ? (size_t)1 << (lg - 2) : 16;
	return (size + delta - 1) & ~(delta - 1);
}

/*
 * The pattern: byte i of a block is byte (i % 8) of word(i / 8, seed).  The
 * word mixes the offset, so a block copied to the wrong offset or a block
 * overwritten by its neighbour (another seed) is caught.
 */
static inline uint64_t
pattern_word(size_t j, uint64_t seed) {
	uint64_t x = ((uint64_t)j + 1) * 0x9e3779b97f4a7c15ULL;
	return x ^ (seed * 0xd1b54a32d192ed03ULL) ^ (x >> 29);
}

static inline void
pattern_fill(void *p, size_t n, uint64_t seed) {
	/* Tests fill the whole usable size, past the size the compiler saw
	 * requested: hide the pointer's origin from -fsanitize=object-size. */
	__asm__ volatile("" : "+r"(p));
	unsigned char *b = p;
	size_t nw = n / 8;
	for (size_t j = 0; j < nw; j++) {
		uint64_t w = pattern_word(j, seed);
		memcpy(b + j * 8, &w, 8);
	}
	uint64_t w = pattern_word(nw, seed);
	for (size_t i = nw * 8; i < n; i++)
		b[i] = (unsigned char)(w >> (8 * (i % 8)));
}

/* Offset of the first byte of [0, n) that breaks the pattern, or n. */
static inline size_t
pattern_check(const void *p, size_t n, uint64_t seed) {
	const unsigned char *b = p;
	size_t nw = n / 8;
	for (size_t j = 0; j < nw; j++) {
		uint64_t w = pattern_word(j, seed), got;
		memcpy(&got, b + j * 8, 8);
		if (got != w) {
			for (size_t i = j * 8;; i++) {
				if (b[i] != (unsigned char)(w >> (8 * (i % 8))))
					return i;
			}
		}
	}
	uint64_t w = pattern_word(nw, seed);
	for (size_t i = nw * 8; i < n; i++) {
		if (b[i] != (unsigned char)(w >> (8 * (i % 8))))
			return i;
	}
	return n;
}

/* Offset of the first byte of [from, n) that is not c, or n. */
static inline size_t
bytes_check(const void *p, size_t from, size_t n, unsigned char c) {
	const unsigned char *b = p;
	uint64_t cw = 0x0101010101010101ULL * c;
	size_t i = from;
	while (i < n && (i % 8) != 0) {
		if (b[i] != c)
			return i;
		i++;
	}
	for (; i + 8 <= n; i += 8) {
		uint64_t got;
		memcpy(&got, b + i, 8);
		if (got != cw)
			break;
	}
	for (; i < n; i++) {
		if (b[i] != c)
			return i;
	}
	return n;
}

/* The alignment of address p: its lowest set bit (0 for NULL). */
static inline size_t
ptr_align(const void *p) {
	uintptr_t a = (uintptr_t)p;
	return (size_t)(a & -a);
}

/*
 * For each of the n sizes, fn(size) must return NULL with errno ENOMEM (a
 * block it returns anyway is freed).  name is fn's name for the messages.
 */
static inline void
expect_enomem_sizes(void *(*fn)(size_t), const char *name,
    const size_t *sizes, size_t n) {
	for (size_t i = 0; i < n; i++) {
		errno = 0;
		void *p = fn(opaque_zu(sizes[i]));
		int err = errno;
		expect_ptr_null(p, "%s(%#zx)", name, sizes[i]);
		expect_d_eq(err, ENOMEM, "errno after %s(%#zx)", name, sizes[i]);
		if (p != NULL)
			hm_free(p);
	}
}

/* Bytes in use, small and large plus huge, by mallinfo2(). */
static inline size_t
bytes_in_use(void) {
	struct mallinfo2 mi = hm_mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/*
 * The last value of key in a MALLOC_CONF-style string ("a:1,b:2"), or -1.
 * Tests use it to know what the runner configured (crossed runs append).
 */
static inline long
conf_last_value(const char *conf, const char *key) {
	long v = -1;
	size_t klen = strlen(key);
	if (conf == NULL)
		return -1;
	for (const char *s = conf; *s != '\0';) {
		if (strncmp(s, key, klen) == 0 && s[klen] == ':')
			v = strtol(s + klen + 1, NULL, 0);
		const char *comma = strchr(s, ',');
		if (comma == NULL)
			break;
		s = comma + 1;
	}
	return v;
}

#endif /* HM_API_UTIL_H */
