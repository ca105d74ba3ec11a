/*
 * api.c: the standard entry points (C, POSIX, glibc's aligned and sized
 * variants, glibc's internal names).  Each is thin: it checks its
 * arguments the way glibc 2.36 does, then calls the allocation engine
 * (alloc.h); malloc and free inline their fast paths.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>

#include <hmalloc.h>

#include "alloc.h"
#include "check.h"
#include "conf.h"
#include "stats.h"
#include "trace.h"

/* The fast path (malloc_fast, alloc.h); anything else is
 * hm_alloc_malloc_slow's. */
HM_EXPORT void *
HM_PUBLIC(malloc)(size_t size) {
	void *p;
	if (likely(malloc_fast(hm_tsd.tcache_fast, size, &p)))
		return p;
	return hm_alloc_malloc_slow(size);
}

HM_EXPORT void *
HM_PUBLIC(calloc)(size_t n, size_t size) {
	size_t total;
	void *p = NULL;
	if (unlikely(__builtin_mul_overflow(n, size, &total)))
		errno = ENOMEM;
	else
		p = hm_alloc(total, 0, true, NULL, tsd_tcache());
	if (unlikely(hm_trace_on))
		TRACE_CALL(TRACE_CALLOC, 0, p == NULL, n, size, (uintptr_t)p);
	return p;
}

HM_EXPORT void
HM_PUBLIC(free)(void *ptr) {
	free_fast_t r = free_fast(hm_tsd.tcache_fast, ptr, false, 0);
	if (likely(r == FREE_DONE))
		return;
	if (r == FREE_MISS)
		hm_alloc_free_miss(ptr);
	else
		hm_alloc_free_slow(ptr);
}

HM_EXPORT void *
HM_PUBLIC(realloc)(void *ptr, size_t size) {
	if (ptr == NULL)
		return HM_PUBLIC(malloc)(size);
	if (unlikely(size == 0)) {
		atomic_fetch_add_explicit(&hm_stats_zero_reallocs, 1,
		    memory_order_relaxed);
		if (opt_zero_realloc == ZERO_REALLOC_FREE) {
			HM_PUBLIC(free)(ptr);
			return NULL;
		}
		if (opt_zero_realloc == ZERO_REALLOC_ABORT)
			hm_check_fail("realloc with size 0 "
			    "(opt.zero_realloc:abort)", ptr);
		size = 1; /* as malloc(0) (and so recorded) */
	}
	uint64_t seq = unlikely(hm_trace_on) ? hm_trace_seq(ptr) : 0;
	void *p = hm_alloc_realloc(ptr, size, 0, false, NULL);
	if (unlikely(seq != 0))
		TRACE_CALL(TRACE_REALLOC, seq, p == NULL,
		    (uintptr_t)ptr, size, 0, (uintptr_t)p);
	slow_path_done();
	return p;
}

HM_EXPORT void *
HM_PUBLIC(reallocarray)(void *ptr, size_t n, size_t size) {
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return HM_PUBLIC(realloc)(ptr, total);
}

/* glibc 2.36's memalign, aligned_alloc (an alias there) and valloc:
 * small alignments are malloc's (and so recorded), a non-power of two
 * rounds up, one above SIZE_MAX / 2 + 1 is EINVAL.  call and its
 * arguments for the trace. */
static void *
memalign_common(size_t align, size_t size, trace_call_t call,
    size_t call_size) {
	if (align <= QUANTUM)
		return HM_PUBLIC(malloc)(size);
	void *p = NULL;
	size_t a = align;
	if (a > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
	} else {
		if (!is_pow2(a))
			a = (size_t)1 << lg_ceil(a);
		p = hm_alloc(size, a, false, NULL, tsd_tcache());
	}
	if (unlikely(hm_trace_on)) {
		if (call == TRACE_VALLOC || call == TRACE_PVALLOC)
			hm_trace_alloc(call, call_size, p);
		else
			trace_alloc_arg(call, align, size, p);
	}
	return p;
}

HM_EXPORT void *
HM_PUBLIC(memalign)(size_t align, size_t size) {
	return memalign_common(align, size, TRACE_MEMALIGN, size);
}

/* C17 (DR 460), glibc 2.38 and jemalloc: an alignment that is not a power
 * of two (0 included) is EINVAL. */
HM_EXPORT void *
HM_PUBLIC(aligned_alloc)(size_t align, size_t size) {
	if (!is_pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return memalign_common(align, size, TRACE_ALIGNED_ALLOC, size);
}

HM_EXPORT int
HM_PUBLIC(posix_memalign)(void **memptr, size_t align, size_t size) {
	if (align < sizeof(void *) || !is_pow2(align))
		return EINVAL;
	/* (errno is left ENOMEM on failure, as every peer leaves it and
	 * glibc's tests read it.) */
	void *p = hm_alloc(size, align, false, NULL, tsd_tcache());
	if (unlikely(hm_trace_on))
		trace_alloc_arg(TRACE_POSIX_MEMALIGN, align, size, p);
	if (p == NULL)
		return ENOMEM;
	*memptr = p;
	return 0;
}

HM_EXPORT void *
HM_PUBLIC(valloc)(size_t size) {
	return memalign_common(PAGE, size, TRACE_VALLOC, size);
}

HM_EXPORT void *
HM_PUBLIC(pvalloc)(size_t size) {
	size_t rounded = PAGE_CEILING(size);
	if (rounded < size) {
		errno = ENOMEM;
		return NULL;
	}
	return memalign_common(PAGE, rounded, TRACE_PVALLOC, size);
}

HM_EXPORT size_t
HM_PUBLIC(malloc_usable_size)(void *ptr) {
	if (ptr == NULL)
		return 0;
	return block_usable(ptr, "malloc_usable_size of invalid pointer");
}

/* Sized free: the size picks the class from the table, which the fast
 * path checks against the block's instead of trusting it. */
HM_EXPORT void
HM_PUBLIC(free_sized)(void *ptr, size_t size) {
	if (likely(size - 1 < SC_LOOKUP_MAX)) {
		free_fast_t r = free_fast(hm_tsd.tcache_fast, ptr, true,
		    hm_sc_lookup[(size - 1) >> LG_QUANTUM]);
		if (likely(r == FREE_DONE))
			return;
		if (r == FREE_MISS) {
			hm_alloc_free_sized_miss(ptr, size);
			return;
		}
	}
	hm_alloc_free_sized_slow_thread(ptr, size);
}

HM_EXPORT void
HM_PUBLIC(free_aligned_sized)(void *ptr, size_t align, size_t size) {
	if (unlikely(hm_trace_on))
		trace_free_sized(ptr, size, align);
	hm_alloc_free_sized_slow(ptr, size, align, tsd_tcache());
}

#ifndef HM_PREFIXED
/* glibc's internal names, so that every path into malloc lands here. */
void *__libc_malloc(size_t size) HM_ALIAS(malloc);
void *__libc_calloc(size_t n, size_t size) HM_ALIAS(calloc);
void *__libc_realloc(void *ptr, size_t size) HM_ALIAS(realloc);
void __libc_free(void *ptr) HM_ALIAS(free);
void *__libc_memalign(size_t align, size_t size) HM_ALIAS(memalign);
void *__libc_valloc(size_t size) HM_ALIAS(valloc);
void *__libc_pvalloc(size_t size) HM_ALIAS(pvalloc);
int __posix_memalign(void **memptr, size_t align, size_t size)
    HM_ALIAS(posix_memalign);
#endif
