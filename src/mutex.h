/*
 * mutex.h: the allocator's locks.  A thin layer over pthread mutexes (which
 * never allocate) that also records the lock order rank, checked in debug
 * builds, and lets the fork handlers take and release every lock.
 *
 * Lock order (lower rank first; a thread holding rank r only takes ranks
 * > r), checked in debug builds (HM_DEBUG):
 *   LOCK_RANK_INIT < LOCK_RANK_CTL < LOCK_RANK_ARENAS (creating arenas)
 *   < LOCK_RANK_TCACHES (the pool of thread caches) < LOCK_RANK_BIN
 *   < LOCK_RANK_ARENA
 *   < LOCK_RANK_HUGE < LOCK_RANK_CHUNK < LOCK_RANK_BASE
 */
#ifndef HM_MUTEX_H
#define HM_MUTEX_H

#include <pthread.h>
#include <stdint.h>

#include "util.h"

typedef enum {
	LOCK_RANK_INIT,
	LOCK_RANK_CTL,
	LOCK_RANK_ARENAS,
	LOCK_RANK_TCACHES,
	LOCK_RANK_BIN,
	LOCK_RANK_ARENA,
	LOCK_RANK_HUGE,
	LOCK_RANK_CHUNK,
	LOCK_RANK_BASE,
} lock_rank_t;

typedef struct mutex_s {
	pthread_mutex_t lock;
	lock_rank_t rank;
} mutex_t;

/* Returns true on failure (pthread_mutex_init can only fail for want of
 * resources, which the default attributes do not need). */
bool hm_mutex_init(mutex_t *m, lock_rank_t rank);

/*
 * Debug builds check the order: hm_lock_held has a bit per rank the thread
 * holds, and a lock may only be taken above every rank held.  The fork
 * handlers take everything at once and switch the check off for the
 * forking thread meanwhile.
 */
extern __thread uint32_t hm_lock_held __attribute__((tls_model("initial-exec")));
extern __thread bool hm_lock_order_off __attribute__((tls_model("initial-exec")));
HM_NORETURN HM_COLD void hm_mutex_order_fail(const mutex_t *m);

static inline void
mutex_lock(mutex_t *m) {
	if (config_debug && !hm_lock_order_off) {
		if (hm_lock_held >> m->rank != 0)
			hm_mutex_order_fail(m);
		hm_lock_held |= (uint32_t)1 << m->rank;
	}
	pthread_mutex_lock(&m->lock);
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
