/*
 * hmalloc: a general-purpose memory allocator.
 *
 * This is the only installed header.  It declares the standard C and glibc
 * allocation calls that hmalloc replaces, jemalloc's non-standard API (same
 * names, flag bits and semantics as jemalloc 5.3), and hmalloc's own calls.
 *
 * Built with HM_PREFIXED defined, every public entry point carries an hm_
 * prefix (hm_malloc, hm_mallctl, ...).  That variant exists so that a
 * sanitizer, which brings its own malloc, can instrument hmalloc's code.
 */
#ifndef HMALLOC_H
#define HMALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HMALLOC_VERSION_MAJOR 0
#define HMALLOC_VERSION_MINOR 1
#define HMALLOC_VERSION_PATCH 0
#define HMALLOC_VERSION "0.1.0"

#ifdef HM_PREFIXED
#  define HM_PUBLIC(name) hm_##name
#else
#  define HM_PUBLIC(name) name
#endif

#if defined(__cplusplus)
#  define HM_THROW noexcept(true)
#elif defined(__GNUC__)
#  define HM_THROW __attribute__((nothrow))
#else
#  define HM_THROW
#endif

/* jemalloc declares its own calls nothrow by attribute alone, in C++ too:
 * programs that declare them again must see the same specification. */
#if defined(__GNUC__)
#  define HM_NOTHROW __attribute__((nothrow))
#else
#  define HM_NOTHROW
#endif

#if defined(__GNUC__)
#  define HM_ATTR_MALLOC __attribute__((malloc))
#  define HM_ATTR_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#else
#  define HM_ATTR_MALLOC
#  define HM_ATTR_ALLOC_SIZE(...)
#endif

/* The standard API (C11, C23, POSIX and glibc extensions). */
void *HM_PUBLIC(malloc)(size_t size) HM_THROW HM_ATTR_MALLOC HM_ATTR_ALLOC_SIZE(1);
void *HM_PUBLIC(calloc)(size_t n, size_t size) HM_THROW HM_ATTR_MALLOC HM_ATTR_ALLOC_SIZE(1, 2);
void *HM_PUBLIC(realloc)(void *ptr, size_t size) HM_THROW HM_ATTR_ALLOC_SIZE(2);
void HM_PUBLIC(free)(void *ptr) HM_THROW;
int HM_PUBLIC(posix_memalign)(void **memptr, size_t alignment, size_t size) HM_THROW;
void *HM_PUBLIC(aligned_alloc)(size_t alignment, size_t size) HM_THROW HM_ATTR_MALLOC HM_ATTR_ALLOC_SIZE(2);
void *HM_PUBLIC(memalign)(size_t alignment, size_t size) HM_THROW HM_ATTR_MALLOC HM_ATTR_ALLOC_SIZE(2);
void *HM_PUBLIC(valloc)(size_t size) HM_THROW HM_ATTR_MALLOC HM_ATTR_ALLOC_SIZE(1);
void *HM_PUBLIC(pvalloc)(size_t size) HM_THROW HM_ATTR_MALLOC;
size_t HM_PUBLIC(malloc_usable_size)(void *ptr) HM_THROW;
void *HM_PUBLIC(reallocarray)(void *ptr, size_t n, size_t size) HM_THROW HM_ATTR_ALLOC_SIZE(2, 3);
void HM_PUBLIC(free_sized)(void *ptr, size_t size) HM_THROW;
void HM_PUBLIC(free_aligned_sized)(void *ptr, size_t alignment, size_t size) HM_THROW;
int HM_PUBLIC(malloc_trim)(size_t pad) HM_THROW;

/*
 * glibc's introspection calls (mallinfo, mallinfo2, malloc_stats,
 * malloc_info, mallopt) are answered with hmalloc's figures; <malloc.h>
 * declares them.  The prefixed variant declares its own names here.
 */
#ifdef HM_PREFIXED
#  include <malloc.h>
#  include <stdio.h>
struct mallinfo hm_mallinfo(void);
struct mallinfo2 hm_mallinfo2(void);
void hm_malloc_stats(void);
int hm_malloc_info(int options, FILE *stream);
int hm_mallopt(int param, int value);
#endif

/* jemalloc's non-standard API. The flag bits are jemalloc's ABI. */
#define MALLOCX_LG_ALIGN(la) ((int)(la))
#define MALLOCX_ALIGN(a) ((int)(__builtin_ffsll((long long)(a)) - 1))
#define MALLOCX_ZERO ((int)0x40)
#define MALLOCX_TCACHE(tc) ((int)(((tc) + 2) << 8))
#define MALLOCX_TCACHE_NONE MALLOCX_TCACHE(-1)
#define MALLOCX_ARENA(a) ((int)(((unsigned)(a) + 1) << 20))
#define MALLCTL_ARENAS_ALL 4096
#define MALLCTL_ARENAS_DESTROYED 4097

void *HM_PUBLIC(mallocx)(size_t size, int flags) HM_NOTHROW HM_ATTR_MALLOC HM_ATTR_ALLOC_SIZE(1);
void *HM_PUBLIC(rallocx)(void *ptr, size_t size, int flags) HM_NOTHROW HM_ATTR_ALLOC_SIZE(2);
size_t HM_PUBLIC(xallocx)(void *ptr, size_t size, size_t extra, int flags) HM_NOTHROW;
size_t HM_PUBLIC(sallocx)(const void *ptr, int flags) HM_NOTHROW;
void HM_PUBLIC(dallocx)(void *ptr, int flags) HM_NOTHROW;
void HM_PUBLIC(sdallocx)(void *ptr, size_t size, int flags) HM_NOTHROW;
size_t HM_PUBLIC(nallocx)(size_t size, int flags) HM_NOTHROW;
int HM_PUBLIC(mallctl)(const char *name, void *oldp, size_t *oldlenp, void *newp,
    size_t newlen) HM_NOTHROW;
int HM_PUBLIC(mallctlnametomib)(const char *name, size_t *mibp, size_t *miblenp) HM_NOTHROW;
int HM_PUBLIC(mallctlbymib)(const size_t *mib, size_t miblen, void *oldp,
    size_t *oldlenp, void *newp, size_t newlen) HM_NOTHROW;
void HM_PUBLIC(malloc_stats_print)(void (*write_cb)(void *, const char *),
    void *cbopaque, const char *opts) HM_NOTHROW;

/*
 * The message hook: every line hmalloc prints (statistics, errors, conf
 * warnings) goes through it when set; by default it writes to stderr.
 */
extern void (*HM_PUBLIC(malloc_message))(void *cbopaque, const char *s);

/*
 * Options a program compiles in: define `const char *malloc_conf =
 * "narenas:2";` in the executable.  See hmalloc(3) for how it is found.
 */
extern const char *HM_PUBLIC(malloc_conf);

/* hmalloc's own calls. */

/*
 * Runs fn(arg) once hmalloc has finished initialising, outside its locks
 * (fn may allocate).  Initialises hmalloc first if nothing has yet, so fn
 * always runs before this returns.  Returns 0, EINVAL if fn is NULL, or
 * ENOMEM if hmalloc could not initialise.
 */
int HM_PUBLIC(hmalloc_atinit)(void (*fn)(void *arg), void *arg) HM_THROW;

/*
 * A program may define this function; hmalloc calls it once, at the end of
 * its initialisation, outside its locks.  It may allocate.
 */
void HM_PUBLIC(hmalloc_post_init)(void);

#ifdef __cplusplus
}
#endif

#endif /* HMALLOC_H */
