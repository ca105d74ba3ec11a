/*
 * prof.h: the sampling heap profiler (opt.prof).
 *
 * Each thread counts the bytes it allocates (tsd.allocated) against a
 * threshold, tsd.prof_next, drawn at random so that the distance between
 * two samples is exponential with mean 2^lg_prof_sample: every byte has
 * the same chance of being the sampled one, periodic patterns cannot hide,
 * and an object of size s is sampled with probability 1 - exp(-s/P), which
 * is what jeprof assumes when it scales samples back up.  With prof off the
 * threshold is PROF_NEVER, so malloc's fast path pays one compare.
 *
 * A sampled allocation takes the slow path: its stack is captured (libgcc's
 * unwinder, before any lock), it is attributed to a site (one per distinct
 * stack) and to the thread, and the block carries a pointer to its sample
 * record (run_t.prof for Large blocks, huge_t.prof for Huge ones).  A Small
 * sampled block is served as a Large block of SC_LARGE_MINCLASS bytes
 * ("promoted") whose apparent class stays the small one, so that free finds
 * the record without any per-object lookup on the fast path.
 *
 * Dumps are in jemalloc's heap_v2 format (jeprof reads them); they are
 * written with system calls from a static buffer, never allocating.
 */
#ifndef HM_PROF_H
#define HM_PROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

typedef struct arena_s arena_t;

#define PROF_NEVER UINT64_MAX
#define PROF_BT_MAX 128         /* frames kept per stack, as jemalloc */
#define PROF_THREAD_NAME_MAX 64 /* bytes of a thread name, NUL included */

HM_EXTERN bool opt_prof;
HM_EXTERN bool opt_prof_active;
HM_EXTERN bool opt_prof_thread_active_init;
HM_EXTERN size_t opt_lg_prof_sample;
HM_EXTERN ssize_t opt_lg_prof_interval;
HM_EXTERN bool opt_prof_gdump;
HM_EXTERN bool opt_prof_final;
HM_EXTERN bool opt_prof_leak;
HM_EXTERN bool opt_prof_accum;
HM_EXTERN char opt_prof_prefix[OPT_STRING_MAX];

typedef struct prof_sample_s prof_sample_t;

/* After the options: the tables, the exit dump.  False on failure. */
bool hm_prof_boot(void);
/* From step 7 of the start-up flow (may allocate): exit handlers. */
void hm_prof_post_init(void);

/* A thread was bound (tsd.c): draws its first threshold. */
void hm_prof_thread_start(void);
/* The thread exits: its record may be reused once its samples are gone. */
void hm_prof_thread_exit(void);

/*
 * The thread's allocation of usize bytes crosses its threshold: draws the
 * next one and says whether to sample this allocation (profiling on and
 * active for the thread, not inside the profiler already).  May write an
 * interval or gdump profile first.  Called with no lock held.
 */
bool hm_prof_event(size_t usize);

/*
 * The calling thread's stack into vec[PROF_BT_MAX], innermost first,
 * hmalloc's own frames left out; its depth.  Called with no lock held.
 * The unwinder costs about 1,600 instructions a frame, hmalloc's
 * included: it is called from as near the entry points as can be.
 */
unsigned hm_prof_backtrace(uintptr_t *vec);
/* Records a sample of usize bytes in arena, taken at the stack vec[len];
 * NULL when no memory was left for the record. */
prof_sample_t *hm_prof_record(const uintptr_t *vec, unsigned len,
    size_t usize, arena_t *arena);
/* The sampled block was freed (or discarded). */
void hm_prof_release(prof_sample_t *s);
/* The class size the program sees for a sampled block. */
size_t hm_prof_usize(const prof_sample_t *s);
/* Arena reset: releases the samples of the arena's blocks. */
void hm_prof_arena_reset(arena_t *arena);

/* mallctl: prof.active, thread.prof.active, prof.gdump,
 * prof.thread_active_init. */
bool hm_prof_active_get(void);
void hm_prof_active_set(bool active);
bool hm_prof_gdump_get(void);
void hm_prof_gdump_set(bool on);
bool hm_prof_thread_active_init_get(void);
void hm_prof_thread_active_init_set(bool on);
bool hm_prof_thread_active_get(void);
void hm_prof_thread_active_set(bool active);
/* thread.prof.name: "" when unnamed; set copies (truncated to
 * PROF_THREAD_NAME_MAX - 1), EFAULT for a character that is not
 * printable ASCII, EAGAIN when no memory was left for the record. */
const char *hm_prof_thread_name_get(void);
int hm_prof_thread_name_set(const char *name);
/* prof.dump: to filename, or an automatic name when NULL; 0, or EFAULT
 * when the file could not be written (as jemalloc). */
int hm_prof_dump(const char *filename);
/* prof.reset: forgets every sample so far; lg_sample the new rate (the
 * calling thread's next sample follows it; other threads' after their
 * next sample, so estimates just after a rate change run slightly off). */
void hm_prof_reset(size_t lg_sample);
size_t hm_prof_lg_sample(void);
uint64_t hm_prof_interval(void);

void hm_prof_prefork(void);
void hm_prof_postfork_parent(void);
void hm_prof_postfork_child(void);

#endif /* HM_PROF_H */
