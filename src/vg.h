/*
 * vg.h: Valgrind client requests, in builds with HM_VALGRIND (make
 * valgrind), so that memcheck knows hmalloc's blocks as it knows glibc's:
 * reads of freed or never-written memory, overruns into free space, and
 * leaks.  Blocks are announced at the API boundary (api.c): allocated
 * once every internal write to them is done, freed before they go back
 * to a structure another thread could take them from.  Such builds keep
 * no thread caches (their tags are written into freed blocks).  Without
 * HM_VALGRIND every request is nothing.
 */
#ifndef HM_VG_H
#define HM_VG_H

#ifdef HM_VALGRIND
#include <valgrind/memcheck.h>
static const bool config_valgrind = true;
#define vg_malloc(p, size, zeroed)                                         \
	VALGRIND_MALLOCLIKE_BLOCK((p), (size), 0, (zeroed))
#define vg_free(p) VALGRIND_FREELIKE_BLOCK((p), 0)
#define vg_resize(p, oldsize, newsize)                                     \
	VALGRIND_RESIZEINPLACE_BLOCK((p), (oldsize), (newsize), 0)
#define vg_defined(p, size) VALGRIND_MAKE_MEM_DEFINED((p), (size))
#else
static const bool config_valgrind = false;
#define vg_malloc(p, size, zeroed) ((void)0)
#define vg_free(p) ((void)0)
#define vg_resize(p, oldsize, newsize) ((void)0)
#define vg_defined(p, size) ((void)0)
#endif

#endif /* HM_VG_H */
