/*
 * vg.c: see vg.h.  Valgrind builds only: the metadata ranges, hidden from
 * memcheck's leak check at exit.
 *
 * Run and huge descriptors hold the start address of the block they
 * describe (a Large run's or a huge block's, a slab's first region), so
 * to memcheck's leak check, which scans every mapping outside heap
 * blocks for pointers, a block the program lost would look reachable
 * through them.  The metadata mappings are therefore made inaccessible
 * after everything else of the process has run (the last destructor of
 * this library, after the program's exit handlers and destructors); the
 * leak check skips inaccessible memory.  Frees that come later (libc's
 * own, __libc_freeres, which valgrind runs at exit) are only announced
 * (the block stays out of use); any other call brings the metadata back
 * first.
 */
#include "vg.h"

#ifdef HM_VALGRIND

#include <stdatomic.h>
#include <stddef.h>

/* Enough for gigabytes of metadata (base maps 256 KiB at a time); past
 * it, ranges are not hidden and their pointers count as references. */
#define VG_NRANGES 16384

static struct {
	void *addr;
	size_t size;
} vg_ranges[VG_NRANGES];
static atomic_uint vg_nranges;
atomic_bool hm_vg_hidden;

void
hm_vg_metadata_mapped(void *addr, size_t size) {
	unsigned i = atomic_fetch_add_explicit(&vg_nranges, 1,
	    memory_order_relaxed);
	if (i >= VG_NRANGES)
		return;
	vg_ranges[i].addr = addr;
	vg_ranges[i].size = size;
}

static unsigned
vg_count(void) {
	unsigned n = atomic_load_explicit(&vg_nranges, memory_order_relaxed);
	return n < VG_NRANGES ? n : VG_NRANGES;
}

void
hm_vg_metadata_show(void) {
	unsigned n = vg_count();
	for (unsigned i = 0; i < n; i++)
		VALGRIND_MAKE_MEM_DEFINED(vg_ranges[i].addr, vg_ranges[i].size);
	atomic_store_explicit(&hm_vg_hidden, false, memory_order_relaxed);
}

/* The last destructor of the library (priority 101 runs last). */
__attribute__((destructor(101))) static void
vg_metadata_hide(void) {
	if (!RUNNING_ON_VALGRIND)
		return;
	atomic_store_explicit(&hm_vg_hidden, true, memory_order_relaxed);
	unsigned n = vg_count();
	for (unsigned i = 0; i < n; i++)
		VALGRIND_MAKE_MEM_NOACCESS(vg_ranges[i].addr, vg_ranges[i].size);
}

#else
typedef int hm_vg_unused_t; /* an empty translation unit is not C */
#endif
