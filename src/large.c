/* large.c: see large.h. */
#include "large.h"

#include <string.h>

#include "check.h"
#include "huge.h"
#include "os.h"
#include "secure.h"
#include "vg.h"

/* The guard option guards one Large block in GUARD_LARGE_EVERY per
 * thread, while fewer than GUARD_LARGE_MAX are guarded. */
static __thread unsigned large_guard_tick;

static run_t *
large_alloc_guarded(arena_t *arena, size_t usize, size_t align,
    bool *zeroed) {
	if (++large_guard_tick % GUARD_LARGE_EVERY != 0
	    || !hm_arena_large_guard_take())
		return hm_arena_large_alloc(arena, usize, align, 0, zeroed);
	run_t *run = hm_arena_large_alloc(arena, usize, align, PAGE, zeroed);
	if (run == NULL) {
		hm_arena_large_guard_give();
		return NULL;
	}
	if (hm_os_guard(run->addr + usize, PAGE))
		return run;
	/* The kernel refused the split: the caller makes an ordinary
	 * block. */
	hm_arena_large_guard_drop(run);
	hm_arena_large_dalloc(arena, run, run->addr);
	return NULL;
}

void *
hm_large_alloc(arena_t *arena, size_t usize, size_t align, bool zero) {
	bool zeroed;
	run_t *run = NULL;
	if (unlikely(opt_guard))
		run = large_alloc_guarded(arena, usize, align, &zeroed);
	if (run == NULL)
		run = hm_arena_large_alloc(arena, usize, align, 0, &zeroed);
	if (run == NULL)
		return NULL;
	if (zero && !zeroed) {
		vg_undefined(run->addr, usize);
		memset(run->addr, 0, usize);
	}
	return run->addr;
}

void
hm_large_dalloc(arena_t *arena, run_t *run, void *ptr) {
	/* Made ordinary before the run is free for others to take. */
	if (unlikely(atomic_load_explicit(&run->guard, memory_order_relaxed))
	    && run->state == RUN_LARGE && run->addr == (char *)ptr)
		hm_arena_large_guard_drop(run);
	if (unlikely(!hm_arena_large_dalloc(arena, run, ptr)))
		hm_check_fail(run->state == RUN_FREE ? "double free"
		    : "invalid free", ptr);
	huge_decay_event(arena);
}

bool
hm_large_resize(arena_t *arena, run_t *run, size_t oldsize, size_t usize,
    bool zero) {
	bool zeroed_tail = false;
	if (atomic_load_explicit(&run->guard, memory_order_relaxed) != 0)
		return false; /* the guard sits at the end: realloc moves */
	if (!hm_arena_large_resize(arena, run, usize, &zeroed_tail))
		return false;
	if (usize < oldsize)
		huge_decay_event(arena);
	if (usize > oldsize && zero && !zeroed_tail) {
		vg_undefined(run->addr + oldsize, usize - oldsize);
		memset(run->addr + oldsize, 0, usize - oldsize);
	}
	return true;
}
