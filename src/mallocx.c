/*
 * mallocx.c: jemalloc's own API: the *allocx family, mallctl and
 * malloc_stats_print.
 */
#include <errno.h>
#include <string.h>

#include <hmalloc.h>

#include "alloc.h"
#include "arena.h"
#include "ctl.h"
#include "init.h"
#include "trace.h"

#define MALLOCX_LG_ALIGN_MASK 0x3f
#define MALLOCX_ARENA_SHIFT 20

static inline size_t
mallocx_align(int flags) {
	unsigned lg = (unsigned)flags & MALLOCX_LG_ALIGN_MASK;
	return lg == 0 ? 0 : (size_t)1 << lg;
}

/* The cache a call may use: none for MALLOCX_TCACHE_NONE or an explicit
 * arena (cached blocks belong to any arena), cache n for
 * MALLOCX_TCACHE(n) (none if n was not created), else the thread's. */
static inline tcache_t *
mallocx_tcache(int flags) {
	unsigned field = ((unsigned)flags >> 8) & 0xfff;
	if (field == 1 || ((unsigned)flags >> MALLOCX_ARENA_SHIFT) != 0)
		return NULL;
	if (field >= 2)
		return hm_tcache_explicit_get(field - 2);
	return tsd_tcache();
}

/* The arena MALLOCX_ARENA names, NULL for the thread's; *bad when it
 * names one that cannot be used. */
static inline arena_t *
mallocx_arena(int flags, bool *bad) {
	unsigned a = (unsigned)flags >> MALLOCX_ARENA_SHIFT;
	*bad = false;
	if (a == 0)
		return NULL;
	if (!malloc_init()) {
		*bad = true;
		return NULL;
	}
	arena_t *arena = hm_arena_get(a - 1, true);
	*bad = arena == NULL;
	return arena;
}

HM_EXPORT void *
HM_PUBLIC(mallocx)(size_t size, int flags) {
	bool bad;
	arena_t *arena = mallocx_arena(flags, &bad);
	void *p = NULL;
	if (bad)
		errno = ENOMEM;
	else
		p = hm_alloc(size, mallocx_align(flags),
		    (flags & MALLOCX_ZERO) != 0, arena, mallocx_tcache(flags));
	if (unlikely(hm_trace_on))
		trace_alloc_arg(TRACE_MALLOCX, (unsigned)flags, size, p);
	return p;
}

HM_EXPORT void *
HM_PUBLIC(rallocx)(void *ptr, size_t size, int flags) {
	bool bad;
	arena_t *arena = mallocx_arena(flags, &bad);
	if (bad || ptr == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	uint64_t seq = unlikely(hm_trace_on) ? hm_trace_seq(ptr) : 0;
	void *p = hm_alloc_realloc(ptr, size == 0 ? 1 : size,
	    mallocx_align(flags), (flags & MALLOCX_ZERO) != 0, arena);
	if (unlikely(seq != 0))
		TRACE_CALL(TRACE_RALLOCX, seq, p == NULL,
		    (unsigned)flags, (uintptr_t)ptr, size, 0,
		    (uintptr_t)p);
	return p;
}

static size_t xallocx_impl(void *ptr, size_t size, size_t extra, int flags);

HM_EXPORT size_t
HM_PUBLIC(xallocx)(void *ptr, size_t size, size_t extra, int flags) {
	size_t usize = xallocx_impl(ptr, size, extra, flags);
	if (unlikely(hm_trace_on))
		TRACE_CALL(TRACE_XALLOCX, 0, false, (unsigned)flags,
		    (uintptr_t)ptr, size, extra, usize);
	return usize;
}

static size_t
xallocx_impl(void *ptr, size_t size, size_t extra, int flags) {
	block_t b;
	if (!block_lookup(ptr, &b))
		hm_block_invalid("xallocx of invalid pointer", ptr);
	size_t align = mallocx_align(flags);
	if (align != 0 && ((uintptr_t)ptr & (align - 1)) != 0)
		return usable(b.usize);
	size_t max = size + extra < size ? SIZE_MAX : size + extra;
	size_t usize_min = alloc_usize(size, align);
	size_t usize_max = alloc_usize(max, align);
	if (usize_min == 0)
		return usable(b.usize);
	if (usize_max == 0)
		usize_max = usize_min;
	bool zero = (flags & MALLOCX_ZERO) != 0;
	/* Largest first, as jemalloc: the caller wants room to grow. */
	size_t usize = b.usize;
	if (usize_max != usize_min && hm_alloc_resize_in_place(&b, usize_max, zero))
		usize = usize_max;
	else if (hm_alloc_resize_in_place(&b, usize_min, zero))
		usize = usize_min;
	if (usize != b.usize) {
		hm_alloc_resized(ptr, &b, usize);
		hm_tsd.allocated += usable(usize);
		hm_tsd.deallocated += usable(b.usize);
		vg_resize(ptr, b.usize, usize);
		if (zero && usize > b.usize)
			vg_defined((char *)ptr + b.usize, usize - b.usize);
	}
	return usable(usize);
}

HM_EXPORT size_t
HM_PUBLIC(sallocx)(const void *ptr, int flags) {
	(void)flags;
	if (ptr == NULL)
		return 0;
	return block_usable(ptr, "sallocx of invalid pointer");
}

HM_EXPORT void
HM_PUBLIC(dallocx)(void *ptr, int flags) {
	if (flags == 0 || ptr == NULL || vg_exit_free(ptr)) {
		HM_PUBLIC(free)(ptr);
		return;
	}
	if (unlikely(hm_trace_on))
		TRACE_CALL(TRACE_DALLOCX, 0, false, (unsigned)flags,
		    (uintptr_t)ptr);
	int saved = errno;
	block_t b;
	if (unlikely(!block_lookup(ptr, &b)))
		hm_block_invalid("invalid free", ptr);
	hm_alloc_free(ptr, &b, mallocx_tcache(flags));
	slow_path_done();
	errno = saved;
}

HM_EXPORT void
HM_PUBLIC(sdallocx)(void *ptr, size_t size, int flags) {
	if (flags == 0 && likely(size - 1 < SC_LOOKUP_MAX)
	    && likely(free_fast(hm_tsd.tcache_fast, ptr, true,
	    hm_sc_lookup[(size - 1) >> LG_QUANTUM]) == FREE_DONE))
		return;
	/* (Of NULL: a free(NULL).) */
	if (unlikely(hm_trace_on)) {
		if (ptr == NULL)
			hm_trace_free(ptr);
		else
			TRACE_CALL(TRACE_SDALLOCX, 0, false,
			    (unsigned)flags, (uintptr_t)ptr, size);
	}
	hm_alloc_free_sized_slow(ptr, size, mallocx_align(flags),
	    mallocx_tcache(flags));
}

HM_EXPORT size_t
HM_PUBLIC(nallocx)(size_t size, int flags) {
	if (!malloc_init())
		return 0;
	size_t usize = alloc_usize(size, mallocx_align(flags));
	return usize == 0 || usize > SC_MAXCLASS ? 0 : usable(usize);
}

/* experimental.batch_alloc through mallctl: mallocx's flags decoded as
 * mallocx decodes them. */
static size_t
batch_alloc(void **ptrs, size_t num, size_t size, int flags) {
	bool bad;
	arena_t *arena = mallocx_arena(flags, &bad);
	if (bad)
		return 0;
	size_t n = hm_alloc_batch(ptrs, num, size, mallocx_align(flags),
	    (flags & MALLOCX_ZERO) != 0, arena, mallocx_tcache(flags));
	for (size_t i = 0; unlikely(hm_trace_on) && i < n; i++)
		trace_alloc_arg(TRACE_MALLOCX, (unsigned)flags, size,
		    ptrs[i]);
	return n;
}

static const ctl_env_t ctl_env = {batch_alloc};

HM_EXPORT int
HM_PUBLIC(mallctl)(const char *name, void *oldp, size_t *oldlenp, void *newp,
    size_t newlen) {
	if (name == NULL)
		return EINVAL;
	if (!malloc_init())
		return EAGAIN;
	return hm_ctl_byname(&ctl_env, name, oldp, oldlenp, newp, newlen);
}

HM_EXPORT int
HM_PUBLIC(mallctlnametomib)(const char *name, size_t *mibp, size_t *miblenp) {
	if (name == NULL || mibp == NULL || miblenp == NULL)
		return EINVAL;
	if (!malloc_init())
		return EAGAIN;
	return hm_ctl_nametomib(name, mibp, miblenp);
}

HM_EXPORT int
HM_PUBLIC(mallctlbymib)(const size_t *mib, size_t miblen, void *oldp,
    size_t *oldlenp, void *newp, size_t newlen) {
	if (mib == NULL)
		return EINVAL;
	if (!malloc_init())
		return EAGAIN;
	return hm_ctl_bymib(&ctl_env, mib, miblen, oldp, oldlenp, newp,
	    newlen);
}

HM_EXPORT void
HM_PUBLIC(malloc_stats_print)(void (*write_cb)(void *, const char *),
    void *cbopaque, const char *opts) {
	if (!malloc_init())
		return;
	hm_ctl_stats_print(write_cb, cbopaque, opts);
}
