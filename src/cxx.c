/*
 * cxx.c: C++'s operator new and delete in all their forms, so that C++
 * programs allocate through hmalloc without going through libstdc++'s
 * wrappers, and sized delete takes the sized-free fast path.
 *
 * Written in C under the Itanium C++ ABI's names (size_t is 'm') so that
 * libhmalloc needs no libstdc++: a C program preloading hmalloc does not
 * load it.  The throwing forms reach std::get_new_handler and
 * std::__throw_bad_alloc through weak references, which are bound
 * whenever the program itself uses libstdc++ (and so can call new).
 *
 * Not in the prefixed build: those names cannot carry a prefix.
 */
#ifndef HM_PREFIXED

#include <stddef.h>

#include <hmalloc.h>

#include "check.h"
#include "conf.h"
#include "log.h"
#include "util.h"

typedef void (*new_handler_t)(void);
extern new_handler_t _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

/* The standard's loop: call the new handler until memory comes, throw
 * std::bad_alloc when there is none. */
HM_NOINLINE HM_COLD static void *
new_slow(size_t size, size_t align, bool nothrow) {
	if (opt_experimental_infallible_new) {
		/* jemalloc's option, for every form: no handler, no throw.
		 * With a safety_check_abort hook (check.h) the hook sees the
		 * line and new returns NULL, as with jemalloc. */
		char line[160];
		hm_snprintf(line, sizeof(line), "<hmalloc>: allocation of "
		    "size %zu failed (opt.experimental_infallible_new)\n",
		    size);
		hm_check_soft_fail(line);
		return NULL;
	}
	for (;;) {
		void *p = align == 0 ? malloc(size) : aligned_alloc(align, size);
		if (p != NULL)
			return p;
		new_handler_t handler = _ZSt15get_new_handlerv != NULL
		    ? _ZSt15get_new_handlerv() : NULL;
		if (handler == NULL)
			break;
		handler();
	}
	if (nothrow)
		return NULL;
	if (_ZSt17__throw_bad_allocv != NULL)
		_ZSt17__throw_bad_allocv();
	hm_check_fail("out of memory in operator new, and no libstdc++ to "
	    "throw std::bad_alloc", NULL);
}

static HM_ALWAYS_INLINE void *
new_impl(size_t size, bool nothrow) {
	void *p = malloc(size);
	if (likely(p != NULL))
		return p;
	return new_slow(size, 0, nothrow);
}

static HM_ALWAYS_INLINE void *
new_aligned_impl(size_t size, size_t align, bool nothrow) {
	/* align_val_t is a power of two by the standard's rules. */
	void *p = aligned_alloc(align, size);
	if (likely(p != NULL))
		return p;
	return new_slow(size, align, nothrow);
}

#define HM_CXX HM_EXPORT
typedef struct nothrow_s nothrow_t;

/* The C++ ABI is their declaration: no C header has them. */
#pragma GCC diagnostic ignored "-Wmissing-prototypes"

HM_CXX void *_Znwm(size_t size) { return new_impl(size, false); }
HM_CXX void *_Znam(size_t size) { return new_impl(size, false); }
HM_CXX void *_ZnwmRKSt9nothrow_t(size_t size, const nothrow_t *nt) {
	(void)nt;
	return new_impl(size, true);
}
HM_CXX void *_ZnamRKSt9nothrow_t(size_t size, const nothrow_t *nt) {
	(void)nt;
	return new_impl(size, true);
}
HM_CXX void *_ZnwmSt11align_val_t(size_t size, size_t align) {
	return new_aligned_impl(size, align, false);
}
HM_CXX void *_ZnamSt11align_val_t(size_t size, size_t align) {
	return new_aligned_impl(size, align, false);
}
HM_CXX void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align,
    const nothrow_t *nt) {
	(void)nt;
	return new_aligned_impl(size, align, true);
}
HM_CXX void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align,
    const nothrow_t *nt) {
	(void)nt;
	return new_aligned_impl(size, align, true);
}

HM_CXX void _ZdlPv(void *p) { free(p); }
HM_CXX void _ZdaPv(void *p) { free(p); }
HM_CXX void _ZdlPvRKSt9nothrow_t(void *p, const nothrow_t *nt) {
	(void)nt;
	free(p);
}
HM_CXX void _ZdaPvRKSt9nothrow_t(void *p, const nothrow_t *nt) {
	(void)nt;
	free(p);
}
HM_CXX void _ZdlPvm(void *p, size_t size) { free_sized(p, size); }
HM_CXX void _ZdaPvm(void *p, size_t size) { free_sized(p, size); }
HM_CXX void _ZdlPvSt11align_val_t(void *p, size_t align) {
	(void)align;
	free(p);
}
HM_CXX void _ZdaPvSt11align_val_t(void *p, size_t align) {
	(void)align;
	free(p);
}
HM_CXX void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align) {
	free_aligned_sized(p, align, size);
}
HM_CXX void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align) {
	free_aligned_sized(p, align, size);
}
HM_CXX void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align,
    const nothrow_t *nt) {
	(void)align;
	(void)nt;
	free(p);
}
HM_CXX void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align,
    const nothrow_t *nt) {
	(void)align;
	(void)nt;
	free(p);
}

#endif /* HM_PREFIXED */
