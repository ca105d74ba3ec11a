/*
 * check.h: the abort path for detected misuse and internal failure.  One
 * line on stderr, `<hmalloc>: <what>: <address>`, then abort().  Written
 * without stdio or malloc, so it works with the heap in any state.
 */
#ifndef HM_CHECK_H
#define HM_CHECK_H

#include "util.h"

HM_NORETURN HM_COLD void hm_check_fail(const char *what, const void *ptr);

/* Internal assertion for debug builds. */
#define hm_assert(e)                                                       \
	do {                                                               \
		if (config_debug && !(e))                                  \
			hm_check_fail("assertion failed: " #e, NULL);      \
	} while (0)

#endif /* HM_CHECK_H */
