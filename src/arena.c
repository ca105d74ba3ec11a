/*
 * arena.c: arena creation and choice, chunk lifecycle, page runs and their
 * decay.  See arena.h for the structures and their locks.
 *
 * Invariants (arena lock):
 *   - free runs are maximal: no two free runs are adjacent (every free
 *     coalesces with its free neighbours);
 *   - the dirty list holds exactly the free runs with ndirty > 0, the
 *     muzzy list those with ndirty == 0 and nmuzzy > 0, each in the order
 *     the runs joined it; arena->ndirty and nmuzzy are the sums over free
 *     runs;
 *   - decay_next_ms is no later than the next step of either decay curve
 *     while its stage holds pages.
 */
#include "arena.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#include "decay.h"
#include "log.h"
#include "os.h"
#include "pages.h"
#include "secure.h"

unsigned opt_narenas = 0;
unsigned opt_percpu_arena = PERCPU_DISABLED;
const char *const hm_percpu_names[3] = {"disabled", "percpu", "phycpu"};

_Atomic unsigned hm_narenas;
unsigned hm_narenas_auto;
_Atomic(arena_t *) *hm_arenas;
_Atomic ssize_t hm_arenas_dirty_decay_ms;
_Atomic ssize_t hm_arenas_muzzy_decay_ms;
static mutex_t arenas_lock; /* creating and destroying arenas */
static arena_t *arenas_destroyed; /* to recycle (arenas_lock) */
static unsigned sc_ind_page;  /* size class index of one page */

bool
hm_arena_boot(void) {
	unsigned ncpus = hm_os_ncpus();
	if (opt_percpu_arena == PERCPU_PERCPU)
		opt_narenas = ncpus;
	else if (opt_percpu_arena == PERCPU_PHYCPU)
		opt_narenas = ncpus > 1 ? ncpus / 2 : 1;
	else if (opt_narenas == 0)
		opt_narenas = ncpus * 4;
	if (opt_narenas > HM_ARENAS_MAX)
		opt_narenas = HM_ARENAS_MAX;
	hm_narenas_auto = opt_narenas;
	hm_narenas = opt_narenas;
	hm_arenas_dirty_decay_ms = opt_dirty_decay_ms;
	hm_arenas_muzzy_decay_ms = opt_muzzy_decay_ms;
	sc_ind_page = sc_size2index(PAGE);
	if (hm_mutex_init(&arenas_lock, LOCK_RANK_ARENAS, "arenas"))
		return true;
	/* Room for every index: untouched pages of the mapping cost
	 * nothing. */
	hm_arenas = hm_base_alloc(sizeof(arena_t *) * HM_ARENAS_MAX);
	if (hm_arenas == NULL)
		return true;
	return hm_arena_get(0, true) == NULL;
}

/* A new arena's state but for its locks, the state they guard zeroed. */
static void
arena_init_state(arena_t *arena, unsigned ind) {
	arena->ind = ind;
	arena->birth_ms = hm_decay_now_ms();
	atomic_store(&arena->dirty_decay_ms,
	    atomic_load(&hm_arenas_dirty_decay_ms));
	atomic_store(&arena->muzzy_decay_ms,
	    atomic_load(&hm_arenas_muzzy_decay_ms));
	atomic_store(&arena->dss, opt_dss);
	arena->dirty.dnext = arena->dirty.dprev = &arena->dirty;
	arena->muzzy.dnext = arena->muzzy.dprev = &arena->muzzy;
	arena->decay_next_ms = UINT64_MAX;
	arena->run_pool.size = sizeof(run_t);
	hm_ehooks_init(&arena->ehooks, ind);
}

/*
 * A destroyed arena made new again, but for its locks and its pool of
 * descriptors: a thread walking the arenas (the background thread's decay
 * pass, malloc_trim, a reclaim) may still hold it, and waits on or holds
 * its locks.  So the locks are never re-initialised, and the state they
 * guard is cleared and set under them.
 */
static void
arena_recycle(arena_t *arena, unsigned ind) {
	/* Bins one at a time (one lock of a rank at once). */
	for (unsigned i = 0; i < SC_NBINS; i++) {
		bin_t *bin = &arena->bins[i];
		mutex_lock(&bin->lock);
		memset(&bin->slabcur, 0, sizeof(bin_t)
		    - offsetof(bin_t, slabcur));
		hm_mutex_stats_clear(&bin->lock);
		mutex_unlock(&bin->lock);
	}
	mutex_lock(&arena->lock);
	memset(&arena->chunks, 0, offsetof(arena_t, run_pool)
	    - offsetof(arena_t, chunks));
	memset(&arena->birth_ms, 0, offsetof(arena_t, bins)
	    - offsetof(arena_t, birth_ms));
	atomic_store_explicit(&arena->nthreads, 0, memory_order_relaxed);
	arena_init_state(arena, ind);
	hm_mutex_stats_clear(&arena->lock);
	mutex_unlock(&arena->lock);
}

/* A new arena; arenas_lock is held. */
static arena_t *
arena_create(unsigned ind) {
	arena_t *arena = arenas_destroyed;
	if (arena != NULL) {
		arenas_destroyed = arena->next_destroyed;
		arena_recycle(arena, ind);
		return arena;
	}
	arena = hm_base_alloc(sizeof(arena_t));
	if (arena == NULL)
		return NULL;
	if (hm_mutex_init(&arena->lock, LOCK_RANK_ARENA, NULL)
	    || hm_mutex_init(&arena->ehooks.lock, LOCK_RANK_EHOOKS, NULL))
		return NULL;
	for (unsigned i = 0; i < SC_NBINS; i++) {
		if (hm_mutex_init(&arena->bins[i].lock, LOCK_RANK_BIN, NULL))
			return NULL;
	}
	arena_init_state(arena, ind);
	return arena;
}

/* Automatic arena ind, created if there is none; arenas_lock is held. */
static arena_t *
arena_get_locked(unsigned ind) {
	arena_t *arena = atomic_load_explicit(&hm_arenas[ind],
	    memory_order_relaxed);
	if (arena == NULL) {
		arena = arena_create(ind);
		if (arena != NULL)
			atomic_store_explicit(&hm_arenas[ind], arena,
			    memory_order_release);
	}
	return arena;
}

arena_t *
hm_arena_get(unsigned ind, bool create) {
	if (ind >= hm_narenas)
		return NULL;
	arena_t *arena = atomic_load_explicit(&hm_arenas[ind],
	    memory_order_acquire);
	/* Manual arenas come from arenas.create alone. */
	if (arena != NULL || !create || ind >= hm_narenas_auto)
		return arena;
	mutex_lock(&arenas_lock);
	arena = arena_get_locked(ind);
	mutex_unlock(&arenas_lock);
	return arena;
}

arena_t *
hm_arena_percpu(void) {
	if (opt_percpu_arena == PERCPU_DISABLED)
		return NULL;
	int cpu = sched_getcpu();
	if (cpu < 0)
		cpu = 0;
	/* Linux numbers hyperthread siblings n apart: fold them. */
	return hm_arena_get((unsigned)cpu % hm_narenas_auto, true);
}

arena_t *
hm_arena_choose_new(void) {
	arena_t *percpu = hm_arena_percpu();
	if (percpu != NULL) {
		atomic_fetch_add_explicit(&percpu->nthreads, 1,
		    memory_order_relaxed);
		return percpu;
	}
	/* The choice and the count under one lock: two threads starting
	 * together took the same unused arena, both having counted none
	 * there (glibc_thread's two threads shared one in 5 runs of 12,
	 * twice as slow). */
	mutex_lock(&arenas_lock);
	arena_t *best = NULL;
	unsigned best_n = 0, first_empty = hm_narenas_auto;
	for (unsigned i = 0; i < hm_narenas_auto; i++) {
		arena_t *a = atomic_load_explicit(&hm_arenas[i],
		    memory_order_acquire);
		if (a == NULL) {
			if (first_empty == hm_narenas_auto)
				first_empty = i;
			continue;
		}
		unsigned n = atomic_load_explicit(&a->nthreads,
		    memory_order_relaxed);
		if (best == NULL || n < best_n) {
			best = a;
			best_n = n;
		}
	}
	if ((best == NULL || best_n > 0) && first_empty < hm_narenas_auto) {
		arena_t *a = arena_get_locked(first_empty);
		if (a != NULL)
			best = a;
	}
	/* Arena 0 exists from boot. */
	if (best == NULL)
		best = atomic_load_explicit(&hm_arenas[0], memory_order_relaxed);
	atomic_fetch_add_explicit(&best->nthreads, 1, memory_order_relaxed);
	mutex_unlock(&arenas_lock);
	return best;
}

/* Free-run lists. */

static unsigned
avail_ceil(size_t npages) {
	return sc_size2index(npages << LG_PAGE) - sc_ind_page;
}

static unsigned
avail_floor(size_t npages) {
	unsigned ind = sc_size2index(npages << LG_PAGE);
	if (hm_sc_size[ind] > (npages << LG_PAGE))
		ind--;
	return ind - sc_ind_page;
}

static void
avail_insert(arena_t *arena, run_t *run) {
	unsigned b = avail_floor(run->npages);
	DLIST_PUSH(arena->avail[b], run);
	arena->avail_mask[b / 64] |= (uint64_t)1 << (b % 64);
}

static void
avail_remove(arena_t *arena, run_t *run) {
	unsigned b = avail_floor(run->npages);
	DLIST_REMOVE(arena->avail[b], run);
	if (arena->avail[b] == NULL)
		arena->avail_mask[b / 64] &= ~((uint64_t)1 << (b % 64));
}

/* The smallest free run of at least npages, or NULL. */
static run_t *
avail_first_fit(arena_t *arena, size_t npages) {
	unsigned b = avail_ceil(npages);
	for (unsigned w = b / 64; w < ARENA_AVAIL_WORDS; w++) {
		uint64_t bits = arena->avail_mask[w];
		if (w == b / 64)
			bits &= ~(uint64_t)0 << (b % 64);
		if (bits != 0)
			return arena->avail[w * 64 + (unsigned)__builtin_ctzll(bits)];
	}
	return NULL;
}

/* Puts a free run on its decay list (dirty or muzzy), newest last, and
 * counts its pages. */
static void
stage_insert(arena_t *arena, run_t *run) {
	arena->ndirty += run->ndirty;
	arena->nmuzzy += run->nmuzzy;
	if (run->ndirty + run->nmuzzy > 0)
		hm_decay_dirty_added();
	run_t *list = run->ndirty > 0 ? &arena->dirty
	    : run->nmuzzy > 0 ? &arena->muzzy : NULL;
	if (list == NULL)
		return;
	run->dirty_ms = hm_decay_now_ms();
	run->dprev = list->dprev;
	run->dnext = list;
	run->dprev->dnext = run;
	list->dprev = run;
}

static void
stage_remove(arena_t *arena, run_t *run) {
	arena->ndirty -= run->ndirty;
	arena->nmuzzy -= run->nmuzzy;
	if (run->dnext == NULL)
		return;
	run->dprev->dnext = run->dnext;
	run->dnext->dprev = run->dprev;
	run->dnext = run->dprev = NULL;
}

static size_t
run_last_page(const run_t *run) {
	return chunk_page_index(run->chunk, run->addr) + run->npages - 1;
}

/* Makes run a free run in the lists (it must not touch another free run). */
static void
run_free_insert(arena_t *arena, run_t *run) {
	run->state = RUN_FREE;
	chunk_map_set(run->chunk, chunk_page_index(run->chunk, run->addr), run);
	chunk_map_set(run->chunk, run_last_page(run), run);
	avail_insert(arena, run);
	stage_insert(arena, run);
}

static void
run_free_remove(arena_t *arena, run_t *run) {
	avail_remove(arena, run);
	stage_remove(arena, run);
}

/*
 * Cuts a run detached from the lists after npages; returns the tail (also
 * detached), or NULL when no descriptor could be had.  Dirty counts split
 * as an upper bound.
 */
static run_t *
run_split(arena_t *arena, run_t *run, size_t npages) {
	run_t *tail = hm_base_pool_get(&arena->run_pool);
	if (tail == NULL)
		return NULL;
	tail->chunk = run->chunk;
	tail->addr = run->addr + (npages << LG_PAGE);
	tail->npages = run->npages - (uint32_t)npages;
	tail->ndirty = run->ndirty < tail->npages ? run->ndirty : tail->npages;
	tail->nmuzzy = run->nmuzzy < tail->npages ? run->nmuzzy : tail->npages;
	run->npages = (uint32_t)npages;
	if (run->ndirty > npages)
		run->ndirty = (uint32_t)npages;
	if (run->nmuzzy > npages)
		run->nmuzzy = (uint32_t)npages;
	return tail;
}

static void arena_purge_run(arena_t *arena, run_t *run, bool lazy);

/*
 * Before a huge block is mapped for the arena (hm_arena_purge_excess), its
 * oldest dirty runs go back to the system until at most a quarter of its
 * active pages (4 MiB at least) are dirty.  No free run can serve a huge
 * request: kept, they would stay resident beside the new block, and the
 * program's peak would be its live memory plus all it freed within the
 * decay time.  (Not before a chunk is mapped: the next Small or Large
 * requests may well reuse them, and a purge there cost the fragmentation
 * workload 40 % more time for no less memory.)
 */
#define ARENA_EXCESS_MIN_PAGES (((size_t)4 << 20) >> LG_PAGE)
/* Only runs of this many pages or more: a system call per 64 KiB at
 * most, where a heap freed in small pieces among live blocks would cost
 * one per piece on the allocating thread (decay takes those, in time). */
#define ARENA_EXCESS_RUN_PAGES 16
/* Runs looked at per growth, so that a long list of small runs costs a
 * bounded walk. */
#define ARENA_EXCESS_SCAN 1024
size_t
hm_arena_purge_excess(arena_t *arena) {
	mutex_lock(&arena->lock);
	size_t keep = arena->nactive / 4;
	if (keep < ARENA_EXCESS_MIN_PAGES)
		keep = ARENA_EXCESS_MIN_PAGES;
	size_t before = arena->ndirty;
	run_t *run = arena->dirty.dnext;
	for (unsigned n = 0; arena->ndirty > keep && run != &arena->dirty
	    && n < ARENA_EXCESS_SCAN; n++) {
		run_t *next = run->dnext;
		if (run->npages >= ARENA_EXCESS_RUN_PAGES)
			arena_purge_run(arena, run, false);
		run = next;
	}
	size_t n = before - arena->ndirty;
	mutex_unlock(&arena->lock);
	return n;
}

/* A new free run spanning a fresh chunk (for_slab: chunk.h). */
static run_t *
arena_chunk_run(arena_t *arena, bool for_slab) {
	run_t *run = hm_base_pool_get(&arena->run_pool);
	if (run == NULL)
		return NULL;
	bool zeroed = false;
	chunk_t *chunk = hm_chunk_alloc(arena, &arena->ehooks,
	    atomic_load_explicit(&arena->dss, memory_order_relaxed), for_slab,
	    &zeroed);
	if (chunk == NULL) {
		hm_base_pool_put(&arena->run_pool, run);
		return NULL;
	}
	arena->nchunks++;
	DLIST_PUSH(arena->chunks, chunk);
	run->chunk = chunk;
	run->addr = chunk->addr;
	run->npages = (uint32_t)hm_chunk_npages;
	run->ndirty = zeroed ? 0 : run->npages;
	return run;
}

/* The chunk under run (a free run spanning all of it, out of the lists)
 * goes back to the system. */
static void
arena_chunk_release(arena_t *arena, run_t *run) {
	chunk_t *chunk = run->chunk;
	chunk_map_set(chunk, 0, NULL);
	chunk_map_set(chunk, hm_chunk_npages - 1, NULL);
	hm_base_pool_put(&arena->run_pool, run);
	DLIST_REMOVE(arena->chunks, chunk);
	arena->nchunks--;
	hm_chunk_dalloc(chunk);
}

/*
 * Takes npages (aligned to align bytes, a power of two >= PAGE) from the
 * free runs or a new chunk (for_slab: a slab's, which may have the
 * reserve, chunk.h).  The run comes back detached, state unset.
 */
static run_t *
run_alloc(arena_t *arena, size_t npages, size_t align, bool for_slab) {
	size_t want = npages + ((align - PAGE) >> LG_PAGE);
	if (want > hm_chunk_npages) {
		errno = ENOMEM;
		return NULL;
	}
	run_t *run = avail_first_fit(arena, want);
	bool fresh = run == NULL;
	if (!fresh) {
		run_free_remove(arena, run);
	} else {
		run = arena_chunk_run(arena, for_slab);
		if (run == NULL)
			return NULL;
	}
	size_t lead = (ALIGN_UP((uintptr_t)run->addr, align)
	    - (uintptr_t)run->addr) >> LG_PAGE;
	if (lead > 0) {
		run_t *rest = run_split(arena, run, lead);
		if (rest == NULL)
			goto fail;
		run_free_insert(arena, run);
		run = rest;
	}
	if (run->npages > npages) {
		run_t *rest = run_split(arena, run, npages);
		if (rest == NULL)
			goto fail;
		run_free_insert(arena, rest);
	}
	arena->nactive += npages;
	return run;
fail:
	/* Out of descriptors: put the run back whole; a fresh chunk goes
	 * back at once (as a free run on no decay list, nothing would ever
	 * give it back). */
	if (fresh)
		arena_chunk_release(arena, run);
	else
		run_free_insert(arena, run);
	errno = ENOMEM;
	return NULL;
}

/* A free run's pages purged lazily (true), through its chunk's hooks if
 * it has any (ehooks.h); false if they were not. */
static bool
arena_purge_lazy(run_t *run, size_t size) {
	chunk_t *chunk = run->chunk;
	if (chunk->hooks == NULL)
		return hm_os_purge_lazy(run->addr, size);
	return hm_ehooks_purge(chunk->eh, chunk->hooks, chunk->addr,
	    hm_chunksize, (size_t)(run->addr - chunk->addr), size, true);
}

/* A free run's pages purged for good: they read as zero after. */
static void
arena_purge_forced(run_t *run, size_t size) {
	chunk_t *chunk = run->chunk;
	if (chunk->hooks == NULL)
		hm_os_purge(run->addr, size);
	else
		hm_ehooks_purge(chunk->eh, chunk->hooks, chunk->addr,
		    hm_chunksize, (size_t)(run->addr - chunk->addr), size,
		    false);
}

/*
 * Purges a free run on a decay list: its dirty pages lazily (into the
 * muzzy stage) when lazy, else all its pages for good.  A run spanning its
 * whole chunk gives the chunk back instead.
 */
static void
arena_purge_run(arena_t *arena, run_t *run, bool lazy) {
	stage_remove(arena, run);
	size_t size = (size_t)run->npages << LG_PAGE;
	if (run->npages == hm_chunk_npages) {
		arena->dirty_purged += run->ndirty;
		arena->muzzy_purged += run->nmuzzy;
		avail_remove(arena, run);
		arena_chunk_release(arena, run);
		return;
	}
	if (lazy && run->ndirty > 0 && arena_purge_lazy(run, size)) {
		arena->dirty_nmadvise++;
		arena->dirty_purged += run->ndirty;
		hm_decay_note(&arena->muzzy_decay, run->ndirty,
		    hm_decay_now_ms());
		run->nmuzzy += run->ndirty;
		if (run->nmuzzy > run->npages)
			run->nmuzzy = run->npages;
	} else {
		arena_purge_forced(run, size);
		if (run->ndirty > 0) {
			arena->dirty_nmadvise++;
			arena->dirty_purged += run->ndirty;
		} else {
			arena->muzzy_nmadvise++;
		}
		arena->muzzy_purged += run->nmuzzy;
		run->nmuzzy = 0;
	}
	run->ndirty = 0;
	stage_insert(arena, run);
}

/*
 * One stage's pass: purges the oldest runs of list until the stage holds
 * no more than its decay curve allows at now (everything for decay 0,
 * nothing for -1).  Returns when the next pass is due.
 */
static uint64_t
arena_decay_stage(arena_t *arena, run_t *list, size_t *npages, decay_t *d,
    ssize_t decay_ms, bool lazy, uint64_t now) {
	if (decay_ms < 0 || *npages == 0)
		return UINT64_MAX;
	size_t limit = decay_ms == 0 ? 0
	    : hm_decay_limit(d, now, (uint64_t)decay_ms, *npages);
	size_t before = *npages;
	while (*npages > limit && list->dnext != list)
		arena_purge_run(arena, list->dnext, lazy);
	hm_decay_purged(d, before - *npages);
	return *npages > 0 && decay_ms > 0 ? decay_next_step(d) : UINT64_MAX;
}

/* Purges what the decay curves release; the arena lock is held.  Dirty
 * pages go to the muzzy stage when it has a decay time, else back for
 * good. */
static uint64_t
arena_decay_locked(arena_t *arena, uint64_t now) {
	ssize_t muzzy_ms = arena_muzzy_decay_ms(arena);
	uint64_t next = arena_decay_stage(arena, &arena->dirty, &arena->ndirty,
	    &arena->dirty_decay, arena_dirty_decay_ms(arena), muzzy_ms != 0,
	    now);
	uint64_t m = arena_decay_stage(arena, &arena->muzzy, &arena->nmuzzy,
	    &arena->muzzy_decay, muzzy_ms, false, now);
	arena->decay_next_ms = m < next ? m : next;
	return arena->decay_next_ms;
}

uint64_t
hm_arena_decay(arena_t *arena, uint64_t now) {
	mutex_lock(&arena->lock);
	uint64_t next = arena_decay_locked(arena, now);
	mutex_unlock(&arena->lock);
	return next;
}

size_t
hm_arena_purge_all(arena_t *arena) {
	mutex_lock(&arena->lock);
	size_t n = arena->ndirty + arena->nmuzzy;
	while (arena->dirty.dnext != &arena->dirty)
		arena_purge_run(arena, arena->dirty.dnext, false);
	while (arena->muzzy.dnext != &arena->muzzy)
		arena_purge_run(arena, arena->muzzy.dnext, false);
	arena->decay_next_ms = UINT64_MAX;
	mutex_unlock(&arena->lock);
	return n;
}

/*
 * Returns an allocated run (whose map entries other than head and tail are
 * already cleared) to the free runs, coalescing with free neighbours.
 */
static void
run_dalloc(arena_t *arena, run_t *run) {
	chunk_t *chunk = run->chunk;
	size_t head = chunk_page_index(chunk, run->addr);
	size_t tail = head + run->npages - 1;
	arena->nactive -= run->npages;
	run->state = RUN_FREE;
	run->limit = 0; /* only a slab spans regions (free_fast) */
	run->ndirty = run->npages;
	run->nmuzzy = 0;
	uint64_t now = hm_decay_now_ms();
	hm_decay_note(&arena->dirty_decay, run->npages, now);
	if (head > 0) {
		run_t *prev = chunk_map_get(chunk, head - 1);
		if (prev != NULL && prev->state == RUN_FREE) {
			run_free_remove(arena, prev);
			chunk_map_set(chunk, head - 1, NULL);
			chunk_map_set(chunk, head, NULL);
			run->addr = prev->addr;
			run->npages += prev->npages;
			run->ndirty += prev->ndirty;
			run->nmuzzy += prev->nmuzzy;
			hm_base_pool_put(&arena->run_pool, prev);
		}
	}
	if (tail + 1 < hm_chunk_npages) {
		run_t *next = chunk_map_get(chunk, tail + 1);
		if (next != NULL && next->state == RUN_FREE) {
			run_free_remove(arena, next);
			chunk_map_set(chunk, tail, NULL);
			chunk_map_set(chunk, tail + 1, NULL);
			run->npages += next->npages;
			run->ndirty += next->ndirty;
			run->nmuzzy += next->nmuzzy;
			hm_base_pool_put(&arena->run_pool, next);
		}
	}
	run_free_insert(arena, run);
	/* Under an address-space limit a wholly free chunk goes back at
	 * once (pages.h). */
	if (unlikely(run->npages == hm_chunk_npages) && hm_pages_limited())
		arena_purge_run(arena, run, false);
	/* Event-driven decay: a pass when a decay step has passed (at once
	 * with dirty_decay_ms:0). */
	ssize_t decay_ms = arena_dirty_decay_ms(arena);
	if (decay_ms == 0 || now >= arena->decay_next_ms
	    || arena->decay_next_ms == UINT64_MAX)
		arena_decay_locked(arena, now);
}

run_t *
hm_arena_slab_alloc(arena_t *arena, unsigned binind) {
	const sc_slab_info_t *info = &hm_sc_slab[binind];
	mutex_lock(&arena->lock);
	run_t *run = run_alloc(arena, info->npages, PAGE, true);
	if (run == NULL) {
		mutex_unlock(&arena->lock);
		return NULL;
	}
	run->state = RUN_SLAB;
	run->szind = (uint8_t)binind;
	run->nfree = (uint16_t)info->nregs;
	run->recip = info->recip;
	run->limit = info->nregs * info->size;
	size_t first = chunk_page_index(run->chunk, run->addr);
	for (size_t i = 0; i < info->npages; i++)
		chunk_map_set(run->chunk, first + i, run);
	mutex_unlock(&arena->lock);
	memset(run->bitmap, 0, sizeof(run->bitmap));
	for (unsigned i = 0; i < info->nregs / 64; i++)
		run->bitmap[i] = ~(uint64_t)0;
	if (info->nregs % 64 != 0)
		run->bitmap[info->nregs / 64] =
		    ((uint64_t)1 << (info->nregs % 64)) - 1;
	return run;
}

void
hm_arena_slab_dalloc(arena_t *arena, run_t *slab) {
	size_t first = chunk_page_index(slab->chunk, slab->addr);
	mutex_lock(&arena->lock);
	for (size_t i = 1; i + 1 < slab->npages; i++)
		chunk_map_set(slab->chunk, first + i, NULL);
	run_dalloc(arena, slab);
	mutex_unlock(&arena->lock);
}

static atomic_uint arena_large_nguards;

bool
hm_arena_large_guard_take(void) {
	if (atomic_fetch_add_explicit(&arena_large_nguards, 1,
	    memory_order_relaxed) < GUARD_LARGE_MAX)
		return true;
	hm_arena_large_guard_give();
	return false;
}

void
hm_arena_large_guard_give(void) {
	atomic_fetch_sub_explicit(&arena_large_nguards, 1,
	    memory_order_relaxed);
}

void
hm_arena_large_guard_drop(run_t *run) {
	unsigned g = atomic_exchange_explicit(&run->guard, 0,
	    memory_order_relaxed);
	if (g == 0)
		return;
	hm_os_unguard(run->addr + ((size_t)(run->npages - g) << LG_PAGE),
	    (size_t)g << LG_PAGE);
	hm_arena_large_guard_give();
}

run_t *
hm_arena_large_alloc(arena_t *arena, size_t usize, size_t align,
    size_t guard, bool *zeroed) {
	if (align < PAGE)
		align = PAGE;
	mutex_lock(&arena->lock);
	run_t *run = run_alloc(arena, (usize + guard) >> LG_PAGE, align, false);
	if (run != NULL) {
		*zeroed = run->ndirty == 0 && run->nmuzzy == 0;
		run->state = RUN_LARGE;
		run->szind = (uint8_t)sc_size2index(usize);
		run->prof = NULL;
		atomic_store_explicit(&run->guard, (uint8_t)(guard >> LG_PAGE),
		    memory_order_relaxed);
		chunk_map_set(run->chunk, chunk_page_index(run->chunk, run->addr),
		    run);
		chunk_map_set(run->chunk, run_last_page(run), run);
		arena_lstats_count(arena, run->szind, 1);
	}
	mutex_unlock(&arena->lock);
	return run;
}

bool
hm_arena_large_dalloc(arena_t *arena, run_t *run, const void *ptr) {
	mutex_lock(&arena->lock);
	/* Checked under the lock: two racing frees of one block cannot
	 * both pass. */
	if (run->state != RUN_LARGE || run->addr != (const char *)ptr) {
		mutex_unlock(&arena->lock);
		return false;
	}
	arena_lstats_count(arena, run->szind, -1);
	run_dalloc(arena, run);
	mutex_unlock(&arena->lock);
	return true;
}

bool
hm_arena_large_resize(arena_t *arena, run_t *run, size_t usize,
    bool *zeroed_tail) {
	size_t npages = usize >> LG_PAGE;
	chunk_t *chunk = run->chunk;
	size_t head = chunk_page_index(chunk, run->addr);
	bool ok = false;
	mutex_lock(&arena->lock);
	size_t old = run->npages;
	if (npages == old) {
		ok = true;
	} else if (npages < old) {
		run_t *rest = run_split(arena, run, npages);
		if (rest != NULL) {
			chunk_map_set(chunk, head + old - 1, rest);
			chunk_map_set(chunk, head + npages, rest);
			chunk_map_set(chunk, head + npages - 1, run);
			rest->state = RUN_LARGE;
			run_dalloc(arena, rest);
			ok = true;
		}
	} else {
		size_t tail = head + old - 1;
		run_t *next = tail + 1 < hm_chunk_npages
		    ? chunk_map_get(chunk, tail + 1) : NULL;
		if (next != NULL && next->state == RUN_FREE
		    && old + next->npages >= npages) {
			run_free_remove(arena, next);
			size_t need = npages - old;
			ok = true;
			if (next->npages > need) {
				run_t *rest = run_split(arena, next, need);
				if (rest == NULL) {
					run_free_insert(arena, next);
					ok = false;
				} else {
					run_free_insert(arena, rest);
				}
			}
			if (ok) {
				*zeroed_tail = next->ndirty == 0
				    && next->nmuzzy == 0;
				if (tail != head)
					chunk_map_set(chunk, tail, NULL);
				chunk_map_set(chunk, tail + 1, NULL);
				run->npages = (uint32_t)npages;
				chunk_map_set(chunk, head + npages - 1, run);
				arena->nactive += need;
				hm_base_pool_put(&arena->run_pool, next);
			}
		}
	}
	if (ok && npages != old) {
		arena_lstats_count(arena, run->szind, -1);
		run->szind = (uint8_t)sc_size2index(usize);
		arena_lstats_count(arena, run->szind, 1);
	}
	mutex_unlock(&arena->lock);
	return ok;
}

arena_t *
hm_arena_create_manual(void) {
	arena_t *arena = NULL;
	mutex_lock(&arenas_lock);
	unsigned n = hm_narenas, ind = hm_narenas_auto;
	while (ind < n && atomic_load_explicit(&hm_arenas[ind],
	    memory_order_relaxed) != NULL)
		ind++;
	if (ind < HM_ARENAS_MAX) {
		arena = arena_create(ind);
		if (arena != NULL) {
			atomic_store_explicit(&hm_arenas[ind], arena,
			    memory_order_release);
			if (ind == n)
				hm_narenas = n + 1;
		}
	}
	mutex_unlock(&arenas_lock);
	return arena;
}

/* Gives a chunk's run descriptors back and the chunk to the system; the
 * arena lock is held and nothing in the chunk is live. */
static void
arena_chunk_discard(arena_t *arena, chunk_t *chunk) {
	for (size_t p = 0; p < hm_chunk_npages;) {
		run_t *run = chunk_map_get(chunk, p);
		size_t n = run != NULL ? run->npages : 1;
		/* The chunk may be retained and mapped again: no page of it
		 * may stay inaccessible. */
		if (run != NULL && run->state == RUN_LARGE)
			hm_arena_large_guard_drop(run);
		for (size_t i = 0; i < n; i++)
			chunk_map_set(chunk, p + i, NULL);
		if (run != NULL)
			hm_base_pool_put(&arena->run_pool, run);
		p += n;
	}
	hm_chunk_dalloc(chunk);
}

void
hm_arena_reset(arena_t *arena) {
	/* One lock at a time: nothing else may use the arena now (the
	 * caller's promise), the locks only order the memory. */
	for (unsigned i = 0; i < SC_NBINS; i++) {
		bin_t *bin = &arena->bins[i];
		mutex_lock(&bin->lock);
		/* The discarded regions count as freed. */
		bin->ndalloc = bin->nmalloc;
		bin->slabcur = NULL;
		bin->nonfull = NULL;
		bin->curslabs = 0;
		mutex_unlock(&bin->lock);
	}
	mutex_lock(&arena->lock);
	for (unsigned j = 0; j < hm_sc_nlarge; j++)
		arena->lstats[j].ndalloc = arena->lstats[j].nmalloc;
	while (arena->chunks != NULL) {
		chunk_t *chunk = arena->chunks;
		DLIST_REMOVE(arena->chunks, chunk);
		arena_chunk_discard(arena, chunk);
	}
	arena->nchunks = 0;
	arena->ndirty = 0;
	arena->nmuzzy = 0;
	arena->muzzy.dnext = arena->muzzy.dprev = &arena->muzzy;
	arena->nactive = 0;
	memset(arena->avail, 0, sizeof(arena->avail));
	memset(arena->avail_mask, 0, sizeof(arena->avail_mask));
	arena->dirty.dnext = arena->dirty.dprev = &arena->dirty;
	arena->decay_next_ms = UINT64_MAX;
	mutex_unlock(&arena->lock);
}

bool
hm_arena_destroy(arena_t *arena) {
	if (arena->ind < hm_narenas_auto
	    || atomic_load_explicit(&arena->nthreads, memory_order_relaxed))
		return false;
	hm_arena_reset(arena);
	/* What the hooks' dalloc declined goes to their destroy. */
	hm_ehooks_release(&arena->ehooks);
	mutex_lock(&arenas_lock);
	atomic_store_explicit(&hm_arenas[arena->ind], NULL,
	    memory_order_release);
	arena->next_destroyed = arenas_destroyed;
	arenas_destroyed = arena;
	mutex_unlock(&arenas_lock);
	return true;
}

void
hm_arena_prefork(arena_t *arena) {
	for (unsigned i = 0; i < SC_NBINS; i++)
		hm_mutex_prefork(&arena->bins[i].lock);
	hm_mutex_prefork(&arena->lock);
}

void
hm_arena_postfork_parent(arena_t *arena) {
	hm_mutex_postfork_parent(&arena->lock);
	for (unsigned i = 0; i < SC_NBINS; i++)
		hm_mutex_postfork_parent(&arena->bins[i].lock);
}

void
hm_arenas_prefork(void) {
	hm_mutex_prefork(&arenas_lock);
}

void
hm_arenas_postfork_parent(void) {
	hm_mutex_postfork_parent(&arenas_lock);
}

void
hm_arenas_postfork_child(void) {
	hm_mutex_postfork_child(&arenas_lock);
}

void
hm_arena_postfork_child(arena_t *arena) {
	hm_mutex_postfork_child(&arena->lock);
	for (unsigned i = 0; i < SC_NBINS; i++)
		hm_mutex_postfork_child(&arena->bins[i].lock);
}
