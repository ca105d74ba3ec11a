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
 */
#ifndef HM_OS_H
#define HM_OS_H

#include <stdbool.h>
#include <stddef.h>

enum { DSS_DISABLED, DSS_PRIMARY, DSS_SECONDARY };
extern unsigned opt_dss;  /* DSS_* */
extern const char *const hm_dss_names[3];

/*
 * Maps size bytes (a multiple of the page) aligned to align (a power of two
 * >= the page).  Returns NULL with errno ENOMEM on failure.  *zeroed tells
 * whether the memory is known to be zero-filled.  dss: DSS_DISABLED, or for
 * an arena chunk (all such requests have one size) the arena's setting.
 */
void *hm_os_map(size_t size, size_t align, unsigned dss, bool *zeroed);

/* Gives a mapping back.  Data-segment memory is purged instead. */
void hm_os_unmap(void *addr, size_t size);

/* Drops the pages' contents and memory; they read back as zero. */
void hm_os_purge(void *addr, size_t size);

/*
 * Grows a mapping in place (no move).  Returns true on success.  Never
 * succeeds for data-segment memory.
 */
bool hm_os_grow_in_place(void *addr, size_t oldsize, size_t newsize);

/*
 * Moves a mapping to a new address aligned to align, growing it to newsize,
 * without copying (mremap).  Returns NULL (errno ENOMEM) on failure, with
 * the old mapping untouched.
 */
void *hm_os_move(void *addr, size_t oldsize, size_t newsize, size_t align);

/* True if addr lies in memory hmalloc took from the data segment. */
bool hm_os_in_dss(const void *addr);

/* Fork handlers for the data-segment lock. */
void hm_os_prefork(void);
void hm_os_postfork_parent(void);
void hm_os_postfork_child(void);

/* Number of CPUs this process may run on (sched_getaffinity). */
unsigned hm_os_ncpus(void);

/* Counters for statistics: bytes currently mapped from the system. */
size_t hm_os_mapped_bytes(void);

#endif /* HM_OS_H */
