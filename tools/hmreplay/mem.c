/*
 * mem.c: the replayer's own memory.
 *
 * Nothing here calls malloc: the allocator under test must see the
 * replayed calls only.  What lives through the replay (event streams, the
 * block table, samples) comes from a memfd mapping: its pages count as
 * RssShmem, not RssAnon, so the figure reported as the allocator's memory
 * leaves them out.  Tables that only the numbering pass uses are plain
 * anonymous mappings, unmapped before the replay starts.
 */
#include "hmreplay.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define POOL_REGION (64u << 20)

static int pool_fd = -2;
static uint64_t pool_off;	/* file size so far */
static uint8_t *pool_cur, *pool_end;

static size_t
page_round(size_t n) {
	size_t pg = 4096;
	return (n + pg - 1) & ~(pg - 1);
}

void
die_v(bool quick, const char *prefix, const char *fmt, va_list ap) {
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "hmreplay: %s", prefix);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	write_all(2, buf, (size_t)n);
	if (quick)
		_exit(1);
	exit(1);
}

void
die(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	die_v(false, "", fmt, ap);
}

bool
write_all(int fd, const void *buf, size_t len) {
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

uint64_t
now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
pool_region(size_t want) {
	size_t len = page_round(want > POOL_REGION ? want : POOL_REGION);
	void *p;
	if (pool_fd == -2)
		pool_fd = memfd_create("hmreplay", MFD_CLOEXEC);
	if (pool_fd >= 0) {
		if (ftruncate(pool_fd, (off_t)(pool_off + len)) != 0)
			die("memfd: cannot grow to %llu bytes: %s",
			    (unsigned long long)(pool_off + len),
			    strerror(errno));
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
		    pool_fd, (off_t)pool_off);
		pool_off += len;
	} else {
		/* No memfd (an old kernel): the pool is then counted in
		 * RssAnon, as a constant the baseline shows. */
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (p == MAP_FAILED)
		die("mmap of %zu bytes: %s", len, strerror(errno));
	pool_cur = p;
	pool_end = pool_cur + len;
}

/* Zeroed, 64-byte aligned, never freed. */
void *
pool_alloc(size_t size) {
	size = (size + 63) & ~(size_t)63;
	if (size == 0)
		size = 64;
	if ((size_t)(pool_end - pool_cur) < size)
		pool_region(size);
	void *p = pool_cur;
	pool_cur += size;
	return p;
}

void *
anon_alloc(size_t size) {
	void *p = mmap(NULL, page_round(size ? size : 1),
	    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap of %zu bytes: %s", size, strerror(errno));
	return p;
}

void *
anon_grow(void *p, size_t old, size_t size) {
	if (p == NULL)
		return anon_alloc(size);
	void *q = mremap(p, page_round(old ? old : 1), page_round(size),
	    MREMAP_MAYMOVE);
	if (q == MAP_FAILED)
		die("mremap to %zu bytes: %s", size, strerror(errno));
	return q;
}

void
anon_free(void *p, size_t size) {
	if (p != NULL)
		munmap(p, page_round(size ? size : 1));
}
