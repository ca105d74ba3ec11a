/*
 * os.c: see os.h.
 *
 * Every call that can fail leaves errno at ENOMEM and the process's mappings
 * as they were.  The calls that give memory back cannot fail: a range the
 * kernel will not unmap stays counted as mapped (os_munmap), pages it will
 * not purge are cleared by hand (hm_os_purge).
 *
 * Two locks live here, both plain pthread mutexes outside the ranked locks
 * of mutex.h: the data-segment lock and the retained pool's lock.  Neither
 * is held while another allocator lock is taken (the pool allocates its
 * nodes from base with its lock released), so any allocator lock may be
 * held when calling in; the fork handlers take both through
 * hm_os_prefork() and friends, after every other lock.
 *
 * One call goes up the layers: the retained pool's nodes come from
 * hm_base_alloc() (never malloc), taken with no lock of os.c held.  base
 * maps its blocks with hm_os_map_metadata(), which never touches the pool,
 * so the two cannot recurse into each other.
 */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base.h"
#include "mutex.h"
#include "util.h"
#include "vg.h"

#ifndef MAP_FIXED_NOREPLACE
/* Before Linux 4.17 the flag is unknown and the address only a hint: the
 * result is checked either way. */
#  define MAP_FIXED_NOREPLACE 0
#endif

#ifdef HM_FAULT_INJECT
/*
 * Fault injection (test builds only, see os.h): each system call of this
 * file asks os_fault() first, which counts it and, if it is the call
 * chosen by hm_os_fault_set(), makes it fail as the kernel does (the
 * call's failure value, errno ENOMEM) without making it.  The macros
 * stand for the calls in this file alone, after the system headers: the
 * code below is the same in every build.  Without HM_FAULT_INJECT
 * nothing of this exists.
 */
static bool os_fault(unsigned kind, size_t size);
#  define mmap(addr, size, prot, flags, fd, off)                          \
	(os_fault(HM_OS_MMAP, (size)) ? MAP_FAILED                          \
	    : mmap(addr, size, prot, flags, fd, off))
#  define munmap(addr, size)                                              \
	(os_fault(HM_OS_MUNMAP, (size)) ? -1 : munmap(addr, size))
#  define madvise(addr, size, advice)                                     \
	(os_fault(HM_OS_MADVISE, (size)) ? -1 : madvise(addr, size, advice))
#  define mremap(addr, oldsize, newsize, ...)                             \
	(os_fault(HM_OS_MREMAP, (newsize)) ? MAP_FAILED                     \
	    : mremap(addr, oldsize, newsize, __VA_ARGS__))
#  define sbrk(incr) (os_fault(HM_OS_SBRK, 0) ? (void *)-1 : sbrk(incr))
#endif

unsigned opt_dss = DSS_SECONDARY;
const char *const hm_dss_names[3] = {"disabled", "primary", "secondary"};
unsigned opt_thp = THP_DEFAULT;
const char *const hm_thp_names[3] = {"default", "always", "never"};
unsigned opt_metadata_thp = METADATA_THP_DISABLED;
const char *const hm_metadata_thp_names[3] = {"disabled", "auto", "always"};
bool opt_retain = true;

/* Bytes handed out and not given back (data and metadata). */
static atomic_size_t os_mapped;

/* Data segment: [dss_base, dss_end) has been handed out by hmalloc. */
static mutex_t dss_lock = MUTEX_INITIALIZER(LOCK_RANK_DSS);
static _Atomic(uintptr_t) dss_base;
static _Atomic(uintptr_t) dss_end;
/* Freed brk chunks, linked through their first word (under dss_lock). */
static void *dss_free;
static size_t dss_free_size;

static void *
os_mmap(size_t size) {
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

/*
 * Unmaps a range hmalloc is done with.  The kernel may refuse (ENOMEM:
 * unmapping part of a mapping splits it, and the split would pass
 * vm.max_map_count).  The range then stays mapped, its pages dropped if
 * the kernel lets us, and counts as mapped from then on: it is never used
 * again, but the statistics do not lose it.
 */
static void
os_munmap(void *addr, size_t size) {
	if (munmap(addr, size) == 0)
		return;
	madvise(addr, size, MADV_DONTNEED);
	atomic_fetch_add_explicit(&os_mapped, size, memory_order_relaxed);
}

/* Maps [addr, addr + size) if none of it is mapped.  True on success. */
static bool
os_mmap_at(uintptr_t addr, size_t size) {
	void *p = mmap((void *)addr, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
	    -1, 0);
	if (p == MAP_FAILED)
		return false;
	if ((uintptr_t)p != addr) {
		/* An old kernel took the address as a hint. */
		os_munmap(p, size);
		return false;
	}
	return true;
}

/* Maps [addr, addr + size) afresh over what is there (ours).  False if
 * the kernel refused, after which part of the range may be unmapped. */
static bool
os_mmap_fixed(uintptr_t addr, size_t size) {
	return mmap((void *)addr, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0)
	    != MAP_FAILED;
}

static void *
os_map_aligned(size_t size, size_t align) {
	void *p = os_mmap(size);
	if (p == NULL || ((uintptr_t)p & (align - 1)) == 0)
		return p;
	/* Misaligned: map more and trim both ends to the aligned range. */
	os_munmap(p, size);
	size_t total = size + align - PAGE;
	if (total < size) {
		errno = ENOMEM;
		return NULL;
	}
	p = os_mmap(total);
	if (p == NULL)
		return NULL;
	uintptr_t start = ALIGN_UP((uintptr_t)p, align);
	size_t lead = start - (uintptr_t)p;
	if (lead != 0)
		os_munmap(p, lead);
	size_t trail = total - lead - size;
	if (trail != 0)
		os_munmap((void *)(start + size), trail);
	return (void *)start;
}

/*
 * Transparent huge pages.
 *
 * A huge page (2 MiB on x86-64) maps with one TLB entry what would
 * otherwise take 512, and needs one page fault instead of 512: programs
 * that walk large heaps run measurably faster.  The price is memory: the
 * kernel backs a whole aligned 2 MiB range at the first touch, so a
 * sparsely used chunk becomes fully resident, and purging part of a huge
 * page (decay's MADV_DONTNEED / MADV_FREE of a few runs) splits it, after
 * which khugepaged may collapse it again later.  opt.thp chooses per
 * process, for arena chunks and huge blocks: "always" asks for huge pages
 * (MADV_HUGEPAGE, VmFlags "hg"), "never" refuses them (MADV_NOHUGEPAGE,
 * "nh"), "default" leaves the system's policy alone.  Whether the advice
 * matters is the kernel's choice: /sys/kernel/mm/transparent_hugepage/
 * enabled set to "madvise" gives huge pages only to advised ranges,
 * "always" to every range not advised "never", and "never" to none.
 * opt.metadata_thp does the same for base's blocks (base.c).
 */
static void
os_thp_data(void *addr, size_t size) {
#if defined(MADV_HUGEPAGE) && defined(MADV_NOHUGEPAGE)
	if (opt_thp == THP_ALWAYS)
		madvise(addr, size, MADV_HUGEPAGE);
	else if (opt_thp == THP_NEVER)
		madvise(addr, size, MADV_NOHUGEPAGE);
#else
	(void)addr;
	(void)size;
#endif
}

void
hm_os_metadata_hugepage(void *addr, size_t size) {
#ifdef MADV_HUGEPAGE
	madvise(addr, size, MADV_HUGEPAGE);
#else
	(void)addr;
	(void)size;
#endif
}

/*
 * The retained pool (opt.retain).
 *
 * Data given back keeps its address range: the pages are purged with
 * MADV_DONTNEED (they leave RSS and read back as zero) and the range,
 * still mapped read-write, joins the pool.  hm_os_map cuts requests from
 * the pool before asking the kernel for new address space, so a
 * long-running program's address space stays near its peak use instead of
 * growing with the holes munmap would leave (Linux hands out addresses top
 * down and does not fill holes it cannot fit), and huge blocks mostly
 * come back at addresses that were already mapped.  Like jemalloc's,
 * the pool is unbounded: it costs address space and page tables, no
 * memory.  If the kernel refuses a new mapping (RLIMIT_AS, the map count),
 * the whole pool is unmapped and the request tried once more.
 *
 * The pool is a treap of out-of-band nodes (from base, recycled, never
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
 *   - hm_os_map maps a range taken from the pool afresh over itself
 *     (MAP_FIXED on our own range: one system call, as a fresh mapping
 *     costs, and the block is one kernel mapping);
 *   - hm_os_grow_in_place takes the retained range that follows a block
 *     (when it holds the whole growth; mremap cannot grow over it, it is
 *     mapped), unmaps it for a moment and lets mremap extend the block's
 *     own mapping over it (if mremap fails, the range is mapped again as
 *     a mapping of its own, unless another thread's took it meanwhile:
 *     then the growth fails and the range is lost to the pool);
 *   - hm_os_move asks mremap first whether the block is one mapping (an
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
 * With retain_lock held: makes sure a spare node is there, allocating one
 * from base with the lock released (base's lock is taken before ours by
 * the fork handlers, so it must never be taken while ours is held).  False
 * if base has no memory.
 */
static bool
retain_reserve(void) {
	if (retain_spare != NULL)
		return true;
	mutex_unlock(&retain_lock);
	rnode_t *n = hm_base_alloc(sizeof(rnode_t));
	mutex_lock(&retain_lock);
	if (n != NULL)
		rn_spare_put(n);
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
	if (purge && madvise(addr, size, MADV_DONTNEED) != 0)
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
		os_munmap((void *)t->addr, t->size);
		t->left = *list;
		*list = t;
		t = right;
	}
}

size_t
hm_os_retained_release(void) {
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

atomic_bool hm_os_limited_now;

static bool
os_limit_set(int resource) {
	struct rlimit rl;
	return getrlimit(resource, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
}

bool
hm_os_limit_check(void) {
	bool limited = os_limit_set(RLIMIT_AS) || os_limit_set(RLIMIT_DATA);
	if (limited != hm_os_limited())
		atomic_store_explicit(&hm_os_limited_now, limited,
		    memory_order_relaxed);
	if (limited)
		hm_os_retained_release();
	return limited;
}

/* Whether a range given back goes to the retained pool. */
static bool
os_retaining(void) {
	return opt_retain && !hm_os_limit_check();
}

/* New address space; when the kernel refuses, the retained pool is given
 * back and the request tried again. */
static void *
os_map_fresh(size_t size, size_t align) {
	hm_os_limit_check();
	void *p = os_map_aligned(size, align);
	if (p == NULL && hm_os_retained_release() != 0)
		p = os_map_aligned(size, align);
	if (p == NULL)
		errno = ENOMEM;
	return p;
}

static void *
os_dss_alloc(size_t size, size_t align, bool *zeroed) {
	mutex_lock(&dss_lock);
	void *ret = NULL;
	if (dss_free != NULL && dss_free_size == size) {
		ret = dss_free;
		dss_free = *(void **)ret;
		*(void **)ret = NULL;
		*zeroed = true;
		mutex_unlock(&dss_lock);
		return ret;
	}
	for (int tries = 0; tries < 4; tries++) {
		void *cur = sbrk(0);
		if (cur == (void *)-1)
			break;
		uintptr_t start = ALIGN_UP((uintptr_t)cur, align);
		size_t incr = start - (uintptr_t)cur + size;
		if (incr < size || (intptr_t)incr < 0)
			break;
		void *old = sbrk((intptr_t)incr);
		if (old == (void *)-1)
			break;
		if (old != cur) {
			/* Someone else moved the break: what we got may be
			 * misaligned; leave it (it is not ours) and retry. */
			continue;
		}
		if (atomic_load(&dss_base) == 0)
			atomic_store(&dss_base, (uintptr_t)cur);
		atomic_store(&dss_end, start + size);
		ret = (void *)start;
		break;
	}
	mutex_unlock(&dss_lock);
	if (ret == NULL)
		errno = ENOMEM;
	return ret;
}

bool
hm_os_in_dss(const void *addr) {
	uintptr_t a = (uintptr_t)addr;
	return a >= atomic_load_explicit(&dss_base, memory_order_relaxed)
	    && a < atomic_load_explicit(&dss_end, memory_order_relaxed);
}

void *
hm_os_map(size_t size, size_t align, unsigned dss, bool *zeroed) {
	void *p = NULL;
	/* Fresh mmap and brk memory, and purged brk chunks and retained
	 * ranges, read as zero. */
	*zeroed = true;
	if (dss == DSS_PRIMARY)
		p = os_dss_alloc(size, align, zeroed);
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
		if (p != NULL && !os_mmap_fixed((uintptr_t)p, size)) {
			/* Part of the range may be gone: give it all up. */
			os_munmap(p, size);
			p = NULL;
		}
	}
	if (p == NULL)
		p = os_map_fresh(size, align);
	if (p == NULL && dss == DSS_SECONDARY)
		p = os_dss_alloc(size, align, zeroed);
	if (p == NULL)
		return NULL;
	/* Again for a retained range: cheap, and right whatever the range's
	 * history. */
	os_thp_data(p, size);
	atomic_fetch_add_explicit(&os_mapped, size, memory_order_relaxed);
	return p;
}

bool hm_os_guard_metadata;

bool
hm_os_guard(void *addr, size_t size) {
	return mprotect(addr, size, PROT_NONE) == 0;
}

void
hm_os_unguard(void *addr, size_t size) {
	mprotect(addr, size, PROT_READ | PROT_WRITE);
}

void *
hm_os_map_metadata(size_t size, size_t align, bool *zeroed) {
	*zeroed = true;
	if (hm_os_guard_metadata && align <= PAGE) {
		/* Metadata is never unmapped: the guards stay for good. */
		char *g = os_map_fresh(size + 2 * PAGE, PAGE);
		if (g == NULL)
			return NULL;
		if (!hm_os_guard(g, PAGE) || !hm_os_guard(g + PAGE + size, PAGE)) {
			os_munmap(g, size + 2 * PAGE);
			errno = ENOMEM;
			return NULL;
		}
		atomic_fetch_add_explicit(&os_mapped, size + 2 * PAGE,
		    memory_order_relaxed);
		hm_vg_metadata_mapped(g + PAGE, size);
		return g + PAGE;
	}
	void *p = os_map_fresh(size, align);
	if (p != NULL) {
		atomic_fetch_add_explicit(&os_mapped, size, memory_order_relaxed);
		hm_vg_metadata_mapped(p, size);
	}
	return p;
}

void
hm_os_unmap(void *addr, size_t size) {
	atomic_fetch_sub_explicit(&os_mapped, size, memory_order_relaxed);
	if (hm_os_in_dss(addr)) {
		hm_os_purge(addr, size);
		mutex_lock(&dss_lock);
		/* Only chunks come from brk, so every entry has one size. */
		dss_free_size = size;
		*(void **)addr = dss_free;
		dss_free = addr;
		mutex_unlock(&dss_lock);
		return;
	}
	if (os_retaining() && retained_put(addr, size, true))
		return;
	os_munmap(addr, size);
}

void
hm_os_purge(void *addr, size_t size) {
	/* MADV_DONTNEED on private anonymous memory: the pages read back as
	 * zero, which lets calloc skip clearing them.  Should the kernel
	 * refuse (locked pages, no memory for splitting the mapping), they
	 * are cleared by hand: the callers count them as zero. */
	if (madvise(addr, size, MADV_DONTNEED) != 0)
		memset(addr, 0, size);
}

bool
hm_os_grow_in_place(void *addr, size_t oldsize, size_t newsize) {
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
	if (taken && munmap((void *)end, need) != 0) {
		/* Still mapped and purged: back to the pool (or, with no
		 * node for it, counted as mapped, as os_munmap does). */
		if (!retained_put((void *)end, need, false))
			atomic_fetch_add_explicit(&os_mapped, need,
			    memory_order_relaxed);
		return false;
	}
	if (mremap(addr, oldsize, newsize, 0) == MAP_FAILED) {
		/* mremap also refuses a block that spans several kernel
		 * mappings (EFAULT); a mapping of its own right after it
		 * does as well.  It also restores a range taken above if
		 * another thread's mapping did not land there meanwhile. */
		if (!os_mmap_at(end, need))
			return false;
		os_thp_data((void *)end, need);
	}
	atomic_fetch_add_explicit(&os_mapped, need, memory_order_relaxed);
	return true;
}

void *
hm_os_move(void *addr, size_t oldsize, size_t newsize, size_t align,
    bool (*claim)(void *dest, void *arg), void *arg) {
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
	if (mremap(addr, oldsize, newsize, 0) != MAP_FAILED) {
		atomic_fetch_add_explicit(&os_mapped, newsize - oldsize,
		    memory_order_relaxed);
		return addr;
	}
	if (errno == EFAULT) {
		errno = ENOMEM;
		return NULL;
	}
	/* Reserve an aligned destination (a retained range if one fits, its
	 * contents are replaced), then let the kernel move the pages there:
	 * no copy, whatever the size. */
	void *dest = opt_retain ? retained_take(newsize, align) : NULL;
	if (dest == NULL)
		dest = os_map_fresh(newsize, align);
	if (dest == NULL)
		return NULL;
	if (claim != NULL && !claim(dest, arg)) {
		if (!opt_retain || !retained_put(dest, newsize, false))
			os_munmap(dest, newsize);
		errno = ENOMEM;
		return NULL;
	}
	void *p = mremap(addr, oldsize, newsize, MREMAP_MAYMOVE | MREMAP_FIXED,
	    dest);
	if (p == MAP_FAILED) {
		/* Some kernels unmap the destination before they find that
		 * the move cannot be done: what is left there is unknown, so
		 * it is unmapped rather than retained. */
		os_munmap(dest, newsize);
		errno = ENOMEM;
		return NULL;
	}
	atomic_fetch_add_explicit(&os_mapped, newsize - oldsize,
	    memory_order_relaxed);
	/* The kernel has unmapped the old range; with retain it is mapped
	 * again at once (unless another thread's mapping landed there
	 * meanwhile) and retained: left as a hole, it would split the
	 * retained ranges around it, which could then never coalesce, and
	 * under a churn of reallocs the address space would grow without
	 * bound. */
	if (os_retaining() && os_mmap_at((uintptr_t)addr, oldsize)
	    && !retained_put(addr, oldsize, false))
		os_munmap(addr, oldsize);
	return p;
}

void
hm_os_prefork(void) {
	hm_mutex_prefork(&dss_lock);
	hm_mutex_prefork(&retain_lock);
}

void
hm_os_postfork_parent(void) {
	hm_mutex_postfork_parent(&retain_lock);
	hm_mutex_postfork_parent(&dss_lock);
}

void
hm_os_postfork_child(void) {
	hm_mutex_postfork_child(&retain_lock);
	hm_mutex_postfork_child(&dss_lock);
}

ssize_t
hm_os_read_file(const char *path, char *buf, size_t size) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

unsigned
hm_os_ncpus(void) {
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		int n = CPU_COUNT(&set);
		if (n > 0)
			return (unsigned)n;
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

size_t
hm_os_mapped_bytes(void) {
	return atomic_load_explicit(&os_mapped, memory_order_relaxed);
}

size_t
hm_os_retained_bytes(void) {
	return atomic_load_explicit(&retain_bytes, memory_order_relaxed);
}

size_t
hm_os_retained_ranges(void) {
	return atomic_load_explicit(&retain_nranges, memory_order_relaxed);
}

bool
hm_os_purge_lazy(void *addr, size_t size) {
	/* MADV_FREE (Linux 4.5): the kernel takes the pages when it needs
	 * them, until then they stay resident and are cheap to reuse; their
	 * contents are undefined afterwards. */
	return madvise(addr, size, MADV_FREE) == 0;
}

#ifdef HM_FAULT_INJECT
/*
 * Fault injection state: calls counted since hm_os_fault_set(), the one
 * to fail (0: none) and whether every later one fails too.  Atomics,
 * relaxed: a background thread may call in while a test reads them.
 */
static atomic_ulong fault_ncalls;
static atomic_ulong fault_at;
static atomic_bool fault_and_later;
static atomic_ulong fault_calls[HM_OS_NKINDS];
static atomic_ulong fault_failed[HM_OS_NKINDS];
static atomic_size_t fault_failed_bytes[HM_OS_NKINDS];

static bool
os_fault(unsigned kind, size_t size) {
	unsigned long n = atomic_fetch_add_explicit(&fault_ncalls, 1,
	    memory_order_relaxed) + 1;
	atomic_fetch_add_explicit(&fault_calls[kind], 1, memory_order_relaxed);
	unsigned long at = atomic_load_explicit(&fault_at,
	    memory_order_relaxed);
	if (at == 0 || n < at || (n > at && !atomic_load_explicit(
	    &fault_and_later, memory_order_relaxed)))
		return false;
	atomic_fetch_add_explicit(&fault_failed[kind], 1,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&fault_failed_bytes[kind], size,
	    memory_order_relaxed);
	errno = ENOMEM;
	return true;
}

void
hm_os_fault_set(unsigned long n, bool and_later) {
	atomic_store_explicit(&fault_at, 0, memory_order_relaxed);
	atomic_store_explicit(&fault_ncalls, 0, memory_order_relaxed);
	for (unsigned k = 0; k < HM_OS_NKINDS; k++) {
		atomic_store_explicit(&fault_calls[k], 0, memory_order_relaxed);
		atomic_store_explicit(&fault_failed[k], 0,
		    memory_order_relaxed);
		atomic_store_explicit(&fault_failed_bytes[k], 0,
		    memory_order_relaxed);
	}
	atomic_store_explicit(&fault_and_later, and_later,
	    memory_order_relaxed);
	atomic_store_explicit(&fault_at, n, memory_order_relaxed);
}

static unsigned long
fault_sum(atomic_ulong *a, unsigned kind) {
	if (kind < HM_OS_NKINDS)
		return atomic_load_explicit(&a[kind], memory_order_relaxed);
	unsigned long n = 0;
	for (unsigned k = 0; k < HM_OS_NKINDS; k++)
		n += atomic_load_explicit(&a[k], memory_order_relaxed);
	return n;
}

unsigned long
hm_os_fault_calls(unsigned kind) {
	return fault_sum(fault_calls, kind);
}

unsigned long
hm_os_fault_failed(unsigned kind) {
	return fault_sum(fault_failed, kind);
}

size_t
hm_os_fault_failed_bytes(unsigned kind) {
	return atomic_load_explicit(&fault_failed_bytes[kind],
	    memory_order_relaxed);
}
#endif /* HM_FAULT_INJECT */
