/*
 * <jemalloc/jemalloc.h> for hmalloc.
 *
 * A program written against jemalloc 5.3 includes this path and links with
 * -lhmalloc (pkg-config --cflags --libs hmalloc puts the right directory on
 * the include path) without changing a line.  The API itself (mallocx,
 * rallocx, xallocx, sallocx, dallocx, sdallocx, nallocx, the mallctl calls,
 * malloc_stats_print, malloc_message, malloc_conf and the MALLOCX_* and
 * MALLCTL_ARENAS_* macros) is declared by <hmalloc.h>, with jemalloc's names,
 * types and flag bits.  This file adds the rest of what jemalloc's installed
 * header offers on Linux:
 *
 *   - JEMALLOC_VERSION and its parts: the jemalloc API level that hmalloc
 *     implements, not hmalloc's own release (HMALLOC_VERSION, which is also
 *     what mallctl("version") answers);
 *   - the configuration macros programs test with #ifdef
 *     (JEMALLOC_HAVE_ATTR, JEMALLOC_USABLE_SIZE_CONST, ...) and the
 *     attribute helpers built on them (JEMALLOC_ATTR, JEMALLOC_NOTHROW, ...);
 *   - the extent hook types (extent_hooks_t and its function types);
 *   - the je_-prefixed names, when the program asks for them by defining
 *     JEMALLOC_NO_DEMANGLE (or JEMALLOC_MANGLE).
 */
#ifndef HMALLOC_JEMALLOC_H
#define HMALLOC_JEMALLOC_H

/* Brought in by jemalloc's header too; some programs rely on that. */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>

#include <hmalloc.h>

/*
 * The jemalloc API level hmalloc implements: 5.3.0.  The string keeps
 * jemalloc's "MAJOR.MINOR.BUGFIX-NREV-gGID" shape for code that parses it;
 * hmalloc is not built from a jemalloc commit, so its GID is forty zeros.
 *
 * JEMALLOC_VERSION_GID_IDENT is not defined: jemalloc uses it only to spell
 * the name of its experimental smallocx_<gid> entry point, which hmalloc does
 * not have, so code guarded by it stays out.
 */
#define JEMALLOC_VERSION_MAJOR 5
#define JEMALLOC_VERSION_MINOR 3
#define JEMALLOC_VERSION_BUGFIX 0
#define JEMALLOC_VERSION_NREV 0
#define JEMALLOC_VERSION_GID "0000000000000000000000000000000000000000"
#define JEMALLOC_VERSION "5.3.0-0-g0000000000000000000000000000000000000000"

/*
 * Configuration macros, set as a jemalloc build on Linux with this compiler
 * would set them.  Each is defined (empty) or not; programs test them with
 * #ifdef.
 */
#if defined(__GNUC__) || defined(__clang__)
#  define JEMALLOC_HAVE_ATTR
#  define JEMALLOC_HAVE_ATTR_ALLOC_SIZE
#  define JEMALLOC_HAVE_ATTR_FORMAT_ARG
#  define JEMALLOC_HAVE_ATTR_FORMAT_PRINTF
#  define JEMALLOC_HAVE_ATTR_COLD
#  if !defined(__clang__)
/* clang has no gnu_printf format archetype. */
#    define JEMALLOC_HAVE_ATTR_FORMAT_GNU_PRINTF
#  endif
#  if defined(__has_attribute)
#    if __has_attribute(fallthrough)
#      define JEMALLOC_HAVE_ATTR_FALLTHROUGH
#    endif
#  endif
#endif

/* memalign and valloc are replaced (and declared by <hmalloc.h>). */
#define JEMALLOC_OVERRIDE_MEMALIGN
#define JEMALLOC_OVERRIDE_VALLOC

/*
 * Expands to what qualifies malloc_usable_size's parameter: nothing, since
 * hmalloc, like glibc, declares it size_t malloc_usable_size(void *).
 */
#define JEMALLOC_USABLE_SIZE_CONST

/*
 * JEMALLOC_HAVE_MALLOC_SIZE stays undefined: malloc_size() is the macOS
 * spelling and neither jemalloc on Linux nor hmalloc provides it.
 */

/*
 * In C++ the standard calls carry glibc's exception specification (as
 * <hmalloc.h> declares them); JEMALLOC_CXX_THROW below spells it.
 */
#define JEMALLOC_USE_CXX_THROW

/* log2 of sizeof(void *). */
#if defined(__SIZEOF_POINTER__) && __SIZEOF_POINTER__ == 4
#  define LG_SIZEOF_PTR 2
#else
#  define LG_SIZEOF_PTR 3
#endif

/*
 * Helper macros jemalloc's header exports for declarations.  noexcept(true)
 * rather than throw(): the same meaning as glibc's __THROW from C++11 on,
 * and still valid in C++20, which removed throw().
 */
#if defined(__cplusplus) && defined(JEMALLOC_USE_CXX_THROW)
#  if __cplusplus >= 201103L
#    define JEMALLOC_CXX_THROW noexcept(true)
#  else
#    define JEMALLOC_CXX_THROW throw()
#  endif
#else
#  define JEMALLOC_CXX_THROW
#endif

#ifdef JEMALLOC_HAVE_ATTR
#  define JEMALLOC_ATTR(s) __attribute__((s))
#  define JEMALLOC_ALIGNED(s) JEMALLOC_ATTR(aligned(s))
#  ifdef JEMALLOC_HAVE_ATTR_ALLOC_SIZE
#    define JEMALLOC_ALLOC_SIZE(s) JEMALLOC_ATTR(alloc_size(s))
#    define JEMALLOC_ALLOC_SIZE2(s1, s2) JEMALLOC_ATTR(alloc_size(s1, s2))
#  else
#    define JEMALLOC_ALLOC_SIZE(s)
#    define JEMALLOC_ALLOC_SIZE2(s1, s2)
#  endif
#  ifndef JEMALLOC_EXPORT
#    define JEMALLOC_EXPORT JEMALLOC_ATTR(visibility("default"))
#  endif
#  ifdef JEMALLOC_HAVE_ATTR_FORMAT_ARG
#    define JEMALLOC_FORMAT_ARG(i) JEMALLOC_ATTR(__format_arg__(i))
#  else
#    define JEMALLOC_FORMAT_ARG(i)
#  endif
#  if defined(JEMALLOC_HAVE_ATTR_FORMAT_GNU_PRINTF)
#    define JEMALLOC_FORMAT_PRINTF(s, i) JEMALLOC_ATTR(format(gnu_printf, s, i))
#  elif defined(JEMALLOC_HAVE_ATTR_FORMAT_PRINTF)
#    define JEMALLOC_FORMAT_PRINTF(s, i) JEMALLOC_ATTR(format(printf, s, i))
#  else
#    define JEMALLOC_FORMAT_PRINTF(s, i)
#  endif
#  ifdef JEMALLOC_HAVE_ATTR_FALLTHROUGH
#    define JEMALLOC_FALLTHROUGH JEMALLOC_ATTR(fallthrough)
#  else
#    define JEMALLOC_FALLTHROUGH
#  endif
#  ifdef JEMALLOC_HAVE_ATTR_COLD
#    define JEMALLOC_COLD JEMALLOC_ATTR(__cold__)
#  else
#    define JEMALLOC_COLD
#  endif
#  define JEMALLOC_NOINLINE JEMALLOC_ATTR(noinline)
#  define JEMALLOC_NOTHROW JEMALLOC_ATTR(nothrow)
#  define JEMALLOC_SECTION(s) JEMALLOC_ATTR(section(s))
#else
#  define JEMALLOC_ATTR(s)
#  define JEMALLOC_ALIGNED(s)
#  define JEMALLOC_ALLOC_SIZE(s)
#  define JEMALLOC_ALLOC_SIZE2(s1, s2)
#  ifndef JEMALLOC_EXPORT
#    define JEMALLOC_EXPORT
#  endif
#  define JEMALLOC_FORMAT_ARG(i)
#  define JEMALLOC_FORMAT_PRINTF(s, i)
#  define JEMALLOC_FALLTHROUGH
#  define JEMALLOC_COLD
#  define JEMALLOC_NOINLINE
#  define JEMALLOC_NOTHROW
#  define JEMALLOC_SECTION(s)
#endif
/* Meaningful only to MSVC; empty here, as in jemalloc on Linux. */
#define JEMALLOC_RESTRICT_RETURN
#define JEMALLOC_ALLOCATOR
/* What the standard calls carry on Linux. */
#define JEMALLOC_SYS_NOTHROW JEMALLOC_NOTHROW

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Extent hooks.  jemalloc lets a program take over how an arena obtains,
 * commits, purges, splits, merges and returns its memory, by writing a
 * struct extent_hooks_s to mallctl("arena.<i>.extent_hooks") (or passing one
 * to "arenas.create").  hmalloc maps its chunks itself and has no such
 * control: "arena.<i>.extent_hooks" (read or written) and "arenas.create"
 * answer ENOENT, the error for an unknown name, so code that probes for hooks
 * finds them unsupported and takes its fallback.  The types are here, with
 * jemalloc's exact signatures, so that such code compiles.
 *
 * Every hook receives the hooks structure it was called through first and
 * the arena index last.  The bool-returning ones return false on success
 * and true to decline (jemalloc then carries on without the operation).
 *
 *   alloc(hooks, new_addr, size, alignment, *zero, *commit, arena_ind)
 *       returns a mapping of size bytes aligned to alignment (at new_addr
 *       if that is not NULL), or NULL; sets *zero / *commit if the memory
 *       is zeroed / committed.
 *   dalloc(hooks, addr, size, committed, arena_ind)     give back a mapping
 *   destroy(hooks, addr, size, committed, arena_ind)    unconditionally
 *   commit / decommit / purge_lazy / purge_forced
 *         (hooks, addr, size, offset, length, arena_ind)
 *       act on [addr + offset, addr + offset + length) of a mapping of size
 *   split(hooks, addr, size, size_a, size_b, committed, arena_ind)
 *       lets a mapping of size = size_a + size_b be treated as two
 *   merge(hooks, addr_a, size_a, addr_b, size_b, committed, arena_ind)
 *       lets two adjacent mappings be treated as one
 */
typedef struct extent_hooks_s extent_hooks_t;

typedef void *(extent_alloc_t)(extent_hooks_t *, void *, size_t, size_t,
    bool *, bool *, unsigned);
typedef bool (extent_dalloc_t)(extent_hooks_t *, void *, size_t, bool,
    unsigned);
typedef void (extent_destroy_t)(extent_hooks_t *, void *, size_t, bool,
    unsigned);
typedef bool (extent_commit_t)(extent_hooks_t *, void *, size_t, size_t,
    size_t, unsigned);
typedef bool (extent_decommit_t)(extent_hooks_t *, void *, size_t, size_t,
    size_t, unsigned);
typedef bool (extent_purge_t)(extent_hooks_t *, void *, size_t, size_t,
    size_t, unsigned);
typedef bool (extent_split_t)(extent_hooks_t *, void *, size_t, size_t,
    size_t, bool, unsigned);
typedef bool (extent_merge_t)(extent_hooks_t *, void *, size_t, void *,
    size_t, bool, unsigned);

/* Members in jemalloc's order; any of them may be NULL. */
struct extent_hooks_s {
	extent_alloc_t *alloc;
	extent_dalloc_t *dalloc;
	extent_destroy_t *destroy;
	extent_commit_t *commit;
	extent_decommit_t *decommit;
	extent_purge_t *purge_lazy;
	extent_purge_t *purge_forced;
	extent_split_t *split;
	extent_merge_t *merge;
};

#ifdef __cplusplus
}
#endif

/*
 * je_ names.  A default (unprefixed) jemalloc build offers je_malloc,
 * je_mallocx, ... as aliases of the plain names only when the program
 * defines JEMALLOC_NO_DEMANGLE before including this header.
 * JEMALLOC_MANGLE, meant for prefixed jemalloc builds, implies
 * JEMALLOC_NO_DEMANGLE as it does there; the plain names are not redefined,
 * so both spellings keep working.  hmalloc exports the plain names only, so
 * these are macros; jemalloc's malloc_conf_2_conf_harder and smallocx have no
 * hmalloc counterpart and no je_ name.
 */
#if defined(JEMALLOC_MANGLE) && !defined(JEMALLOC_NO_DEMANGLE)
#  define JEMALLOC_NO_DEMANGLE
#endif
#ifdef JEMALLOC_NO_DEMANGLE
#  define je_malloc malloc
#  define je_calloc calloc
#  define je_realloc realloc
#  define je_free free
#  define je_posix_memalign posix_memalign
#  define je_aligned_alloc aligned_alloc
#  define je_memalign memalign
#  define je_valloc valloc
#  define je_malloc_usable_size malloc_usable_size
#  define je_mallocx mallocx
#  define je_rallocx rallocx
#  define je_xallocx xallocx
#  define je_sallocx sallocx
#  define je_dallocx dallocx
#  define je_sdallocx sdallocx
#  define je_nallocx nallocx
#  define je_mallctl mallctl
#  define je_mallctlnametomib mallctlnametomib
#  define je_mallctlbymib mallctlbymib
#  define je_malloc_stats_print malloc_stats_print
#  define je_malloc_message malloc_message
#  define je_malloc_conf malloc_conf
#endif

#endif /* HMALLOC_JEMALLOC_H */
