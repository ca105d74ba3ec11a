/*
 * os.c: see os.h.
 *
 * Every call that can fail leaves errno at ENOMEM and the process's mappings
 * as they were.  The data-segment lock is the only lock here; it is taken
 * by the fork handlers through hm_os_prefork() and friends.
 */
#include "os.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mutex.h"
#include "util.h"

unsigned opt_dss = DSS_SECONDARY;
const char *const hm_dss_names[3] = {"disabled", "primary", "secondary"};

static atomic_size_t os_mapped;

/* Data segment: [dss_base, dss_end) has been handed out by hmalloc. */
static pthread_mutex_t dss_lock = PTHREAD_MUTEX_INITIALIZER;
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

static void
os_munmap(void *addr, size_t size) {
	munmap(addr, size);
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

static void *
os_dss_alloc(size_t size, size_t align, bool *zeroed) {
	pthread_mutex_lock(&dss_lock);
	void *ret = NULL;
	if (dss_free != NULL && dss_free_size == size) {
		ret = dss_free;
		dss_free = *(void **)ret;
		*(void **)ret = NULL;
		*zeroed = true;
		pthread_mutex_unlock(&dss_lock);
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
	pthread_mutex_unlock(&dss_lock);
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
	/* Fresh mmap and brk memory, and purged brk chunks, read as zero. */
	*zeroed = true;
	if (dss == DSS_PRIMARY)
		p = os_dss_alloc(size, align, zeroed);
	if (p == NULL)
		p = os_map_aligned(size, align);
	if (p == NULL && dss == DSS_SECONDARY)
		p = os_dss_alloc(size, align, zeroed);
	if (p == NULL)
		return NULL;
	atomic_fetch_add_explicit(&os_mapped, size, memory_order_relaxed);
	return p;
}

void
hm_os_unmap(void *addr, size_t size) {
	atomic_fetch_sub_explicit(&os_mapped, size, memory_order_relaxed);
	if (hm_os_in_dss(addr)) {
		hm_os_purge(addr, size);
		pthread_mutex_lock(&dss_lock);
		/* Only chunks come from brk, so every entry has one size. */
		dss_free_size = size;
		*(void **)addr = dss_free;
		dss_free = addr;
		pthread_mutex_unlock(&dss_lock);
		return;
	}
	os_munmap(addr, size);
}

void
hm_os_purge(void *addr, size_t size) {
	/* MADV_DONTNEED on private anonymous memory: the pages read back as
	 * zero, which lets calloc skip clearing them. */
	madvise(addr, size, MADV_DONTNEED);
}

bool
hm_os_grow_in_place(void *addr, size_t oldsize, size_t newsize) {
	if (hm_os_in_dss(addr))
		return false;
	void *p = mremap(addr, oldsize, newsize, 0);
	if (p == MAP_FAILED)
		return false;
	atomic_fetch_add_explicit(&os_mapped, newsize - oldsize,
	    memory_order_relaxed);
	return true;
}

void *
hm_os_move(void *addr, size_t oldsize, size_t newsize, size_t align) {
	if (hm_os_in_dss(addr)) {
		errno = ENOMEM;
		return NULL;
	}
	/* Reserve an aligned destination, then let the kernel move the pages
	 * there: no copy, whatever the size. */
	void *dest = os_map_aligned(newsize, align);
	if (dest == NULL)
		return NULL;
	void *p = mremap(addr, oldsize, newsize, MREMAP_MAYMOVE | MREMAP_FIXED,
	    dest);
	if (p == MAP_FAILED) {
		os_munmap(dest, newsize);
		errno = ENOMEM;
		return NULL;
	}
	atomic_fetch_add_explicit(&os_mapped, newsize - oldsize,
	    memory_order_relaxed);
	return p;
}

void
hm_os_prefork(void) {
	pthread_mutex_lock(&dss_lock);
}

void
hm_os_postfork_parent(void) {
	pthread_mutex_unlock(&dss_lock);
}

void
hm_os_postfork_child(void) {
	pthread_mutex_init(&dss_lock, NULL);
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
