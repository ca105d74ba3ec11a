/*
 * trace.h: allocation traces (opt.trace).  Every call of the allocation
 * API that reaches hmalloc is recorded, from every thread, to
 * <trace_prefix>.<pid>.trace; docs/trace.md is the file format and
 * bin/hmreplay re-executes it under any allocator.
 *
 * Each thread encodes its calls into a buffer of its own (metadata, never
 * malloc'd) and appends it to the file as one chunk with one write(2)
 * when it fills, when the thread exits and when the process exits.  A
 * call from a thread with no binding (not bound yet, or past its exit)
 * goes to one shared buffer under a lock.  Order numbers relate the
 * records of different threads: each comes from a counter chosen by the
 * record's address; an allocation takes its number once it has its
 * block, a free before it lets the block go, so that for any address the
 * allocations and frees sorted by number alternate as they happened.
 *
 * While tracing, the fast paths are closed (tsd.tcache_fast is NULL: tls.h)
 * and every call comes through a slow path, which records it.
 */
#ifndef HM_TRACE_H
#define HM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

HM_EXTERN bool opt_trace;
HM_EXTERN char opt_trace_prefix[OPT_STRING_MAX];

/* Recording: opt.trace once boot found it usable. */
HM_EXTERN bool hm_trace_on;

/* The calls, as docs/trace.md numbers them. */
typedef enum {
	TRACE_MALLOC = 1,
	TRACE_CALLOC = 2,
	TRACE_MEMALIGN = 3,
	TRACE_ALIGNED_ALLOC = 4,
	TRACE_POSIX_MEMALIGN = 5,
	TRACE_VALLOC = 6,
	TRACE_PVALLOC = 7,
	TRACE_REALLOC = 8,
	TRACE_FREE = 9,
	TRACE_FREE_SIZED = 10,
	TRACE_MALLOCX = 11,
	TRACE_RALLOCX = 12,
	TRACE_XALLOCX = 13,
	TRACE_DALLOCX = 14,
	TRACE_SDALLOCX = 15,
	TRACE_NCALLS
} trace_call_t;

/* Sets up recording if opt.trace (after the options are read). */
void hm_trace_boot(void);

/* The next order number for addr: taken before a call that lets block
 * addr go and makes another (realloc), for hm_trace_call's seq. */
uint64_t hm_trace_seq(const void *addr);

/*
 * Records one call: f holds the record's nf fields in the order of
 * docs/trace.md (addresses as integers; a slot, unread, for a second
 * order number, which is the result's and taken now), null the call's
 * NULL result (or free(NULL)): the fields after the bar are then left
 * out; a field past nf is written as 0.  seq is the call's order number,
 * 0 to take it now from the record's first address.  errno is kept.  Not
 * reentrant: a call from a signal handler that interrupted one is not
 * recorded.  TRACE_CALL passes its field values as the array.
 */
void hm_trace_call(trace_call_t call, uint64_t seq, bool null,
    const uint64_t *f, unsigned nf);
#define TRACE_CALL(call, seq, null, ...)				\
	hm_trace_call((call), (seq), (null), (const uint64_t[]){__VA_ARGS__}, \
	    sizeof((uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t))

/* hm_trace_call's common cases, quicker: a call whose record is its size
 * and its result (MALLOC, VALLOC, PVALLOC), and free. */
void hm_trace_alloc(trace_call_t call, size_t size, const void *p);
void hm_trace_free(const void *p);

/* At thread exit: the thread's buffer goes to the file and back to the
 * pool; calls after this take the shared buffer. */
void hm_trace_thread_exit(void);

void hm_trace_prefork(void);
void hm_trace_postfork_parent(void);
void hm_trace_postfork_child(void);

/* Convenience forms of hm_trace_call: a call that made block p of size
 * bytes, arg its other argument (an alignment, mallocx's flags); and
 * free_sized and free_aligned_sized. */
static inline void
trace_alloc_arg(trace_call_t call, uint64_t arg, size_t size,
    const void *p) {
	TRACE_CALL(call, 0, p == NULL, arg, size, (uintptr_t)p);
}

/* free_sized(ptr, size) (align 0), free_aligned_sized; of NULL, a
 * free(NULL). */
static inline void
trace_free_sized(const void *p, size_t size, size_t align) {
	if (p == NULL)
		hm_trace_free(p);
	else
		TRACE_CALL(TRACE_FREE_SIZED, 0, false, (uintptr_t)p, size,
		    align);
}

#endif /* HM_TRACE_H */
