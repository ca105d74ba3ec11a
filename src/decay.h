/*
 * decay.h: giving freed memory back over time: the clock and the curve.
 *
 * A page run that becomes free is dirty: its pages are still resident and
 * cheap to reuse.  Over dirty_decay_ms, on the curve described below,
 * dirty pages are purged: lazily (MADV_FREE, the "muzzy" stage) when
 * muzzy_decay_ms is not 0, and then for good (MADV_DONTNEED) over
 * muzzy_decay_ms; 0 purges at once, -1 never (malloc_trim and
 * arena.<i>.purge still do).  Runs age on their arena's lists, oldest
 * first, and a pass takes from the head.
 *
 * Passes run on arena events (a run freed, a chunk mapped) and, so that a
 * program that stops allocating still gives memory back, on a background
 * thread (background.h).  This module is a leaf: arenas and the huge
 * cache keep their curves here; the thread that walks them sits above.
 */
#ifndef HM_DECAY_H
#define HM_DECAY_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

HM_EXTERN ssize_t opt_dirty_decay_ms;
HM_EXTERN ssize_t opt_muzzy_decay_ms;

/* A coarse monotonic clock in ms (vDSO, no system call). */
uint64_t hm_decay_now_ms(void);

/*
 * The decay curve of one stage of one arena (dirty runs, muzzy runs, the
 * huge cache).  Time runs in DECAY_NSTEPS steps of decay_ms / NSTEPS; the
 * pages that came into the stage during each of the last NSTEPS steps are
 * counted, and of those that came k steps ago the fraction
 * 1 - smoothstep(k / NSTEPS) may remain.  The pages the stage holds are
 * taken to be the most recent comers (memory freed and reused again and
 * again is as young as its last free, and counts once), and the stage's
 * limit is what the curve lets them keep; a pass purges the oldest runs
 * until the stage is within it.  A burst freed at once therefore goes back
 * gradually, slowly at first, all of it within one decay time, as with
 * jemalloc's decay.
 */
#define DECAY_NSTEPS 64
typedef struct decay_s {
	uint64_t step_ms;         /* 0: not started */
	uint64_t epoch_ms;        /* when the current step began */
	size_t cur;               /* pages in during the current step */
	size_t backlog[DECAY_NSTEPS]; /* [i]: pages in i + 1 steps ago */
	size_t purged[DECAY_NSTEPS];  /* [i]: of those, purged since */
	size_t held[DECAY_NSTEPS];    /* [i]: of those, held at the last
					 hm_decay_limit() */
} decay_t;

/* npages came into the stage at now (the caller holds its lock). */
void hm_decay_note(decay_t *d, size_t npages, uint64_t now);

/* Brings d to now for decay_ms (> 0); returns how many of the stage's
 * npages it may hold. */
size_t hm_decay_limit(decay_t *d, uint64_t now, uint64_t decay_ms,
    size_t npages);

/* npages of the stage were purged since hm_decay_limit() (the oldest). */
void hm_decay_purged(decay_t *d, size_t npages);

/* When the limit next falls: the end of the current step. */
static inline uint64_t
decay_next_step(const decay_t *d) {
	return d->epoch_ms + d->step_ms;
}

/* Forgets the history (a new decay time). */
static inline void
decay_reset(decay_t *d) {
	d->step_ms = 0;
}

/*
 * The background thread's wake-up (background.c): hm_decay_idle is set
 * while it waits with no deadline; an arena that gains dirty pages then
 * sets hm_decay_wanted (under its locks), and the allocator's slow paths,
 * holding no lock, see it and signal the thread (hm_background_poke()).
 * Nothing here creates the thread.
 */
HM_EXTERN atomic_bool hm_decay_wanted;
HM_EXTERN atomic_bool hm_decay_idle;

/* Called by arenas that just gained dirty pages (any lock held). */
void hm_decay_dirty_added(void);

#endif /* HM_DECAY_H */
