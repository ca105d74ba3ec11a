/* check.c: see check.h. */
#include "check.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "log.h"

_Atomic(hm_check_hook_t) hm_check_abort_hook;

/* The line goes to the hook if one is set (true), else to stderr. */
static bool
check_report(const char *line) {
	hm_check_hook_t hook = atomic_load_explicit(&hm_check_abort_hook,
	    memory_order_acquire);
	if (hook == NULL) {
		hm_write(line);
		return false;
	}
	hook(line);
	return true;
}

void
hm_check_fail_more(const char *what, const void *ptr,
    void (*more)(const void *arg), const void *arg) {
	char buf[256];
	if (ptr != NULL)
		hm_snprintf(buf, sizeof(buf), "<hmalloc>: %s: %p\n", what, ptr);
	else
		hm_snprintf(buf, sizeof(buf), "<hmalloc>: %s\n", what);
	if (!check_report(buf) && more != NULL)
		more(arg);
	abort();
}

void
hm_check_fail(const char *what, const void *ptr) {
	hm_check_fail_more(what, ptr, NULL, NULL);
}

void
hm_check_soft_fail(const char *message) {
	if (!check_report(message))
		abort();
}
