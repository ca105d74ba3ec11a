/*
 * blocks.c: the numbering pass.
 *
 * Order numbers relate only the records of one address (docs/trace.md),
 * so blocks are matched by address, not by a merge of the threads:
 *
 * 1. Each thread's records, in the order it wrote them, become its event
 *    stream.  A call that makes a block (an allocation, or a resize's
 *    result, even a failed one's) gives it the thread's next number; a
 *    call on a block leaves a 4-byte hole for the block's number.  Every
 *    use of an address becomes a point: (address, order number, what).
 * 2. The points are sorted by address, then number (a release before an
 *    arrival of the same number: a failed resize ends its block and makes
 *    the next at once), and each address's history read in turn: an
 *    arrival makes its block live, a release names the live block in its
 *    hole.  A release with no live block (a block from before the trace,
 *    a lost record) keeps NO_BLOCK; an arrival at a live address drops
 *    the old block.
 *
 * The points (24 bytes a use) live only through this pass; the streams
 * (a few bytes a call) through the replay, in the memfd pool.
 */
#include "hmreplay.h"

#include <string.h>

/* The longest event: a byte, a block number, five varints; then room for
 * a link. */
#define EV_MAX 64
#define SEG_MIN 4096
#define SEG_MAX (1u << 20)

enum { PT_FREE, PT_RESIZE, PT_XALLOCX, PT_MAKE };
#define PT_KIND_SHIFT 62
#define PT_VALUE_MASK ((UINT64_C(1) << PT_KIND_SHIFT) - 1)

struct point {
	uint64_t addr;
	uint64_t num;
	uint64_t ref;	/* kind << 62 | the hole's address, or the block */
};

struct numbering {
	const struct trace *t;
	struct plan *plan;
	bool summary;
	struct point *pts;
	uint64_t npts, pts_cap;
	uint64_t nblocks;
	/* The stream being written. */
	uint32_t thr;
	uint8_t *p, *end;
	size_t seg;
	uint64_t ms;
	bool any;
};

unsigned
bucket_of(uint64_t v) {
	return v == 0 ? 0 : 64 - (unsigned)__builtin_clzll(v);
}

/* Sizes: bucket k > 0 holds (2^(k-2), 2^(k-1)]: 1, 2, 3-4, 5-8, ... so
 * that a power of two ends its bucket, as size classes do. */
static unsigned
size_bucket(uint64_t v) {
	if (v <= 1)
		return (unsigned)v;
	return 1 + 64 - (unsigned)__builtin_clzll(v - 1);
}

static void
point(struct numbering *n, uint64_t addr, uint64_t num, unsigned kind,
    uint64_t value) {
	if (n->npts == n->pts_cap) {
		uint64_t ncap = n->pts_cap ? n->pts_cap * 2 : 65536;
		n->pts = anon_grow(n->pts, n->pts_cap * sizeof(struct point),
		    ncap * sizeof(struct point));
		n->pts_cap = ncap;
	}
	struct point *pt = &n->pts[n->npts++];
	pt->addr = addr;
	pt->num = num;
	pt->ref = (uint64_t)kind << PT_KIND_SHIFT | value;
}

static void
ev_byte(struct numbering *n, unsigned b) {
	if ((size_t)(n->end - n->p) < EV_MAX + 9) {
		n->seg = n->seg == 0 ? SEG_MIN :
		    n->seg < SEG_MAX ? n->seg * 2 : SEG_MAX;
		uint8_t *seg = pool_alloc(n->seg);
		if (n->p == NULL) {
			n->plan->streams[n->thr] = seg;
		} else {
			*n->p++ = EV_LINK;
			memcpy(n->p, &seg, sizeof(seg));
		}
		n->p = seg;
		n->end = seg + n->seg;
	}
	*n->p++ = (uint8_t)b;
}

static void
ev_var(struct numbering *n, uint64_t v) {
	while (v >= 0x80) {
		*n->p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*n->p++ = (uint8_t)v;
}

/* A call on the block at addr: the hole for its number, and the point
 * that fills it. */
static void
ev_use(struct numbering *n, uint64_t addr, uint64_t num, unsigned kind) {
	uint32_t none = NO_BLOCK;
	point(n, addr, num, kind, (uint64_t)(uintptr_t)n->p);
	memcpy(n->p, &none, 4);
	n->p += 4;
}

static uint64_t
new_block(struct numbering *n) {
	if (n->nblocks >= NO_BLOCK)
		die("more than 2^32 - 1 blocks");
	return n->nblocks++;
}

static void
emit(struct numbering *n, const struct rec *r) {
	unsigned op = r->op, b = op | (r->null ? EV_NULL : 0);
	if (n->summary && (!n->any || r->ms > n->ms)) {
		ev_byte(n, EV_MS);
		ev_var(n, n->any ? r->ms - n->ms : r->ms - n->t->min_ms);
		n->ms = r->ms;
	}
	n->any = true;
	n->plan->nevents[n->thr]++;
	n->plan->total_events++;
	switch (op) {
	case OP_MALLOC:
	case OP_VALLOC:
	case OP_PVALLOC:
	case OP_CALLOC:
	case OP_MEMALIGN:
	case OP_ALIGNED_ALLOC:
	case OP_POSIX_MEMALIGN:
	case OP_MALLOCX:
		ev_byte(n, b);
		if (op != OP_MALLOC && op != OP_VALLOC && op != OP_PVALLOC)
			ev_var(n, r->arg);
		ev_var(n, r->size);
		if (!r->null)
			point(n, r->addr, r->seq, PT_MAKE, new_block(n));
		break;
	case OP_REALLOC:
	case OP_RALLOCX:
	case OP_XALLOCX:
		ev_byte(n, b);
		ev_use(n, r->addr, r->seq, op == OP_XALLOCX ? PT_XALLOCX :
		    PT_RESIZE);
		if (op != OP_REALLOC)
			ev_var(n, r->arg);
		ev_var(n, r->size);
		if (op == OP_XALLOCX) {
			ev_var(n, r->extra);
			ev_var(n, r->usable);
		}
		/* Every resize makes a block, in place or failed too, so
		 * that whatever uses the block next waits for it. */
		if (op == OP_XALLOCX || r->null)
			point(n, r->addr, r->seq, PT_MAKE, new_block(n));
		else
			point(n, r->result, r->seq2, PT_MAKE, new_block(n));
		break;
	case OP_FREE:
		if (r->null || r->addr == 0) {
			ev_byte(n, OP_FREE | EV_NULL);
			break;
		}
		/* FALLTHROUGH */
	default:
		ev_byte(n, b);
		ev_use(n, r->addr, r->seq, PT_FREE);
		if (op == OP_FREE_SIZED) {
			ev_var(n, r->size);
			ev_var(n, r->arg);
		} else if (op == OP_DALLOCX) {
			ev_var(n, r->arg);
		} else if (op == OP_SDALLOCX) {
			ev_var(n, r->arg);
			ev_var(n, r->size);
		}
		break;
	}
}

static bool
pt_less(const struct point *a, const struct point *b) {
	if (a->addr != b->addr)
		return a->addr < b->addr;
	if (a->num != b->num)
		return a->num < b->num;
	return (a->ref >> PT_KIND_SHIFT) < (b->ref >> PT_KIND_SHIFT);
}

static void
pt_swap(struct point *a, struct point *b) {
	struct point x = *a;
	*a = *b;
	*b = x;
}

static void
pt_sift(struct point *v, uint64_t n, uint64_t i) {
	for (;;) {
		uint64_t c = 2 * i + 1;
		if (c >= n)
			return;
		if (c + 1 < n && pt_less(&v[c], &v[c + 1]))
			c++;
		if (!pt_less(&v[i], &v[c]))
			return;
		pt_swap(&v[i], &v[c]);
		i = c;
	}
}

static void
pt_heapsort(struct point *v, uint64_t n) {
	for (uint64_t i = n / 2; i-- > 0;)
		pt_sift(v, n, i);
	for (uint64_t i = n; i-- > 1;) {
		pt_swap(&v[0], &v[i]);
		pt_sift(v, i, 0);
	}
}

/* Introsort, in place: qsort may take a buffer from malloc, which here is
 * the allocator under test. */
static void
pt_sort(struct point *v, uint64_t n, unsigned depth) {
	while (n > 16) {
		if (depth-- == 0) {
			pt_heapsort(v, n);
			return;
		}
		uint64_t m = n / 2;
		if (pt_less(&v[m], &v[0]))
			pt_swap(&v[m], &v[0]);
		if (pt_less(&v[n - 1], &v[0]))
			pt_swap(&v[n - 1], &v[0]);
		if (pt_less(&v[n - 1], &v[m]))
			pt_swap(&v[n - 1], &v[m]);
		struct point pivot = v[m];
		uint64_t i = 0, j = n - 1;
		for (;;) {
			while (pt_less(&v[i], &pivot))
				i++;
			while (pt_less(&pivot, &v[j]))
				j--;
			if (i >= j)
				break;
			pt_swap(&v[i], &v[j]);
			i++;
			j--;
		}
		/* Recurse into the smaller side, loop on the larger. */
		if (j + 1 < n - j - 1) {
			pt_sort(v, j + 1, depth);
			v += j + 1;
			n -= j + 1;
		} else {
			pt_sort(v + j + 1, n - j - 1, depth);
			n = j + 1;
		}
	}
	for (uint64_t i = 1; i < n; i++) {
		struct point x = v[i];
		uint64_t j = i;
		for (; j > 0 && pt_less(&x, &v[j - 1]); j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

static void
resolve(struct numbering *n) {
	struct plan *p = n->plan;
	uint64_t live = NO_BLOCK;
	pt_sort(n->pts, n->npts, 2 * 64);
	for (uint64_t i = 0; i < n->npts; i++) {
		const struct point *pt = &n->pts[i];
		unsigned kind = (unsigned)(pt->ref >> PT_KIND_SHIFT);
		uint64_t value = pt->ref & PT_VALUE_MASK;
		if (i == 0 || pt->addr != n->pts[i - 1].addr)
			live = NO_BLOCK;
		if (kind == PT_MAKE) {
			if (live != NO_BLOCK)
				p->dropped++;
			live = value;
			continue;
		}
		if (live == NO_BLOCK) {
			if (kind == PT_FREE)
				p->unknown_frees++;
			else if (kind == PT_RESIZE)
				p->unknown_resizes++;
			else
				p->unknown_xallocx++;
			continue;
		}
		uint32_t b = (uint32_t)live;
		memcpy((void *)(uintptr_t)value, &b, 4);
		live = NO_BLOCK;
	}
}

/*
 * --summary: the streams, merged by the coarse clock (each thread's in
 * its own order), give an order of all calls: exact within a thread,
 * within a clock tick between threads.  Live bytes, their peak and
 * lifetimes in calls follow that order.
 */
struct scursor {
	const uint8_t *p;
	uint64_t ms;
	uint32_t thr, k;
	bool end;
};

static uint32_t
rd_block(const uint8_t **pp) {
	uint32_t b;
	memcpy(&b, *pp, 4);
	*pp += 4;
	return b;
}

static uint64_t
rd_var(const uint8_t **pp) {
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b;
	do {
		b = *(*pp)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	return v;
}

/* Moves c to its next call (past links and clock events). */
static void
scursor_peek(struct scursor *c) {
	for (;;) {
		unsigned op = *c->p & REC_OP_MASK;
		if (op == EV_LINK) {
			memcpy(&c->p, c->p + 1, sizeof(c->p));
		} else if (op == EV_MS) {
			c->p++;
			c->ms += rd_var(&c->p);
		} else {
			c->end = op == EV_END;
			return;
		}
	}
}

static bool
sc_less(const struct scursor *a, const struct scursor *b) {
	return a->ms != b->ms ? a->ms < b->ms : a->thr < b->thr;
}

static void
sc_down(struct scursor *cs, uint32_t *h, uint32_t nh, uint32_t i) {
	uint32_t x = h[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= nh)
			break;
		if (c + 1 < nh && sc_less(&cs[h[c + 1]], &cs[h[c]]))
			c++;
		if (!sc_less(&cs[h[c]], &cs[x]))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

struct sblock {
	uint64_t size;
	uint64_t birth_call;
	uint64_t birth_ms;
};

static void
live_add(struct shape *s, uint64_t size, uint64_t call) {
	s->live_bytes += size;
	s->live_blocks++;
	if (s->live_bytes > s->peak_bytes) {
		s->peak_bytes = s->live_bytes;
		s->peak_blocks = s->live_blocks;
		s->peak_call = call;
	}
}

static uint64_t
mul_sat(uint64_t a, uint64_t b) {
	uint64_t r;
	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* One call of thread c->thr, the call-th of the merged order. */
static void
summary_call(const struct plan *p, struct shape *s, struct sblock *bl,
    struct scursor *c, uint64_t call) {
	unsigned b = *c->p++, op = b & REC_OP_MASK;
	bool null = b & EV_NULL;
	uint32_t thr = c->thr, src = NO_BLOCK;
	uint64_t arg = 0, size = 0, extra = 0, usable = 0;
	bool own = false;
	if (op == OP_FREE && null)
		return;
	if (op >= OP_REALLOC && op != OP_MALLOCX) {
		src = rd_block(&c->p);
		own = src >= p->base[thr] && src < p->base[thr] +
		    p->nblocks[thr];
	}
	switch (op) {
	case OP_MALLOC:
	case OP_VALLOC:
	case OP_PVALLOC:
		size = rd_var(&c->p);
		break;
	case OP_REALLOC:
		size = rd_var(&c->p);
		break;
	case OP_FREE:
		break;
	case OP_FREE_SIZED:
		rd_var(&c->p);
		rd_var(&c->p);
		break;
	case OP_XALLOCX:
		arg = rd_var(&c->p);
		size = rd_var(&c->p);
		extra = rd_var(&c->p);
		usable = rd_var(&c->p);
		break;
	case OP_DALLOCX:
		rd_var(&c->p);
		break;
	case OP_SDALLOCX:
		rd_var(&c->p);
		rd_var(&c->p);
		break;
	default:	/* the allocations with an argument, and rallocx */
		arg = rd_var(&c->p);
		size = rd_var(&c->p);
		break;
	}
	(void)extra;
	if (op == OP_CALLOC)
		size = mul_sat(arg, size);
	if (op <= OP_REALLOC || op == OP_MALLOCX || op == OP_RALLOCX ||
	    op == OP_XALLOCX)
		s->size_hist[size_bucket(size)]++;
	if (op < OP_REALLOC || op == OP_MALLOCX) {
		s->thread_allocs[thr]++;
		if (null)
			return;
		struct sblock *nb = &bl[p->base[thr] + c->k++];
		nb->size = size;
		nb->birth_call = call;
		nb->birth_ms = c->ms;
		live_add(s, size, call);
		return;
	}
	if (op == OP_REALLOC || op == OP_RALLOCX || op == OP_XALLOCX) {
		struct sblock *nb = &bl[p->base[thr] + c->k++];
		nb->birth_call = call;
		nb->birth_ms = c->ms;
		if (src != NO_BLOCK) {
			const struct sblock *ob = &bl[src];
			s->resizes++;
			if (!own)
				s->cross_resizes++;
			/* A lifetime runs from the first allocation to
			 * the free, across resizes. */
			nb->birth_call = ob->birth_call;
			nb->birth_ms = ob->birth_ms;
			s->live_bytes -= ob->size;
			s->live_blocks--;
			if (null || (op == OP_XALLOCX && usable < size))
				size = ob->size;
		} else {
			s->thread_allocs[thr]++;
		}
		nb->size = size;
		live_add(s, size, call);
		return;
	}
	/* The frees. */
	if (src == NO_BLOCK)
		return;
	const struct sblock *ob = &bl[src];
	s->frees++;
	s->thread_frees[thr]++;
	if (!own) {
		s->cross_frees++;
		s->thread_cross[thr]++;
	}
	s->live_bytes -= ob->size;
	s->live_blocks--;
	s->life_calls[bucket_of(call - ob->birth_call)]++;
	s->life_ms[bucket_of(c->ms - ob->birth_ms)]++;
}

static void
summarize(const struct trace *t, const struct plan *p, struct shape *s) {
	uint32_t nt = t->nthreads;
	size_t csize = sizeof(struct scursor) * (nt ? nt : 1);
	size_t hsize = sizeof(uint32_t) * (nt ? nt : 1);
	size_t bsize = sizeof(struct sblock) * (p->nblocks_all ?
	    p->nblocks_all : 1);
	size_t tsize = sizeof(uint64_t) * (nt ? nt : 1);
	struct scursor *cs = anon_alloc(csize);
	uint32_t *h = anon_alloc(hsize);
	struct sblock *bl = anon_alloc(bsize);
	uint32_t nh = 0;
	uint64_t call = 0;

	memset(s, 0, sizeof(*s));
	s->thread_allocs = anon_alloc(tsize);
	s->thread_frees = anon_alloc(tsize);
	s->thread_cross = anon_alloc(tsize);
	for (uint32_t i = 0; i < nt; i++) {
		cs[i].p = p->streams[i];
		cs[i].thr = i;
		scursor_peek(&cs[i]);
		if (!cs[i].end)
			h[nh++] = i;
	}
	for (uint32_t i = nh / 2; i-- > 0;)
		sc_down(cs, h, nh, i);
	while (nh > 0) {
		struct scursor *c = &cs[h[0]];
		summary_call(p, s, bl, c, call++);
		scursor_peek(c);
		if (c->end)
			h[0] = h[--nh];
		if (nh > 0)
			sc_down(cs, h, nh, 0);
	}
	anon_free(cs, csize);
	anon_free(h, hsize);
	anon_free(bl, bsize);
}

void
blocks_number(const struct trace *t, struct plan *plan, struct shape *shape) {
	struct numbering n;
	uint32_t nt = t->nthreads ? t->nthreads : 1;
	memset(&n, 0, sizeof(n));
	memset(plan, 0, sizeof(*plan));
	n.t = t;
	n.plan = plan;
	n.summary = shape != NULL;
	plan->streams = pool_alloc(sizeof(uint8_t *) * nt);
	plan->nevents = pool_alloc(sizeof(uint64_t) * nt);
	plan->base = pool_alloc(sizeof(uint32_t) * nt);
	plan->nblocks = pool_alloc(sizeof(uint32_t) * nt);

	for (uint32_t i = 0; i < t->nthreads; i++) {
		const struct tthread *th = &t->threads[i];
		n.thr = i;
		n.p = n.end = NULL;
		n.seg = 0;
		n.any = false;
		plan->base[i] = (uint32_t)n.nblocks;
		for (uint32_t li = th->head; li != UINT32_MAX;
		    li = t->links[li].next) {
			struct cursor c;
			cursor_init(&c, t, &t->chunks[t->links[li].chunk]);
			while (cursor_next(&c)) {
				if (c.rec.thread == i)
					emit(&n, &c.rec);
			}
		}
		ev_byte(&n, EV_END);
		plan->nblocks[i] = (uint32_t)(n.nblocks - plan->base[i]);
	}
	plan->nblocks_all = n.nblocks;
	resolve(&n);
	anon_free(n.pts, n.pts_cap * sizeof(struct point));
	if (shape != NULL)
		summarize(t, plan, shape);
}
