/*
 * decay.h: giving freed memory back over time.
 *
 * A page run that becomes free is dirty: its pages are still resident and
 * cheap to reuse.  It is purged (madvise MADV_DONTNEED) once it has been
 * dirty for dirty_decay_ms; 0 purges at once, -1 never (malloc_trim and
 * arena.<i>.purge still do).  Runs age on the arena's dirty list, oldest
 * first, so a pass takes from its head until it meets a young run.
 *
 * Passes run on arena events (a run freed, a chunk mapped) and, so that a
 * program that stops allocating still gives memory back, on a background
 * thread: started lazily, outside every allocator lock, the first time the
 * process holds BG_THREAD_MIN_DIRTY of dirty memory (small programs never
 * get one), sleeping until the next run comes of age, or indefinitely when
 * nothing is dirty.  background_thread:false means no thread at all; a
 * forked child starts its own when it needs one.
 */
#ifndef HM_DECAY_H
#define HM_DECAY_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

extern ssize_t opt_dirty_decay_ms;
extern bool opt_background_thread;

/* Dirty memory, process-wide, that makes the background thread worth
 * having. */
#define BG_THREAD_MIN_DIRTY ((size_t)4 << 20)

/* A coarse monotonic clock in ms (vDSO, no system call). */
uint64_t hm_decay_now_ms(void);

/*
 * Set (under arena locks) when the background thread should start or
 * wake; the allocator's slow paths call hm_decay_poke() when they see it,
 * holding no lock.
 */
extern atomic_bool hm_decay_wanted;
void hm_decay_poke(void);

/* Called by arenas that just gained or purged dirty pages (any lock
 * held). */
void hm_decay_dirty_added(size_t npages);
void hm_decay_dirty_removed(size_t npages);

void hm_decay_prefork(void);
void hm_decay_postfork_parent(void);
void hm_decay_postfork_child(void);

/* background_thread mallctl: starts or stops the thread. */
int hm_decay_background_set(bool enable);
bool hm_decay_background_running(void);

#endif /* HM_DECAY_H */
