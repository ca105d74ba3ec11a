/* block.c: see block.h. */
#include "block.h"

#include "check.h"
#include "tls.h"

size_t
hm_block_usable_slow(const void *ptr, const char *what) {
	block_t b;
	if (unlikely(!block_lookup(ptr, &b)))
		hm_block_invalid(what, ptr);
	return usable(b.usize);
}

HM_NORETURN HM_COLD void
hm_block_invalid(const char *what, const void *ptr) {
	if (san_owns(ptr))
		hm_san_invalid(what, ptr);
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

/*
 * A Small or Large block that starts with a freed block's tag (tcache.h)
 * was freed already: allocation clears the tag, so a live block carries it
 * only if the program wrote that very word (its address xor the process
 * secret) there.  The thread's caches and, for a Small block, its slab's
 * bitmap confirm the double free where they can; a block found in neither
 * sits in another thread's cache (or an explicit one).  Aborts.
 */
HM_NORETURN HM_COLD void
hm_block_tagged_fail(void *ptr, const block_t *b, tcache_t *tc) {
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
