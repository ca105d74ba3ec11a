/* san.c: see san.h. */
#include "san.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "base.h"
#include "check.h"
#include "decay.h"
#include "log.h"
#include "mutex.h"
#include "os.h"
#include "prof.h"
#include "prof_sym.h"
#include "secure.h"
#include "tls.h"
#include "vg.h"

bool opt_san_guard = true;
size_t opt_lg_san_guard_sample = 24;
unsigned opt_san_guard_slots = 64;
size_t opt_san_guard_interval_ms = 20;

_Atomic(uintptr_t) hm_san_base;
size_t hm_san_size;

#define SAN_STRIDE ((SAN_SLOT_PAGES + 1) * PAGE)
#define SAN_NONE UINT32_MAX

enum { SLOT_UNUSED, SLOT_LIVE, SLOT_FREED };

typedef struct san_stack_s {
	pid_t tid;
	unsigned len;
	uintptr_t pc[SAN_BT_MAX];
} san_stack_t;

typedef struct san_slot_s {
	/* Read without the lock by the fault handler and block_lookup. */
	_Atomic(uintptr_t) addr; /* the block (0: never used) */
	_Atomic(unsigned) state;
	size_t usize;
	struct arena_s *arena;
	struct prof_sample_s *prof;
	uint32_t next;           /* the FIFO of free slots */
	san_stack_t alloc, free;
} san_slot_t;

static mutex_t san_lock = MUTEX_INITIALIZER(LOCK_RANK_SAN);
static san_slot_t *san_slots;
static unsigned san_nslots;
/* Free slots, least recently freed first. */
static uint32_t san_head = SAN_NONE, san_tail = SAN_NONE;
static bool san_failed;     /* the pool could not be made: no more tries */
static bool san_at_end;     /* where the next block goes in its slot */
static size_t san_live, san_bytes, san_pages;
static atomic_bool san_active = true;
static uint64_t san_total;
static struct sigaction san_old_segv;
static atomic_bool san_reported;
/* No guarded block before this time (ms, hm_decay_now_ms). */
static _Atomic uint64_t san_allowed_ms;

/* Thresholds: uniform in [0, 2^(lg+1)), mean 2^lg bytes; 0 is every
 * allocation. */
static uint64_t
san_draw(tsd_t *tsd) {
	size_t lg = opt_lg_san_guard_sample;
	if (lg == 0)
		return 0;
	return hm_secure_random(&tsd->san_prng) & ((((uint64_t)1) << (lg + 1))
	    - 1);
}

/* Memcheck keeps its own watch on every block, and would not see a
 * guarded one go back to its slot. */
static inline bool
san_enabled(void) {
	return opt_san_guard && !config_valgrind;
}

void
hm_san_thread_start(void) {
	tsd_t *tsd = &hm_tsd;
	tsd->san_next = san_enabled() ? tsd->allocated + san_draw(tsd)
				      : UINT64_MAX;
	tsd_event_update(tsd);
}

void
hm_san_thread_exit(void) {
	tsd_t *tsd = &hm_tsd;
	tsd->san_next = UINT64_MAX;
	tsd_event_update(tsd);
}

/*
 * The time bound: a guarded block costs about 100 us (two unwinds, three
 * system calls that flush other CPUs' TLBs), and a program that allocates
 * bytes fast would cross thresholds by the thousand a second.  One per
 * interval at most, for the whole process: the first thread to claim the
 * interval gets it.
 */
static bool
san_rate_ok(void) {
	if (opt_san_guard_interval_ms == 0)
		return true;
	uint64_t now = hm_decay_now_ms();
	uint64_t allowed = atomic_load_explicit(&san_allowed_ms,
	    memory_order_relaxed);
	return now >= allowed && atomic_compare_exchange_strong_explicit(
	    &san_allowed_ms, &allowed, now + opt_san_guard_interval_ms,
	    memory_order_relaxed, memory_order_relaxed);
}

bool
hm_san_event(size_t usize, size_t align) {
	tsd_t *tsd = &hm_tsd;
	if (!san_enabled() || tsd->state == TSD_DEAD) {
		tsd->san_next = UINT64_MAX;
		tsd_event_update(tsd);
		return false;
	}
	if (tsd->state != TSD_NOMINAL)
		return false; /* binding draws the first threshold */
	tsd->san_next = tsd->allocated + usize + san_draw(tsd);
	tsd_event_update(tsd);
	return !tsd->prof_busy && usize <= SAN_MAX_USIZE && align <= PAGE
	    && atomic_load_explicit(&san_active, memory_order_relaxed)
	    && san_rate_ok();
}

static inline uintptr_t
san_slot_data(uintptr_t base, size_t i) {
	return base + i * SAN_STRIDE + PAGE;
}

static pid_t
san_gettid(void) {
	return (pid_t)syscall(SYS_gettid);
}

static void
san_capture(san_stack_t *st) {
	uintptr_t bt[PROF_BT_MAX];
	unsigned len = hm_prof_backtrace(bt);
	if (len > SAN_BT_MAX)
		len = SAN_BT_MAX;
	memcpy(st->pc, bt, len * sizeof(bt[0]));
	st->len = len;
	st->tid = san_gettid();
}

static void san_segv(int sig, siginfo_t *info, void *uctx);

/* The reservation, the slots and the handler; false if any failed. */
static bool
san_pool_make(void) {
	unsigned n = opt_san_guard_slots;
	san_slot_t *slots = hm_base_alloc(n * sizeof(san_slot_t));
	if (slots == NULL)
		return false;
	size_t size = n * SAN_STRIDE + PAGE;
	void *base = hm_os_reserve(size);
	if (base == NULL)
		return false;
	for (unsigned i = 0; i < n; i++)
		slots[i].next = i + 1 < n ? i + 1 : SAN_NONE;
	san_slots = slots;
	san_nslots = n;
	san_head = 0;
	san_tail = n - 1;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = san_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &san_old_segv);
	hm_san_size = size;
	atomic_store_explicit(&hm_san_base, (uintptr_t)base,
	    memory_order_release);
	return true;
}

void *
hm_san_alloc(size_t usize, size_t align, struct arena_s *arena) {
	san_stack_t st;
	san_capture(&st);
	if (align < QUANTUM)
		align = QUANTUM;
	mutex_lock(&san_lock);
	uintptr_t base = atomic_load_explicit(&hm_san_base,
	    memory_order_relaxed);
	if (base == 0) {
		if (san_failed || !san_pool_make()) {
			san_failed = true;
			mutex_unlock(&san_lock);
			return NULL;
		}
		base = atomic_load_explicit(&hm_san_base, memory_order_relaxed);
	}
	uint32_t i = san_head;
	if (i == SAN_NONE) {
		mutex_unlock(&san_lock);
		return NULL; /* every slot holds a live block */
	}
	uintptr_t data = san_slot_data(base, i);
	uintptr_t p = san_at_end ? (data + SAN_MAX_USIZE - usize) & ~(align - 1)
				 : data;
	uintptr_t lo = p & ~PAGE_MASK;
	uintptr_t hi = PAGE_CEILING(p + usize);
	if (!hm_os_unguard((void *)lo, hi - lo)) {
		/* Out of mappings (vm.max_map_count) or memory. */
		mutex_unlock(&san_lock);
		return NULL;
	}
	san_at_end = !san_at_end;
	san_slot_t *s = &san_slots[i];
	san_head = s->next;
	if (san_head == SAN_NONE)
		san_tail = SAN_NONE;
	s->usize = usize;
	s->arena = arena;
	s->prof = NULL;
	s->alloc = st;
	s->free.len = 0;
	s->free.tid = 0;
	atomic_store_explicit(&s->addr, p, memory_order_relaxed);
	atomic_store_explicit(&s->state, SLOT_LIVE, memory_order_release);
	san_live++;
	san_bytes += usize;
	san_pages += (hi - lo) >> LG_PAGE;
	san_total++;
	mutex_unlock(&san_lock);
	return (void *)p;
}

/* The slot whose data pages hold ptr, or NULL (a guard page). */
static san_slot_t *
san_slot_of(const void *ptr) {
	uintptr_t base = atomic_load_explicit(&hm_san_base,
	    memory_order_acquire);
	size_t rel = (uintptr_t)ptr - base;
	if (base == 0 || rel >= hm_san_size || rel % SAN_STRIDE < PAGE)
		return NULL;
	return &san_slots[rel / SAN_STRIDE];
}

bool
hm_san_lookup(const void *ptr, size_t *usize, struct arena_s **arena,
    struct prof_sample_s **prof) {
	san_slot_t *s = san_slot_of(ptr);
	if (s == NULL
	    || atomic_load_explicit(&s->state, memory_order_acquire)
	    != SLOT_LIVE
	    || atomic_load_explicit(&s->addr, memory_order_relaxed)
	    != (uintptr_t)ptr)
		return false;
	*usize = s->usize;
	*arena = s->arena;
	*prof = s->prof;
	return true;
}

void
hm_san_prof_set(void *ptr, struct prof_sample_s *prof) {
	san_slot_t *s = san_slot_of(ptr);
	if (s != NULL) /* (a live block's: never NULL) */
		s->prof = prof;
}

/* How far a is from the block of s (0: inside it). */
static size_t
san_distance(const san_slot_t *s, uintptr_t a) {
	uintptr_t p = atomic_load_explicit(&s->addr, memory_order_relaxed);
	if (a < p)
		return p - a;
	return a >= p + s->usize ? a - (p + s->usize) + 1 : 0;
}

struct arena_s *
hm_san_arena_of(const void *ptr) {
	san_slot_t *s = san_slot_of(ptr);
	if (s == NULL || atomic_load_explicit(&s->state, memory_order_acquire)
	    != SLOT_LIVE || san_distance(s, (uintptr_t)ptr) != 0)
		return NULL;
	return s->arena;
}

/* Writes one stack, a frame a line, named as the leak report names. */
static void
san_write_stack(hm_sym_t *sym, bool have_sym, const char *what,
    const san_stack_t *st) {
	hm_printf("    %s by thread %d:\n", what, (int)st->tid);
	if (st->len == 0)
		hm_printf("      (no stack)\n");
	for (unsigned i = 0; i < st->len; i++) {
		char name[256];
		if (have_sym)
			hm_sym_name(sym, st->pc[i] - 1, name, sizeof(name));
		else
			hm_snprintf(name, sizeof(name), "0x%llx",
			    (unsigned long long)(st->pc[i] - 1));
		hm_printf("      #%u %s\n", i, name);
	}
}

/* The block's stacks, after the report's first line. */
static void
san_write_stacks(const void *arg) {
	const san_slot_t *s = arg;
	hm_sym_t sym;
	bool have_sym = hm_sym_open(&sym);
	san_write_stack(&sym, have_sym, "allocated", &s->alloc);
	if (atomic_load_explicit(&s->state, memory_order_acquire)
	    == SLOT_FREED)
		san_write_stack(&sym, have_sym, "freed", &s->free);
	if (have_sym)
		hm_sym_close(&sym);
}

void
hm_san_invalid(const char *what, const void *ptr) {
	san_slot_t *s = san_slot_of(ptr);
	if (s != NULL && atomic_load_explicit(&s->state, memory_order_acquire)
	    == SLOT_FREED && atomic_load_explicit(&s->addr,
	    memory_order_relaxed) == (uintptr_t)ptr)
		hm_check_fail_more("double free of a guarded block", ptr,
		    san_write_stacks, s);
	hm_check_fail(what, ptr);
}

void
hm_san_free(void *ptr) {
	san_slot_t *s = san_slot_of(ptr);
	san_stack_t st;
	san_capture(&st);
	mutex_lock(&san_lock);
	if (s == NULL || atomic_load_explicit(&s->state, memory_order_relaxed)
	    != SLOT_LIVE || atomic_load_explicit(&s->addr,
	    memory_order_relaxed) != (uintptr_t)ptr) {
		mutex_unlock(&san_lock);
		hm_san_invalid("invalid free", ptr);
	}
	uintptr_t p = (uintptr_t)ptr;
	uintptr_t lo = p & ~PAGE_MASK;
	uintptr_t hi = PAGE_CEILING(p + s->usize);
	/* Dropped first: the pages read as zero when the slot comes back,
	 * and cost nothing meanwhile. */
	hm_os_dontneed((void *)lo, hi - lo);
	hm_os_guard((void *)lo, hi - lo);
	s->free = st;
	atomic_store_explicit(&s->state, SLOT_FREED, memory_order_release);
	uint32_t i = (uint32_t)(s - san_slots);
	s->next = SAN_NONE;
	if (san_tail == SAN_NONE)
		san_head = i;
	else
		san_slots[san_tail].next = i;
	san_tail = i;
	san_live--;
	san_bytes -= s->usize;
	san_pages -= (hi - lo) >> LG_PAGE;
	mutex_unlock(&san_lock);
}

void
hm_san_stats(size_t *live, size_t *bytes, uint64_t *total, size_t *pages) {
	mutex_lock(&san_lock);
	*live = san_live;
	*bytes = san_bytes;
	*total = san_total;
	*pages = san_pages;
	mutex_unlock(&san_lock);
}

bool
hm_san_active_get(void) {
	return san_enabled() && atomic_load_explicit(&san_active,
	    memory_order_relaxed);
}

void
hm_san_active_set(bool on) {
	atomic_store_explicit(&san_active, on, memory_order_relaxed);
}

/* The fault report. */

/* The block a fault at a is about: the slot a is in, or for a guard
 * page the nearer of its two neighbours' blocks; NULL if none. */
static const san_slot_t *
san_fault_slot(uintptr_t a) {
	uintptr_t base = atomic_load_explicit(&hm_san_base,
	    memory_order_acquire);
	size_t rel = a - base;
	size_t i = rel / SAN_STRIDE;
	const san_slot_t *cand[2] = {NULL, NULL};
	if (rel % SAN_STRIDE >= PAGE) {
		cand[0] = &san_slots[i];
	} else {
		if (i > 0)
			cand[0] = &san_slots[i - 1];
		if (i < san_nslots)
			cand[1] = &san_slots[i];
	}
	const san_slot_t *best = NULL;
	size_t best_d = SIZE_MAX;
	for (unsigned k = 0; k < 2; k++) {
		const san_slot_t *s = cand[k];
		if (s == NULL || atomic_load_explicit(&s->state,
		    memory_order_acquire) == SLOT_UNUSED)
			continue;
		size_t d = san_distance(s, a);
		if (d < best_d) {
			best = s;
			best_d = d;
		}
	}
	return best;
}

static void
san_report(uintptr_t a, const void *uctx) {
	const char *access = "access";
#if defined(__x86_64__)
	/* The page fault's error code: bit 1 is a write. */
	const ucontext_t *uc = uctx;
	access = (uc->uc_mcontext.gregs[REG_ERR] & 2) ? "write" : "read";
#else
	(void)uctx;
#endif
	const san_slot_t *s = san_fault_slot(a);
	if (s == NULL) {
		hm_printf("<hmalloc>: %s of guarded memory at %p, in no block\n",
		    access, (void *)a);
		return;
	}
	uintptr_t p = atomic_load_explicit(&s->addr, memory_order_relaxed);
	const char *kind = "invalid access";
	if (atomic_load_explicit(&s->state, memory_order_acquire)
	    == SLOT_FREED)
		kind = "use after free";
	else if (a < p)
		kind = "heap underflow";
	else if (a >= p + s->usize)
		kind = "heap overflow";
	hm_printf("<hmalloc>: %s: %s at %p, offset %lld of the %zu-byte "
	    "block at %p\n", kind, access, (void *)a,
	    (long long)((intptr_t)a - (intptr_t)p), s->usize, (void *)p);
	san_write_stacks(s);
}

/*
 * The fault goes on where it would have gone without this handler: to the
 * program's handler, else to the default action, restored for the access
 * to fault again when the handler returns (a signal sent by a process
 * rather than raised by a fault is sent again).
 */
static void
san_chain(int sig, siginfo_t *info, void *uctx) {
	const struct sigaction *old = &san_old_segv;
	if (old->sa_flags & SA_SIGINFO) {
		if (old->sa_sigaction != NULL) {
			old->sa_sigaction(sig, info, uctx);
			return;
		}
	} else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
		return;
	}
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	if (info->si_code <= 0)
		raise(sig);
}

static void
san_segv(int sig, siginfo_t *info, void *uctx) {
	int saved = errno;
	if (info->si_code > 0 && san_owns(info->si_addr)
	    && !atomic_exchange(&san_reported, true))
		san_report((uintptr_t)info->si_addr, uctx);
	errno = saved;
	san_chain(sig, info, uctx);
}

void
hm_san_prefork(void) {
	hm_mutex_prefork(&san_lock);
}

void
hm_san_postfork_parent(void) {
	hm_mutex_postfork_parent(&san_lock);
}

void
hm_san_postfork_child(void) {
	hm_mutex_postfork_child(&san_lock);
}
