/*
 * mutex.h: the allocator's locks.  A thin layer over pthread mutexes (which
 * never allocate) that also records the lock order rank, checked in debug
 * builds, and lets the fork handlers take and release every lock.
 *
 * Lock order (lower rank first; a thread holding rank r only takes ranks
 * > r), checked in debug builds (HM_DEBUG):
 *   LOCK_RANK_INIT < LOCK_RANK_CTL < (decay.c's bg_lock, a plain pthread
 *   mutex) < LOCK_RANK_ARENAS (creating arenas)
 *   < LOCK_RANK_TCACHES (the pool of thread caches)
 *   < LOCK_RANK_QUARANTINE (secure.c) < LOCK_RANK_PROF (prof.c)
 *   < LOCK_RANK_BIN
 *   < LOCK_RANK_ARENA
 *   < LOCK_RANK_HUGE < LOCK_RANK_CHUNK < LOCK_RANK_BASE
 */
#ifndef HM_MUTEX_H
#define HM_MUTEX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "util.h"

typedef enum {
	LOCK_RANK_INIT,
	LOCK_RANK_CTL,
	LOCK_RANK_ARENAS,
	LOCK_RANK_TCACHES,
	LOCK_RANK_QUARANTINE,
	LOCK_RANK_PROF,
	LOCK_RANK_BIN,
	LOCK_RANK_ARENA,
	LOCK_RANK_HUGE,
	LOCK_RANK_CHUNK,
	LOCK_RANK_BASE,
} lock_rank_t;

typedef struct mutex_s {
	pthread_mutex_t lock;
	lock_rank_t rank;
	/* Contention counters, written under the lock, read without it
	 * (hence atomic, with plain loads and stores: no locked
	 * instruction). */
	_Atomic uint64_t nlocks;   /* acquisitions */
	_Atomic uint64_t nwaits;   /* acquisitions that found it held */
} mutex_t;

/* Locks whose counters statistics report by name (stats.mutexes.*). */
void hm_mutex_register(mutex_t *m, const char *name);
unsigned hm_mutex_nregistered(void);
mutex_t *hm_mutex_registered(unsigned i, const char **name);

static inline void
mutex_count(_Atomic uint64_t *c) {
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed)
	    + 1, memory_order_relaxed);
}

/* Returns true on failure (pthread_mutex_init can only fail for want of
 * resources, which the default attributes do not need).  A lock with a
 * name is reported by statistics (stats.mutexes.<name>). */
bool hm_mutex_init(mutex_t *m, lock_rank_t rank, const char *name);

/*
 * Debug builds check the order: hm_lock_held has a bit per rank the thread
 * holds, and a lock may only be taken above every rank held.  The fork
 * handlers take everything at once and switch the check off for the
 * forking thread meanwhile.
 */
HM_EXTERN __thread uint32_t hm_lock_held __attribute__((tls_model("initial-exec")));
HM_EXTERN __thread bool hm_lock_order_off __attribute__((tls_model("initial-exec")));
HM_NORETURN HM_COLD void hm_mutex_order_fail(const mutex_t *m);

static inline void
mutex_lock(mutex_t *m) {
	if (config_debug && !hm_lock_order_off) {
		if (hm_lock_held >> m->rank != 0)
			hm_mutex_order_fail(m);
		hm_lock_held |= (uint32_t)1 << m->rank;
	}
	if (unlikely(pthread_mutex_trylock(&m->lock) != 0)) {
		pthread_mutex_lock(&m->lock);
		mutex_count(&m->nwaits);
	}
	mutex_count(&m->nlocks);
}

static inline void
mutex_unlock(mutex_t *m) {
	if (config_debug && !hm_lock_order_off)
		hm_lock_held &= ~((uint32_t)1 << m->rank);
	pthread_mutex_unlock(&m->lock);
}

/* In a forked child, the forking thread owns every lock it took in
 * prefork; re-initialising is what glibc's own malloc does. */
void hm_mutex_postfork_child(mutex_t *m);

#endif /* HM_MUTEX_H */
