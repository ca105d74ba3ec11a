/*
 * sc.h: size classes.  jemalloc's geometric scheme with a 16-byte quantum:
 * 16, 32, 48, 64, then four classes per doubling (80, 96, 112, 128, 160,
 * 192, ...).  Within the group (2^k, 2^(k+1)] the spacing is 2^(k-2), so the
 * rounding waste of a request is below 25 % of it (below 20 % of the class).
 *
 * Three ranges, each with its own allocator:
 *   Small  16 B .. 14 KiB         bins of slabs (bin.c), SC_NBINS classes
 *   Large  16 KiB .. below chunk  page runs in an arena's chunks (large.c)
 *   Huge   the rest               dedicated mappings (huge.c)
 * The Large/Huge border depends on the chunk size (lg_chunk), so it is a
 * variable set at boot: hm_sc_large_maxclass.
 *
 * Every class index maps to its size through hm_sc_size[]; sizes up to 4 KiB
 * map to their index through a table, larger ones by arithmetic.
 */
#ifndef HM_SC_H
#define HM_SC_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define SC_LG_GROUP 2 /* four classes per doubling */
#define SC_NBINS 35
#define SC_SMALL_MAXCLASS ((size_t)14336)
#define SC_LARGE_MINCLASS ((size_t)16384)
/* Every class up to the largest below PTRDIFF_MAX. */
#define SC_NSIZES 231
/* The largest usable size: larger requests fail with ENOMEM. */
#define SC_MAXCLASS ((size_t)7 << 60)

#define SC_LOOKUP_MAX ((size_t)4096)

/*
 * The user address space a mapping can land in: below 2^47 on x86-64 and
 * 2^48 on arm64, larger addresses being given only to mmap calls that
 * ask for them, which hmalloc never makes.  An aligned block starts at a
 * nonzero multiple of its alignment and ends below this bound, so an
 * alignment at or past it is impossible.
 */
#if defined(__x86_64__)
#  define SC_VADDR_END ((size_t)1 << 47)
#elif defined(__aarch64__)
#  define SC_VADDR_END ((size_t)1 << 48)
#else
#  define SC_VADDR_END ((size_t)1 << (sizeof(void *) * 8 - 1))
#endif

/* Slab regions are tracked in a bitmap of this many bits. */
#define SLAB_MAXREGS 256
#define SLAB_MAXPAGES 8

typedef struct sc_slab_info_s {
	uint32_t size;      /* region size */
	uint32_t nregs;     /* regions per slab */
	uint32_t npages;    /* slab size in pages */
	uint32_t recip;     /* ceil(2^32 / size): offset -> region index */
} sc_slab_info_t;

HM_EXTERN size_t hm_sc_size[SC_NSIZES];
HM_EXTERN uint8_t hm_sc_lookup[SC_LOOKUP_MAX >> LG_QUANTUM];
HM_EXTERN sc_slab_info_t hm_sc_slab[SC_NBINS];
HM_EXTERN size_t hm_sc_large_maxclass;   /* largest Large class */
HM_EXTERN unsigned hm_sc_nlarge;         /* number of Large classes */

/* Fills the tables; chunksize decides where Large ends. */
/*
 * opt.slab_sizes, in jemalloc 5.3's syntax: "LO-HI:PAGES|LO-HI:PAGES...",
 * each Small class of LO to HI bytes to take slabs of PAGES pages, later
 * ranges over earlier ones; clamped to what a slab can hold (at least one
 * region, at most SLAB_MAXPAGES pages and SLAB_MAXREGS regions).
 */
HM_EXTERN char opt_slab_sizes[OPT_STRING_MAX];
/* Whether s[0, len) is a valid slab_sizes value ("" is). */
bool hm_sc_slab_sizes_valid(const char *s, size_t len);

void hm_sc_boot(size_t chunksize);

/* Index of the class for size, by arithmetic; size in [1, SC_MAXCLASS]. */
static inline unsigned
sc_size2index_compute(size_t size) {
	if (size <= 64)
		return (unsigned)((size - 1) >> LG_QUANTUM);
	unsigned lg = lg_floor(size - 1);
	return 4 + (lg - 6) * 4
	    + (unsigned)((size - 1 - ((size_t)1 << lg)) >> (lg - 2));
}

/* Index of the class for size; size in [1, SC_MAXCLASS]. */
static HM_ALWAYS_INLINE unsigned
sc_size2index(size_t size) {
	if (likely(size <= SC_LOOKUP_MAX))
		return hm_sc_lookup[(size - 1) >> LG_QUANTUM];
	return sc_size2index_compute(size);
}

static HM_ALWAYS_INLINE size_t
sc_index2size(unsigned ind) {
	return hm_sc_size[ind];
}

/* Usable size for a request, 0 if the request is too large. */
static inline size_t
sc_s2u(size_t size) {
	if (unlikely(size > SC_MAXCLASS))
		return 0;
	if (size == 0)
		size = 1;
	return hm_sc_size[sc_size2index(size)];
}

/*
 * Usable size for a request with an alignment (a power of two), 0 if too
 * large.  Small classes that are multiples of the alignment hold aligned
 * regions, since slabs start on a page; bigger alignments need a page run
 * or a mapping placed on the alignment.
 */
static inline size_t
sc_sa2u(size_t size, size_t align) {
	if (align <= QUANTUM)
		return sc_s2u(size);
	if (size == 0)
		size = 1;
	if (align <= PAGE) {
		/* A class holding a multiple of align is itself a multiple
		 * of align (the spacing within a doubling divides it). */
		size_t s = ALIGN_UP(size, align);
		return s < size ? 0 : sc_s2u(s);
	}
	/* Large or huge: alignment comes from placement, not the class;
	 * 0 when no address has room for the block past its alignment. */
	size_t usize = sc_s2u(size < SC_LARGE_MINCLASS ? SC_LARGE_MINCLASS
						      : size);
	if (align >= SC_VADDR_END || usize > SC_VADDR_END - align)
		return 0;
	return usize;
}

#endif /* HM_SC_H */
