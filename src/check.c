/* check.c: see check.h. */
#include "check.h"

#include <stdlib.h>

#include "log.h"

void
hm_check_fail(const char *what, const void *ptr) {
	char buf[256];
	if (ptr != NULL)
		hm_snprintf(buf, sizeof(buf), "<hmalloc>: %s: %p\n", what, ptr);
	else
		hm_snprintf(buf, sizeof(buf), "<hmalloc>: %s\n", what);
	hm_write(buf);
	abort();
}
