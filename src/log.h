/*
 * log.h: formatting and output that never allocate and never take a lock,
 * so they are safe inside malloc, in a signal handler and on the abort path.
 * Everything hmalloc prints goes through hm_write(), which calls the
 * malloc_message hook when the program set one and writes to stderr
 * otherwise.
 */
#ifndef HM_LOG_H
#define HM_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "util.h"

/* Like vsnprintf for the subset hmalloc uses: %s %c %d %i %u %x %p %%,
 * length modifiers l ll z, width, '0' and '-' flags, precision for %s.
 * Always NUL-terminates (when size > 0); returns the length it wanted. */
size_t hm_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
size_t hm_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes s to the message hook or stderr. */
void hm_write(const char *s);

/* Formats into a stack buffer (up to 1 KiB) and hm_write()s it. */
void hm_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));


#endif /* HM_LOG_H */
