/*
 * vg.h: Valgrind client requests, in builds with HM_VALGRIND (make
 * valgrind), so that memcheck knows hmalloc's blocks as it knows glibc's:
 * reads of freed or never-written memory, overruns into free space, and
 * leaks.  Blocks are announced at the API boundary (alloc.c): allocated
 * once every internal write to them is done, freed before they go back
 * to a structure another thread could take them from.  Such builds keep
 * no thread caches (their tags are written into freed blocks), so
 * hmalloc never reads a live or freed block's words itself.  memcheck
 * must be told to leave hmalloc's malloc in place
 * (--soname-synonyms=somalloc=nouserintercepts), or it replaces it with
 * its own.  Metadata is hidden from the exit-time leak check (vg.c).
 * Without HM_VALGRIND every request is nothing.
 */
#ifndef HM_VG_H
#define HM_VG_H

#include <stdbool.h>
#include <stddef.h>

#ifdef HM_VALGRIND
#include <valgrind/memcheck.h>
static const bool config_valgrind = true;
#define vg_malloc(p, size, zeroed)                                         \
	VALGRIND_MALLOCLIKE_BLOCK((p), (size), 0, (zeroed))
#define vg_free(p) VALGRIND_FREELIKE_BLOCK((p), 0)
#define vg_resize(p, oldsize, newsize)                                     \
	VALGRIND_RESIZEINPLACE_BLOCK((p), (oldsize), (newsize), 0)
#define vg_defined(p, size) VALGRIND_MAKE_MEM_DEFINED((p), (size))
/* The quarantine by default, as memcheck's own allocator holds freed
 * blocks back (--freelist-vol, 20 MB), so that a freed block is not handed
 * out again at once and a read through its old pointer is still found. */
#define VG_QUARANTINE ((size_t)20 << 20)
/* Free memory hmalloc is about to write (zeroing a block it hands out):
 * memcheck keeps a freed block inaccessible. */
#define vg_undefined(p, size) VALGRIND_MAKE_MEM_UNDEFINED((p), (size))

#include <stdatomic.h>
/* A metadata mapping (pages.c), hidden from the leak check at exit. */
void hm_vg_metadata_mapped(void *addr, size_t size);
/* Set once the metadata is hidden (the last destructor has run). */
extern atomic_bool hm_vg_hidden;
/* Makes the metadata accessible again, for a call after the hiding. */
void hm_vg_metadata_show(void);
static inline bool
vg_hidden(void) {
	return atomic_load_explicit(&hm_vg_hidden, memory_order_relaxed);
}
/* Whether memcheck holds p inaccessible: a block freed already (asking
 * reports nothing). */
static inline bool
vg_inaccessible(const void *p) {
	unsigned char v;
	return VALGRIND_GET_VBITS(p, &v, 1) == 3;
}
/* At the start of a call that reads metadata. */
static inline void
vg_awake(void) {
	if (__builtin_expect(vg_hidden(), 0))
		hm_vg_metadata_show();
}
#else
static const bool config_valgrind = false;
#define vg_malloc(p, size, zeroed) ((void)0)
#define vg_free(p) ((void)0)
#define vg_resize(p, oldsize, newsize) ((void)0)
#define vg_defined(p, size) ((void)0)
#define vg_undefined(p, size) ((void)0)
#define VG_QUARANTINE ((size_t)0)
#define hm_vg_metadata_mapped(addr, size) ((void)0)
#define hm_vg_metadata_show() ((void)0)
#define vg_hidden() false
#define vg_awake() ((void)0)
#define vg_inaccessible(p) false
#endif

#endif /* HM_VG_H */
