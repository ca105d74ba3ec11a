/*
 * chunk.h: chunks and the chunk map.
 *
 * A chunk is a chunk-aligned block of 2^lg_chunk bytes (2 MiB by default)
 * from os.c.  Arena chunks are carved into page runs; each has an
 * out-of-band descriptor (chunk_t) with a per-page map.  Huge allocations
 * are mappings of their own (huge.h).
 *
 * The chunk map is a two-level radix tree over the address space, keyed by
 * address >> RTREE_LG_KEY (the smallest chunk size, so the shift is a
 * constant whatever lg_chunk says), that answers for any address, mapped or
 * not, without a lock and without touching the address itself: an arena
 * chunk's descriptor (under each of its keys), a huge allocation's
 * descriptor (tagged with bit 0, under the key of its first byte only:
 * free and realloc are only ever given its start), or 0 for "not ours".
 *
 * Per-page map of an arena chunk (chunk_t.map[i], the run owning page i):
 *   - every page of a slab;
 *   - the first and last page of a large run and of a free run;
 *   - NULL elsewhere (the interior pages of large and free runs).
 * Entries change under the owning arena's lock and are read without it by
 * free (which validates what it reads under the bin or arena lock).
 */
#ifndef HM_CHUNK_H
#define HM_CHUNK_H

#include <stdatomic.h>
#include <stdint.h>

#include "ehooks.h"
#include "util.h"

struct arena_s;
struct run_s;

typedef struct chunk_s chunk_t;
struct chunk_s {
	struct arena_s *arena;  /* owner; immutable */
	char *addr;             /* first byte; immutable */
	/* The program's hooks it came from (ehooks.h), or NULL; and the
	 * arena's source they belong to.  Immutable. */
	ehooks_table_t *hooks;
	ehooks_t *eh;
	chunk_t *next;          /* arena's chunk list (arena lock) */
	chunk_t *prev;
	_Atomic(struct run_s *) map[]; /* chunk_npages entries */
};

HM_EXTERN size_t opt_lg_chunk;     /* log2 of the chunk size; fixed at boot */
HM_EXTERN size_t hm_chunksize;
HM_EXTERN uintptr_t hm_chunk_mask;  /* hm_chunksize - 1 */
HM_EXTERN size_t hm_chunk_npages;

#define RTREE_LG_KEY 18      /* the smallest lg_chunk */
#define RTREE_LG_LEAF 12
#define RTREE_ADDR_BITS 48
#define RTREE_HUGE_TAG ((uintptr_t)1)

HM_EXTERN _Atomic(_Atomic(uintptr_t) *) *hm_rtree_root;

/*
 * Moves on, by CHUNK_EPOCH_STEP, each time an arena chunk is unmapped:
 * whoever remembers which chunk an address lies in (the thread caches'
 * chunk slots, tcache.h) mixes it into the key, so what it remembered
 * of a chunk that has gone no longer matches.  The step lies above every
 * chunk number of a valid address (a < 2^48, lg_chunk >= 18).
 */
#define CHUNK_EPOCH_STEP ((uintptr_t)1 << (RTREE_ADDR_BITS - RTREE_LG_KEY))
HM_EXTERN _Atomic uintptr_t hm_chunk_epoch;

bool hm_chunk_boot(void);

/* The chunk map's entry for addr (0: not ours). */
static HM_ALWAYS_INLINE uintptr_t
rtree_get(const void *addr) {
	uintptr_t a = (uintptr_t)addr;
	if (unlikely(a >> RTREE_ADDR_BITS != 0))
		return 0;
	uintptr_t key = a >> RTREE_LG_KEY;
	_Atomic(uintptr_t) *leaf = atomic_load_explicit(
	    &hm_rtree_root[key >> RTREE_LG_LEAF], memory_order_acquire);
	if (unlikely(leaf == NULL))
		return 0;
	return atomic_load_explicit(
	    &leaf[key & (((uintptr_t)1 << RTREE_LG_LEAF) - 1)],
	    memory_order_acquire);
}

/* Sets the entries for [addr, addr + size) (size a multiple of the key
 * granule); false if a leaf could not be allocated. */
bool hm_rtree_set(const void *addr, size_t size, uintptr_t val);

/* The page of p in its chunk, from the address alone. */
static HM_ALWAYS_INLINE size_t
chunk_page_of(const void *p) {
	return ((uintptr_t)p & hm_chunk_mask) >> LG_PAGE;
}

static inline size_t
chunk_page_index(const chunk_t *chunk, const void *p) {
	return (size_t)((const char *)p - chunk->addr) >> LG_PAGE;
}

static inline struct run_s *
chunk_map_get(chunk_t *chunk, size_t page) {
	return atomic_load_explicit(&chunk->map[page], memory_order_acquire);
}

static inline void
chunk_map_set(chunk_t *chunk, size_t page, struct run_s *run) {
	atomic_store_explicit(&chunk->map[page], run, memory_order_release);
}

/*
 * Maps a new arena chunk (from brk as dss, a DSS_* value, says) and
 * registers it.  NULL (errno ENOMEM) on failure.  *zeroed: the memory is
 * known to be zero.  for_slab: the chunk is for a slab, which may take
 * the reserve when the system refuses a mapping.
 *
 * The reserve is one chunk of address space mapped at boot and left
 * untouched (no memory, counted as mapped).  When the address space is
 * used up (a limit reached, overcommit refused) by large blocks, the
 * first block of a size class with no slab yet still needs one, as
 * glibc, jemalloc and the others serve it from room they keep; the
 * reserve is that room.  Only slabs may take it (a large block would use
 * it up and leave small ones nothing); taken, it is an ordinary chunk of
 * the arena, and a chunk given back while it is empty refills it.
 */
chunk_t *hm_chunk_alloc(struct arena_s *arena, ehooks_t *eh, unsigned dss,
    bool for_slab, bool *zeroed);

/* Unregisters and unmaps an arena chunk (or keeps it as the reserve). */
void hm_chunk_dalloc(chunk_t *chunk);

void hm_chunk_prefork(void);
void hm_chunk_postfork_parent(void);
void hm_chunk_postfork_child(void);

#endif /* HM_CHUNK_H */
