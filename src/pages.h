/*
 * pages.h: where heap memory comes from and where it goes back: the page
 * source above os.c's system calls.
 *
 * Memory comes from mmap, or from the data segment (brk) when the dss
 * option asks for it: "primary" tries brk first, "secondary" (the default)
 * falls back to brk when mmap fails, "disabled" never uses it; each arena
 * has its own setting (arena.<i>.dss), from the option.  Only arena
 * chunks use brk; memory from brk cannot be unmapped, so a freed brk
 * chunk is purged and kept on a free stack for the next chunk request.
 *
 * With opt.retain (the default), mmap'd memory given back keeps its
 * address range: it is purged and kept in a retained pool, which later
 * mappings are cut from (see pages.c).  Statistics count it apart:
 * "mapped" is memory in use, "retained" the pool.
 *
 * Two kinds of mapping: data (arena chunks and huge blocks,
 * hm_pages_map), which may come from the retained pool and is advised by
 * opt.thp, and metadata (base blocks, the chunk map's root,
 * hm_pages_map_metadata), which is never given back, never comes from the
 * pool and is advised only through hm_os_metadata_hugepage()
 * (opt.metadata_thp, base.c).
 */
#ifndef HM_PAGES_H
#define HM_PAGES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* opt.retain: unmapped memory keeps its address range, purged, for the
 * next mapping. */
HM_EXTERN bool opt_retain;

/*
 * An address-space limit (RLIMIT_AS, or RLIMIT_DATA, which counts private
 * writable mappings): address space that hmalloc keeps for reuse holds
 * room the rest of the process may need (thread stacks, libraries, other
 * allocators' mappings), and their mmap failures never reach hmalloc.  So
 * while the process has one, nothing is retained (the pool is given back
 * and unmapped ranges are unmapped), and wholly free chunks and freed huge
 * blocks are given back at once rather than over the decay time.
 *
 * hm_pages_limit_check() reads the limits (two system calls) and returns
 * whether there is one, releasing the pool if so; it runs before each
 * fresh mapping, at each unmapping, and on each pass of the purging
 * thread.  hm_pages_limited() is its last answer, for the free paths.
 */
bool hm_pages_limit_check(void);
HM_EXTERN atomic_bool hm_pages_limited_now;

static inline bool
hm_pages_limited(void) {
	return atomic_load_explicit(&hm_pages_limited_now, memory_order_relaxed);
}

/*
 * Maps size bytes (a multiple of the page) of data (an arena chunk or a
 * huge block) aligned to align (a power of two >= the page): from the
 * retained pool when a range fits, else fresh.  Advised as opt.thp asks.
 * Returns NULL with errno ENOMEM on failure.  *zeroed tells whether the
 * memory is known to be zero-filled.  dss: DSS_DISABLED, or for an arena
 * chunk (all such requests have one size) the arena's setting.
 */
void *hm_pages_map(size_t size, size_t align, unsigned dss, bool *zeroed);

/*
 * Maps metadata: fresh memory (never from the retained pool), not advised,
 * counted as mapped.  Never given back.  NULL with errno ENOMEM.
 */
void *hm_pages_map_metadata(size_t size, size_t align, bool *zeroed);

/*
 * Guard pages (the guard option, secure.h): with hm_pages_guard_metadata
 * set (before the first metadata mapping), every page-aligned metadata
 * mapping gets an inaccessible page on each side (hm_os_guard()).
 */
HM_EXTERN bool hm_pages_guard_metadata;

/*
 * Gives data back (all or part of what hm_pages_map, hm_pages_grow or
 * hm_pages_move returned).  Data-segment memory is purged and kept for the
 * next chunk; with opt.retain, mmap'd memory is purged and goes to the
 * retained pool; otherwise it is unmapped.
 */
void hm_pages_unmap(void *addr, size_t size);

/*
 * Grows a mapping in place (no move): over the retained range that follows
 * it, or over free address space.  The added pages read as zero.  Returns
 * true on success.  Never succeeds for data-segment memory.
 */
bool hm_pages_grow(void *addr, size_t oldsize, size_t newsize);

/*
 * Moves a mapping to a new address aligned to align (a retained range when
 * one fits), growing it to newsize, without copying (mremap); the kernel
 * unmaps the old range.  dest, when not NULL, is the destination instead:
 * a data mapping of newsize bytes of the caller's (a cached block), whose
 * pages the move replaces; if the move fails, dest is unmapped all the
 * same.  Returns NULL (errno ENOMEM) on failure, with the old mapping
 * untouched: also when the old range spans several kernel mappings,
 * which mremap refuses on older kernels (the caller copies).  claim(dest,
 * arg), when not NULL, is called once the destination is reserved and
 * before anything moves: the caller prepares its metadata for the new
 * address there, and a false return fails the move (ENOMEM) with nothing
 * changed (dest, when given, left as it was).  A block that could grow
 * where it is does not move and is returned at addr without claim (dest
 * untouched).
 */
void *hm_pages_move(void *addr, size_t oldsize, size_t newsize, size_t align,
    void *dest, bool (*claim)(void *dest, void *arg), void *arg);

/* Counters for statistics: bytes in the retained pool, the number of
 * its ranges, and the pages holding the pool's own nodes (metadata). */
size_t hm_pages_retained_bytes(void);
size_t hm_pages_retained_ranges(void);
size_t hm_pages_metadata_bytes(void);

/* Unmaps every retained range; returns the bytes given back.  hm_pages_map
 * does it by itself when the kernel refuses new address space. */
size_t hm_pages_retained_release(void);

/* Fork handlers for the retained pool's lock. */
void hm_pages_prefork(void);
void hm_pages_postfork_parent(void);
void hm_pages_postfork_child(void);

#endif /* HM_PAGES_H */
