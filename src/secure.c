/* secure.c: see secure.h. */
#include "secure.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base.h"
#include "check.h"
#include "mutex.h"
#include "pages.h"
#include "vg.h"

bool opt_secure = false;
bool opt_slab_random = false;
bool opt_zero_free = false;
bool opt_canary = false;
bool opt_guard = false;
size_t hm_canary_size;
size_t opt_quarantine = VG_QUARANTINE;
unsigned opt_junk = 0;
const char *const hm_junk_names[4] = {"false", "true", "alloc", "free"};
bool opt_zero = false;
bool hm_junk_alloc;
bool hm_junk_free;
bool hm_secure_free_hook;
uintptr_t hm_secret;

/* secure:true's quarantine: a few hundred recent blocks of typical sizes,
 * a small fraction of a server's heap. */
#define QUARANTINE_DEFAULT ((size_t)1 << 20)
/* Entries at most, whatever the bytes: bounds the double-free scan. */
#define QUARANTINE_NMAX 4096
/* Blocks leaving per batch: freed after the lock is released. */
#define QUARANTINE_BATCH 16

typedef struct qentry_s {
	void *ptr;
	size_t usize;
} qentry_t;

static mutex_t q_lock;
static qentry_t *q_ring;  /* QUARANTINE_NMAX entries, a FIFO */
static unsigned q_head, q_count;
static size_t q_bytes;
/* How blocks leaving are freed (alloc.c's, given with every park). */
static void (*q_free_fn)(void *ptr);

/* The word a parked block starts with: its address under the process
 * secret, with another constant than the thread caches' tag. */
static inline uintptr_t
q_tag(const void *ptr) {
	return ((uintptr_t)ptr ^ hm_secret) * 0x9e3779b97f4a7c15ULL;
}

bool
hm_secure_boot(void) {
	/* From the kernel, else from addresses and time. */
	uintptr_t secret = 0;
	if (getrandom(&secret, sizeof(secret), GRND_NONBLOCK)
	    != (ssize_t)sizeof(secret)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		secret = (uintptr_t)&secret * 0x9e3779b97f4a7c15ULL
		    ^ (uintptr_t)ts.tv_nsec ^ ((uintptr_t)ts.tv_sec << 32);
	}
	/* Never 0, so a zeroed block never carries a tag. */
	hm_secret = secret | 1;
	/* Before the quarantine's ring below: the first metadata mapping. */
	hm_pages_guard_metadata = opt_guard;
	hm_junk_alloc = opt_junk == 1 || opt_junk == 2;
	hm_junk_free = opt_junk == 1 || opt_junk == 3;
	/* Under memcheck its client requests watch block ends better, and
	 * the canary word would sit in memory they marked inaccessible. */
	if (config_valgrind)
		opt_canary = false;
	hm_canary_size = opt_canary ? CANARY_SIZE : 0;
	hm_secure_free_hook = opt_zero_free || opt_quarantine != 0
	    || opt_canary;
	if (opt_quarantine == 0)
		return false;
	if (hm_mutex_init(&q_lock, LOCK_RANK_QUARANTINE, NULL))
		return true;
	q_ring = hm_base_alloc(QUARANTINE_NMAX * sizeof(qentry_t));
	return q_ring == NULL;
}

void
hm_secure_conf(void) {
	opt_slab_random = opt_secure;
	opt_zero_free = opt_secure;
	opt_canary = opt_secure;
	opt_guard = opt_secure;
	opt_quarantine = opt_secure ? QUARANTINE_DEFAULT : 0;
}

uint64_t
hm_secure_random(uint64_t *state) {
	uint64_t x = *state;
	if (x == 0)
		x = ((uintptr_t)state ^ hm_secret) | 1;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* A parked block on its way out: still carrying its tag, and zero
 * beyond it if it was zeroed, else something wrote to it after free. */
static void
q_verify(const qentry_t *e) {
	/* Under memcheck, which watches freed blocks itself, nothing was
	 * written: the block is made accessible again for its free. */
	if (config_valgrind) {
		vg_undefined(e->ptr, e->usize);
		return;
	}
	const uintptr_t *w = e->ptr;
	bool ok = w[0] == q_tag(e->ptr);
	if (ok && opt_zero_free) {
		for (size_t i = 1; i < e->usize / sizeof(uintptr_t); i++) {
			if (w[i] != 0) {
				ok = false;
				break;
			}
		}
	}
	if (!ok)
		hm_check_fail("write after free", e->ptr);
	*(uintptr_t *)e->ptr = 0;
}

/* Takes up to QUARANTINE_BATCH of the oldest entries (all of them when
 * all is set, else those beyond the limits) into out; q_lock held. */
static unsigned
q_take(qentry_t *out, bool all) {
	unsigned n = 0;
	while (n < QUARANTINE_BATCH && q_count > 0
	    && (all || q_bytes > opt_quarantine
	    || q_count >= QUARANTINE_NMAX - 1)) {
		out[n++] = q_ring[q_head];
		q_bytes -= q_ring[q_head].usize;
		q_head = (q_head + 1) % QUARANTINE_NMAX;
		q_count--;
	}
	return n;
}

static void
q_release(qentry_t *batch, unsigned n, void (*free_fn)(void *ptr)) {
	for (unsigned i = 0; i < n; i++) {
		q_verify(&batch[i]);
		free_fn(batch[i].ptr);
	}
}

void
hm_secure_check_parked(void *ptr) {
	if (opt_quarantine == 0 || *(uintptr_t *)ptr != q_tag(ptr))
		return;
	/* Likely parked already: a double free if so. */
	mutex_lock(&q_lock);
	for (unsigned i = 0; i < q_count; i++) {
		if (q_ring[(q_head + i) % QUARANTINE_NMAX].ptr == ptr) {
			mutex_unlock(&q_lock);
			hm_check_fail("double free", ptr);
		}
	}
	mutex_unlock(&q_lock);
}

bool
hm_secure_free(void *ptr, size_t usize, void (*free_fn)(void *ptr)) {
	bool park = opt_quarantine != 0 && usize <= opt_quarantine;
	if (opt_zero_free)
		memset(ptr, 0, usize);
	if (!park)
		return false;
	if (!config_valgrind)
		*(uintptr_t *)ptr = q_tag(ptr);
	qentry_t batch[QUARANTINE_BATCH];
	mutex_lock(&q_lock);
	q_free_fn = free_fn;
	if (q_count == QUARANTINE_NMAX) {
		/* (Cannot happen: the last free left room.) */
		mutex_unlock(&q_lock);
		return false;
	}
	q_ring[(q_head + q_count) % QUARANTINE_NMAX] = (qentry_t){ptr, usize};
	q_count++;
	q_bytes += usize;
	/* Back within the limits, leaving room for the next entry; a batch
	 * at a time, freed without the lock. */
	for (;;) {
		unsigned n = q_take(batch, false);
		mutex_unlock(&q_lock);
		if (n == 0)
			return true;
		q_release(batch, n, free_fn);
		mutex_lock(&q_lock);
	}
}

void
hm_quarantine_drain(void) {
	if (opt_quarantine == 0)
		return;
	qentry_t batch[QUARANTINE_BATCH];
	for (;;) {
		mutex_lock(&q_lock);
		unsigned n = q_take(batch, true);
		void (*free_fn)(void *) = q_free_fn;
		mutex_unlock(&q_lock);
		if (n == 0)
			return;
		q_release(batch, n, free_fn);
	}
}

void
hm_secure_prefork(void) {
	if (opt_quarantine != 0)
		hm_mutex_prefork(&q_lock);
}

void
hm_secure_postfork_parent(void) {
	if (opt_quarantine != 0)
		hm_mutex_postfork_parent(&q_lock);
}

void
hm_secure_postfork_child(void) {
	if (opt_quarantine != 0)
		hm_mutex_postfork_child(&q_lock);
}
