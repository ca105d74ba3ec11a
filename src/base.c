/*
 * base.c: see base.h.  A bump allocator over 256 KiB blocks (bigger for
 * bigger requests); the remainder of a block that cannot fit a request is
 * abandoned, which wastes at most one request's size per block.
 *
 * opt.metadata_thp: with "always" or "auto", blocks are 2 MiB (or a
 * multiple), 2 MiB-aligned, so that each can be one huge page.  "always"
 * advises every block MADV_HUGEPAGE when it is mapped; "auto" waits until
 * more than BASE_AUTO_THP_THRESHOLD bytes (2 MiB) of metadata are in use,
 * then advises the blocks mapped so far and every later one: a small
 * program keeps its metadata in a few 4 KiB pages, a big one (many
 * arenas, chunk-map leaves, run descriptors) gets its metadata walks
 * served from a few TLB entries, at the price of each block becoming
 * fully resident (up to 2 MiB of RSS per block) once touched.
 * "disabled" (the default) advises nothing.  The chunk map's root
 * (chunk.c) is never advised: it is sparse, and a huge page would make all
 * of it resident.
 */
#include "base.h"

#include <errno.h>
#include <string.h>

#include "os.h"
#include "pages.h"
#include "util.h"

#define BASE_BLOCK ((size_t)256 << 10)
#define BASE_HUGEPAGE ((size_t)2 << 20)
#define BASE_AUTO_THP_THRESHOLD BASE_HUGEPAGE
/* Blocks "auto" remembers until it switches: at most 2 MiB in use means
 * at most three blocks (a request opens a new one only when it does not
 * fit in the current one); any more, and it switches at once. */
#define BASE_AUTO_NBLOCKS 8

static mutex_t base_lock;
static char *base_next;   /* next free byte in the current block */
static char *base_end;    /* end of the current block */
static size_t base_mapped_bytes;
static size_t base_allocated_bytes;
/* metadata_thp (under base_lock): whether blocks are advised now, and
 * under "auto" the blocks mapped before the switch. */
static bool base_thp;
static struct {
	void *addr;
	size_t size;
} base_auto_blocks[BASE_AUTO_NBLOCKS];
static unsigned base_auto_nblocks;
/*
 * The reserve: one block of the usual size mapped ahead and never touched
 * (address space, no memory; counted as mapped), taken when the system
 * refuses a block.  Under an address-space limit the heap can use the
 * last of the room in chunks, and the descriptors a first slab then needs
 * (the chunk reserve's, chunk.c) must still come from somewhere.  Mapped
 * again after the next block the system gives.
 */
static char *base_reserve;

/* With base_lock held: "auto" starts advising. */
static void
base_thp_switch(void) {
	base_thp = true;
	for (unsigned i = 0; i < base_auto_nblocks; i++)
		hm_os_metadata_hugepage(base_auto_blocks[i].addr,
		    base_auto_blocks[i].size);
	base_auto_nblocks = 0;
}

/* The usual block's size and alignment (metadata_thp rounds both up to
 * the huge page). */
static size_t
base_block_size(size_t *align) {
	*align = PAGE;
	if (opt_metadata_thp == METADATA_THP_DISABLED)
		return BASE_BLOCK;
	*align = BASE_HUGEPAGE;
	return ALIGN_UP(BASE_BLOCK, BASE_HUGEPAGE);
}

/* With base_lock held: maps the reserve if the system allows (a failure
 * leaves errno as it was: the caller's call has succeeded). */
static void
base_reserve_map(void) {
	int saved = errno;
	size_t align, size = base_block_size(&align);
	bool zeroed;
	base_reserve = hm_pages_map_metadata(size, align, &zeroed);
	if (base_reserve != NULL) {
		if (!zeroed)
			memset(base_reserve, 0, size);
		base_mapped_bytes += size;
	}
	errno = saved;
}

/* With base_lock held: a new block of block bytes for a request of
 * size, counted as mapped. */
static char *
base_block_map(size_t size, size_t *block) {
	size_t align = PAGE;
	*block = size > BASE_BLOCK ? PAGE_CEILING(size) : BASE_BLOCK;
	if (opt_metadata_thp != METADATA_THP_DISABLED) {
		*block = ALIGN_UP(*block, BASE_HUGEPAGE);
		align = BASE_HUGEPAGE;
	}
	if (*block < size) {
		errno = ENOMEM;
		return NULL;
	}
	size_t usual_align;
	bool usual = *block == base_block_size(&usual_align);
	bool zeroed;
	char *b = hm_pages_map_metadata(*block, align, &zeroed);
	if (b != NULL) {
		if (!zeroed)
			memset(b, 0, *block);
		base_mapped_bytes += *block;
		if (base_reserve == NULL && usual)
			base_reserve_map();
	} else if (usual && base_reserve != NULL) {
		/* Counted when it was mapped; untouched, so zero. */
		b = base_reserve;
		base_reserve = NULL;
	} else {
		return NULL;
	}
	if (opt_metadata_thp == METADATA_THP_ALWAYS)
		base_thp = true;
	else if (opt_metadata_thp == METADATA_THP_AUTO && !base_thp
	    && base_auto_nblocks == BASE_AUTO_NBLOCKS)
		base_thp_switch();
	if (base_thp) {
		hm_os_metadata_hugepage(b, *block);
	} else if (opt_metadata_thp == METADATA_THP_AUTO) {
		base_auto_blocks[base_auto_nblocks].addr = b;
		base_auto_blocks[base_auto_nblocks].size = *block;
		base_auto_nblocks++;
	}
	return b;
}

/* With base_lock held, after size more bytes were handed out. */
static void
base_allocated_add(size_t size) {
	base_allocated_bytes += size;
	if (opt_metadata_thp == METADATA_THP_AUTO && !base_thp
	    && base_allocated_bytes > BASE_AUTO_THP_THRESHOLD)
		base_thp_switch();
}

bool
hm_base_boot(void) {
	return hm_mutex_init(&base_lock, LOCK_RANK_BASE, "base");
}

void *
hm_base_alloc(size_t size) {
	size_t align = size >= CACHELINE ? CACHELINE : QUANTUM;
	size = ALIGN_UP(size, align);
	mutex_lock(&base_lock);
	char *p = (char *)ALIGN_UP((uintptr_t)base_next, align);
	if (base_next == NULL || p + size > base_end) {
		size_t block;
		char *b = base_block_map(size, &block);
		if (b == NULL) {
			mutex_unlock(&base_lock);
			errno = ENOMEM;
			return NULL;
		}
		if (base_next != NULL
		    && (size_t)(base_end - base_next) >= block - size) {
			/* A big request's block of its own: the current one
			 * has more room left, keep bump-allocating from it. */
			base_allocated_add(size);
			mutex_unlock(&base_lock);
			return b;
		}
		base_next = b;
		base_end = b + block;
		p = b;
	}
	base_next = p + size;
	base_allocated_add(size);
	mutex_unlock(&base_lock);
	return p;
}

size_t
hm_base_mapped(void) {
	mutex_lock(&base_lock);
	size_t n = base_mapped_bytes;
	mutex_unlock(&base_lock);
	return n;
}

size_t
hm_base_allocated(void) {
	mutex_lock(&base_lock);
	size_t n = base_allocated_bytes;
	mutex_unlock(&base_lock);
	return n;
}

void *
hm_base_pool_get(base_pool_t *pool) {
	void *p = pool->free;
	if (p != NULL) {
		pool->free = *(void **)p;
		memset(p, 0, pool->size);
		return p;
	}
	return hm_base_alloc(pool->size);
}

void
hm_base_pool_put(base_pool_t *pool, void *p) {
	*(void **)p = pool->free;
	pool->free = p;
}

void
hm_base_prefork(void) {
	hm_mutex_prefork(&base_lock);
}

void
hm_base_postfork_parent(void) {
	hm_mutex_postfork_parent(&base_lock);
}

void
hm_base_postfork_child(void) {
	hm_mutex_postfork_child(&base_lock);
}
