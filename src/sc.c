/*
 * sc.c: builds the size-class tables of sc.h at boot.  Slab sizes are
 * chosen per class: the fewest pages (at most SLAB_MAXPAGES) whose tail
 * waste is at most 1/64 of the slab, or else the least wasteful.
 */
#include "sc.h"

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

void
hm_sc_boot(size_t chunksize) {
	for (unsigned i = 0; i < SC_NSIZES; i++)
		hm_sc_size[i] = sc_compute_size(i);
	for (size_t s = 1; s <= SC_LOOKUP_MAX; s += QUANTUM)
		hm_sc_lookup[(s - 1) >> LG_QUANTUM] =
		    (uint8_t)sc_size2index_compute(s);
	for (unsigned i = 0; i < SC_NBINS; i++) {
		size_t size = hm_sc_size[i];
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
