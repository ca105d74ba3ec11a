/*
 * util.h: compiler attributes, bit tricks and constants every module uses.
 * No state lives here.
 */
#ifndef HM_UTIL_H
#define HM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HM_EXPORT __attribute__((visibility("default")))
/* For variables shared between modules: hidden on the declaration too,
 * so that the compiler addresses them directly, not through the GOT. */
#define HM_EXTERN extern __attribute__((visibility("hidden")))
#define HM_ALWAYS_INLINE inline __attribute__((always_inline))
#define HM_NOINLINE __attribute__((noinline))
#define HM_COLD __attribute__((cold))
#define HM_NORETURN __attribute__((noreturn))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define HM_UNUSED __attribute__((unused))

/*
 * Compile-time configuration flags, tested with if () so both branches stay
 * compiled.  HM_DEBUG turns on internal assertions.
 */
#ifdef HM_DEBUG
static const bool config_debug = true;
#else
static const bool config_debug = false;
#endif
/*
 * HM_UNCHECKED drops the free fast path's misuse checks (the region-start
 * test and the cached-block tag): a build that exists only to measure
 * what they cost (bench/README.md).  Frees that reach the slow paths are
 * still checked.
 */
#ifdef HM_UNCHECKED
static const bool config_fast_checks = false;
#else
static const bool config_fast_checks = true;
#endif

/* Pages: Linux on the machines hmalloc targets uses 4 KiB; init checks. */
#define LG_PAGE 12
#define PAGE ((size_t)1 << LG_PAGE)
#define PAGE_MASK (PAGE - 1)

/* The smallest alignment malloc guarantees, and the smallest size class. */
#define LG_QUANTUM 4
#define QUANTUM ((size_t)1 << LG_QUANTUM)

#define CACHELINE 64

#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((uintptr_t)(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((uintptr_t)(a) - 1))
#define PAGE_CEILING(x) ALIGN_UP((x), PAGE)

static inline unsigned
lg_floor(size_t x) {
	return (unsigned)(63 - __builtin_clzll((unsigned long long)x));
}

/* ceil(log2(x)) for x >= 1. */
static inline unsigned
lg_ceil(size_t x) {
	return x <= 1 ? 0 : lg_floor(x - 1) + 1;
}

static inline bool
is_pow2(size_t x) {
	return x != 0 && (x & (x - 1)) == 0;
}

/* An alias with the attributes of its target (glibc's internal names,
 * api.c and glibc.c). */
#if defined(__clang__)
#  define HM_ALIAS(name) \
	__attribute__((alias(#name), used, visibility("default")))
#else
#  define HM_ALIAS(name) \
	__attribute__((alias(#name), used, visibility("default"), copy(name)))
#endif

/* The longest string option (prof_prefix is a path), NUL included. */
#define OPT_STRING_MAX 256

#define HM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Doubly linked lists threaded through `next` and `prev` fields of the
 * elements, with a head pointer: push at the head, unlink anywhere.
 */
#define DLIST_PUSH(head, elm)                                              \
	do {                                                               \
		(elm)->prev = NULL;                                        \
		(elm)->next = (head);                                      \
		if ((elm)->next != NULL)                                   \
			(elm)->next->prev = (elm);                         \
		(head) = (elm);                                            \
	} while (0)

#define DLIST_REMOVE(head, elm)                                            \
	do {                                                               \
		if ((elm)->prev != NULL)                                   \
			(elm)->prev->next = (elm)->next;                   \
		else                                                       \
			(head) = (elm)->next;                              \
		if ((elm)->next != NULL)                                   \
			(elm)->next->prev = (elm)->prev;                   \
	} while (0)

#endif /* HM_UTIL_H */
