/* large.c: see large.h. */
#include "large.h"

#include <string.h>

#include "check.h"

void *
hm_large_alloc(arena_t *arena, size_t usize, size_t align, bool zero) {
	bool zeroed;
	run_t *run = hm_arena_large_alloc(arena, usize, align, &zeroed);
	if (run == NULL)
		return NULL;
	if (zero && !zeroed)
		memset(run->addr, 0, usize);
	return run->addr;
}

void
hm_large_dalloc(arena_t *arena, run_t *run, void *ptr) {
	if (unlikely(!hm_arena_large_dalloc(arena, run, ptr)))
		hm_check_fail(run->state == RUN_FREE ? "double free"
		    : "invalid free", ptr);
}

bool
hm_large_resize(arena_t *arena, run_t *run, size_t oldsize, size_t usize,
    bool zero) {
	bool zeroed_tail = false;
	if (!hm_arena_large_resize(arena, run, usize, &zeroed_tail))
		return false;
	if (usize > oldsize && zero && !zeroed_tail)
		memset(run->addr + oldsize, 0, usize - oldsize);
	return true;
}
