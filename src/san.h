/*
 * san.h: sampled guarded allocations (opt.san_guard), on by default.
 *
 * Each thread counts the bytes it allocates against a threshold,
 * tsd.san_next, drawn at random with mean 2^lg_san_guard_sample bytes
 * (tls.h folds it with the heap profiler's into the one compare malloc's
 * fast path makes), so that a block's chance of being the sampled one
 * grows with its size; and at most one block per san_guard_interval_ms
 * in the whole process, so that the cost stays bounded in time however
 * fast a program allocates.  The allocation that crosses it, if it asks
 * for at most SAN_MAX_USIZE bytes aligned to at most a page in the
 * thread's own arena, is not served by the arena: it gets a slot of its
 * own in the guard pool, one reservation made on the first such
 * allocation:
 *
 *   [guard][slot 0: SAN_SLOT_PAGES][guard][slot 1] ... [slot N-1][guard]
 *
 * Only the pages the block covers are accessible.  The block is placed
 * alternately against the end of its slot (an overflow faults on the
 * first byte past its usable size) and against its start (an underflow
 * faults on the first byte before it).  Freed, its pages are dropped and
 * made inaccessible again, and the slot joins the back of a FIFO of free
 * slots: a dangling pointer faults until every other free slot has been
 * used.  The pool stays as it was reserved, so its memory is at most
 * N * SAN_MAX_USIZE bytes resident, and each live block splits the
 * reservation in at most three: 2N + 1 mappings in all, against Linux's
 * vm.max_map_count (65530 by default; N is at most SAN_SLOTS_MAX).
 *
 * A fault in the pool is reported by a SIGSEGV handler installed with the
 * pool, chained with the one it replaced: one `<hmalloc>:` line naming the
 * kind (heap overflow, heap underflow, use after free), the access, its
 * offset and the block, then the stacks of the block's allocation and
 * free; then the fault goes to the program's own handler, or, when it had
 * none, kills the process as it would have.  Faults elsewhere go to the
 * program's handler unchanged.  A second free of a guarded block aborts
 * with the same stacks.
 *
 * The allocation engine finds guarded blocks through block_lookup()
 * (block.h): an address in the pool is never in the chunk map, so the
 * fast paths pay nothing for them.
 */
#ifndef HM_SAN_H
#define HM_SAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct arena_s;
struct prof_sample_s;

#define SAN_SLOT_PAGES 4
#define SAN_MAX_USIZE (SAN_SLOT_PAGES * PAGE)
#define SAN_SLOTS_MAX 4096
/* Frames kept of each stack. */
#define SAN_BT_MAX 32

HM_EXTERN bool opt_san_guard;
HM_EXTERN size_t opt_lg_san_guard_sample;
HM_EXTERN unsigned opt_san_guard_slots;
HM_EXTERN size_t opt_san_guard_interval_ms;

/* The pool: [hm_san_base, hm_san_base + hm_san_size), 0 until made. */
HM_EXTERN _Atomic(uintptr_t) hm_san_base;
HM_EXTERN size_t hm_san_size;

static inline bool
san_owns(const void *ptr) {
	uintptr_t base = atomic_load_explicit(&hm_san_base,
	    memory_order_relaxed);
	return base != 0 && (uintptr_t)ptr - base < hm_san_size;
}

/* The thread was bound (tsd.c): draws its first threshold; at exit no
 * more samples. */
void hm_san_thread_start(void);
void hm_san_thread_exit(void);

/* The thread's allocation of usize bytes aligned to align crosses its
 * threshold: draws the next one, and says whether to guard this one. */
bool hm_san_event(size_t usize, size_t align);

/* A guarded block of usize bytes (a class size) aligned to align, for
 * arena (the one it counts for: arenas.lookup); NULL when no slot could be
 * had (the request is then served as usual).  Called with no lock held. */
void *hm_san_alloc(size_t usize, size_t align, struct arena_s *arena);

/* For block_lookup: true if ptr starts a live guarded block, with its
 * class size, arena and heap profile sample (NULL if none). */
bool hm_san_lookup(const void *ptr, size_t *usize, struct arena_s **arena,
    struct prof_sample_s **prof);
/* The heap profile sample of the live guarded block ptr. */
void hm_san_prof_set(void *ptr, struct prof_sample_s *prof);

/* arenas.lookup: the arena of the live guarded block ptr is inside, or
 * NULL. */
struct arena_s *hm_san_arena_of(const void *ptr);

/* Frees a guarded block block_lookup() vouched for; aborts with both
 * stacks on a second free that raced it. */
void hm_san_free(void *ptr);

/* Aborts for a pointer into the pool that starts no live block: a
 * second free (with both stacks) or an invalid one (what). */
HM_NORETURN HM_COLD void hm_san_invalid(const char *what, const void *ptr);

/* stats.san.*: live blocks, their bytes, blocks guarded so far, and
 * the pages they make accessible. */
void hm_san_stats(size_t *live, size_t *bytes, uint64_t *total,
    size_t *pages);

/* san.active: guarding on or off for the whole process at run time
 * (starts as opt.san_guard; false for good where that was false). */
bool hm_san_active_get(void);
void hm_san_active_set(bool on);

void hm_san_prefork(void);
void hm_san_postfork_parent(void);
void hm_san_postfork_child(void);

#endif /* HM_SAN_H */
