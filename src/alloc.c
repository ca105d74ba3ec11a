/* alloc.c: see alloc.h. */
#include "alloc.h"

#include <errno.h>
#include <string.h>

#include "arena.h"
#include "bin.h"
#include "check.h"
#include "chunk.h"
#include "huge.h"
#include "large.h"
#include "os.h"
#include "prof.h"
#include "san.h"
#include "trace.h"
#include "tsd.h"

/* Junk and zero fill (opt.junk, opt.zero): off the common path. */
HM_NOINLINE HM_COLD static void
alloc_fill(void *p, size_t usize) {
	if (opt_zero)
		memset(p, 0, usize);
	else if (hm_junk_alloc)
		memset(p, JUNK_ALLOC_BYTE, usize);
}

static inline void
canary_write(void *p, size_t usize) {
	uint64_t c = secure_canary(p);
	memcpy((char *)p + usize - CANARY_SIZE, &c, CANARY_SIZE);
}

/* Gives back what every arena keeps for reuse (dirty runs, wholly free
 * chunks, cached huge blocks); the pages given back. */
size_t
hm_alloc_purge_all(void) {
	size_t n = 0;
	for (unsigned i = 0; i < hm_narenas; i++) {
		arena_t *arena = hm_arena_get(i, false);
		if (arena != NULL)
			n += hm_arena_purge_all(arena) + hm_huge_purge_all(arena);
	}
	return n;
}

/*
 * The system refused memory: give back everything kept for reuse so that
 * a retry can map again.  True if anything was given back.  No lock is
 * held here.
 */
HM_NOINLINE HM_COLD static bool
alloc_reclaim(void) {
	if (hm_alloc_purge_all() == 0)
		return false;
	errno = ENOMEM; /* for the caller if the retry fails as well */
	return true;
}

static void idalloc_block(void *ptr, const block_t *b, bool announce);

/*
 * Attaches a sample record to the block p just allocated for the heap
 * profiler.  Without memory for the record a promoted block cannot stay
 * (its class would be wrong): it is freed and false returned.
 */
HM_NOINLINE HM_COLD static bool
alloc_sample(void *p, size_t usize, size_t asize, const uintptr_t *bt,
    unsigned btlen) {
	block_t b;
	if (unlikely(!block_lookup(p, &b)))
		return true; /* not for a block just allocated: unsampled */
	prof_sample_t *s = hm_prof_record(bt, btlen, usize, b.arena);
	if (s != NULL) {
		if (b.kind == BLOCK_HUGE)
			b.huge->prof = s;
		else if (b.kind == BLOCK_GUARDED)
			hm_san_prof_set(p, s);
		else
			b.run->prof = s;
		return true;
	}
	if (asize == usize)
		return true; /* a Large or Huge block: kept, unsampled */
	idalloc_block(p, &b, false);
	return false;
}

/*
 * Takes a block for a request of usize (a sampled one is served as Large:
 * *asize is what it takes): from the thread cache (tc, when the class has
 * a stack and the alignment needs nothing more), a bin, a Large run or
 * the huge allocator, with one retry when the system refused memory and
 * reclaiming what is kept for reuse freed some.  *arena may change to the
 * CPU's (percpu_arena).  *zeroed: cleared as zero asked.
 */
static inline void *
ialloc_take(arena_t **arena, bool own_arena, tcache_t *tc, size_t usize,
    size_t align, bool zero, bool sampled, size_t *asize, bool *zeroed) {
	*asize = sampled && usize < SC_LARGE_MINCLASS ? SC_LARGE_MINCLASS
						      : usize;
	unsigned ind = *asize <= hm_sc_large_maxclass ? sc_size2index(*asize)
						      : SC_NSIZES;
	/* Cached blocks are aligned to their class (small) or the page. */
	bool cached = tc != NULL && ind < hm_tcache_nbins && align <= PAGE
	    && !sampled;
	if (!cached && unlikely(opt_percpu_arena != PERCPU_DISABLED)
	    && own_arena) {
		hm_tsd_percpu_update();
		if (hm_tsd.state == TSD_NOMINAL)
			*arena = hm_tsd.arena;
	}
	void *p;
	*zeroed = false; /* large and huge clear what needs it */
	for (int attempt = 0;; attempt++) {
		if (cached) {
			if (!tcache_alloc(tc, ind, &p)) {
				/* A slow path: time to follow the CPU. */
				hm_tsd_percpu_update();
				p = hm_tcache_alloc_refill(tc, ind);
			}
		} else if (*asize <= SC_SMALL_MAXCLASS) {
			p = hm_bin_alloc(*arena, ind);
		} else if (*asize <= hm_sc_large_maxclass && (align <= PAGE
		    || *asize + align - PAGE <= hm_chunksize)) {
			p = hm_large_alloc(*arena, *asize, align, zero);
			*zeroed = zero;
		} else {
			p = hm_huge_alloc(*arena, *asize, align, zero);
			*zeroed = zero;
		}
		if (likely(p != NULL) || attempt > 0 || !alloc_reclaim())
			break;
	}
	return p;
}

/* A block fresh from its bin or run may still carry the tag of an earlier
 * free life (tcache.h); a live block must not. */
static inline void
ialloc_untag(void *p, size_t asize) {
	if (config_fast_checks && !config_valgrind
	    && asize <= hm_sc_large_maxclass
	    && unlikely(*(uintptr_t *)p == tcache_tag(p)))
		*(uintptr_t *)p = 0;
}

/*
 * The allocation flow: align is a power of two (0 or <= QUANTUM for none),
 * arena the thread's when NULL, tc the thread cache to use (or NULL).  The
 * arena comes first: binding the thread initialises hmalloc, size-class
 * tables included.  Then the class, the heap profiler's decision, the
 * block (ialloc_take), and the finish: counters, zeroing or junk, the
 * canary, the announcement to memcheck.
 */
void *
hm_alloc(size_t size, size_t align, bool zero, arena_t *arena,
    tcache_t *tc) {
	vg_awake();
	bool own_arena = arena == NULL;
	if (own_arena) {
		arena = thread_arena();
		if (unlikely(arena == NULL)) {
			errno = ENOMEM;
			return NULL;
		}
	}
	size_t usize = alloc_usize(size, align);
	if (unlikely(usize == 0)) {
		errno = ENOMEM;
		return NULL;
	}
	/* The heap profiler's sample: a Small one is served as Large.  Its
	 * stack is taken here, as few frames from the entry point as can
	 * be (each costs the unwinder), before any lock.  A guarded block
	 * (san.h) is not the arena's. */
	uintptr_t bt[PROF_BT_MAX];
	unsigned btlen = 0;
	bool sampled = false;
	size_t asize;
	bool zeroed = false;
	void *p = NULL;
	if (unlikely(hm_tsd.allocated + usize > hm_tsd.event_next)) {
		if (hm_tsd.allocated + usize > hm_tsd.san_next
		    && hm_san_event(usize, align) && own_arena) {
			p = hm_san_alloc(usize, align, arena);
			zeroed = zero; /* fresh pages, or dropped at free */
		}
		sampled = hm_tsd.allocated + usize > hm_tsd.prof_next
		    && hm_prof_event(usize);
		if (unlikely(sampled))
			btlen = hm_prof_backtrace(bt);
		/* A guarded block is sampled where it is. */
		if (p != NULL && sampled) {
			alloc_sample(p, usize, usize, bt, btlen);
			sampled = false;
		}
	}
	while (p == NULL) {
		p = ialloc_take(&arena, own_arena, tc, usize, align, zero,
		    sampled, &asize, &zeroed);
		if (p == NULL)
			return NULL;
		ialloc_untag(p, asize);
		if (likely(!sampled) || alloc_sample(p, usize, asize, bt, btlen))
			break;
		/* No memory for the sample's record: the promoted block
		 * went back, and the request is served unsampled. */
		p = NULL;
		sampled = false;
	}
	hm_tsd.allocated += usable(usize);
	/* Announced before the writes below: the memory may have been part
	 * of a freed block, which memcheck keeps inaccessible. */
	vg_malloc(p, usize, zero || opt_zero);
	if (!zeroed) {
		if (zero) {
			memset(p, 0, usize);
		} else if (unlikely(hm_junk_alloc || opt_zero)) {
			alloc_fill(p, usize);
			/* Junk is not a value the program wrote. */
			if (!opt_zero)
				vg_undefined(p, usize);
		}
	}
	if (unlikely(opt_canary) && usize <= SC_SMALL_MAXCLASS)
		canary_write(p, usize);
	return p;
}

size_t
hm_alloc_batch(void **ptrs, size_t num, size_t size, size_t align,
    bool zero, arena_t *arena, tcache_t *tc) {
	size_t filled = 0;
	size_t usize = alloc_usize(size, align);
	bool plain = !opt_canary && !hm_junk_alloc && !opt_zero && !opt_prof
	    && !opt_slab_random && !config_valgrind;
	if (usize != 0 && usize <= SC_SMALL_MAXCLASS && plain) {
		arena_t *a = arena != NULL ? arena : thread_arena();
		if (a != NULL) {
			unsigned ind = sc_size2index(usize);
			filled = hm_bin_alloc_batch(a, ind, ptrs, num);
			for (size_t i = 0; i < filled; i++) {
				ialloc_untag(ptrs[i], usize);
				if (zero)
					memset(ptrs[i], 0, usize);
			}
			hm_tsd.allocated += (uint64_t)filled * usize;
		}
	}
	for (; filled < num; filled++) {
		void *p = hm_alloc(size, align, zero, arena, tc);
		if (p == NULL)
			break;
		ptrs[filled] = p;
	}
	return filled;
}

/* Returns a block to its arena; announce: tell Valgrind it is freed (not
 * done yet: vg.h). */
static inline void
idalloc_block(void *ptr, const block_t *b, bool announce) {
	if (unlikely(hm_junk_free))
		memset(ptr, JUNK_FREE_BYTE, b->usize);
	/* Marked freed, as the thread caches mark theirs, so that a second
	 * free of it looks closer (free_check_tagged); not under memcheck,
	 * which finds double frees itself (and the block may be freed
	 * already). */
	if (b->kind == BLOCK_SMALL && !config_valgrind)
		*(uintptr_t *)ptr = tcache_tag(ptr);
	if (announce)
		vg_free(ptr);
	switch (b->kind) {
	case BLOCK_SMALL:
		hm_bin_dalloc(b->arena, b->run, ptr);
		break;
	case BLOCK_LARGE:
		hm_large_dalloc(b->arena, b->run, ptr);
		break;
	case BLOCK_HUGE:
		hm_huge_dalloc(b->huge, ptr);
		break;
	case BLOCK_GUARDED:
		hm_san_free(ptr);
		break;
	}
}

/* Frees ptr to its arena now: blocks leaving the quarantine. */
static void
free_now(void *ptr) {
	block_t b;
	if (unlikely(!block_lookup(ptr, &b)))
		hm_block_invalid("invalid free", ptr);
	idalloc_block(ptr, &b, false);
}

/* Check 9 (block.h): a Small block's canary, by class, not by kind: a
 * sampled Small block lives in a Large run and has its canary all the
 * same. */
static inline void
free_check_canary(void *ptr, const block_t *b) {
	if (opt_canary && b->usize <= SC_SMALL_MAXCLASS
	    && !block_canary_intact(ptr, b->usize))
		hm_check_fail("heap overflow (canary overwritten)", ptr);
}

/* Zeroing and the quarantine (secure.h); false if the block is to be
 * freed now. */
HM_NOINLINE HM_COLD static bool
ifree_secure(void *ptr, const block_t *b) {
	/* (memcheck finds double frees itself, and the word read here may
	 * be one the program never wrote.) */
	if (b->kind != BLOCK_HUGE && !config_valgrind)
		hm_secure_check_parked(ptr);
	free_check_canary(ptr, b);
	if (b->kind == BLOCK_HUGE) {
		/* Whole pages: given back, so they read as zero. */
		if (opt_zero_free)
			hm_os_purge(ptr, b->usize);
		return false;
	}
	if (!hm_secure_free(ptr, b->usize, free_now))
		return false;
	vg_free(ptr);
	return true;
}

/* A resized block is sampled (hm_alloc_resized()). */
HM_NOINLINE HM_COLD static void
resample(void *p, size_t usize) {
	uintptr_t bt[PROF_BT_MAX];
	unsigned btlen = hm_prof_backtrace(bt);
	alloc_sample(p, usize, usize, bt, btlen);
}

/* The heap profiler forgets a sampled block being freed. */
HM_NOINLINE HM_COLD static void
free_sampled(void *ptr, const block_t *b) {
	if (b->kind == BLOCK_HUGE)
		b->huge->prof = NULL;
	else if (b->kind == BLOCK_GUARDED)
		hm_san_prof_set(ptr, NULL);
	else
		b->run->prof = NULL;
	hm_prof_release(b->prof);
}

/* A guarded block goes back to its slot: its canary first, if it has
 * one (its guard page only catches what passes the canary). */
HM_NOINLINE HM_COLD static void
free_guarded(void *ptr, const block_t *b) {
	free_check_canary(ptr, b);
	hm_san_free(ptr);
}

/*
 * Frees a block block_lookup() vouched for: into the thread cache when it
 * has a stack for the class, else straight back to the arena.
 */
void
hm_alloc_free(void *ptr, const block_t *b, tcache_t *tc) {
	/* Under memcheck a second free is memcheck's to report (as
	 * "Invalid free()"), and nothing more is done. */
	if (config_valgrind && vg_inaccessible(ptr)) {
		vg_free(ptr);
		return;
	}
	block_check_tagged(ptr, b, tc);
	hm_tsd.deallocated += usable(b->usize);
	if (unlikely(b->prof != NULL)) {
		free_sampled(ptr, b);
		tc = NULL; /* a promoted block is not of its class's size */
	}
	if (unlikely(b->kind == BLOCK_GUARDED)) {
		free_guarded(ptr, b);
		return;
	}
	if (unlikely(hm_secure_free_hook) && ifree_secure(ptr, b))
		return;
	if (tc != NULL && b->kind != BLOCK_HUGE) {
		/* The next free in this chunk takes the fast path. */
		tcache_chunk_remember(tc, ptr,
		    tcache_chunk_tag((uintptr_t)ptr), b->run->chunk);
		unsigned ind = b->kind == BLOCK_SMALL ? b->run->szind
						      : sc_size2index(b->usize);
		if (ind < hm_tcache_nbins) {
			if (tc->gc_ticker < 0)
				hm_tcache_gc_event(tc);
			if (b->arena != tc->arena)
				hm_tcache_dalloc_remote(tc, ind, ptr);
			else if (!tcache_dalloc(tc, ind, ptr))
				hm_tcache_dalloc_flush(tc, ind, ptr);
			return;
		}
	}
	idalloc_block(ptr, b, true);
}

/* free's slow path: everything the fast path in free() did not take. */
static HM_NOINLINE void
free_slow(void *ptr) {
	if (ptr == NULL || vg_exit_free(ptr))
		return;
	int saved = errno; /* free keeps errno (POSIX 2024) */
	block_t b;
	if (unlikely(!block_lookup(ptr, &b)))
		hm_block_invalid("invalid free", ptr);
	hm_alloc_free(ptr, &b, tsd_tcache());
	slow_path_done();
	errno = saved;
}

/* Sized free: the size must map to the block's class. */
static inline void
isdalloc(void *ptr, size_t size, size_t align, tcache_t *tc) {
	block_t b;
	if (unlikely(!block_lookup(ptr, &b)))
		hm_block_invalid("invalid free", ptr);
	if (unlikely(alloc_usize(size, align) != b.usize))
		hm_check_fail("sized free with wrong size", ptr);
	hm_alloc_free(ptr, &b, tc);
}

/* Tries to resize in place to usize; true on success. */
bool
hm_alloc_resize_in_place(block_t *b, size_t usize, bool zero) {
	if (usize == b->usize)
		return true;
	if (unlikely(b->prof != NULL) && b->usize < SC_LARGE_MINCLASS)
		return false; /* promoted: its run is not its class */
	switch (b->kind) {
	case BLOCK_SMALL:
	case BLOCK_GUARDED:
		return false;
	case BLOCK_LARGE:
		if (usize < SC_LARGE_MINCLASS || usize > hm_sc_large_maxclass)
			return false;
		return hm_large_resize(b->arena, b->run, b->usize, usize, zero);
	case BLOCK_HUGE:
		if (usize <= hm_sc_large_maxclass)
			return false;
		return hm_huge_resize(b->huge, usize, false, 0, zero) != NULL;
	}
	return false;
}

/*
 * A Large or Huge block b changed size in place (or moved with its
 * descriptor, by mremap) to usize: for the heap profiler that is a free
 * and a new allocation, so its sample goes and a new one may come.
 * Before the thread's byte counter moves.
 */
void
hm_alloc_resized(void *p, block_t *b, size_t usize) {
	if (usize == b->usize)
		return;
	if (unlikely(b->prof != NULL))
		free_sampled(p, b);
	if (unlikely(hm_tsd.allocated + usize > hm_tsd.prof_next)
	    && hm_prof_event(usize))
		resample(p, usize);
}

/* realloc's flow: in place when the class allows, else move. */
void *
hm_alloc_realloc(void *ptr, size_t size, size_t align, bool zero,
    arena_t *arena) {
	block_t b;
	if (unlikely(!block_lookup(ptr, &b)))
		hm_block_invalid("realloc of invalid pointer", ptr);
	block_check_tagged(ptr, &b, arena == NULL ? tsd_tcache() : NULL);
	size_t usize = alloc_usize(size, align);
	if (unlikely(usize == 0)) {
		errno = ENOMEM;
		return NULL;
	}
	bool aligned = align == 0 || ((uintptr_t)ptr & (align - 1)) == 0;
	if (aligned && (arena == NULL || arena == b.arena)) {
		void *p = NULL;
		if (hm_alloc_resize_in_place(&b, usize, zero))
			p = ptr;
		else if (b.kind == BLOCK_HUGE && usize > hm_sc_large_maxclass)
			p = hm_huge_resize(b.huge, usize, true, align, zero);
		if (p != NULL) {
			hm_alloc_resized(p, &b, usize);
			hm_tsd.allocated += usable(usize);
			hm_tsd.deallocated += usable(b.usize);
			if (p == ptr) {
				vg_resize(p, b.usize, usize);
				/* The grown part was zeroed as asked. */
				if (zero && usize > b.usize)
					vg_defined(p + b.usize, usize - b.usize);
			} else {
				vg_free(ptr);
				vg_malloc(p, usize, zero);
				vg_defined(p, b.usize < usize ? b.usize : usize);
			}
			return p;
		}
	}
	tcache_t *tc = arena == NULL ? tsd_tcache() : NULL;
	void *p = hm_alloc(size, align, zero, arena, tc);
	if (p == NULL)
		return NULL;
	memcpy(p, ptr, usable(b.usize < usize ? b.usize : usize));
	hm_alloc_free(ptr, &b, tc);
	return p;
}

HM_NOINLINE void *
hm_alloc_malloc_slow(size_t size) {
	void *p;
	/* While tracing, malloc's fast path is closed (tls.h) and taken
	 * here, through the thread's cache. */
	if (likely(!hm_trace_on) || !malloc_fast(hm_tsd.tcache, size, &p))
		p = hm_alloc(size, 0, false, NULL, tsd_tcache());
	if (unlikely(hm_trace_on))
		hm_trace_alloc(TRACE_MALLOC, size, p);
	slow_path_done();
	return p;
}

static void free_traced(void *ptr, bool sized, size_t size);

HM_NOINLINE void
hm_alloc_free_slow(void *ptr) {
	if (unlikely(hm_trace_on))
		free_traced(ptr, false, 0);
	else
		free_slow(ptr);
}

/* free_fast's other case, out of line so that the common one keeps few
 * registers: a block of another arena parks in the cache.  It ends in
 * free_slow itself when the array is full (or the block is this arena's
 * and its stack is full), so the fast path makes only tail calls and
 * saves no register. */
HM_NOINLINE void
hm_alloc_free_fast_remote(tcache_t *tc, arena_t *arena, unsigned ind,
    void *ptr) {
	if (arena != tc->arena && tcache_dalloc_remote(tc, ind, ptr)) {
		hm_tsd.deallocated += tc->bins[ind].size;
		return;
	}
	free_slow(ptr);
}

/* A chunk-slot miss: the slot learns ptr's chunk from the chunk map;
 * false if ptr is in no arena chunk (a huge block, or not hmalloc's). */
static bool
free_slot_fill(const void *ptr) {
	/* The epoch first: if the chunk goes away after this, the slot's
	 * tag is already out of date. */
	uintptr_t tag = tcache_chunk_tag((uintptr_t)ptr);
	uintptr_t v = rtree_get(ptr);
	if (v == 0 || (v & RTREE_HUGE_TAG) != 0)
		return false;
	tcache_chunk_remember(hm_tsd.tcache, ptr, tag, (chunk_t *)v);
	return true;
}

/* free after a chunk-slot miss: fill the slot, then the fast path again
 * (a second miss, should a chunk go away meanwhile, is the slow path). */
HM_NOINLINE void
hm_alloc_free_miss(void *ptr) {
	if (free_slot_fill(ptr)
	    && free_fast(hm_tsd.tcache, ptr, false, 0) == FREE_DONE)
		return;
	free_slow(ptr);
}

/* free_sized's slow path, and sdallocx's. */
HM_NOINLINE void
hm_alloc_free_sized_slow(void *ptr, size_t size, size_t align,
    tcache_t *tc) {
	if (ptr == NULL || vg_exit_free(ptr))
		return;
	int saved = errno;
	isdalloc(ptr, size, align, tc);
	slow_path_done();
	errno = saved;
}

/* With the thread's cache: out of line, so that free_sized's fast path
 * ends in a tail call. */
HM_NOINLINE void
hm_alloc_free_sized_slow_thread(void *ptr, size_t size) {
	if (unlikely(hm_trace_on))
		free_traced(ptr, true, size);
	else
		hm_alloc_free_sized_slow(ptr, size, 0, tsd_tcache());
}

/* free_sized after a chunk-slot miss (free_miss); size is small. */
HM_NOINLINE void
hm_alloc_free_sized_miss(void *ptr, size_t size) {
	if (free_slot_fill(ptr) && free_fast(hm_tsd.tcache, ptr, true,
	    hm_sc_lookup[(size - 1) >> LG_QUANTUM]) == FREE_DONE)
		return;
	hm_alloc_free_sized_slow(ptr, size, 0, tsd_tcache());
}

/*
 * free and free_sized while tracing (their fast paths are closed: tls.h):
 * the call recorded first (its number orders it before the next
 * allocation at the address), then the entry point's own way through the
 * thread's cache: the fast path, and the miss and slow paths after it
 * (which record nothing).
 */
HM_NOINLINE HM_COLD static void
free_traced(void *ptr, bool sized, size_t size) {
	if (sized)
		trace_free_sized(ptr, size, 0);
	else
		hm_trace_free(ptr);
	if (sized && size - 1 >= SC_LOOKUP_MAX) {
		hm_alloc_free_sized_slow(ptr, size, 0, tsd_tcache());
		return;
	}
	size_t ind = sized ? hm_sc_lookup[(size - 1) >> LG_QUANTUM] : 0;
	free_fast_t r = free_fast(hm_tsd.tcache, ptr, sized, ind);
	if (r == FREE_DONE)
		return;
	if (sized && r == FREE_MISS)
		hm_alloc_free_sized_miss(ptr, size);
	else if (sized)
		hm_alloc_free_sized_slow(ptr, size, 0, tsd_tcache());
	else if (r == FREE_MISS)
		hm_alloc_free_miss(ptr);
	else
		free_slow(ptr);
}
