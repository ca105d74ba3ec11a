/*
 * pages.c: see pages.h.
 *
 * One lock lives here, the retained pool's, a ranked lock held around the
 * pool's tree alone (never around a system call), so any allocator lock
 * may be held when calling in; the fork handlers take it last, through
 * hm_pages_prefork().
 */
#include "pages.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "mutex.h"
#include "os.h"
#include "util.h"
#include "vg.h"

bool opt_retain = true;
bool hm_pages_guard_metadata;

/*
 * The retained pool (opt.retain).
 *
 * Data given back keeps its address range: the pages are purged with
 * MADV_DONTNEED (they leave RSS and read back as zero) and the range,
 * still mapped read-write, joins the pool.  hm_pages_map cuts requests from
 * the pool before asking the kernel for new address space, so a
 * long-running program's address space stays near its peak use instead of
 * growing with the holes munmap would leave (Linux hands out addresses top
 * down and does not fill holes it cannot fit), and huge blocks mostly
 * come back at addresses that were already mapped.  Like jemalloc's,
 * the pool is unbounded: it costs address space and page tables, no
 * memory.  If the kernel refuses a new mapping (RLIMIT_AS, the map count),
 * the whole pool is unmapped and the request tried once more.
 *
 * The pool is a treap of out-of-band nodes (in pages of their own, never
 * stored in the retained pages: writing a word there would make a purged
 * page resident again), ordered by address, each node also holding the
 * largest range size in its subtree.  Adjacent ranges are coalesced on
 * insertion, so the ranges are maximal; a request takes the
 * lowest-addressed range that fits with its alignment (first fit: search
 * pruned by the subtree maximum), and what is left on either side goes
 * back.  Address-ordered first fit keeps the used part of the address
 * space compact under a churn of varying sizes.
 *
 * Kernel mappings (VMAs) and mremap.  Retained ranges stay mapped, so
 * they count against vm.max_map_count (65530 by default) where munmap
 * would have dropped them; the pool coalesces its ranges and the kernel
 * merges adjacent anonymous mappings that it can, so the count stays near
 * that of the live heap (a churn of huge blocks and reallocs, in the
 * tests: some 60 mappings, with about 15 retained ranges).  But mremap
 * refuses to move or grow a range that spans two kernel mappings
 * (EFAULT), and a retained range often does (pieces freed at different
 * times, a moved block's mapping, which never merges with its fresh
 * neighbours), so that realloc would have to copy huge blocks cut from
 * the pool.  Hence:
 *   - hm_pages_map maps a range taken from the pool afresh over itself
 *     (MAP_FIXED on our own range: one system call, as a fresh mapping
 *     costs, and the block is one kernel mapping);
 *   - hm_pages_grow takes the retained range that follows a block
 *     (when it holds the whole growth; mremap cannot grow over it, it is
 *     mapped), unmaps it for a moment and lets mremap extend the block's
 *     own mapping over it (if mremap fails, the range is mapped again as
 *     a mapping of its own, unless another thread's took it meanwhile:
 *     then the growth fails and the range is lost to the pool);
 *   - hm_pages_move asks mremap first whether the block is one mapping (an
 *     in-place resize fails with EFAULT if not), since some kernels unmap
 *     the destination before they find out; it takes the destination
 *     from the pool, and maps the range the block left (mremap unmaps
 *     it) afresh, into the pool: a hole there would split the retained
 *     ranges around it, which could then never coalesce, and the address
 *     space would grow without bound under a churn of reallocs.
 * THP advice is the same for every data mapping of the process; the
 * ranges mapped afresh get it again.
 *
 * retain_lock guards the tree, the spare nodes and the PRNG; retain_bytes
 * and retain_nranges are written under it and read without it.
 */
typedef struct rnode_s rnode_t;
struct rnode_s {
	rnode_t *left;   /* lower addresses; links spare nodes */
	rnode_t *right;  /* higher addresses */
	uintptr_t addr;
	size_t size;
	size_t max;      /* the largest size in this subtree */
	uint64_t prio;   /* a parent's is >= its children's */
};

static mutex_t retain_lock = MUTEX_INITIALIZER(LOCK_RANK_RETAIN);
static rnode_t *retain_root;
static rnode_t *retain_spare;
static uint64_t retain_prng = 0x9e3779b97f4a7c15ULL;
static atomic_size_t retain_bytes;
static atomic_size_t retain_nranges;
static atomic_size_t retain_node_bytes;

static void
retain_count(size_t bytes, ssize_t nranges) {
	atomic_store_explicit(&retain_bytes, atomic_load_explicit(&retain_bytes,
	    memory_order_relaxed) + bytes, memory_order_relaxed);
	atomic_store_explicit(&retain_nranges,
	    atomic_load_explicit(&retain_nranges, memory_order_relaxed)
	    + (size_t)nranges, memory_order_relaxed);
}

static size_t
rn_max(const rnode_t *n) {
	return n != NULL ? n->max : 0;
}

static void
rn_update(rnode_t *n) {
	size_t m = n->size;
	if (rn_max(n->left) > m)
		m = n->left->max;
	if (rn_max(n->right) > m)
		m = n->right->max;
	n->max = m;
}

/* Splits t into the nodes below addr (*l) and the others (*r). */
static void
rn_split(rnode_t *t, uintptr_t addr, rnode_t **l, rnode_t **r) {
	if (t == NULL) {
		*l = *r = NULL;
		return;
	}
	if (t->addr < addr) {
		rn_split(t->right, addr, &t->right, r);
		*l = t;
	} else {
		rn_split(t->left, addr, l, &t->left);
		*r = t;
	}
	rn_update(t);
}

/* Joins two treaps, every address of l below every address of r. */
static rnode_t *
rn_merge(rnode_t *l, rnode_t *r) {
	if (l == NULL)
		return r;
	if (r == NULL)
		return l;
	if (l->prio >= r->prio) {
		l->right = rn_merge(l->right, r);
		rn_update(l);
		return l;
	}
	r->left = rn_merge(l, r->left);
	rn_update(r);
	return r;
}

/* Detaches the lowest-addressed node of the non-empty treap *t. */
static rnode_t *
rn_pop_first(rnode_t **t) {
	rnode_t *n = *t;
	if (n->left == NULL) {
		*t = n->right;
		n->right = NULL;
		return n;
	}
	rnode_t *f = rn_pop_first(&n->left);
	rn_update(n);
	return f;
}

/* Detaches the highest-addressed node of the non-empty treap *t. */
static rnode_t *
rn_pop_last(rnode_t **t) {
	rnode_t *n = *t;
	if (n->right == NULL) {
		*t = n->left;
		n->left = NULL;
		return n;
	}
	rnode_t *f = rn_pop_last(&n->right);
	rn_update(n);
	return f;
}

static bool
rn_fits(const rnode_t *n, size_t size, size_t align) {
	uintptr_t start = ALIGN_UP(n->addr, align);
	size_t lead = start - n->addr;
	return start >= n->addr && lead <= n->size && n->size - lead >= size;
}

/* The lowest-addressed range in t that holds size bytes aligned to align. */
static rnode_t *
rn_first_fit(rnode_t *t, size_t size, size_t align) {
	if (t == NULL || t->max < size)
		return NULL;
	rnode_t *n = rn_first_fit(t->left, size, align);
	if (n != NULL)
		return n;
	if (rn_fits(t, size, align))
		return t;
	return rn_first_fit(t->right, size, align);
}

static rnode_t *
rn_find(rnode_t *t, uintptr_t addr) {
	while (t != NULL && t->addr != addr)
		t = addr < t->addr ? t->left : t->right;
	return t;
}

/* Inserts n (its range overlaps none in the tree). */
static void
rn_insert(rnode_t *n) {
	rnode_t *l, *r;
	n->left = n->right = NULL;
	rn_update(n);
	rn_split(retain_root, n->addr, &l, &r);
	retain_root = rn_merge(rn_merge(l, n), r);
}

/* Unlinks n, which is in the tree. */
static void
rn_remove(rnode_t *n) {
	rnode_t *l, *r;
	rn_split(retain_root, n->addr, &l, &r);
	rnode_t *f = rn_pop_first(&r);
	(void)f; /* == n */
	retain_root = rn_merge(l, r);
}

static void
rn_spare_put(rnode_t *n) {
	n->left = retain_spare;
	retain_spare = n;
}

static rnode_t *
rn_spare_get(void) {
	rnode_t *n = retain_spare;
	retain_spare = n->left;
	n->left = n->right = NULL;
	retain_prng += 0x9e3779b97f4a7c15ULL;
	uint64_t z = retain_prng;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	n->prio = z ^ (z >> 31);
	return n;
}

/*
 * With retain_lock held: makes sure a spare node is there, mapping a page
 * of them with the lock released (no system call under our lock).  The
 * nodes' pages are metadata, never given back.  False if the kernel
 * refused the page.
 */
static bool
retain_reserve(void) {
	if (retain_spare != NULL)
		return true;
	mutex_unlock(&retain_lock);
	rnode_t *page = hm_os_map_aligned(PAGE, PAGE);
	if (page != NULL) {
		hm_os_mapped_add(PAGE);
		atomic_fetch_add_explicit(&retain_node_bytes, PAGE,
		    memory_order_relaxed);
	}
	mutex_lock(&retain_lock);
	for (size_t i = 0; page != NULL && i < PAGE / sizeof(rnode_t); i++)
		rn_spare_put(&page[i]);
	return retain_spare != NULL;
}

/*
 * Purges [addr, addr + size) (unless it is known to be fresh) and adds it
 * to the pool, coalesced with its neighbours.  False (nothing done) if it
 * cannot be kept: the purge failed (locked pages) or there is no memory
 * for a node; the caller unmaps.
 */
static bool
retained_put(void *addr, size_t size, bool purge) {
	if (size == 0)
		return true;
	/* A range whose pages may not be zero could not be handed out as
	 * zeroed memory. */
	if (purge && !hm_os_dontneed(addr, size))
		return false;
	uintptr_t a = (uintptr_t)addr;
	mutex_lock(&retain_lock);
	if (!retain_reserve()) {
		mutex_unlock(&retain_lock);
		return false;
	}
	rnode_t *l, *r;
	rn_split(retain_root, a, &l, &r);
	rnode_t *n = NULL;
	ssize_t nranges = 1;
	if (l != NULL) {
		rnode_t *last = l;
		while (last->right != NULL)
			last = last->right;
		if (last->addr + last->size == a) {
			n = rn_pop_last(&l);
			n->size += size;
			nranges--;
		}
	}
	if (n == NULL) {
		n = rn_spare_get();
		n->addr = a;
		n->size = size;
	}
	if (r != NULL) {
		rnode_t *first = r;
		while (first->left != NULL)
			first = first->left;
		if (first->addr == a + size) {
			first = rn_pop_first(&r);
			n->size += first->size;
			rn_spare_put(first);
			nranges--;
		}
	}
	n->left = n->right = NULL;
	rn_update(n);
	retain_root = rn_merge(rn_merge(l, n), r);
	retain_count(size, nranges);
	mutex_unlock(&retain_lock);
	return true;
}

/*
 * Takes size bytes aligned to align from the pool: mapped, zero.  NULL if
 * no range fits.
 */
static void *
retained_take(size_t size, size_t align) {
	if (atomic_load_explicit(&retain_bytes, memory_order_relaxed) < size)
		return NULL;
	mutex_lock(&retain_lock);
	/* A range cut in the middle leaves two: one more node. */
	if (!retain_reserve()) {
		mutex_unlock(&retain_lock);
		return NULL;
	}
	rnode_t *n = rn_first_fit(retain_root, size, align);
	if (n == NULL) {
		mutex_unlock(&retain_lock);
		return NULL;
	}
	rn_remove(n);
	uintptr_t start = ALIGN_UP(n->addr, align);
	size_t lead = start - n->addr;
	size_t trail = n->size - lead - size;
	ssize_t nranges = -1;
	if (lead != 0) {
		n->size = lead;
		rn_insert(n);
		nranges++;
		n = NULL;
	}
	if (trail != 0) {
		if (n == NULL)
			n = rn_spare_get();
		n->addr = start + size;
		n->size = trail;
		rn_insert(n);
		nranges++;
		n = NULL;
	}
	if (n != NULL)
		rn_spare_put(n);
	retain_count(-size, nranges);
	mutex_unlock(&retain_lock);
	return (void *)start;
}

/*
 * For growing [.., end) by need bytes in place: takes [end, end + need)
 * out of the pool if a retained range starting at end holds it.
 */
static bool
retained_take_at(uintptr_t end, size_t need) {
	mutex_lock(&retain_lock);
	rnode_t *n = rn_find(retain_root, end);
	if (n == NULL || n->size < need) {
		mutex_unlock(&retain_lock);
		return false;
	}
	rn_remove(n);
	if (n->size > need) {
		n->addr += need;
		n->size -= need;
		rn_insert(n);
		retain_count(-need, 0);
	} else {
		rn_spare_put(n);
		retain_count(-need, -1);
	}
	mutex_unlock(&retain_lock);
	return true;
}

/* Unmaps every node of t and links them on *list (through left). */
static void
rn_release(rnode_t *t, rnode_t **list) {
	while (t != NULL) {
		rn_release(t->left, list);
		rnode_t *right = t->right;
		hm_os_munmap((void *)t->addr, t->size);
		t->left = *list;
		*list = t;
		t = right;
	}
}

size_t
hm_pages_retained_release(void) {
	if (atomic_load_explicit(&retain_bytes, memory_order_relaxed) == 0)
		return 0;
	mutex_lock(&retain_lock);
	rnode_t *t = retain_root;
	size_t bytes = atomic_load_explicit(&retain_bytes,
	    memory_order_relaxed);
	retain_root = NULL;
	atomic_store_explicit(&retain_bytes, 0, memory_order_relaxed);
	atomic_store_explicit(&retain_nranges, 0, memory_order_relaxed);
	mutex_unlock(&retain_lock);
	if (t == NULL)
		return 0;
	/* The system calls without the lock: the ranges are nobody's now. */
	rnode_t *list = NULL;
	rn_release(t, &list);
	mutex_lock(&retain_lock);
	while (list != NULL) {
		rnode_t *next = list->left;
		rn_spare_put(list);
		list = next;
	}
	mutex_unlock(&retain_lock);
	return bytes;
}

atomic_bool hm_pages_limited_now;

bool
hm_pages_limit_check(void) {
	bool limited = hm_os_limit_set();
	if (limited != hm_pages_limited())
		atomic_store_explicit(&hm_pages_limited_now, limited,
		    memory_order_relaxed);
	if (limited)
		hm_pages_retained_release();
	return limited;
}

/* Whether a range given back goes to the retained pool. */
static bool
pages_retaining(void) {
	return opt_retain && !hm_pages_limit_check();
}

/* New address space; when the kernel refuses, the retained pool is given
 * back and the request tried again. */
static void *
pages_map_fresh(size_t size, size_t align) {
	hm_pages_limit_check();
	void *p = hm_os_map_aligned(size, align);
	if (p == NULL && hm_pages_retained_release() != 0)
		p = hm_os_map_aligned(size, align);
	if (p == NULL)
		errno = ENOMEM;
	return p;
}

void *
hm_pages_map(size_t size, size_t align, unsigned dss, bool *zeroed) {
	void *p = NULL;
	/* Fresh mmap and brk memory, and purged brk chunks and retained
	 * ranges, read as zero. */
	*zeroed = true;
	if (dss == DSS_PRIMARY)
		p = hm_os_dss_alloc(size, align, zeroed);
	if (p == NULL && opt_retain) {
		p = retained_take(size, align);
		/*
		 * Mapped afresh over itself (MAP_FIXED on our own range): a
		 * retained range may span several kernel mappings (pieces
		 * freed at different times keep their own), and a huge block
		 * that does could not be moved by mremap later.  One system
		 * call, as a fresh mapping would cost; the pages are already
		 * purged, so nothing else is dropped.
		 */
		if (p != NULL && !hm_os_mmap_fixed((uintptr_t)p, size)) {
			/* Part of the range may be gone: give it all up. */
			hm_os_munmap(p, size);
			p = NULL;
		}
	}
	if (p == NULL)
		p = pages_map_fresh(size, align);
	if (p == NULL && dss == DSS_SECONDARY)
		p = hm_os_dss_alloc(size, align, zeroed);
	if (p == NULL)
		return NULL;
	/* Again for a retained range: cheap, and right whatever the range's
	 * history. */
	hm_os_thp_data(p, size);
	hm_os_mapped_add(size);
	return p;
}

void *
hm_pages_map_metadata(size_t size, size_t align, bool *zeroed) {
	*zeroed = true;
	if (hm_pages_guard_metadata && align <= PAGE) {
		/* Metadata is never unmapped: the guards stay for good. */
		char *g = pages_map_fresh(size + 2 * PAGE, PAGE);
		if (g == NULL)
			return NULL;
		if (!hm_os_guard(g, PAGE) || !hm_os_guard(g + PAGE + size, PAGE)) {
			hm_os_munmap(g, size + 2 * PAGE);
			errno = ENOMEM;
			return NULL;
		}
		hm_os_mapped_add(size + 2 * PAGE);
		hm_vg_metadata_mapped(g + PAGE, size);
		return g + PAGE;
	}
	void *p = pages_map_fresh(size, align);
	if (p != NULL) {
		hm_os_mapped_add(size);
		hm_vg_metadata_mapped(p, size);
	}
	return p;
}

void
hm_pages_unmap(void *addr, size_t size) {
	hm_os_mapped_sub(size);
	if (hm_os_in_dss(addr)) {
		hm_os_dss_free(addr, size);
		return;
	}
	if (pages_retaining() && retained_put(addr, size, true))
		return;
	hm_os_munmap(addr, size);
}

bool
hm_pages_grow(void *addr, size_t oldsize, size_t newsize) {
	if (hm_os_in_dss(addr))
		return false;
	uintptr_t end = (uintptr_t)addr + oldsize;
	size_t need = newsize - oldsize;
	/*
	 * A retained range right after the block is still mapped, so mremap
	 * cannot grow over it: take it from the pool.  Its pages are mapped
	 * and zero already, but in a kernel mapping of their own, most
	 * likely, and a block spanning two could not be moved by mremap
	 * later (realloc would copy it): the range is given up for a moment
	 * and mremap extends the block's own mapping over it.
	 */
	bool taken = opt_retain
	    && atomic_load_explicit(&retain_bytes, memory_order_relaxed) >= need
	    && retained_take_at(end, need);
	if (taken && !hm_os_unmap_range((void *)end, need)) {
		/* Still mapped and purged: back to the pool (or, with no
		 * node for it, counted as mapped, as os_munmap does). */
		if (!retained_put((void *)end, need, false))
			hm_os_mapped_add(need);
		return false;
	}
	if (!hm_os_remap_in_place(addr, oldsize, newsize)) {
		/* mremap also refuses a block that spans several kernel
		 * mappings (EFAULT); a mapping of its own right after it
		 * does as well.  It also restores a range taken above if
		 * another thread's mapping did not land there meanwhile. */
		if (!hm_os_mmap_at(end, need))
			return false;
		hm_os_thp_data((void *)end, need);
	}
	hm_os_mapped_add(need);
	return true;
}

void *
hm_pages_move(void *addr, size_t oldsize, size_t newsize, size_t align,
    void *dest, bool (*claim)(void *dest, void *arg), void *arg) {
	if (hm_os_in_dss(addr)) {
		errno = ENOMEM;
		return NULL;
	}
	/*
	 * mremap refuses to move or resize a range that spans several
	 * kernel mappings (EFAULT), and some kernels find out only after
	 * unmapping the destination: ask first with a resize in place,
	 * which fails with EFAULT there and with ENOMEM when there is merely
	 * no room after the block (and which, should room have appeared,
	 * grows the block where it is: as good as a move).
	 */
	if (hm_os_remap_in_place(addr, oldsize, newsize)) {
		hm_os_mapped_add(newsize - oldsize);
		return addr;
	}
	if (errno == EFAULT) {
		errno = ENOMEM;
		return NULL;
	}
	/* Reserve an aligned destination (a retained range if one fits, its
	 * contents are replaced), then let the kernel move the pages there:
	 * no copy, whatever the size.  A destination of the caller's is
	 * data already, counted as mapped. */
	bool given = dest != NULL;
	if (!given && opt_retain)
		dest = retained_take(newsize, align);
	if (dest == NULL)
		dest = pages_map_fresh(newsize, align);
	if (dest == NULL)
		return NULL;
	if (claim != NULL && !claim(dest, arg)) {
		if (!given && (!opt_retain || !retained_put(dest, newsize,
		    false)))
			hm_os_munmap(dest, newsize);
		errno = ENOMEM;
		return NULL;
	}
	void *p = hm_os_remap_to(addr, oldsize, newsize, dest);
	if (p == NULL) {
		/* Some kernels unmap the destination before they find that
		 * the move cannot be done: what is left there is unknown, so
		 * it is unmapped rather than retained. */
		hm_os_munmap(dest, newsize);
		if (given)
			hm_os_mapped_sub(newsize);
		errno = ENOMEM;
		return NULL;
	}
	if (given)
		hm_os_mapped_sub(oldsize);
	else
		hm_os_mapped_add(newsize - oldsize);
	/* The kernel has unmapped the old range; with retain it is mapped
	 * again at once (unless another thread's mapping landed there
	 * meanwhile) and retained: left as a hole, it would split the
	 * retained ranges around it, which could then never coalesce, and
	 * under a churn of reallocs the address space would grow without
	 * bound. */
	if (pages_retaining() && hm_os_mmap_at((uintptr_t)addr, oldsize)
	    && !retained_put(addr, oldsize, false))
		hm_os_munmap(addr, oldsize);
	return p;
}

size_t
hm_pages_retained_bytes(void) {
	return atomic_load_explicit(&retain_bytes, memory_order_relaxed);
}

size_t
hm_pages_retained_ranges(void) {
	return atomic_load_explicit(&retain_nranges, memory_order_relaxed);
}

size_t
hm_pages_metadata_bytes(void) {
	return atomic_load_explicit(&retain_node_bytes, memory_order_relaxed);
}

void
hm_pages_prefork(void) {
	hm_mutex_prefork(&retain_lock);
}

void
hm_pages_postfork_parent(void) {
	hm_mutex_postfork_parent(&retain_lock);
}

void
hm_pages_postfork_child(void) {
	hm_mutex_postfork_child(&retain_lock);
}
