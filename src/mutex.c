/* mutex.c: see mutex.h. */
#include "mutex.h"

#include "check.h"
#include "log.h"

__thread mutex_t *hm_locks_mine[LOCK_NRANKS]
    __attribute__((tls_model("initial-exec")));
__thread bool hm_lock_order_off __attribute__((tls_model("initial-exec")));

void
hm_mutex_order_fail(const mutex_t *m) {
	char what[64];
	hm_snprintf(what, sizeof(what), "lock order violated taking rank %u",
	    (unsigned)m->rank);
	hm_check_fail(what, m);
}

bool
hm_mutex_init(mutex_t *m, lock_rank_t rank, const char *name) {
	pthread_mutexattr_t attr;
	m->rank = rank;
	if (name != NULL)
		hm_mutex_register(m, name);
	if (pthread_mutexattr_init(&attr) != 0)
		return true;
#ifdef PTHREAD_MUTEX_ADAPTIVE_NP
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
	bool err = pthread_mutex_init(&m->lock, &attr) != 0;
	pthread_mutexattr_destroy(&attr);
	return err;
}

void
hm_mutex_prefork(mutex_t *m) {
	m->fork_skipped = hm_locks_mine[m->rank] == m;
	if (!m->fork_skipped)
		pthread_mutex_lock(&m->lock);
}

void
hm_mutex_postfork_parent(mutex_t *m) {
	if (!m->fork_skipped)
		pthread_mutex_unlock(&m->lock);
}

void
hm_mutex_postfork_child(mutex_t *m) {
	hm_mutex_init(m, m->rank, NULL);
}

/* Written at boot, under the init lock; read by statistics afterwards. */
#define MUTEX_NREGISTERED_MAX 8
static mutex_t *registered[MUTEX_NREGISTERED_MAX];
static const char *registered_names[MUTEX_NREGISTERED_MAX];
static unsigned nregistered;

void
hm_mutex_register(mutex_t *m, const char *name) {
	if (nregistered < MUTEX_NREGISTERED_MAX) {
		registered[nregistered] = m;
		registered_names[nregistered++] = name;
	}
}

unsigned
hm_mutex_nregistered(void) {
	return nregistered;
}

mutex_t *
hm_mutex_registered(unsigned i, const char **name) {
	*name = registered_names[i];
	return registered[i];
}
