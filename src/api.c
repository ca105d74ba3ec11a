/*
 * api.c: the public entry points.  Each is thin: it checks its arguments
 * the way glibc 2.36 does, then calls the allocation flow:
 *
 *   size --(sc.h)--> class --> Small:  bin.c   hm_bin_alloc
 *                          --> Large:  large.c hm_large_alloc
 *                          --> Huge:   huge.c  hm_huge_alloc
 *   in the arena the calling thread is bound to (tsd.h).
 *
 * free and friends find the block's metadata from its address through the
 * chunk map (chunk.h), without a lock, and send it back to its own arena.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <hmalloc.h>

#include "arena.h"
#include "background.h"
#include "bin.h"
#include "check.h"
#include "chunk.h"
#include "conf.h"
#include "ctl.h"
#include "decay.h"
#include "huge.h"
#include "init.h"
#include "large.h"
#include "log.h"
#include "os.h"
#include "prof.h"
#include "sc.h"
#include "secure.h"
#include "stats.h"
#include "tcache.h"
#include "tsd.h"
#include "vg.h"

/* Slow paths end here: start or wake the background thread if an arena
 * asked for it, now that no lock is held. */
static inline void
slow_path_done(void) {
	if (unlikely(atomic_load_explicit(&hm_decay_wanted,
	    memory_order_relaxed)))
		hm_background_poke();
}

/* What the chunk map says about a live block. */
typedef enum { BLOCK_SMALL, BLOCK_LARGE, BLOCK_HUGE } block_kind_t;

typedef struct block_s {
	block_kind_t kind;
	arena_t *arena;
	run_t *run;      /* small, large */
	huge_t *huge;    /* huge */
	prof_sample_t *prof; /* a sampled block's record (prof.h) */
	size_t usize;    /* the class the program sees */
} block_t;

/*
 * Fills *b for ptr; false if ptr is not the start of a block hmalloc
 * handed out (as far as the metadata shows without taking a lock).
 */
static inline bool
block_lookup(const void *ptr, block_t *b) {
	vg_awake();
	uintptr_t v = rtree_get(ptr);
	b->run = NULL;
	b->huge = NULL;
	b->prof = NULL;
	if (unlikely(v == 0))
		return false;
	if (v & RTREE_HUGE_TAG) {
		huge_t *h = huge_from_rtree(v);
		b->kind = BLOCK_HUGE;
		b->huge = h;
		b->arena = h->arena;
		b->usize = h->usize;
		b->prof = h->prof;
		return h->addr == (const char *)ptr;
	}
	chunk_t *chunk = (chunk_t *)v;
	run_t *run = chunk_map_get(chunk, chunk_page_index(chunk, ptr));
	if (unlikely(run == NULL))
		return false;
	b->run = run;
	b->arena = chunk->arena;
	if (run->state == RUN_SLAB) {
		b->kind = BLOCK_SMALL;
		b->usize = hm_sc_slab[run->szind].size;
		return slab_is_region_start(run, ptr);
	}
	b->kind = BLOCK_LARGE;
	b->usize = (size_t)(run->npages - atomic_load_explicit(&run->guard,
	    memory_order_relaxed)) << LG_PAGE;
	if (unlikely(run->prof != NULL)) {
		/* A sampled Small block is served by a Large run. */
		b->prof = run->prof;
		b->usize = hm_prof_usize(run->prof);
	}
	return run->state == RUN_LARGE && run->addr == (const char *)ptr;
}

HM_NORETURN HM_COLD static void
invalid_pointer(const char *what, const void *ptr) {
	uintptr_t v = rtree_get(ptr);
	if (v != 0 && !(v & RTREE_HUGE_TAG)) {
		chunk_t *chunk = (chunk_t *)v;
		run_t *run = chunk_map_get(chunk, chunk_page_index(chunk, ptr));
		if (run != NULL && run->state == RUN_FREE
		    && run->addr == (const char *)ptr)
			hm_check_fail("double free", ptr);
	}
	hm_check_fail(what, ptr);
}

/* Junk and zero fill (opt.junk, opt.zero): off the common path. */
HM_NOINLINE HM_COLD static void
alloc_fill(void *p, size_t usize) {
	if (opt_zero)
		memset(p, 0, usize);
	else if (hm_junk_alloc)
		memset(p, JUNK_ALLOC_BYTE, usize);
}

/* The class for size bytes; with canaries, a Small block has room for
 * one after the program's bytes. */
static inline size_t
alloc_usize(size_t size, size_t align) {
	if (unlikely(opt_canary) && size <= SC_SMALL_MAXCLASS)
		size += CANARY_SIZE;
	return align <= QUANTUM ? sc_s2u(size) : sc_sa2u(size, align);
}

/* What the program may use of a block of class usize. */
static inline size_t
usable(size_t usize) {
	return unlikely(opt_canary) && usize <= SC_SMALL_MAXCLASS ?
	    usize - CANARY_SIZE : usize;
}

static inline void
canary_write(void *p, size_t usize) {
	uint64_t c = secure_canary(p);
	memcpy((char *)p + usize - CANARY_SIZE, &c, CANARY_SIZE);
}

static inline bool
canary_intact(const void *p, size_t usize) {
	uint64_t c;
	memcpy(&c, (const char *)p + usize - CANARY_SIZE, CANARY_SIZE);
	return c == secure_canary(p);
}

/* Gives back what every arena keeps for reuse (dirty runs, wholly free
 * chunks, cached huge blocks); the pages given back. */
static size_t
purge_everything(void) {
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
	if (purge_everything() == 0)
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
static void *
ialloc(size_t size, size_t align, bool zero, arena_t *arena, tcache_t *tc) {
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
	 * be (each costs the unwinder), before any lock. */
	uintptr_t bt[PROF_BT_MAX];
	unsigned btlen = 0;
	bool sampled = unlikely(hm_tsd.allocated + usize > hm_tsd.prof_next)
	    && hm_prof_event(usize);
	if (unlikely(sampled))
		btlen = hm_prof_backtrace(bt);
	size_t asize;
	bool zeroed;
	void *p;
	for (;;) {
		p = ialloc_take(&arena, own_arena, tc, usize, align, zero,
		    sampled, &asize, &zeroed);
		if (p == NULL)
			return NULL;
		ialloc_untag(p, asize);
		if (likely(!sampled) || alloc_sample(p, usize, asize, bt, btlen))
			break;
		/* No memory for the sample's record: the promoted block
		 * went back, and the request is served unsampled. */
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

/* The thread's cache, for calls that did not come by the fast path. */
static inline tcache_t *
tsd_tcache(void) {
	return thread_arena() != NULL ? hm_tsd.tcache : NULL;
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
	}
}

/* Frees ptr to its arena now: blocks leaving the quarantine. */
static void
free_now(void *ptr) {
	block_t b;
	if (unlikely(!block_lookup(ptr, &b)))
		invalid_pointer("invalid free", ptr);
	idalloc_block(ptr, &b, false);
}

/* Zeroing and the quarantine (secure.h); false if the block is to be
 * freed now. */
HM_NOINLINE HM_COLD static bool
ifree_secure(void *ptr, const block_t *b) {
	/* (memcheck finds double frees itself, and the word read here may
	 * be one the program never wrote.) */
	if (b->kind != BLOCK_HUGE && !config_valgrind)
		hm_secure_check_parked(ptr);
	/* By class, not by kind: a sampled Small block lives in a Large run
	 * and has its canary all the same. */
	if (opt_canary && b->usize <= SC_SMALL_MAXCLASS
	    && !canary_intact(ptr, b->usize))
		hm_check_fail("heap overflow (canary overwritten)", ptr);
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

/*
 * A Small or Large block that starts with a freed block's tag (tcache.h)
 * was freed already: allocation clears the tag, so a live block carries it
 * only if the program wrote that very word (its address xor the process
 * secret) there.  The thread's caches and, for a Small block, its slab's
 * bitmap confirm the double free where they can; a block found in neither
 * sits in another thread's cache (or an explicit one).  Aborts.
 */
HM_NOINLINE HM_COLD static void
free_check_tagged(void *ptr, const block_t *b, tcache_t *tc) {
	unsigned ind = b->kind == BLOCK_SMALL ? b->run->szind
					      : sc_size2index(b->usize);
	tcache_t *own = hm_tsd.state == TSD_NOMINAL ? hm_tsd.tcache : NULL;
	if (ind < hm_tcache_nbins) {
		if (own != NULL)
			hm_tcache_check_double_free(own, ind, ptr);
		if (tc != NULL && tc != own)
			hm_tcache_check_double_free(tc, ind, ptr);
	}
	if (b->kind == BLOCK_SMALL)
		hm_bin_check_live(b->arena, b->run, ptr);
	hm_check_fail("double free", ptr);
}

static inline void
check_tagged(void *ptr, const block_t *b, tcache_t *tc) {
	/* Valgrind builds cache nothing, so tag nothing; the word is the
	 * program's, maybe never written, which memcheck would report. */
	if (!config_valgrind && b->kind != BLOCK_HUGE
	    && unlikely(*(uintptr_t *)ptr == tcache_tag(ptr)))
		free_check_tagged(ptr, b, tc);
}

/* A resized block is sampled (resized()). */
HM_NOINLINE HM_COLD static void
resample(void *p, size_t usize) {
	uintptr_t bt[PROF_BT_MAX];
	unsigned btlen = hm_prof_backtrace(bt);
	alloc_sample(p, usize, usize, bt, btlen);
}

/* The heap profiler forgets a sampled block being freed. */
HM_NOINLINE HM_COLD static void
free_sampled(const block_t *b) {
	if (b->kind == BLOCK_HUGE)
		b->huge->prof = NULL;
	else
		b->run->prof = NULL;
	hm_prof_release(b->prof);
}

/*
 * Frees a block block_lookup() vouched for: into the thread cache when it
 * has a stack for the class, else straight back to the arena.
 */
static void
ifree(void *ptr, const block_t *b, tcache_t *tc) {
	/* Under memcheck a second free is memcheck's to report (as
	 * "Invalid free()"), and nothing more is done. */
	if (config_valgrind && vg_inaccessible(ptr)) {
		vg_free(ptr);
		return;
	}
	check_tagged(ptr, b, tc);
	hm_tsd.deallocated += usable(b->usize);
	if (unlikely(b->prof != NULL)) {
		free_sampled(b);
		tc = NULL; /* a promoted block is not of its class's size */
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

/*
 * A free after the metadata was hidden at exit (vg.c): announced only, the
 * block left out of use.  True if so.
 */
static inline bool
vg_exit_free(void *ptr) {
	(void)ptr;
	if (!config_valgrind || likely(!vg_hidden()))
		return false;
	vg_free(ptr);
	return true;
}

/* free's slow path: everything the fast path in free() did not take. */
HM_NOINLINE static void
free_slow(void *ptr) {
	if (ptr == NULL || vg_exit_free(ptr))
		return;
	int saved = errno; /* free keeps errno (POSIX 2024) */
	block_t b;
	if (unlikely(!block_lookup(ptr, &b)))
		invalid_pointer("invalid free", ptr);
	ifree(ptr, &b, tsd_tcache());
	slow_path_done();
	errno = saved;
}

/* Sized free: the size must map to the block's class. */
static inline void
isdalloc(void *ptr, size_t size, size_t align, tcache_t *tc) {
	block_t b;
	if (unlikely(!block_lookup(ptr, &b)))
		invalid_pointer("invalid free", ptr);
	if (unlikely(alloc_usize(size, align) != b.usize))
		hm_check_fail("sized free with wrong size", ptr);
	ifree(ptr, &b, tc);
}

/* Tries to resize in place to usize; true on success. */
static bool
iresize_in_place(block_t *b, size_t usize, bool zero) {
	if (usize == b->usize)
		return true;
	if (unlikely(b->prof != NULL) && b->usize < SC_LARGE_MINCLASS)
		return false; /* promoted: its run is not its class */
	switch (b->kind) {
	case BLOCK_SMALL:
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
static inline void
resized(void *p, block_t *b, size_t usize) {
	if (usize == b->usize)
		return;
	if (unlikely(b->prof != NULL))
		free_sampled(b);
	if (unlikely(hm_tsd.allocated + usize > hm_tsd.prof_next)
	    && hm_prof_event(usize))
		resample(p, usize);
}

/* realloc's flow: in place when the class allows, else move. */
static void *
irealloc(void *ptr, size_t size, size_t align, bool zero, arena_t *arena) {
	block_t b;
	if (unlikely(!block_lookup(ptr, &b)))
		invalid_pointer("realloc of invalid pointer", ptr);
	check_tagged(ptr, &b, arena == NULL ? tsd_tcache() : NULL);
	size_t usize = alloc_usize(size, align);
	if (unlikely(usize == 0)) {
		errno = ENOMEM;
		return NULL;
	}
	bool aligned = align == 0 || ((uintptr_t)ptr & (align - 1)) == 0;
	if (aligned && (arena == NULL || arena == b.arena)) {
		void *p = NULL;
		if (iresize_in_place(&b, usize, zero))
			p = ptr;
		else if (b.kind == BLOCK_HUGE && usize > hm_sc_large_maxclass)
			p = hm_huge_resize(b.huge, usize, true, align, zero);
		if (p != NULL) {
			resized(p, &b, usize);
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
	void *p = ialloc(size, align, zero, arena, tc);
	if (p == NULL)
		return NULL;
	memcpy(p, ptr, usable(b.usize < usize ? b.usize : usize));
	ifree(ptr, &b, tc);
	return p;
}

/* The standard API. */

HM_NOINLINE static void *
malloc_slow(size_t size) {
	void *p = ialloc(size, 0, false, NULL, tsd_tcache());
	slow_path_done();
	return p;
}

/*
 * The fast path: a class from the table and a pop from the thread cache.
 * Anything else (no cache yet, a size past the table, an empty stack, a
 * GC visit due) is malloc_slow's.
 */
HM_EXPORT void *
HM_PUBLIC(malloc)(size_t size) {
	tcache_t *tc = hm_tsd.tcache;
	void *p;
	if (likely(tc != NULL && size - 1 < SC_LOOKUP_MAX)
	    && likely(--tc->gc_ticker >= 0)) {
		size_t ind = hm_sc_lookup[(size - 1) >> LG_QUANTUM];
		uint64_t allocated = hm_tsd.allocated + tc->bins[ind].size;
		/* A sample due (prof.h) is malloc_slow's. */
		if (likely(allocated <= hm_tsd.prof_next)
		    && likely(tcache_alloc(tc, ind, &p))) {
			hm_tsd.allocated = allocated;
			return p;
		}
	}
	return malloc_slow(size);
}

HM_EXPORT void *
HM_PUBLIC(calloc)(size_t n, size_t size) {
	size_t total;
	if (unlikely(__builtin_mul_overflow(n, size, &total))) {
		errno = ENOMEM;
		return NULL;
	}
	return ialloc(total, 0, true, NULL, tsd_tcache());
}

/* free_fast's other case, out of line so that the common one keeps few
 * registers: a block of another arena parks in the cache.  It ends in
 * free_slow itself when the array is full (or the block is this arena's
 * and its stack is full), so the fast path makes only tail calls and
 * saves no register. */
HM_NOINLINE static void
free_fast_remote(tcache_t *tc, arena_t *arena, unsigned ind, void *ptr) {
	if (arena != tc->arena && tcache_dalloc_remote(tc, ind, ptr)) {
		hm_tsd.deallocated += tc->bins[ind].size;
		return;
	}
	free_slow(ptr);
}

/* What free_fast did: freed the block, or left it to a slow path. */
typedef enum { FREE_DONE, FREE_SLOW, FREE_MISS } free_fast_t;

/*
 * The free fast path: the thread cache's chunk slot and the page's slab
 * give the class; a region start of the thread's own arena that does not
 * carry the cached tag goes on the thread cache's stack.  With sized,
 * want_ind is the class a sized free claims, which must be the block's.
 * FREE_MISS when no chunk slot knows ptr's chunk (the caller fills one
 * and comes back); FREE_SLOW for anything else (NULL, huge and large
 * blocks, a full stack, a GC visit due).
 */
static HM_ALWAYS_INLINE free_fast_t
free_fast(void *ptr, bool sized, size_t want_ind) {
	tcache_t *tc = hm_tsd.tcache;
	if (unlikely(tc == NULL))
		return FREE_SLOW;
	chunk_t *chunk = tcache_chunk(tc, ptr);
	if (unlikely(chunk == NULL))
		return FREE_MISS;
	run_t *run = chunk_map_get(chunk, chunk_page_of(ptr));
	/* The region check is what vouches for ptr (the chunk slot may be
	 * stale: tcache_chunk); it fails for any run but a slab (run_t's
	 * limit). */
	if (unlikely(run == NULL
	    || (sized && want_ind != run->szind)
	    || !slab_is_region_start(run, ptr)
	    || (config_fast_checks && *(uintptr_t *)ptr == tcache_tag(ptr))
	    || --tc->gc_ticker < 0))
		return FREE_SLOW;
	/* A sized free's class needs no load. */
	size_t ind = sized ? want_ind : run->szind;
	if (likely(chunk->arena == tc->arena)
	    && likely(tcache_dalloc(tc, ind, ptr))) {
		hm_tsd.deallocated += tc->bins[ind].size;
		return FREE_DONE;
	}
	free_fast_remote(tc, chunk->arena, ind, ptr);
	return FREE_DONE;
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
HM_NOINLINE static void
free_miss(void *ptr) {
	if (free_slot_fill(ptr) && free_fast(ptr, false, 0) == FREE_DONE)
		return;
	free_slow(ptr);
}

HM_EXPORT void
HM_PUBLIC(free)(void *ptr) {
	free_fast_t r = free_fast(ptr, false, 0);
	if (likely(r == FREE_DONE))
		return;
	if (r == FREE_MISS)
		free_miss(ptr);
	else
		free_slow(ptr);
}

/* free_sized's slow path, and sdallocx's. */
HM_NOINLINE static void
free_sized_slow(void *ptr, size_t size, size_t align, tcache_t *tc) {
	if (ptr == NULL || vg_exit_free(ptr))
		return;
	int saved = errno;
	isdalloc(ptr, size, align, tc);
	slow_path_done();
	errno = saved;
}

/* With the thread's cache: out of line, so that free_sized's fast path
 * ends in a tail call. */
HM_NOINLINE static void
free_sized_slow_thread(void *ptr, size_t size) {
	free_sized_slow(ptr, size, 0, tsd_tcache());
}

/* free_sized after a chunk-slot miss (free_miss); size is small. */
HM_NOINLINE static void
free_sized_miss(void *ptr, size_t size) {
	if (free_slot_fill(ptr) && free_fast(ptr, true,
	    hm_sc_lookup[(size - 1) >> LG_QUANTUM]) == FREE_DONE)
		return;
	free_sized_slow_thread(ptr, size);
}

HM_EXPORT void *
HM_PUBLIC(realloc)(void *ptr, size_t size) {
	if (ptr == NULL)
		return HM_PUBLIC(malloc)(size);
	if (unlikely(size == 0)) {
		atomic_fetch_add_explicit(&hm_stats_zero_reallocs, 1,
		    memory_order_relaxed);
		if (opt_zero_realloc == ZERO_REALLOC_FREE) {
			HM_PUBLIC(free)(ptr);
			return NULL;
		}
		if (opt_zero_realloc == ZERO_REALLOC_ABORT)
			hm_check_fail("realloc with size 0 "
			    "(opt.zero_realloc:abort)", ptr);
		size = 1; /* as malloc(0) */
	}
	void *p = irealloc(ptr, size, 0, false, NULL);
	slow_path_done();
	return p;
}

HM_EXPORT void *
HM_PUBLIC(reallocarray)(void *ptr, size_t n, size_t size) {
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return HM_PUBLIC(realloc)(ptr, total);
}

/* glibc 2.36's memalign, aligned_alloc (an alias there) and valloc:
 * small alignments are malloc's, a non-power of two rounds up, one above
 * SIZE_MAX / 2 + 1 is EINVAL. */
static void *
memalign_common(size_t align, size_t size) {
	if (align <= QUANTUM)
		return HM_PUBLIC(malloc)(size);
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (!is_pow2(align))
		align = (size_t)1 << lg_ceil(align);
	return ialloc(size, align, false, NULL, tsd_tcache());
}

HM_EXPORT void *
HM_PUBLIC(memalign)(size_t align, size_t size) {
	return memalign_common(align, size);
}

/* C17 (DR 460), glibc 2.38 and jemalloc: an alignment that is not a power
 * of two (0 included) is EINVAL. */
HM_EXPORT void *
HM_PUBLIC(aligned_alloc)(size_t align, size_t size) {
	if (!is_pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return memalign_common(align, size);
}

HM_EXPORT int
HM_PUBLIC(posix_memalign)(void **memptr, size_t align, size_t size) {
	if (align < sizeof(void *) || !is_pow2(align))
		return EINVAL;
	/* (errno is left ENOMEM on failure, as every peer leaves it and
	 * glibc's tests read it.) */
	void *p = ialloc(size, align, false, NULL, tsd_tcache());
	if (p == NULL)
		return ENOMEM;
	*memptr = p;
	return 0;
}

HM_EXPORT void *
HM_PUBLIC(valloc)(size_t size) {
	return memalign_common(PAGE, size);
}

HM_EXPORT void *
HM_PUBLIC(pvalloc)(size_t size) {
	size_t rounded = PAGE_CEILING(size);
	if (rounded < size) {
		errno = ENOMEM;
		return NULL;
	}
	return memalign_common(PAGE, rounded);
}

HM_EXPORT size_t
HM_PUBLIC(malloc_usable_size)(void *ptr) {
	if (ptr == NULL)
		return 0;
	block_t b;
	if (!block_lookup(ptr, &b))
		invalid_pointer("malloc_usable_size of invalid pointer", ptr);
	return usable(b.usize);
}

/* Sized free: the size picks the class from the table, which the fast
 * path checks against the block's instead of trusting it. */
HM_EXPORT void
HM_PUBLIC(free_sized)(void *ptr, size_t size) {
	if (likely(size - 1 < SC_LOOKUP_MAX)) {
		free_fast_t r = free_fast(ptr, true,
		    hm_sc_lookup[(size - 1) >> LG_QUANTUM]);
		if (likely(r == FREE_DONE))
			return;
		if (r == FREE_MISS) {
			free_sized_miss(ptr, size);
			return;
		}
	}
	free_sized_slow_thread(ptr, size);
}

HM_EXPORT void
HM_PUBLIC(free_aligned_sized)(void *ptr, size_t align, size_t size) {
	free_sized_slow(ptr, size, align, tsd_tcache());
}

HM_EXPORT int
HM_PUBLIC(malloc_trim)(size_t pad) {
	(void)pad; /* nothing is kept at the top of a heap */
	vg_awake();
	if (!malloc_init())
		return 0;
	return purge_everything() > 0;
}

/* glibc's introspection, with hmalloc's figures. */

static void
stats_now(stats_t *st) {
	vg_awake();
	if (!malloc_init()) {
		memset(st, 0, sizeof(*st));
		return;
	}
	hm_stats_read(st);
}

HM_EXPORT struct mallinfo2
HM_PUBLIC(mallinfo2)(void) {
	stats_t st;
	stats_now(&st);
	struct mallinfo2 mi;
	memset(&mi, 0, sizeof(mi));
	size_t huge = st.huge;
	mi.arena = st.mapped - huge;       /* non-mmapped space: chunks */
	mi.hblks = 0;
	mi.hblkhd = huge;                  /* space in huge mappings */
	mi.uordblks = st.allocated;        /* bytes in use */
	mi.fordblks = st.mapped > st.allocated ? st.mapped - st.allocated : 0;
	mi.keepcost = 0;
	return mi;
}

HM_EXPORT struct mallinfo
HM_PUBLIC(mallinfo)(void) {
	struct mallinfo2 m2 = HM_PUBLIC(mallinfo2)();
	struct mallinfo mi;
	memset(&mi, 0, sizeof(mi));
	/* The old interface has int fields: values saturate. */
#define HM_MI_CLAMP(x) ((int)((x) > (size_t)__INT_MAX__ ? (size_t)__INT_MAX__ : (x)))
	mi.arena = HM_MI_CLAMP(m2.arena);
	mi.hblkhd = HM_MI_CLAMP(m2.hblkhd);
	mi.uordblks = HM_MI_CLAMP(m2.uordblks);
	mi.fordblks = HM_MI_CLAMP(m2.fordblks);
#undef HM_MI_CLAMP
	return mi;
}

HM_EXPORT void
HM_PUBLIC(malloc_stats)(void) {
	stats_t st;
	stats_now(&st);
	char buf[512];
	hm_snprintf(buf, sizeof(buf),
	    "Arenas: %u\nsystem bytes     = %zu\nin use bytes     = %zu\n"
	    "Total (incl. mmap):\nsystem bytes     = %zu\n"
	    "in use bytes     = %zu\nmax mmap regions = 0\n"
	    "max mmap bytes   = 0\n", hm_narenas, st.mapped, st.allocated,
	    st.mapped, st.allocated);
	/* write(2) is a cancellation point; glibc's malloc_stats is not
	 * one, and a thread cancelled half-way would leave half a report. */
	int state;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	hm_write(buf);
	pthread_setcancelstate(state, NULL);
}

HM_EXPORT int
HM_PUBLIC(malloc_info)(int options, FILE *stream) {
	if (options != 0) {
		errno = EINVAL;
		return -1;
	}
	stats_t st;
	stats_now(&st);
	size_t huge = st.huge;
	fprintf(stream, "<malloc version=\"1\">\n");
	fprintf(stream, "<heap nr=\"0\">\n<sizes>\n</sizes>\n"
	    "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
	    "<total type=\"rest\" count=\"0\" size=\"%zu\"/>\n"
	    "<system type=\"current\" size=\"%zu\"/>\n"
	    "<system type=\"max\" size=\"%zu\"/>\n"
	    "<aspace type=\"total\" size=\"%zu\"/>\n"
	    "<aspace type=\"mprotect\" size=\"%zu\"/>\n</heap>\n",
	    st.mapped - st.allocated, st.mapped - huge, st.mapped - huge,
	    st.mapped - huge, st.mapped - huge);
	fprintf(stream, "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
	    "<total type=\"rest\" count=\"0\" size=\"%zu\"/>\n"
	    "<total type=\"mmap\" count=\"0\" size=\"%zu\"/>\n"
	    "<system type=\"current\" size=\"%zu\"/>\n"
	    "<system type=\"max\" size=\"%zu\"/>\n"
	    "<aspace type=\"total\" size=\"%zu\"/>\n"
	    "<aspace type=\"mprotect\" size=\"%zu\"/>\n</malloc>\n",
	    st.mapped - st.allocated, huge, st.mapped, st.mapped, st.mapped,
	    st.mapped);
	return 0;
}

HM_EXPORT int
HM_PUBLIC(mallopt)(int param, int value) {
	/* glibc's tunables (arena count, trim and mmap thresholds, ...) have
	 * no meaning after hmalloc's start-up: accepted and ignored, as
	 * glibc accepts parameters it does not know. */
	(void)param;
	(void)value;
	return 1;
}

/* jemalloc's non-standard API. */

#define MALLOCX_LG_ALIGN_MASK 0x3f
#define MALLOCX_ARENA_SHIFT 20

static inline size_t
mallocx_align(int flags) {
	unsigned lg = (unsigned)flags & MALLOCX_LG_ALIGN_MASK;
	return lg == 0 ? 0 : (size_t)1 << lg;
}

/* The cache a call may use: none for MALLOCX_TCACHE_NONE or an explicit
 * arena (cached blocks belong to any arena), cache n for
 * MALLOCX_TCACHE(n) (none if n was not created), else the thread's. */
static inline tcache_t *
mallocx_tcache(int flags) {
	unsigned field = ((unsigned)flags >> 8) & 0xfff;
	if (field == 1 || ((unsigned)flags >> MALLOCX_ARENA_SHIFT) != 0)
		return NULL;
	if (field >= 2)
		return hm_tcache_explicit_get(field - 2);
	return tsd_tcache();
}

/* The arena MALLOCX_ARENA names, NULL for the thread's; *bad when it
 * names one that cannot be used. */
static inline arena_t *
mallocx_arena(int flags, bool *bad) {
	unsigned a = (unsigned)flags >> MALLOCX_ARENA_SHIFT;
	*bad = false;
	if (a == 0)
		return NULL;
	if (!malloc_init()) {
		*bad = true;
		return NULL;
	}
	arena_t *arena = hm_arena_get(a - 1, true);
	*bad = arena == NULL;
	return arena;
}

HM_EXPORT void *
HM_PUBLIC(mallocx)(size_t size, int flags) {
	bool bad;
	arena_t *arena = mallocx_arena(flags, &bad);
	if (bad) {
		errno = ENOMEM;
		return NULL;
	}
	size_t align = mallocx_align(flags);
	return ialloc(size, align, (flags & MALLOCX_ZERO) != 0, arena,
	    mallocx_tcache(flags));
}

HM_EXPORT void *
HM_PUBLIC(rallocx)(void *ptr, size_t size, int flags) {
	bool bad;
	arena_t *arena = mallocx_arena(flags, &bad);
	if (bad || ptr == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	return irealloc(ptr, size == 0 ? 1 : size, mallocx_align(flags),
	    (flags & MALLOCX_ZERO) != 0, arena);
}

HM_EXPORT size_t
HM_PUBLIC(xallocx)(void *ptr, size_t size, size_t extra, int flags) {
	block_t b;
	if (!block_lookup(ptr, &b))
		invalid_pointer("xallocx of invalid pointer", ptr);
	size_t align = mallocx_align(flags);
	if (align != 0 && ((uintptr_t)ptr & (align - 1)) != 0)
		return usable(b.usize);
	size_t max = size + extra < size ? SIZE_MAX : size + extra;
	size_t usize_min = alloc_usize(size, align);
	size_t usize_max = alloc_usize(max, align);
	if (usize_min == 0)
		return usable(b.usize);
	if (usize_max == 0)
		usize_max = usize_min;
	bool zero = (flags & MALLOCX_ZERO) != 0;
	/* Largest first, as jemalloc: the caller wants room to grow. */
	size_t usize = b.usize;
	if (usize_max != usize_min && iresize_in_place(&b, usize_max, zero))
		usize = usize_max;
	else if (iresize_in_place(&b, usize_min, zero))
		usize = usize_min;
	if (usize != b.usize) {
		resized(ptr, &b, usize);
		hm_tsd.allocated += usable(usize);
		hm_tsd.deallocated += usable(b.usize);
		vg_resize(ptr, b.usize, usize);
		if (zero && usize > b.usize)
			vg_defined((char *)ptr + b.usize, usize - b.usize);
	}
	return usable(usize);
}

HM_EXPORT size_t
HM_PUBLIC(sallocx)(const void *ptr, int flags) {
	(void)flags;
	return HM_PUBLIC(malloc_usable_size)((void *)ptr);
}

HM_EXPORT void
HM_PUBLIC(dallocx)(void *ptr, int flags) {
	if (flags == 0 || ptr == NULL || vg_exit_free(ptr)) {
		HM_PUBLIC(free)(ptr);
		return;
	}
	int saved = errno;
	block_t b;
	if (unlikely(!block_lookup(ptr, &b)))
		invalid_pointer("invalid free", ptr);
	ifree(ptr, &b, mallocx_tcache(flags));
	slow_path_done();
	errno = saved;
}

HM_EXPORT void
HM_PUBLIC(sdallocx)(void *ptr, size_t size, int flags) {
	if (flags == 0 && likely(size - 1 < SC_LOOKUP_MAX) && likely(free_fast(
	    ptr, true, hm_sc_lookup[(size - 1) >> LG_QUANTUM]) == FREE_DONE))
		return;
	free_sized_slow(ptr, size, mallocx_align(flags), mallocx_tcache(flags));
}

HM_EXPORT size_t
HM_PUBLIC(nallocx)(size_t size, int flags) {
	if (!malloc_init())
		return 0;
	size_t usize = alloc_usize(size, mallocx_align(flags));
	return usize == 0 || usize > SC_MAXCLASS ? 0 : usable(usize);
}

HM_EXPORT int
HM_PUBLIC(mallctl)(const char *name, void *oldp, size_t *oldlenp, void *newp,
    size_t newlen) {
	if (name == NULL)
		return EINVAL;
	if (!malloc_init())
		return EAGAIN;
	return hm_ctl_byname(name, oldp, oldlenp, newp, newlen);
}

HM_EXPORT int
HM_PUBLIC(mallctlnametomib)(const char *name, size_t *mibp, size_t *miblenp) {
	if (name == NULL || mibp == NULL || miblenp == NULL)
		return EINVAL;
	if (!malloc_init())
		return EAGAIN;
	return hm_ctl_nametomib(name, mibp, miblenp);
}

HM_EXPORT int
HM_PUBLIC(mallctlbymib)(const size_t *mib, size_t miblen, void *oldp,
    size_t *oldlenp, void *newp, size_t newlen) {
	if (mib == NULL)
		return EINVAL;
	if (!malloc_init())
		return EAGAIN;
	return hm_ctl_bymib(mib, miblen, oldp, oldlenp, newp, newlen);
}

HM_EXPORT void
HM_PUBLIC(malloc_stats_print)(void (*write_cb)(void *, const char *),
    void *cbopaque, const char *opts) {
	if (!malloc_init())
		return;
	hm_ctl_stats_print(write_cb, cbopaque, opts);
}

#ifndef HM_PREFIXED
/* glibc's internal names, so that every path into malloc lands here. */
#if defined(__clang__)
#  define HM_ALIAS(name) \
	__attribute__((alias(#name), used, visibility("default")))
#else
#  define HM_ALIAS(name) \
	__attribute__((alias(#name), used, visibility("default"), copy(name)))
#endif
void *__libc_malloc(size_t size) HM_ALIAS(malloc);
void *__libc_calloc(size_t n, size_t size) HM_ALIAS(calloc);
void *__libc_realloc(void *ptr, size_t size) HM_ALIAS(realloc);
void __libc_free(void *ptr) HM_ALIAS(free);
void *__libc_memalign(size_t align, size_t size) HM_ALIAS(memalign);
void *__libc_valloc(size_t size) HM_ALIAS(valloc);
void *__libc_pvalloc(size_t size) HM_ALIAS(pvalloc);
int __posix_memalign(void **memptr, size_t align, size_t size)
    HM_ALIAS(posix_memalign);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct mallinfo __libc_mallinfo(void) HM_ALIAS(mallinfo);
#pragma GCC diagnostic pop
int __libc_mallopt(int param, int value) HM_ALIAS(mallopt);
#endif
