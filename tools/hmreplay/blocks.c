/*
 * blocks.c: the numbering pass.
 *
 * The records of every chunk are merged by sequence number (each chunk's
 * records are in order already: deltas are unsigned), which replays the
 * traced process's history of addresses: an allocation makes an address
 * live, a free ends it, a resize ends one block at its first number and
 * makes its result live at its second.  Each block gets a number made of
 * the producing thread's index and that thread's own count of blocks, so
 * a replay thread knows the number of what it makes without being told,
 * and only the calls that use another thread's block carry one.
 *
 * During the replay a block lives in a slot of a table; slots freed here
 * are handed out again oldest first, and only once SLOT_QUARANTINE others
 * are waiting, so that a slot is hardly ever reused before the replay
 * thread that frees its last block has got there (the replay waits, and
 * counts, when it has not).  The table then grows with the most blocks
 * live at once, not with the length of the trace.
 *
 * The same pass, without writing streams, gives --summary its figures.
 */
#include "hmreplay.h"

#include <string.h>

#define SLOT_QUARANTINE 65536
/* The longest event: a byte and seven varints; then room for a link. */
#define EV_MAX 80
#define SEG_MIN 4096
#define SEG_MAX (1u << 20)

struct live {
	uint64_t addr;		/* 0: an empty entry */
	uint64_t id;		/* producing thread << 40 | its count */
	uint8_t *patch;		/* the producing event's first byte */
	uint64_t birth;		/* sequence number of the first allocation,
				 * kept across resizes */
	uint64_t size;		/* requested */
	uint32_t birth_ms;	/* from the trace's earliest clock */
	uint32_t slot;
};

struct arrival {
	uint64_t seq;
	uint64_t off;		/* of the resize record */
	struct live e;
};

struct wthread {
	uint8_t *p, *end;
	size_t seg;
	uint64_t count;		/* blocks produced */
};

struct numbering {
	const struct trace *t;
	struct plan *plan;
	struct shape *shape;
	bool write;		/* event streams, for a replay */
	struct wthread *th;

	struct live *map;
	uint64_t map_mask, map_n;

	uint32_t *ring;
	uint64_t ring_cap, ring_head, ring_n;
	uint64_t nslots;

	struct arrival *arr;
	uint64_t narr, arr_cap;

	uint64_t last_seq, last_off;
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

static uint64_t
hash_addr(uint64_t a) {
	return (a >> 4) * 0x9E3779B97F4A7C15ull;
}

static struct live *
map_find(struct numbering *n, uint64_t addr) {
	uint64_t i = hash_addr(addr) & n->map_mask;
	for (;;) {
		struct live *e = &n->map[i];
		if (e->addr == addr)
			return e;
		if (e->addr == 0)
			return NULL;
		i = (i + 1) & n->map_mask;
	}
}

static void
map_grow(struct numbering *n) {
	uint64_t ocap = n->map ? n->map_mask + 1 : 0;
	uint64_t ncap = ocap ? ocap * 2 : 4096;
	struct live *old = n->map;
	n->map = anon_alloc(ncap * sizeof(struct live));
	n->map_mask = ncap - 1;
	for (uint64_t i = 0; i < ocap; i++) {
		if (old[i].addr == 0)
			continue;
		uint64_t j = hash_addr(old[i].addr) & n->map_mask;
		while (n->map[j].addr != 0)
			j = (j + 1) & n->map_mask;
		n->map[j] = old[i];
	}
	anon_free(old, ocap * sizeof(struct live));
}

/* An entry for addr, which must not be in the map. */
static struct live *
map_insert(struct numbering *n, uint64_t addr) {
	if (n->map == NULL || (n->map_n + 1) * 10 > (n->map_mask + 1) * 7)
		map_grow(n);
	uint64_t i = hash_addr(addr) & n->map_mask;
	while (n->map[i].addr != 0)
		i = (i + 1) & n->map_mask;
	n->map_n++;
	n->map[i].addr = addr;
	return &n->map[i];
}

/* Linear probing's deletion: later entries of the run move back, so no
 * tombstone is left. */
static void
map_remove(struct numbering *n, struct live *e) {
	uint64_t i = (uint64_t)(e - n->map), j = i;
	for (;;) {
		j = (j + 1) & n->map_mask;
		if (n->map[j].addr == 0)
			break;
		uint64_t home = hash_addr(n->map[j].addr) & n->map_mask;
		/* Entry j may fill the hole at i unless its home lies
		 * cyclically in (i, j]. */
		bool stays = i <= j ? (home > i && home <= j) :
		    (home > i || home <= j);
		if (!stays) {
			n->map[i] = n->map[j];
			i = j;
		}
	}
	memset(&n->map[i], 0, sizeof(n->map[i]));
	n->map_n--;
}

static uint32_t
slot_get(struct numbering *n) {
	if (n->ring_n > SLOT_QUARANTINE) {
		uint32_t s = n->ring[n->ring_head];
		n->ring_head = (n->ring_head + 1) & (n->ring_cap - 1);
		n->ring_n--;
		return s;
	}
	if (n->nslots >= UINT32_MAX)
		die("more than 2^32 blocks live at once");
	return (uint32_t)n->nslots++;
}

static void
slot_put(struct numbering *n, uint32_t s) {
	if (n->ring_n == n->ring_cap) {
		uint64_t ncap = n->ring_cap ? n->ring_cap * 2 : 1024;
		uint32_t *nr = anon_alloc(ncap * 4);
		for (uint64_t i = 0; i < n->ring_n; i++)
			nr[i] = n->ring[(n->ring_head + i) & (n->ring_cap - 1)];
		anon_free(n->ring, n->ring_cap * 4);
		n->ring = nr;
		n->ring_cap = ncap;
		n->ring_head = 0;
	}
	n->ring[(n->ring_head + n->ring_n) & (n->ring_cap - 1)] = s;
	n->ring_n++;
}

/* Event writing, skipped for --summary. */
static uint8_t *
ev_begin(struct numbering *n, uint32_t thr, unsigned b) {
	if (!n->write)
		return NULL;
	struct wthread *w = &n->th[thr];
	if ((size_t)(w->end - w->p) < EV_MAX + 9) {
		w->seg = w->seg == 0 ? SEG_MIN :
		    w->seg < SEG_MAX ? w->seg * 2 : SEG_MAX;
		uint8_t *seg = pool_alloc(w->seg);
		if (w->p == NULL) {
			n->plan->streams[thr] = seg;
		} else {
			*w->p++ = EV_LINK;
			memcpy(w->p, &seg, sizeof(seg));
		}
		w->p = seg;
		w->end = seg + w->seg;
	}
	n->plan->nevents[thr]++;
	n->plan->total_events++;
	uint8_t *e = w->p;
	*w->p++ = (uint8_t)b;
	return e;
}

static void
ev_var(struct numbering *n, uint32_t thr, uint64_t v) {
	if (!n->write)
		return;
	struct wthread *w = &n->th[thr];
	while (v >= 0x80) {
		*w->p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*w->p++ = (uint8_t)v;
}

static void
check_seq(struct numbering *n, uint64_t seq, uint64_t off) {
	if (n->any && seq == n->last_seq) {
		trace_fail(n->t, off, "sequence number %llu appears twice "
		    "(also in the record at offset %llu)",
		    (unsigned long long)seq, (unsigned long long)n->last_off);
	}
	if (!n->any && n->shape)
		n->shape->first_seq = seq;
	n->any = true;
	n->last_seq = seq;
	n->last_off = off;
}

static void
live_add(struct numbering *n, uint64_t size, uint64_t seq) {
	struct shape *s = n->shape;
	if (s == NULL)
		return;
	s->live_bytes += size;
	s->live_blocks++;
	if (s->live_bytes > s->peak_bytes) {
		s->peak_bytes = s->live_bytes;
		s->peak_blocks = s->live_blocks;
		s->peak_seq = seq;
	}
}

static void
live_sub(struct numbering *n, uint64_t size) {
	if (n->shape) {
		n->shape->live_bytes -= size;
		n->shape->live_blocks--;
	}
}

/* Makes e's block live at addr; an address still live loses its block,
 * which the replay then never frees. */
static void
place(struct numbering *n, const struct live *e, uint64_t seq) {
	struct live *old = map_find(n, e->addr);
	if (old != NULL) {
		n->plan->dropped++;
		live_sub(n, old->size);
	} else {
		old = map_insert(n, e->addr);
	}
	*old = *e;
	live_add(n, e->size, seq);
}

static void
arrival_push(struct numbering *n, uint64_t seq, uint64_t off,
    const struct live *e) {
	if (n->narr == n->arr_cap) {
		uint64_t ncap = n->arr_cap ? n->arr_cap * 2 : 256;
		n->arr = anon_grow(n->arr, n->arr_cap * sizeof(*n->arr),
		    ncap * sizeof(*n->arr));
		n->arr_cap = ncap;
	}
	uint64_t i = n->narr++;
	while (i > 0 && n->arr[(i - 1) / 2].seq > seq) {
		n->arr[i] = n->arr[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	n->arr[i].seq = seq;
	n->arr[i].off = off;
	n->arr[i].e = *e;
}

static void
arrival_pop(struct numbering *n) {
	struct arrival last = n->arr[--n->narr];
	uint64_t i = 0;
	for (;;) {
		uint64_t c = 2 * i + 1;
		if (c >= n->narr)
			break;
		if (c + 1 < n->narr && n->arr[c + 1].seq < n->arr[c].seq)
			c++;
		if (n->arr[c].seq >= last.seq)
			break;
		n->arr[i] = n->arr[c];
		i = c;
	}
	if (n->narr > 0)
		n->arr[i] = last;
}

static uint64_t
mul_sat(uint64_t a, uint64_t b) {
	uint64_t r;
	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint32_t
ms_of(const struct numbering *n, uint64_t ms) {
	uint64_t d = ms - n->t->min_ms;
	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* The first byte and block of a call on the live block e by thread thr:
 * a block of another thread's making is waited for, so its maker must
 * wake the waiter. */
static uint8_t *
ev_use(struct numbering *n, const struct rec *r, unsigned op,
    const struct live *e) {
	bool cross = (uint32_t)(e->id >> 40) != r->thread;
	if (cross && e->patch != NULL)
		*e->patch |= EV_PUBLISH;
	uint8_t *ev = ev_begin(n, r->thread, op | (cross ? EV_CROSS : 0) |
	    (r->null ? EV_NULL : 0));
	ev_var(n, r->thread, e->slot);
	if (cross)
		ev_var(n, r->thread, e->id);
	return ev;
}

static void
on_alloc(struct numbering *n, const struct rec *r, unsigned op,
    uint64_t size) {
	uint32_t thr = r->thread;
	uint8_t *ev = ev_begin(n, thr, op | (r->null ? EV_NULL : 0));
	if (op != OP_MALLOC && op != OP_VALLOC && op != OP_PVALLOC)
		ev_var(n, thr, r->arg);
	ev_var(n, thr, r->size);
	if (n->shape) {
		n->shape->size_hist[size_bucket(size)]++;
		n->shape->thread_allocs[thr]++;
	}
	if (r->null)
		return;
	struct live e = {
		.addr = r->addr,
		.id = (uint64_t)thr << 40 | ++n->th[thr].count,
		.patch = ev,
		.birth = r->seq,
		.size = size,
		.birth_ms = ms_of(n, r->ms),
		.slot = slot_get(n),
	};
	ev_var(n, thr, e.slot);
	place(n, &e, r->seq);
}

static void
on_resize(struct numbering *n, const struct rec *r) {
	uint32_t thr = r->thread;
	struct live *e = map_find(n, r->addr);
	if (n->shape)
		n->shape->size_hist[size_bucket(r->size)]++;
	if (e == NULL) {
		/* A block from before the trace: its resize makes a new
		 * one. */
		n->plan->unknown_resizes++;
		struct live ne = {
			.addr = r->result,
			.birth = r->seq,
			.size = r->size,
			.birth_ms = ms_of(n, r->ms),
		};
		unsigned op = r->op == OP_REALLOC ? OP_MALLOC : OP_MALLOCX;
		ne.patch = ev_begin(n, thr, op | (r->null ? EV_NULL : 0));
		if (op == OP_MALLOCX)
			ev_var(n, thr, r->arg);
		ev_var(n, thr, r->size);
		if (r->null)
			return;
		ne.id = (uint64_t)thr << 40 | ++n->th[thr].count;
		ne.slot = slot_get(n);
		ev_var(n, thr, ne.slot);
		if (n->shape)
			n->shape->thread_allocs[thr]++;
		arrival_push(n, r->seq2, r->off, &ne);
		return;
	}
	if (n->shape) {
		n->shape->resizes++;
		if ((uint32_t)(e->id >> 40) != thr)
			n->shape->cross_resizes++;
	}
	uint8_t *ev = ev_use(n, r, r->op, e);
	if (r->op == OP_RALLOCX)
		ev_var(n, thr, r->arg);
	ev_var(n, thr, r->size);
	/* Every resize makes a block of a new number, even a failed one,
	 * so that whatever uses the block next waits for it. */
	uint64_t id = (uint64_t)thr << 40 | ++n->th[thr].count;
	if (r->null) {
		e->id = id;
		e->patch = ev;
		return;
	}
	struct live ne = *e;
	ne.addr = r->result;
	ne.id = id;
	ne.patch = ev;
	ne.size = r->size;
	live_sub(n, e->size);
	map_remove(n, e);
	arrival_push(n, r->seq2, r->off, &ne);
}

static void
on_xallocx(struct numbering *n, const struct rec *r) {
	uint32_t thr = r->thread;
	struct live *e = map_find(n, r->addr);
	if (e == NULL) {
		n->plan->unknown_xallocx++;
		return;
	}
	if (n->shape) {
		n->shape->resizes++;
		if ((uint32_t)(e->id >> 40) != thr)
			n->shape->cross_resizes++;
		n->shape->size_hist[size_bucket(r->size)]++;
	}
	uint8_t *ev = ev_use(n, r, OP_XALLOCX, e);
	ev_var(n, thr, r->arg);
	ev_var(n, thr, r->size);
	ev_var(n, thr, r->extra);
	ev_var(n, thr, r->usable);
	e->id = (uint64_t)thr << 40 | ++n->th[thr].count;
	e->patch = ev;
	if (r->usable >= r->size && n->shape) {
		/* The block grew or shrank to the size asked for. */
		n->shape->live_bytes += r->size - e->size;
		if (n->shape->live_bytes > n->shape->peak_bytes) {
			n->shape->peak_bytes = n->shape->live_bytes;
			n->shape->peak_blocks = n->shape->live_blocks;
			n->shape->peak_seq = r->seq;
		}
	}
	if (r->usable >= r->size)
		e->size = r->size;
}

static void
on_free(struct numbering *n, const struct rec *r) {
	uint32_t thr = r->thread;
	if (r->op == OP_FREE && r->addr == 0) {
		ev_begin(n, thr, OP_FREE | EV_NULL);
		return;
	}
	struct live *e = map_find(n, r->addr);
	if (e == NULL) {
		n->plan->unknown_frees++;
		return;
	}
	ev_use(n, r, r->op, e);
	switch (r->op) {
	case OP_FREE_SIZED:
		ev_var(n, thr, r->size);
		ev_var(n, thr, r->arg);
		break;
	case OP_DALLOCX:
		ev_var(n, thr, r->arg);
		break;
	case OP_SDALLOCX:
		ev_var(n, thr, r->arg);
		ev_var(n, thr, r->size);
		break;
	}
	struct shape *s = n->shape;
	if (s != NULL) {
		s->frees++;
		s->thread_frees[thr]++;
		if ((uint32_t)(e->id >> 40) != thr) {
			s->cross_frees++;
			s->thread_cross[thr]++;
		}
		s->life_calls[bucket_of(r->seq - e->birth)]++;
		s->life_ms[bucket_of(ms_of(n, r->ms) - e->birth_ms)]++;
	}
	live_sub(n, e->size);
	slot_put(n, e->slot);
	map_remove(n, e);
}

static void
on_record(struct numbering *n, const struct rec *r) {
	check_seq(n, r->seq, r->off);
	switch (r->op) {
	case OP_MALLOC:
	case OP_VALLOC:
	case OP_PVALLOC:
	case OP_MEMALIGN:
	case OP_ALIGNED_ALLOC:
	case OP_POSIX_MEMALIGN:
	case OP_MALLOCX:
		on_alloc(n, r, r->op, r->size);
		break;
	case OP_CALLOC:
		on_alloc(n, r, r->op, mul_sat(r->arg, r->size));
		break;
	case OP_REALLOC:
	case OP_RALLOCX:
		on_resize(n, r);
		break;
	case OP_XALLOCX:
		on_xallocx(n, r);
		break;
	default:
		on_free(n, r);
		break;
	}
}

/* The cursors' heap, by the sequence number of each one's record. */
static void
heap_down(struct cursor *cs, uint32_t *h, uint64_t nh, uint64_t i) {
	uint32_t x = h[i];
	uint64_t key = cs[x].rec.seq;
	for (;;) {
		uint64_t c = 2 * i + 1;
		if (c >= nh)
			break;
		if (c + 1 < nh && cs[h[c + 1]].rec.seq < cs[h[c]].rec.seq)
			c++;
		if (cs[h[c]].rec.seq >= key)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

void
blocks_number(const struct trace *t, struct plan *plan, struct shape *shape) {
	struct numbering n;
	memset(&n, 0, sizeof(n));
	n.t = t;
	n.plan = plan;
	n.shape = shape;
	n.write = shape == NULL;
	size_t thsize = sizeof(struct wthread) * (t->nthreads ? t->nthreads : 1);
	n.th = anon_alloc(thsize);
	memset(plan, 0, sizeof(*plan));
	if (n.write) {
		plan->streams = pool_alloc(sizeof(uint8_t *) * t->nthreads);
		plan->nevents = pool_alloc(sizeof(uint64_t) * t->nthreads);
	}
	if (shape != NULL) {
		memset(shape, 0, sizeof(*shape));
		size_t sz = sizeof(uint64_t) * (t->nthreads ? t->nthreads : 1);
		shape->thread_allocs = anon_alloc(sz);
		shape->thread_frees = anon_alloc(sz);
		shape->thread_cross = anon_alloc(sz);
	}

	size_t csize = sizeof(struct cursor) * (t->nchunks ? t->nchunks : 1);
	size_t hsize = sizeof(uint32_t) * (t->nchunks ? t->nchunks : 1);
	struct cursor *cs = anon_alloc(csize);
	uint32_t *h = anon_alloc(hsize);
	uint64_t nh = 0;
	for (uint64_t i = 0; i < t->nchunks; i++) {
		cursor_init(&cs[i], t, &t->chunks[i]);
		if (cursor_next(&cs[i]))
			h[nh++] = (uint32_t)i;
	}
	for (uint64_t i = nh / 2; i-- > 0;)
		heap_down(cs, h, nh, i);

	while (nh > 0 || n.narr > 0) {
		if (n.narr > 0 && (nh == 0 || n.arr[0].seq <=
		    cs[h[0]].rec.seq)) {
			struct arrival a = n.arr[0];
			arrival_pop(&n);
			check_seq(&n, a.seq, a.off);
			place(&n, &a.e, a.seq);
			continue;
		}
		struct cursor *c = &cs[h[0]];
		on_record(&n, &c->rec);
		if (cursor_next(c)) {
			heap_down(cs, h, nh, 0);
		} else if (--nh > 0) {
			h[0] = h[nh];
			heap_down(cs, h, nh, 0);
		}
	}
	if (shape != NULL) {
		shape->last_seq = n.last_seq;
		shape->unfreed_blocks = shape->live_blocks;
		shape->unfreed_bytes = shape->live_bytes;
	}
	if (n.write) {
		for (uint32_t i = 0; i < t->nthreads; i++) {
			ev_begin(&n, i, EV_END);
			plan->nevents[i]--;
			plan->total_events--;
		}
	}
	plan->nslots = n.nslots;
	anon_free(cs, csize);
	anon_free(h, hsize);
	anon_free(n.th, thsize);
	anon_free(n.map, n.map ? (n.map_mask + 1) * sizeof(struct live) : 0);
	anon_free(n.ring, n.ring_cap * 4);
	anon_free(n.arr, n.arr_cap * sizeof(*n.arr));
}
