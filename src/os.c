/*
 * os.c: see os.h.
 *
 * Every call that can fail leaves errno at ENOMEM and the process's mappings
 * as they were.  The calls that give memory back cannot fail: a range the
 * kernel will not unmap stays counted as mapped (hm_os_munmap), pages it
 * will not purge are cleared by hand (hm_os_purge).
 *
 * One lock lives here, the data-segment lock; it is held around sbrk
 * alone, so any allocator lock may be held when calling in, and the fork
 * handlers take it through hm_os_prefork() after every other lock but the
 * retained pool's (pages.c).
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

#include "mutex.h"
#include "util.h"

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
void
hm_os_munmap(void *addr, size_t size) {
	if (munmap(addr, size) == 0)
		return;
	madvise(addr, size, MADV_DONTNEED);
	atomic_fetch_add_explicit(&os_mapped, size, memory_order_relaxed);
}

bool
hm_os_mmap_at(uintptr_t addr, size_t size) {
	void *p = mmap((void *)addr, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
	    -1, 0);
	if (p == MAP_FAILED)
		return false;
	if ((uintptr_t)p != addr) {
		/* An old kernel took the address as a hint. */
		hm_os_munmap(p, size);
		return false;
	}
	return true;
}

bool
hm_os_mmap_fixed(uintptr_t addr, size_t size) {
	return mmap((void *)addr, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0)
	    != MAP_FAILED;
}

void *
hm_os_map_aligned(size_t size, size_t align) {
	void *p = os_mmap(size);
	if (p == NULL || ((uintptr_t)p & (align - 1)) == 0)
		return p;
	/* Misaligned: map more and trim both ends to the aligned range. */
	hm_os_munmap(p, size);
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
		hm_os_munmap(p, lead);
	size_t trail = total - lead - size;
	if (trail != 0)
		hm_os_munmap((void *)(start + size), trail);
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
void
hm_os_thp_data(void *addr, size_t size) {
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

void *
hm_os_dss_alloc(size_t size, size_t align, bool *zeroed) {
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

void
hm_os_dss_free(void *addr, size_t size) {
	hm_os_purge(addr, size);
	mutex_lock(&dss_lock);
	/* Only chunks come from brk, so every entry has one size. */
	dss_free_size = size;
	*(void **)addr = dss_free;
	dss_free = addr;
	mutex_unlock(&dss_lock);
}

bool
hm_os_unmap_range(void *addr, size_t size) {
	return munmap(addr, size) == 0;
}

bool
hm_os_dontneed(void *addr, size_t size) {
	return madvise(addr, size, MADV_DONTNEED) == 0;
}

bool
hm_os_remap_in_place(void *addr, size_t oldsize, size_t newsize) {
	return mremap(addr, oldsize, newsize, 0) != MAP_FAILED;
}

void *
hm_os_remap_to(void *addr, size_t oldsize, size_t newsize, void *dest) {
	void *p = mremap(addr, oldsize, newsize, MREMAP_MAYMOVE | MREMAP_FIXED,
	    dest);
	return p == MAP_FAILED ? NULL : p;
}

static bool
os_limit_set(int resource) {
	struct rlimit rl;
	return getrlimit(resource, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
}

bool
hm_os_limit_set(void) {
	return os_limit_set(RLIMIT_AS) || os_limit_set(RLIMIT_DATA);
}

void
hm_os_mapped_add(size_t size) {
	atomic_fetch_add_explicit(&os_mapped, size, memory_order_relaxed);
}

void
hm_os_mapped_sub(size_t size) {
	atomic_fetch_sub_explicit(&os_mapped, size, memory_order_relaxed);
}

bool
hm_os_guard(void *addr, size_t size) {
	return mprotect(addr, size, PROT_NONE) == 0;
}

bool
hm_os_unguard(void *addr, size_t size) {
	return mprotect(addr, size, PROT_READ | PROT_WRITE) == 0;
}

void *
hm_os_reserve(size_t size) {
	void *p = mmap(NULL, size, PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
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

void
hm_os_prefork(void) {
	hm_mutex_prefork(&dss_lock);
}

void
hm_os_postfork_parent(void) {
	hm_mutex_postfork_parent(&dss_lock);
}

void
hm_os_postfork_child(void) {
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
