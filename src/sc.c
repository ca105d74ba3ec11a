/*
 * sc.c: builds the size-class tables of sc.h at boot.  Slab sizes are
 * chosen per class: the fewest pages (at most SLAB_MAXPAGES) whose tail
 * waste is at most 1/64 of the slab, or else the least wasteful, unless
 * opt.slab_sizes says otherwise.
 */
#include "sc.h"

#include <string.h>

char opt_slab_sizes[OPT_STRING_MAX];

size_t hm_sc_size[SC_NSIZES];
uint8_t hm_sc_lookup[SC_LOOKUP_MAX >> LG_QUANTUM];
sc_slab_info_t hm_sc_slab[SC_NBINS];
size_t hm_sc_large_maxclass;
unsigned hm_sc_nlarge;

static size_t
sc_compute_size(unsigned ind) {
	if (ind < 4)
		return (size_t)(ind + 1) << LG_QUANTUM;
	unsigned g = (ind - 4) / 4, m = (ind - 4) % 4;
	unsigned lg = 6 + g;
	return ((size_t)1 << lg) + ((size_t)(m + 1) << (lg - 2));
}

/* Reads a decimal number at s[*i, len); false if none. */
static bool
sc_parse_num(const char *s, size_t len, size_t *i, size_t *out) {
	size_t v = 0, start = *i;
	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		if (v > (SIZE_MAX - 9) / 10)
			return false;
		v = v * 10 + (size_t)(s[*i] - '0');
		(*i)++;
	}
	*out = v;
	return *i > start;
}

/*
 * Walks slab_sizes: for each range, sets pages[] (per Small class; NULL
 * to check the syntax only).  False on a malformed value.
 */
static bool
sc_slab_sizes_walk(const char *s, size_t len, unsigned *pages) {
	size_t i = 0;
	while (i < len) {
		size_t lo, hi, pg;
		if (!sc_parse_num(s, len, &i, &lo) || i >= len || s[i++] != '-'
		    || !sc_parse_num(s, len, &i, &hi) || i >= len
		    || s[i++] != ':' || !sc_parse_num(s, len, &i, &pg)
		    || lo > hi || pg == 0)
			return false;
		if (i < len && s[i++] != '|')
			return false;
		if (i == len && s[len - 1] == '|')
			return false;
		for (unsigned b = 0; pages != NULL && b < SC_NBINS; b++) {
			if (hm_sc_size[b] >= lo && hm_sc_size[b] <= hi)
				pages[b] = pg > SLAB_MAXPAGES ? SLAB_MAXPAGES
							      : (unsigned)pg;
		}
	}
	return true;
}

bool
hm_sc_slab_sizes_valid(const char *s, size_t len) {
	return sc_slab_sizes_walk(s, len, NULL);
}

/* The fewest pages (at most SLAB_MAXPAGES) whose tail waste is at most
 * 1/64 of the slab, or else the least wasteful. */
static unsigned
sc_slab_pages_default(size_t size) {
	unsigned best = 0;
	size_t best_waste = SIZE_MAX;
	for (unsigned p = 1; p <= SLAB_MAXPAGES; p++) {
		size_t slab = (size_t)p << LG_PAGE;
		size_t nregs = slab / size;
		if (nregs == 0)
			continue;
		if (nregs > SLAB_MAXREGS)
			break;
		size_t waste = slab - nregs * size;
		/* Waste per byte of slab, compared exactly. */
		if (best == 0 || waste * ((size_t)best << LG_PAGE)
		    < best_waste * slab) {
			best = p;
			best_waste = waste;
		}
		if (waste * 64 <= slab)
			break;
	}
	return best;
}

/* pages asked for a class of size bytes, within what a slab holds. */
static unsigned
sc_slab_pages_clamp(size_t size, unsigned pages) {
	unsigned min = (unsigned)((size + PAGE - 1) >> LG_PAGE);
	unsigned max = (unsigned)((SLAB_MAXREGS * size) >> LG_PAGE);
	if (max > SLAB_MAXPAGES)
		max = SLAB_MAXPAGES;
	if (pages > max)
		pages = max;
	return pages < min ? min : pages;
}

void
hm_sc_boot(size_t chunksize) {
	for (unsigned i = 0; i < SC_NSIZES; i++)
		hm_sc_size[i] = sc_compute_size(i);
	for (size_t s = 1; s <= SC_LOOKUP_MAX; s += QUANTUM)
		hm_sc_lookup[(s - 1) >> LG_QUANTUM] =
		    (uint8_t)sc_size2index_compute(s);
	unsigned pages[SC_NBINS] = {0};
	sc_slab_sizes_walk(opt_slab_sizes, strlen(opt_slab_sizes), pages);
	for (unsigned i = 0; i < SC_NBINS; i++) {
		size_t size = hm_sc_size[i];
		unsigned best = pages[i] != 0 ? sc_slab_pages_clamp(size,
		    pages[i]) : sc_slab_pages_default(size);
		hm_sc_slab[i].size = (uint32_t)size;
		hm_sc_slab[i].npages = best;
		hm_sc_slab[i].nregs = (uint32_t)(((size_t)best << LG_PAGE) / size);
		hm_sc_slab[i].recip =
		    (uint32_t)((((uint64_t)1 << 32) + size - 1) / size);
	}
	unsigned n = 0;
	hm_sc_large_maxclass = 0;
	for (unsigned i = SC_NBINS; i < SC_NSIZES && hm_sc_size[i] < chunksize;
	    i++) {
		hm_sc_large_maxclass = hm_sc_size[i];
		n++;
	}
	hm_sc_nlarge = n;
}
