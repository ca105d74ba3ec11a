/*
 * large.h: the Large allocator: one page run per allocation, in an arena's
 * chunks (runs are managed by arena.c).  Sizes from 16 KiB to the largest
 * class below the chunk size; any alignment up to what fits in a chunk.
 */
#ifndef HM_LARGE_H
#define HM_LARGE_H

#include "arena.h"

/* usize is a Large class.  NULL with errno ENOMEM on failure. */
void *hm_large_alloc(arena_t *arena, size_t usize, size_t align, bool zero);
void hm_large_dalloc(arena_t *arena, run_t *run, void *ptr);

/* Resizes in place to usize (a Large class); true on success. */
bool hm_large_resize(arena_t *arena, run_t *run, size_t oldsize,
    size_t usize, bool zero);

#endif /* HM_LARGE_H */
