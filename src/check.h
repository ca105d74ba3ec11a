/*
 * check.h: the abort path for detected misuse and internal failure.  One
 * line on stderr, `<hmalloc>: <what>: <address>`, then abort().  Written
 * without stdio or malloc, so it works with the heap in any state.
 */
#ifndef HM_CHECK_H
#define HM_CHECK_H

#include "util.h"

HM_NORETURN HM_COLD void hm_check_fail(const char *what, const void *ptr);
/* The same, with a report after the line: more(arg) writes it (with
 * hm_write), unless a hook (below) took the line. */
HM_NORETURN HM_COLD void hm_check_fail_more(const char *what,
    const void *ptr, void (*more)(const void *arg), const void *arg);

/*
 * experimental.hooks.safety_check_abort (jemalloc's name): a function the
 * program sets to see the line instead of stderr, mostly for its tests.
 * hm_check_fail still aborts when it returns: the heap is not in a state
 * to go on.  hm_check_soft_fail is for a failure the call can survive
 * (operator new under experimental_infallible_new, cxx.c): with a hook
 * set it returns once the hook has seen the line, as jemalloc's does;
 * without one it aborts.
 */
typedef void (*hm_check_hook_t)(const char *message);
HM_EXTERN _Atomic(hm_check_hook_t) hm_check_abort_hook;
HM_COLD void hm_check_soft_fail(const char *message);

/* Internal assertion for debug builds. */
#define hm_assert(e)                                                       \
	do {                                                               \
		if (config_debug && !(e))                                  \
			hm_check_fail("assertion failed: " #e, NULL);      \
	} while (0)

#endif /* HM_CHECK_H */
