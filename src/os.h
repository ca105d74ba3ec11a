/*
 * os.h: the operating system behind one small interface.  os.c is the only
 * module that maps, unmaps, advises or moves memory, so that fault injection
 * and accounting have one place to stand; which range to map, and what to
 * keep, is pages.c's choice (pages.h).
 *
 * The options that choose the source (dss) and the advice (thp,
 * metadata_thp) are defined here, with the calls that act on them.
 */
#ifndef HM_OS_H
#define HM_OS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/* MADV_HUGEPAGE on metadata (opt.metadata_thp; base.c decides when). */
void hm_os_metadata_hugepage(void *addr, size_t size);

/* Drops the pages' contents and memory; they read back as zero (if the
 * kernel refuses, they are cleared, and stay resident). */
void hm_os_purge(void *addr, size_t size);
/* Purges lazily (MADV_FREE): false where the kernel cannot, and then the
 * caller purges for good. */
bool hm_os_purge_lazy(void *addr, size_t size);

/* True if addr lies in memory hmalloc took from the data segment. */
bool hm_os_in_dss(const void *addr);
/* size bytes of the data segment aligned to align, or NULL (ENOMEM);
 * *zeroed tells whether they are known to be zero. */
void *hm_os_dss_alloc(size_t size, size_t align, bool *zeroed);
/* A chunk of the data segment given back: purged, kept for the next. */
void hm_os_dss_free(void *addr, size_t size);

/* Fresh address space: size bytes aligned to align (a power of two >= the
 * page), read-write, zero; NULL with errno ENOMEM. */
void *hm_os_map_aligned(size_t size, size_t align);
/* Maps [addr, addr + size) if none of it is mapped.  True on success. */
bool hm_os_mmap_at(uintptr_t addr, size_t size);
/* Maps [addr, addr + size) afresh over what is there (ours).  False if
 * the kernel refused, after which part of the range may be unmapped. */
bool hm_os_mmap_fixed(uintptr_t addr, size_t size);
/* Unmaps a range hmalloc is done with; if the kernel refuses, the range
 * stays mapped, purged if it can be, and counted as mapped for good. */
void hm_os_munmap(void *addr, size_t size);
/* munmap itself: true if the range is unmapped, nothing counted. */
bool hm_os_unmap_range(void *addr, size_t size);
/* MADV_DONTNEED: true if the pages are dropped (they read back as zero). */
bool hm_os_dontneed(void *addr, size_t size);
/* mremap without moving: true if the mapping now has newsize bytes; on
 * failure errno tells why (EFAULT: the range spans several mappings). */
bool hm_os_remap_in_place(void *addr, size_t oldsize, size_t newsize);
/* mremap to dest (MREMAP_FIXED); the old range is unmapped.  NULL if the
 * kernel refused, after which what is at dest is unknown. */
void *hm_os_remap_to(void *addr, size_t oldsize, size_t newsize, void *dest);
/* opt.thp's advice on a data range. */
void hm_os_thp_data(void *addr, size_t size);
/* Whether the process has an address-space limit (RLIMIT_AS or
 * RLIMIT_DATA): two system calls (pages.h says what follows from it). */
bool hm_os_limit_set(void);

/*
 * Guard pages (the guard option, secure.h): hm_os_guard() makes a range
 * fault on any access (false if the kernel refused: each guard splits a
 * mapping, and the kernel limits a process's mappings); hm_os_unguard()
 * makes it ordinary memory again, before it is unmapped or retained.
 */
bool hm_os_guard(void *addr, size_t size);
bool hm_os_unguard(void *addr, size_t size);
/* Address space only: size bytes no access may touch until
 * hm_os_unguard() opens part of it; NULL if the kernel refused. */
void *hm_os_reserve(size_t size);

/* Fork handlers for the data-segment lock. */
void hm_os_prefork(void);
void hm_os_postfork_parent(void);
void hm_os_postfork_child(void);

/* Number of CPUs this process may run on (sched_getaffinity). */
unsigned hm_os_ncpus(void);

/* Bytes mapped from the system and in use by hmalloc (data and metadata;
 * not the retained pool); pages.c counts what it hands out and takes
 * back. */
size_t hm_os_mapped_bytes(void);
void hm_os_mapped_add(size_t size);
void hm_os_mapped_sub(size_t size);

/* Reads up to size bytes of a file (a /proc file) without allocating;
 * the count read, or -1. */
ssize_t hm_os_read_file(const char *path, char *buf, size_t size);

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
