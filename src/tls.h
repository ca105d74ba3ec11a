/*
 * tls.h: the thread's state, one struct of initial-exec TLS (so that a
 * library dlopen()ed later still finds room in the static TLS block): the
 * cache and arena pointers first (malloc's fast path reads them), then
 * the byte counters and the heap profiler's per-thread state.  Plain data
 * that any module may read: tsd.c binds and releases it, tcache and prof
 * keep their parts in it.
 */
#ifndef HM_TLS_H
#define HM_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct arena_s;
struct tcache_s;
struct prof_thread_s;
struct trace_buf_s;

typedef enum {
	TSD_UNINIT = 0,
	TSD_NOMINAL = 1,
	TSD_BINDING = 2,  /* inside the slow path (pthread_setspecific may
			     allocate and re-enter) */
	TSD_DEAD = 3,
} tsd_state_t;

typedef struct tsd_s {
	/* The thread cache for the fast paths of malloc and free, which
	 * test this alone: tcache, or NULL while allocation traces are
	 * recorded (trace.h), which every call must reach. */
	struct tcache_s *tcache_fast;
	/* The thread cache; NULL unless the thread is bound (TSD_NOMINAL)
	 * and caching. */
	struct tcache_s *tcache;
	struct arena_s *arena;
	uint8_t state;
	bool tcache_disabled;   /* thread.tcache.enabled set to false */
	/* Usable bytes this thread allocated and freed, ever
	 * (thread.allocated, thread.deallocated).  Only this thread writes
	 * them; mallctl hands out their addresses. */
	uint64_t allocated;
	uint64_t deallocated;
	/* Allocation events: malloc's fast path leaves for the slow one
	 * when allocated passes event_next, the lesser of the heap
	 * profiler's and the guard sampler's thresholds (0 before the
	 * thread is bound, which sends its first allocations there;
	 * tsd_event_update). */
	uint64_t event_next;
	/* The heap profiler (prof.h): its next sample is due when allocated
	 * passes prof_next (PROF_NEVER with profiling off). */
	uint64_t prof_next;
	uint64_t prof_last;     /* allocated at the last event */
	uint64_t prof_prng;
	struct prof_thread_s *prof_thread; /* names and counts, or NULL */
	bool prof_inactive;     /* thread.prof.active set to false */
	bool prof_busy;         /* inside the profiler: no nested samples */
	/* Sampled guarded allocations (san.h): the next one is due when
	 * allocated passes san_next (UINT64_MAX with them off). */
	uint64_t san_next;
	uint64_t san_prng;
	/* Allocation traces (trace.h): the thread's buffer (NULL until its
	 * first recorded call while bound), its number in the trace (0
	 * until then) and kernel id, and a record in progress. */
	struct trace_buf_s *trace;
	uint32_t trace_thread;
	uint32_t trace_tid;
	bool trace_busy;
} tsd_t;

HM_EXTERN __thread tsd_t hm_tsd __attribute__((tls_model("initial-exec")));

/* After prof_next or san_next changed: the fast path's threshold. */
static inline void
tsd_event_update(tsd_t *tsd) {
	tsd->event_next = tsd->prof_next < tsd->san_next ? tsd->prof_next
							 : tsd->san_next;
}

#endif /* HM_TLS_H */
