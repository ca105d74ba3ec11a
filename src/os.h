/*
 * os.h: the operating system behind one small interface.  os.c is the only
 * module that maps, unmaps, advises or moves memory, so that fault injection
 * and accounting have one place to stand.
 *
 * Memory comes from mmap, or from the data segment (brk) when the dss
 * option asks for it: "primary" tries brk first, "secondary" (the default)
 * falls back to brk when mmap fails, "disabled" never uses it; each arena
 * has its own setting (arena.<i>.dss), from the option.  Only arena
 * chunks use brk; memory from brk cannot be
 * unmapped, so a freed brk chunk is purged and kept on a free stack for the
 * next chunk request.
 *
 * With opt.retain (the default), mmap'd memory given back keeps its
 * address range: it is purged and kept in a retained pool, which later
 * mappings are cut from (see os.c).  Statistics count it apart: "mapped"
 * is memory in use, "retained" the pool (hm_os_retained_bytes()).
 *
 * Two kinds of mapping: data (arena chunks and huge blocks, hm_os_map),
 * which may come from the retained pool and is advised by opt.thp, and
 * metadata (base blocks, the chunk map's root, hm_os_map_metadata), which
 * is never given back, never comes from the pool and is advised only
 * through hm_os_metadata_hugepage() (opt.metadata_thp, base.c).
 */
#ifndef HM_OS_H
#define HM_OS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util.h"

enum { DSS_DISABLED, DSS_PRIMARY, DSS_SECONDARY };
HM_EXTERN unsigned opt_dss;  /* DSS_* */
HM_EXTERN const char *const hm_dss_names[3];

/* Transparent huge pages (opt.thp) for arena chunks and huge blocks,
 * and for metadata (opt.metadata_thp). */
enum { THP_DEFAULT, THP_ALWAYS, THP_NEVER };
HM_EXTERN unsigned opt_thp;
HM_EXTERN const char *const hm_thp_names[3];
enum { METADATA_THP_DISABLED, METADATA_THP_AUTO, METADATA_THP_ALWAYS };
HM_EXTERN unsigned opt_metadata_thp;
HM_EXTERN const char *const hm_metadata_thp_names[3];

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
 * hm_os_limit_check() reads the limits (two system calls) and returns
 * whether there is one, releasing the pool if so; it runs before each
 * fresh mapping, at each unmapping, and on each pass of the purging
 * thread.  hm_os_limited() is its last answer, for the free paths.
 */
bool hm_os_limit_check(void);
HM_EXTERN atomic_bool hm_os_limited_now;

static inline bool
hm_os_limited(void) {
	return atomic_load_explicit(&hm_os_limited_now, memory_order_relaxed);
}

/*
 * Maps size bytes (a multiple of the page) of data (an arena chunk or a
 * huge block) aligned to align (a power of two >= the page): from the
 * retained pool when a range fits, else fresh.  Advised as opt.thp asks.
 * Returns NULL with errno ENOMEM on failure.  *zeroed tells whether the
 * memory is known to be zero-filled.  dss: DSS_DISABLED, or for an arena
 * chunk (all such requests have one size) the arena's setting.
 */
void *hm_os_map(size_t size, size_t align, unsigned dss, bool *zeroed);

/*
 * Maps metadata: fresh memory (never from the retained pool), not advised,
 * counted as mapped.  Never given back.  NULL with errno ENOMEM.
 */
void *hm_os_map_metadata(size_t size, size_t align, bool *zeroed);

/*
 * Guard pages (the guard option, secure.h): with hm_os_guard_metadata set
 * (before the first metadata mapping), every page-aligned metadata
 * mapping gets an inaccessible page on each side.  hm_os_guard() makes a
 * range fault on any access (false if the kernel refused: each guard
 * splits a mapping, and the kernel limits a process's mappings);
 * hm_os_unguard() makes it ordinary memory again, before it is unmapped or
 * retained.
 */
HM_EXTERN bool hm_os_guard_metadata;
bool hm_os_guard(void *addr, size_t size);
void hm_os_unguard(void *addr, size_t size);

/* MADV_HUGEPAGE on metadata (opt.metadata_thp; base.c decides when). */
void hm_os_metadata_hugepage(void *addr, size_t size);

/*
 * Gives data back (all or part of what hm_os_map, hm_os_grow_in_place or
 * hm_os_move returned).  Data-segment memory is purged and kept for the
 * next chunk; with opt.retain, mmap'd memory is purged and goes to the
 * retained pool; otherwise it is unmapped.
 */
void hm_os_unmap(void *addr, size_t size);

/* Drops the pages' contents and memory; they read back as zero (if the
 * kernel refuses, they are cleared, and stay resident). */
void hm_os_purge(void *addr, size_t size);
/* Purges lazily (MADV_FREE): false where the kernel cannot, and then the
 * caller purges for good. */
bool hm_os_purge_lazy(void *addr, size_t size);

/*
 * Grows a mapping in place (no move): over the retained range that follows
 * it, or over free address space.  The added pages read as zero.  Returns
 * true on success.  Never succeeds for data-segment memory.
 */
bool hm_os_grow_in_place(void *addr, size_t oldsize, size_t newsize);

/*
 * Moves a mapping to a new address aligned to align (a retained range when
 * one fits), growing it to newsize, without copying (mremap); the kernel
 * unmaps the old range.  Returns NULL (errno ENOMEM) on failure, with the
 * old mapping untouched: also when the old range spans several kernel
 * mappings, which mremap refuses on older kernels (the caller copies).
 * claim(dest, arg), when not NULL, is called once the destination is
 * reserved and before anything moves: the caller prepares its metadata
 * for the new address there, and a false return fails the move (ENOMEM)
 * with nothing changed.  A block that could grow where it is does not
 * move and is returned at addr without claim.
 */
void *hm_os_move(void *addr, size_t oldsize, size_t newsize, size_t align,
    bool (*claim)(void *dest, void *arg), void *arg);

/* True if addr lies in memory hmalloc took from the data segment. */
bool hm_os_in_dss(const void *addr);

/* Fork handlers for the data-segment and retained-pool locks. */
void hm_os_prefork(void);
void hm_os_postfork_parent(void);
void hm_os_postfork_child(void);

/* Number of CPUs this process may run on (sched_getaffinity). */
unsigned hm_os_ncpus(void);

/* Reads up to size bytes of a file (a /proc file) without allocating;
 * the count read, or -1. */
ssize_t hm_os_read_file(const char *path, char *buf, size_t size);

/* Counters for statistics: bytes mapped from the system and in use by
 * hmalloc (data and metadata; not the retained pool), bytes in the
 * retained pool, and the number of its ranges. */
size_t hm_os_mapped_bytes(void);
size_t hm_os_retained_bytes(void);
size_t hm_os_retained_ranges(void);

/* Unmaps every retained range; returns the bytes given back.  hm_os_map
 * does it by itself when the kernel refuses new address space. */
size_t hm_os_retained_release(void);

#ifdef HM_FAULT_INJECT
/*
 * Fault injection, in test builds (-DHM_FAULT_INJECT) only.  Every
 * system call os.c makes is counted by kind; the chosen one fails as the
 * kernel would fail it (MAP_FAILED or -1, errno ENOMEM) without being
 * made, so that the error paths above run for real.
 */
enum {
	HM_OS_MMAP,     /* mmap, also over a range (MAP_FIXED) */
	HM_OS_MUNMAP,
	HM_OS_MADVISE,  /* purges and THP advice */
	HM_OS_MREMAP,
	HM_OS_SBRK,     /* sbrk(0) included */
	HM_OS_NKINDS
};
/* Restarts the count and fails the nth call from now (1 = the next one;
 * 0: none), and every call after it too if and_later. */
void hm_os_fault_set(unsigned long n, bool and_later);
/* Calls of one kind made since hm_os_fault_set, failed ones included;
 * HM_OS_NKINDS: of every kind. */
unsigned long hm_os_fault_calls(unsigned kind);
/* Calls of one kind (HM_OS_NKINDS: any) failed since then. */
unsigned long hm_os_fault_failed(unsigned kind);
/* Sum of the size arguments of the failed calls of one kind. */
size_t hm_os_fault_failed_bytes(unsigned kind);
#endif

#endif /* HM_OS_H */
