/*
 * ehooks.h: where an arena's memory comes from.  By default, hmalloc's own
 * page source (pages.h); an arena may instead be given a program's extent
 * hooks, jemalloc 5.3's extent_hooks_t (arena.<i>.extent_hooks, or
 * arenas.create with hooks): every chunk and huge mapping of the arena is
 * then asked of alloc and given back through dalloc, and its pages are
 * purged through purge_lazy and purge_forced.
 *
 * What hmalloc asks of such hooks, and what it does when they decline
 * (return true, or are NULL; alloc alone is required):
 *   alloc(NULL, size, align, &zero, &commit)  a chunk (size and alignment
 *       the chunk size), or a huge block (aligned to the chunk size at
 *       least, so that no arena chunk shares its chunk-map key); NULL is
 *       ENOMEM.  Memory returned uncommitted is committed with commit,
 *       or given back if that fails.
 *   dalloc(addr, size, true)  declined: the range is retained, purged
 *       (below), and handed out again for a request of the same size
 *       before alloc is asked; destroy is called for what is retained
 *       when the arena is destroyed.
 *   purge_lazy / purge_forced(addr, size, offset, length)  a free run
 *       of a chunk; declined forced purges clear the pages by hand (freed
 *       pages count as zero, as when the kernel refuses MADV_DONTNEED).
 *   decommit, split, merge  never asked: hmalloc neither decommits nor
 *       splits or merges the ranges it was given (a huge block of such an
 *       arena is resized by moving it).
 * The hooks may be called with the arena's lock held (for its chunks):
 * they must not allocate from the arena they serve.
 * A range goes back through the hooks it came from, even after the
 * arena's hooks changed.
 *
 * The default table (hm_ehooks_default), which arena.<i>.extent_hooks
 * reads for an arena without hooks of its own, works when called
 * directly: mmap, munmap and madvise, as jemalloc's default hooks.
 */
#ifndef HM_EHOOKS_H
#define HM_EHOOKS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "mutex.h"
#include "util.h"

/* extent_hooks_t's layout (include/jemalloc/jemalloc.h). */
typedef struct ehooks_table_s ehooks_table_t;
struct ehooks_table_s {
	void *(*alloc)(ehooks_table_t *, void *, size_t, size_t, bool *,
	    bool *, unsigned);
	bool (*dalloc)(ehooks_table_t *, void *, size_t, bool, unsigned);
	void (*destroy)(ehooks_table_t *, void *, size_t, bool, unsigned);
	bool (*commit)(ehooks_table_t *, void *, size_t, size_t, size_t,
	    unsigned);
	bool (*decommit)(ehooks_table_t *, void *, size_t, size_t, size_t,
	    unsigned);
	bool (*purge_lazy)(ehooks_table_t *, void *, size_t, size_t, size_t,
	    unsigned);
	bool (*purge_forced)(ehooks_table_t *, void *, size_t, size_t, size_t,
	    unsigned);
	bool (*split)(ehooks_table_t *, void *, size_t, size_t, size_t, bool,
	    unsigned);
	bool (*merge)(ehooks_table_t *, void *, size_t, void *, size_t, bool,
	    unsigned);
};

HM_EXTERN ehooks_table_t hm_ehooks_default;

typedef struct ehooks_range_s ehooks_range_t;

/* An arena's source (in arena_t). */
typedef struct ehooks_s {
	/* The program's hooks; NULL for hmalloc's own. */
	_Atomic(ehooks_table_t *) hooks;
	unsigned ind;              /* the arena's index, for the hooks */
	mutex_t lock;              /* the lists */
	ehooks_range_t *retained;  /* ranges dalloc declined */
	ehooks_range_t *spare;     /* records for them */
} ehooks_t;

/* A new arena's (its lock set up by the arena, LOCK_RANK_EHOOKS). */
void hm_ehooks_init(ehooks_t *eh, unsigned ind);

/* The hooks a new range of eh comes from; NULL for hmalloc's own. */
static inline ehooks_table_t *
ehooks_get(ehooks_t *eh) {
	return atomic_load_explicit(&eh->hooks, memory_order_acquire);
}

/* arena.<i>.extent_hooks: the table (the default one for none); setting
 * the default one is setting none. */
ehooks_table_t *hm_ehooks_read(ehooks_t *eh);
void hm_ehooks_write(ehooks_t *eh, ehooks_table_t *hooks);

/*
 * size bytes aligned to align from hooks (not NULL) for eh: a retained
 * range of that size first, else alloc.  *zeroed tells whether it reads
 * as zero.  NULL with errno ENOMEM.
 */
void *hm_ehooks_alloc(ehooks_t *eh, ehooks_table_t *hooks, size_t size,
    size_t align, bool *zeroed);
/* Gives a range back to the hooks it came from (or retains it). */
void hm_ehooks_dalloc(ehooks_t *eh, ehooks_table_t *hooks, void *addr,
    size_t size);
/*
 * Purges [addr + off, addr + off + len) of the range [addr, addr + size):
 * lazily if lazy and the hooks do (true: the pages may keep their
 * contents until reused); else for good, by the hooks or by hand (false:
 * they read as zero).
 */
bool hm_ehooks_purge(ehooks_t *eh, ehooks_table_t *hooks, void *addr,
    size_t size, size_t off, size_t len, bool lazy);
/* Reset or destroy: every retained range goes to destroy. */
void hm_ehooks_release(ehooks_t *eh);

void hm_ehooks_prefork(ehooks_t *eh);
void hm_ehooks_postfork_parent(ehooks_t *eh);
void hm_ehooks_postfork_child(ehooks_t *eh);

#endif /* HM_EHOOKS_H */
