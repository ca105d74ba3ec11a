/*
 * mutex.h: the allocator's locks.  A thin layer over pthread mutexes (which
 * never allocate) that also records the lock order rank, checked in debug
 * builds, and lets the fork handlers take and release every lock.
 *
 * Lock order (lower rank first; a thread holding rank r only takes ranks
 * > r, so it holds at most one lock of each rank), checked in debug builds
 * (HM_DEBUG):
 *   LOCK_RANK_INIT < LOCK_RANK_CTL < LOCK_RANK_ATEXIT (the purging
 *   thread's exit handler) < LOCK_RANK_BG (the purging thread's state)
 *   < LOCK_RANK_ARENAS (creating arenas)
 *   < LOCK_RANK_TCACHES (the pool of thread caches)
 *   < LOCK_RANK_QUARANTINE (secure.c) < LOCK_RANK_PROF (prof.c)
 *   < LOCK_RANK_TRACE (trace.c's buffers) < LOCK_RANK_TRACE_BUF (one
 *   buffer, written out) < LOCK_RANK_TRACE_FILE (the trace file)
 *   < LOCK_RANK_BIN
 *   < LOCK_RANK_ARENA
 *   < LOCK_RANK_HUGE < LOCK_RANK_SAN (san.c) < LOCK_RANK_EHOOKS (an
 *   arena's retained hooked ranges) < LOCK_RANK_CHUNK < LOCK_RANK_BASE
 *   < LOCK_RANK_DSS (os.c) < LOCK_RANK_RETAIN (pages.c)
 *
 * Fork: the prepare handler takes every lock, except those the forking
 * thread itself holds or is taking (hm_locks_mine): a fork from a signal
 * handler that interrupted the thread inside the allocator would otherwise
 * wait for itself.  The child re-initialises every lock.
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
	LOCK_RANK_ATEXIT,
	LOCK_RANK_BG,
	LOCK_RANK_ARENAS,
	LOCK_RANK_TCACHES,
	LOCK_RANK_QUARANTINE,
	LOCK_RANK_PROF,
	LOCK_RANK_TRACE,
	LOCK_RANK_TRACE_BUF,
	LOCK_RANK_TRACE_FILE,
	LOCK_RANK_BIN,
	LOCK_RANK_ARENA,
	LOCK_RANK_HUGE,
	LOCK_RANK_SAN,
	LOCK_RANK_EHOOKS,
	LOCK_RANK_CHUNK,
	LOCK_RANK_BASE,
	LOCK_RANK_DSS,
	LOCK_RANK_RETAIN,
	LOCK_NRANKS
} lock_rank_t;

typedef struct mutex_s {
	pthread_mutex_t lock;
	lock_rank_t rank;
	/* Contention counters, written under the lock, read without it
	 * (hence atomic, with plain loads and stores: no locked
	 * instruction). */
	_Atomic uint64_t nlocks;   /* acquisitions */
	_Atomic uint64_t nwaits;   /* acquisitions that found it held */
	bool fork_skipped;         /* the prepare handler left it alone
				      (written by the forking thread only) */
} mutex_t;

/* A lock that needs no hm_mutex_init() (the locks used before boot). */
#define MUTEX_INITIALIZER(r) { .lock = PTHREAD_MUTEX_INITIALIZER, .rank = (r) }

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
 * hm_locks_mine[r] is the lock of rank r the thread holds or is taking:
 * set before the lock is taken and cleared after it is released, so that
 * a signal handler interrupting the thread anywhere in between sees it
 * (the fork handlers do not wait for it).  Debug builds also check the
 * order against it.  The fork handlers take everything at once and switch
 * the check off for the forking thread meanwhile.
 */
HM_EXTERN __thread mutex_t *hm_locks_mine[LOCK_NRANKS]
    __attribute__((tls_model("initial-exec")));
HM_EXTERN __thread bool hm_lock_order_off __attribute__((tls_model("initial-exec")));
HM_NORETURN HM_COLD void hm_mutex_order_fail(const mutex_t *m);

static inline void
mutex_order_check(const mutex_t *m) {
	for (unsigned r = m->rank; r < LOCK_NRANKS; r++)
		if (hm_locks_mine[r] != NULL)
			hm_mutex_order_fail(m);
}

static inline void
mutex_lock(mutex_t *m) {
	if (config_debug && !hm_lock_order_off)
		mutex_order_check(m);
	hm_locks_mine[m->rank] = m;
	atomic_signal_fence(memory_order_seq_cst);
	if (unlikely(pthread_mutex_trylock(&m->lock) != 0)) {
		pthread_mutex_lock(&m->lock);
		mutex_count(&m->nwaits);
	}
	mutex_count(&m->nlocks);
}

static inline void
mutex_unlock(mutex_t *m) {
	pthread_mutex_unlock(&m->lock);
	atomic_signal_fence(memory_order_seq_cst);
	hm_locks_mine[m->rank] = NULL;
}

/*
 * The fork handlers' side: prefork takes m unless this thread holds it
 * (or is taking it: a fork from a signal handler), postfork_parent
 * releases what prefork took, and in the child, where the forking thread
 * is the only one left, every lock is re-initialised (what glibc's own
 * malloc does).  A lock the interrupted thread held is then as that
 * thread left it: the child of such a fork should only exec or _exit, as
 * POSIX asks of a child of a multi-threaded process.
 */
void hm_mutex_prefork(mutex_t *m);
void hm_mutex_postfork_parent(mutex_t *m);
void hm_mutex_postfork_child(mutex_t *m);

/* Zeroes a lock's counters (a recycled arena's locks). */
static inline void
hm_mutex_stats_clear(mutex_t *m) {
	atomic_store_explicit(&m->nlocks, 0, memory_order_relaxed);
	atomic_store_explicit(&m->nwaits, 0, memory_order_relaxed);
}

#endif /* HM_MUTEX_H */
