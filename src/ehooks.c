/* ehooks.c: see ehooks.h. */
#include "ehooks.h"

#include <errno.h>
#include <string.h>

#include "base.h"
#include "os.h"

/* A range dalloc declined. */
struct ehooks_range_s {
	void *addr;
	size_t size;
	ehooks_table_t *hooks;
	ehooks_range_t *next;
};

/* The default hooks: what hmalloc does for itself, callable by anyone. */

static void *
default_alloc(ehooks_table_t *h, void *new_addr, size_t size, size_t align,
    bool *zero, bool *commit, unsigned ind) {
	(void)h;
	(void)ind;
	if (new_addr != NULL || size == 0 || !is_pow2(align))
		return NULL;
	void *p = hm_os_map_aligned(size, align < PAGE ? PAGE : align);
	if (p == NULL)
		return NULL;
	*zero = true;
	*commit = true;
	return p;
}

static bool
default_dalloc(ehooks_table_t *h, void *addr, size_t size, bool committed,
    unsigned ind) {
	(void)h;
	(void)committed;
	(void)ind;
	return !hm_os_unmap_range(addr, size);
}

static void
default_destroy(ehooks_table_t *h, void *addr, size_t size, bool committed,
    unsigned ind) {
	(void)h;
	(void)committed;
	(void)ind;
	hm_os_unmap_range(addr, size);
}

static bool
default_purge_lazy(ehooks_table_t *h, void *addr, size_t size, size_t off,
    size_t len, unsigned ind) {
	(void)h;
	(void)size;
	(void)ind;
	return !hm_os_purge_lazy((char *)addr + off, len);
}

static bool
default_purge_forced(ehooks_table_t *h, void *addr, size_t size, size_t off,
    size_t len, unsigned ind) {
	(void)h;
	(void)size;
	(void)ind;
	return !hm_os_dontneed((char *)addr + off, len);
}

static bool
default_split(ehooks_table_t *h, void *addr, size_t size, size_t a,
    size_t b, bool committed, unsigned ind) {
	(void)h; (void)addr; (void)size; (void)a; (void)b; (void)committed;
	(void)ind;
	return false; /* mappings split freely */
}

static bool
default_merge(ehooks_table_t *h, void *a, size_t sa, void *b, size_t sb,
    bool committed, unsigned ind) {
	(void)h; (void)sa; (void)sb; (void)committed; (void)ind;
	(void)a; (void)b;
	return false;
}

/* No commit or decommit: Linux overcommits, as jemalloc's defaults
 * decline there too. */
ehooks_table_t hm_ehooks_default = {
	default_alloc, default_dalloc, default_destroy, NULL, NULL,
	default_purge_lazy, default_purge_forced, default_split, default_merge,
};

void
hm_ehooks_init(ehooks_t *eh, unsigned ind) {
	atomic_store_explicit(&eh->hooks, NULL, memory_order_relaxed);
	eh->ind = ind;
	eh->retained = NULL;
}

ehooks_table_t *
hm_ehooks_read(ehooks_t *eh) {
	ehooks_table_t *h = ehooks_get(eh);
	return h != NULL ? h : &hm_ehooks_default;
}

void
hm_ehooks_write(ehooks_t *eh, ehooks_table_t *hooks) {
	if (hooks == &hm_ehooks_default)
		hooks = NULL;
	atomic_store_explicit(&eh->hooks, hooks, memory_order_release);
}

void *
hm_ehooks_alloc(ehooks_t *eh, ehooks_table_t *hooks, size_t size,
    size_t align, bool *zeroed) {
	mutex_lock(&eh->lock);
	for (ehooks_range_t **pp = &eh->retained; *pp != NULL;
	    pp = &(*pp)->next) {
		ehooks_range_t *r = *pp;
		if (r->hooks == hooks && r->size == size
		    && ((uintptr_t)r->addr & (align - 1)) == 0) {
			*pp = r->next;
			r->next = eh->spare;
			eh->spare = r;
			mutex_unlock(&eh->lock);
			/* Purged when it was retained. */
			*zeroed = true;
			return r->addr;
		}
	}
	mutex_unlock(&eh->lock);
	bool zero = false, commit = true;
	void *addr = hooks->alloc(hooks, NULL, size, align, &zero, &commit,
	    eh->ind);
	if (addr != NULL && ((uintptr_t)addr & (align - 1)) != 0) {
		/* Not what was asked: unusable. */
		if (hooks->dalloc == NULL
		    || hooks->dalloc(hooks, addr, size, commit, eh->ind)) {
			if (hooks->destroy != NULL)
				hooks->destroy(hooks, addr, size, commit,
				    eh->ind);
		}
		addr = NULL;
	}
	if (addr != NULL && !commit && (hooks->commit == NULL
	    || hooks->commit(hooks, addr, size, 0, size, eh->ind))) {
		hm_ehooks_dalloc(eh, hooks, addr, size);
		addr = NULL;
	}
	if (addr == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	*zeroed = zero;
	return addr;
}

void
hm_ehooks_dalloc(ehooks_t *eh, ehooks_table_t *hooks, void *addr,
    size_t size) {
	if (hooks->dalloc != NULL
	    && !hooks->dalloc(hooks, addr, size, true, eh->ind))
		return;
	/* Declined: kept, purged, for the next request of its size. */
	hm_ehooks_purge(eh, hooks, addr, size, 0, size, false);
	mutex_lock(&eh->lock);
	ehooks_range_t *r = eh->spare;
	if (r != NULL)
		eh->spare = r->next;
	mutex_unlock(&eh->lock);
	if (r == NULL)
		r = hm_base_alloc(sizeof(*r));
	if (r == NULL) {
		/* No record for it: given up for good. */
		if (hooks->destroy != NULL)
			hooks->destroy(hooks, addr, size, true, eh->ind);
		return;
	}
	r->addr = addr;
	r->size = size;
	r->hooks = hooks;
	mutex_lock(&eh->lock);
	r->next = eh->retained;
	eh->retained = r;
	mutex_unlock(&eh->lock);
}

bool
hm_ehooks_purge(ehooks_t *eh, ehooks_table_t *hooks, void *addr,
    size_t size, size_t off, size_t len, bool lazy) {
	if (lazy && hooks->purge_lazy != NULL
	    && !hooks->purge_lazy(hooks, addr, size, off, len, eh->ind))
		return true;
	if (hooks->purge_forced == NULL
	    || hooks->purge_forced(hooks, addr, size, off, len, eh->ind))
		memset((char *)addr + off, 0, len);
	return false;
}

void
hm_ehooks_release(ehooks_t *eh) {
	mutex_lock(&eh->lock);
	ehooks_range_t *list = eh->retained;
	eh->retained = NULL;
	mutex_unlock(&eh->lock);
	while (list != NULL) {
		ehooks_range_t *r = list;
		list = r->next;
		if (r->hooks->destroy != NULL)
			r->hooks->destroy(r->hooks, r->addr, r->size, true,
			    eh->ind);
		mutex_lock(&eh->lock);
		r->next = eh->spare;
		eh->spare = r;
		mutex_unlock(&eh->lock);
	}
}

void
hm_ehooks_prefork(ehooks_t *eh) {
	hm_mutex_prefork(&eh->lock);
}

void
hm_ehooks_postfork_parent(ehooks_t *eh) {
	hm_mutex_postfork_parent(&eh->lock);
}

void
hm_ehooks_postfork_child(ehooks_t *eh) {
	hm_mutex_postfork_child(&eh->lock);
}
