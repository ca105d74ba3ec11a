/*
 * background.h: the background purging thread.  So that a program that
 * stops allocating still gives memory back, a thread runs the decay passes
 * of every arena and huge cache (decay.h), sleeping until the next step
 * of a curve that holds pages, or indefinitely when nothing is dirty, and
 * stopped at exit.  It is created at a launch point only, never inside an
 * allocation call (see background.c): at load time, by the
 * background_thread mallctl, or when one of the program's threads exits.
 * background_thread:false means no thread at all; a forked child gets
 * its own at its first launch point.
 */
#ifndef HM_BACKGROUND_H
#define HM_BACKGROUND_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

HM_EXTERN bool opt_background_thread;

/* Wakes the thread if an arena asked for it (hm_decay_wanted); called
 * by the allocator's slow paths holding no lock.  Never creates it. */
void hm_background_poke(void);

/*
 * A launch point: creates the thread if background_thread is on and there
 * is none.  Called only where the calling thread holds no lock of libc's
 * or the allocator's: the library constructor, the background_thread
 * mallctl, a thread's exit (hm_background_thread_exiting()).
 */
void hm_background_launch(void);

/*
 * A thread of the program is exiting (tsd.c, holding no lock): a launch
 * point when the thread is wanted and the exiting thread is not the last.
 * Then the purging thread watches for being the last one left, and ends
 * the process with exit(0), as glibc does when its last thread exits (the
 * main thread may have called pthread_exit), which the purging thread
 * would otherwise prevent.
 */
void hm_background_thread_exiting(void);

void hm_background_prefork(void);
void hm_background_postfork_parent(void);
void hm_background_postfork_child(void);

/* background_thread mallctl: starts or stops the thread. */
int hm_background_set(bool enable);
bool hm_background_running(void);
/* Passes the thread ran (every thread since start-up), and the mean
 * interval between them (0 before two). */
void hm_background_stats(uint64_t *nruns, uint64_t *interval_ns);

#endif /* HM_BACKGROUND_H */
