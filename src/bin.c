/* bin.c: see bin.h.  Every function here holds the bin lock; taking a new
 * slab from the arena nests the arena lock inside it. */
#include "bin.h"

#include <errno.h>

#include "check.h"
#include "huge.h"
#include "secure.h"

/* Makes slabcur a slab with a free region; false when out of memory. */
static bool
bin_refill(arena_t *arena, bin_t *bin, unsigned binind) {
	run_t *slab = bin->nonfull;
	if (slab != NULL) {
		DLIST_REMOVE(bin->nonfull, slab);
		bin->nreslabs++;
	} else {
		slab = hm_arena_slab_alloc(arena, binind);
		if (slab == NULL)
			return false;
		bin->nslabs++;
		bin->curslabs++;
	}
	/* The old current slab is full: it sits on no list until a free. */
	bin->slabcur = slab;
	return true;
}

/*
 * slab_random: a free region from a random word, the first set bit at or
 * after a random position (wrapping), so that neither the next address
 * nor the order of a fill can be predicted.
 */
HM_NOINLINE static void *
slab_take_random(bin_t *bin, run_t *slab, unsigned binind) {
	unsigned nwords = (hm_sc_slab[binind].nregs + 63) / 64;
	uint64_t r = hm_secure_random(&bin->prng);
	unsigned w = (unsigned)((r >> 8) % nwords), sh = (unsigned)(r & 63);
	while (slab->bitmap[w] == 0)
		w = (w + 1) % nwords;
	uint64_t bits = slab->bitmap[w];
	uint64_t rot = sh == 0 ? bits : (bits >> sh) | (bits << (64 - sh));
	unsigned bit = ((unsigned)__builtin_ctzll(rot) + sh) % 64;
	slab->bitmap[w] = bits & ~((uint64_t)1 << bit);
	slab->nfree--;
	return slab->addr + (size_t)(w * 64 + bit) * hm_sc_slab[binind].size;
}

static inline void *
slab_take(bin_t *bin, run_t *slab, unsigned binind) {
	if (unlikely(opt_slab_random))
		return slab_take_random(bin, slab, binind);
	for (unsigned w = 0;; w++) {
		uint64_t bits = slab->bitmap[w];
		if (bits != 0) {
			unsigned bit = (unsigned)__builtin_ctzll(bits);
			slab->bitmap[w] = bits & (bits - 1);
			slab->nfree--;
			return slab->addr
			    + (size_t)(w * 64 + bit) * hm_sc_slab[binind].size;
		}
	}
}

/* Fills out[i, n) from slab's bitmap a word at a time, lowest regions
 * first; returns the new i. */
static unsigned
slab_take_many(run_t *slab, unsigned binind, void **out, unsigned i,
    unsigned n) {
	const sc_slab_info_t *info = &hm_sc_slab[binind];
	unsigned nwords = (info->nregs + 63) / 64;
	for (unsigned w = 0; w < nwords && i < n && slab->nfree > 0; w++) {
		uint64_t bits = slab->bitmap[w];
		char *base = slab->addr + (size_t)w * 64 * info->size;
		unsigned took = 0;
		for (; bits != 0 && i < n; took++) {
			out[i++] = base
			    + (size_t)__builtin_ctzll(bits) * info->size;
			bits &= bits - 1;
		}
		slab->bitmap[w] = bits;
		slab->nfree = (uint16_t)(slab->nfree - took);
	}
	return i;
}

void *
hm_bin_alloc(arena_t *arena, unsigned binind) {
	bin_t *bin = &arena->bins[binind];
	mutex_lock(&bin->lock);
	run_t *slab = bin->slabcur;
	if (unlikely(slab == NULL || slab->nfree == 0)) {
		if (!bin_refill(arena, bin, binind)) {
			mutex_unlock(&bin->lock);
			errno = ENOMEM;
			return NULL;
		}
		slab = bin->slabcur;
	}
	void *ret = slab_take(bin, slab, binind);
	bin->nmalloc++;
	bin->nrequests++;
	mutex_unlock(&bin->lock);
	return ret;
}

size_t
hm_bin_alloc_batch(arena_t *arena, unsigned binind, void **ptrs, size_t n) {
	unsigned nregs = hm_sc_slab[binind].nregs;
	bin_t *bin = &arena->bins[binind];
	size_t filled = 0;
	mutex_lock(&bin->lock);
	while (n - filled >= nregs) {
		run_t *slab = hm_arena_slab_alloc(arena, binind);
		if (slab == NULL)
			break;
		bin->nslabs++;
		bin->curslabs++;
		filled += slab_take_many(slab, binind, ptrs + filled, 0, nregs);
		bin->nmalloc += nregs;
		bin->nrequests += nregs;
	}
	mutex_unlock(&bin->lock);
	return filled;
}

/* The region index of ptr in slab, whose region must be live; the bin
 * lock is held (and let go before aborting). */
static size_t
bin_live_region(bin_t *bin, unsigned binind, run_t *slab, void *ptr) {
	const sc_slab_info_t *info = &hm_sc_slab[binind];
	size_t off = (size_t)((char *)ptr - slab->addr);
	size_t idx = (size_t)(((uint64_t)off * info->recip) >> 32);
	if (unlikely(slab->state != RUN_SLAB || slab->szind != binind
	    || (char *)ptr < slab->addr || idx >= info->nregs
	    || idx * info->size != off)) {
		mutex_unlock(&bin->lock);
		hm_check_fail("invalid free", ptr);
	}
	if (unlikely(slab->bitmap[idx / 64] & ((uint64_t)1 << (idx % 64)))) {
		mutex_unlock(&bin->lock);
		hm_check_fail("double free", ptr);
	}
	return idx;
}

/* slab gained a free region: moves it between the bin's lists; returns
 * it when it became empty and must go back to the arena. */
static run_t *
bin_dalloc_done(bin_t *bin, unsigned binind, run_t *slab) {
	const sc_slab_info_t *info = &hm_sc_slab[binind];
	if (slab->nfree == info->nregs && slab != bin->slabcur) {
		/* Empty: back to the arena.  A slab of one region was full,
		 * so on no list. */
		if (info->nregs > 1)
			DLIST_REMOVE(bin->nonfull, slab);
		bin->curslabs--;
		return slab;
	}
	if (slab->nfree == 1 && slab != bin->slabcur)
		DLIST_PUSH(bin->nonfull, slab);
	return NULL;
}

/*
 * Frees ptr into its slab under the bin lock; aborts on a pointer that is
 * not a live region.  Returns the slab when it became empty and must go
 * back to the arena.
 */
static run_t *
bin_dalloc_locked(bin_t *bin, unsigned binind, run_t *slab, void *ptr) {
	size_t idx = bin_live_region(bin, binind, slab, ptr);
	slab->bitmap[idx / 64] |= (uint64_t)1 << (idx % 64);
	slab->nfree++;
	bin->ndalloc++;
	return bin_dalloc_done(bin, binind, slab);
}

void
hm_bin_dalloc(arena_t *arena, run_t *slab, void *ptr) {
	unsigned binind = slab->szind;
	if (unlikely(binind >= SC_NBINS))
		hm_check_fail("invalid free", ptr);
	bin_t *bin = &arena->bins[binind];
	mutex_lock(&bin->lock);
	run_t *empty = bin_dalloc_locked(bin, binind, slab, ptr);
	if (empty != NULL)
		hm_arena_slab_dalloc(arena, empty);
	mutex_unlock(&bin->lock);
	if (empty != NULL)
		huge_decay_event(arena);
}

void
hm_bin_check_live(arena_t *arena, run_t *slab, void *ptr) {
	unsigned binind = slab->szind;
	if (unlikely(binind >= SC_NBINS))
		hm_check_fail("invalid free", ptr);
	bin_t *bin = &arena->bins[binind];
	mutex_lock(&bin->lock);
	bin_live_region(bin, binind, slab, ptr);
	mutex_unlock(&bin->lock);
}

unsigned
hm_bin_fill(arena_t *arena, unsigned binind, void **out, unsigned n,
    uint64_t nrequests) {
	bin_t *bin = &arena->bins[binind];
	unsigned i = 0;
	mutex_lock(&bin->lock);
	bin->nrequests += nrequests;
	bin->nfills++;
	while (i < n) {
		run_t *slab = bin->slabcur;
		if (slab == NULL || slab->nfree == 0) {
			if (!bin_refill(arena, bin, binind))
				break;
			slab = bin->slabcur;
		}
		if (unlikely(opt_slab_random)) {
			while (i < n && slab->nfree > 0)
				out[i++] = slab_take_random(bin, slab, binind);
			continue;
		}
		i = slab_take_many(slab, binind, out, i, n);
	}
	bin->nmalloc += i;
	mutex_unlock(&bin->lock);
	/* The cache pops from the top: put the lowest addresses there, so
	 * live blocks stay packed at the front of their slabs. */
	for (unsigned a = 0, b = i; a + 1 < b; a++, b--) {
		void *t = out[a];
		out[a] = out[b - 1];
		out[b - 1] = t;
	}
	return i;
}

/* The slab holding ptr, from the chunk map (ptr came through a validated
 * free, so it lies in an arena chunk). */
static inline run_t *
bin_slab_of(const void *ptr, arena_t **arena) {
	chunk_t *chunk = (chunk_t *)rtree_get(ptr);
	*arena = chunk->arena;
	return chunk_map_get(chunk, chunk_page_index(chunk, ptr));
}

/*
 * A slab region handed back by a thread cache: it came through a free
 * that checked it starts a region, and the slab cannot go while it is
 * live, so only a second free (the region's bit already set) is left to
 * catch.  The bin lock is held.
 */
static run_t *
bin_flush_one(bin_t *bin, unsigned binind, run_t *slab, void *ptr) {
	size_t off = (size_t)((char *)ptr - slab->addr);
	size_t idx = (size_t)(((uint64_t)off * hm_sc_slab[binind].recip) >> 32);
	uint64_t bit = (uint64_t)1 << (idx % 64);
	if (unlikely(slab->bitmap[idx / 64] & bit)) {
		mutex_unlock(&bin->lock);
		hm_check_fail("double free", ptr);
	}
	slab->bitmap[idx / 64] |= bit;
	slab->nfree++;
	return bin_dalloc_done(bin, binind, slab);
}

void
hm_bin_flush(unsigned binind, void **ptrs, unsigned n) {
	while (n > 0) {
		arena_t *arena;
		bin_slab_of(ptrs[0], &arena);
		bin_t *bin = &arena->bins[binind];
		unsigned keep = 0;
		/* Blocks flushed together mostly share a slab: the last
		 * slab's range answers without the chunk map. */
		run_t *slab = NULL;
		uintptr_t lo = 0;
		size_t span = 0;
		bool released = false;
		mutex_lock(&bin->lock);
		bin->nflushes++;
		for (unsigned i = 0; i < n; i++) {
			void *ptr = ptrs[i];
			if (slab == NULL || (uintptr_t)ptr - lo >= span) {
				arena_t *a;
				slab = bin_slab_of(ptr, &a);
				if (a != arena) {
					ptrs[keep++] = ptr;
					slab = NULL;
					continue;
				}
				if (unlikely(slab == NULL
				    || slab->szind != binind
				    || !slab_is_region_start(slab, ptr))) {
					mutex_unlock(&bin->lock);
					hm_check_fail("invalid free", ptr);
				}
				lo = (uintptr_t)slab->addr;
				span = slab->limit;
			}
			run_t *empty = bin_flush_one(bin, binind, slab, ptr);
			if (empty != NULL) {
				slab = NULL; /* it goes back to the arena */
				hm_arena_slab_dalloc(arena, empty);
				released = true;
			}
		}
		bin->ndalloc += n - keep;
		mutex_unlock(&bin->lock);
		if (released)
			huge_decay_event(arena);
		n = keep;
	}
}
