/*
 * trace.c: maps a trace file and checks all of it before anything else
 * reads it: the header, every chunk's header, length and checksum, and
 * every record, which must end exactly at its chunk's end.  The first
 * problem found stops the program with the file's name, the byte offset
 * and what is wrong.  The decoder the check uses is the one the later
 * passes use, so they meet no surprise.
 */
#include "hmreplay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const op_names[OP_NCALL] = {
	"?", "malloc", "calloc", "memalign", "aligned_alloc", "posix_memalign",
	"valloc", "pvalloc", "realloc", "free", "free_sized", "mallocx",
	"rallocx", "xallocx", "dallocx", "sdallocx"
};

#define NO_THREAD UINT32_MAX

void
trace_fail(const struct trace *t, uint64_t off, const char *fmt, ...) {
	char prefix[512];
	snprintf(prefix, sizeof(prefix), "%s: offset %llu: ", t->path,
	    (unsigned long long)off);
	va_list ap;
	va_start(ap, fmt);
	die_v(false, prefix, fmt, ap);
}

static uint32_t
rd32(const uint8_t *p) {
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
rd64(const uint8_t *p) {
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint64_t
checksum(const uint8_t *p, uint32_t len) {
	const uint64_t k = 0x9E3779B97F4A7C15ull;
	uint64_t h = len;
	uint32_t i;
	for (i = 0; i + 8 <= len; i += 8)
		h = (h ^ rd64(p + i)) * k;
	if (i < len) {
		uint8_t last[8] = { 0 };
		memcpy(last, p + i, len - i);
		h = (h ^ rd64(last)) * k;
	}
	return h;
}

/* The index of thread `number`, registered at its first call record. */
static uint32_t
thread_index(struct trace *t, uint32_t number, uint32_t tid, uint64_t off) {
	uint32_t h, idx;
	if (t->tmap == NULL || (t->nthreads + 1) * 2 > t->tmap_mask + 1) {
		/* Grow the map (and rehash) before it is half full. */
		uint32_t nmask = t->tmap == NULL ? 63 : t->tmap_mask * 2 + 1;
		uint32_t *nmap = anon_alloc(((size_t)nmask + 1) * 4);
		for (uint32_t i = 0; i < t->nthreads; i++) {
			h = (t->threads[i].number * 2654435761u) & nmask;
			while (nmap[h] != 0)
				h = (h + 1) & nmask;
			nmap[h] = i + 1;
		}
		anon_free(t->tmap, ((size_t)t->tmap_mask + 1) * 4);
		t->tmap = nmap;
		t->tmap_mask = nmask;
	}
	h = (number * 2654435761u) & t->tmap_mask;
	while ((idx = t->tmap[h]) != 0) {
		if (t->threads[idx - 1].number == number)
			return idx - 1;
		h = (h + 1) & t->tmap_mask;
	}
	if (t->nthreads >= MAX_THREADS)
		trace_fail(t, off, "more than %u threads", MAX_THREADS);
	if (t->nthreads == t->threads_cap) {
		uint32_t ncap = t->threads_cap ? t->threads_cap * 2 : 64;
		t->threads = anon_grow(t->threads,
		    sizeof(struct tthread) * t->threads_cap,
		    sizeof(struct tthread) * ncap);
		t->threads_cap = ncap;
	}
	struct tthread *th = &t->threads[t->nthreads];
	th->number = number;
	th->tid = tid;
	th->head = th->tail = th->last_chunk = UINT32_MAX;
	t->tmap[h] = ++t->nthreads;
	return t->nthreads - 1;
}

void
cursor_init(struct cursor *c, const struct trace *t, const struct chunk *ch) {
	memset(c, 0, sizeof(*c));
	c->t = t;
	c->chunk_off = ch->off;
	c->start = c->p = t->base + ch->off + CHUNK_HEADER_SIZE;
	c->end = c->start + ch->len;
	c->seq = ch->seq;
	c->ms = ch->ms;
	c->thread = ch->thread;
}

static HMR_NORETURN void
past_end(const struct cursor *c, uint64_t recoff, unsigned op) {
	const char *name = op < OP_NCALL ? op_names[op] :
	    op == OP_TIME ? "TIME" : "THREAD";
	trace_fail(c->t, recoff, "%s record runs past the end of its chunk "
	    "(chunk at offset %llu, its records end at offset %llu)", name,
	    (unsigned long long)c->chunk_off,
	    (unsigned long long)(c->chunk_off + CHUNK_HEADER_SIZE +
	    (uint64_t)(c->end - c->start)));
}

static uint64_t
varint(struct cursor *c, uint64_t recoff, unsigned op) {
	uint64_t v = 0;
	for (unsigned i = 0;; i++) {
		if (c->p >= c->end)
			past_end(c, recoff, op);
		uint8_t b = *c->p++;
		if (i == 9 && b > 1) {
			trace_fail(c->t, c->chunk_off + CHUNK_HEADER_SIZE +
			    (uint64_t)(c->p - 1 - c->start),
			    "varint longer than 64 bits in a %s record",
			    op < OP_NCALL ? op_names[op] : "TIME or THREAD");
		}
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			return v;
	}
}

static uint64_t
unzigzag(uint64_t z) {
	return (z >> 1) ^ (0 - (z & 1));
}

static uint64_t
address(struct cursor *c, uint64_t recoff, unsigned op) {
	c->addr += unzigzag(varint(c, recoff, op));
	return c->addr;
}

/* Which call opcodes may carry the NULL flag. */
static bool
null_allowed(unsigned op) {
	return (op >= OP_MALLOC && op <= OP_FREE) || op == OP_MALLOCX ||
	    op == OP_RALLOCX;
}

bool
cursor_next(struct cursor *c) {
	/* The checking pass registers threads; later passes find them. */
	struct trace *t = (struct trace *)c->t;
	for (;;) {
		if (c->p >= c->end)
			return false;
		uint64_t off = c->chunk_off + CHUNK_HEADER_SIZE +
		    (uint64_t)(c->p - c->start);
		uint8_t b = *c->p++;
		unsigned op = b & REC_OP_MASK, fl = b & ~REC_OP_MASK & 0xff;
		if (op == OP_TIME || op == OP_THREAD) {
			if (fl != 0) {
				trace_fail(t, off, "unknown flags 0x%02x on a %s "
				    "record", fl, op == OP_TIME ? "TIME" :
				    "THREAD");
			}
			if (op == OP_TIME) {
				c->ms += varint(c, off, op);
			} else {
				uint64_t number = varint(c, off, op);
				uint64_t tid = varint(c, off, op);
				if (number > UINT32_MAX || tid > UINT32_MAX) {
					trace_fail(t, off, "THREAD record with "
					    "thread %llu, tid %llu: out of range",
					    (unsigned long long)number,
					    (unsigned long long)tid);
				}
				c->thread = thread_index(t, (uint32_t)number,
				    (uint32_t)tid, off);
			}
			continue;
		}
		if (op == 0 || op >= OP_NCALL)
			trace_fail(t, off, "unknown opcode %u (byte 0x%02x)", op, b);
		if ((fl & ~REC_NULL) != 0 || (fl != 0 && !null_allowed(op))) {
			trace_fail(t, off, "unknown flags 0x%02x on a %s record",
			    fl, op_names[op]);
		}
		struct rec *r = &c->rec;
		memset(r, 0, sizeof(*r));
		r->op = (uint8_t)op;
		r->null = fl != 0;
		r->off = off;
		r->thread = c->thread;
		c->seq += unzigzag(varint(c, off, op));
		r->seq = c->seq;
		switch (op) {
		case OP_MALLOC:
		case OP_VALLOC:
		case OP_PVALLOC:
			r->size = varint(c, off, op);
			if (!r->null)
				r->addr = address(c, off, op);
			break;
		case OP_CALLOC:
		case OP_MEMALIGN:
		case OP_ALIGNED_ALLOC:
		case OP_POSIX_MEMALIGN:
		case OP_MALLOCX:
			r->arg = varint(c, off, op);
			r->size = varint(c, off, op);
			if (!r->null)
				r->addr = address(c, off, op);
			break;
		case OP_REALLOC:
		case OP_RALLOCX:
			if (op == OP_RALLOCX)
				r->arg = varint(c, off, op);
			r->addr = address(c, off, op);
			r->size = varint(c, off, op);
			if (!r->null) {
				r->seq2 = r->seq + unzigzag(varint(c, off, op));
				r->result = address(c, off, op);
				if (r->result == 0) {
					trace_fail(t, off, "%s record with "
					    "result address 0 but no NULL flag",
					    op_names[op]);
				}
			}
			break;
		case OP_FREE:
			if (!r->null)
				r->addr = address(c, off, op);
			break;
		case OP_FREE_SIZED:
			r->addr = address(c, off, op);
			r->size = varint(c, off, op);
			r->arg = varint(c, off, op);
			break;
		case OP_XALLOCX:
			r->arg = varint(c, off, op);
			r->addr = address(c, off, op);
			r->size = varint(c, off, op);
			r->extra = varint(c, off, op);
			r->usable = varint(c, off, op);
			break;
		case OP_DALLOCX:
			r->arg = varint(c, off, op);
			r->addr = address(c, off, op);
			break;
		case OP_SDALLOCX:
			r->arg = varint(c, off, op);
			r->addr = address(c, off, op);
			r->size = varint(c, off, op);
			break;
		}
		if (!r->null && r->addr == 0 && op != OP_FREE &&
		    op != OP_FREE_SIZED && op != OP_DALLOCX &&
		    op != OP_SDALLOCX) {
			trace_fail(t, off, "%s record with address 0 but no "
			    "NULL flag", op_names[op]);
		}
		r->ms = c->ms;
		if (r->thread == NO_THREAD) {
			/* A shared chunk's records before its first THREAD
			 * record: the header's thread. */
			const uint8_t *h = t->base + c->chunk_off;
			c->thread = thread_index(t, rd32(h + 8), rd32(h + 12),
			    off);
			r->thread = c->thread;
		}
		return true;
	}
}

static void
check_header(struct trace *t) {
	const uint8_t *h = t->base;
	static const uint8_t zero[16];
	if (t->size < TRACE_HEADER_SIZE) {
		trace_fail(t, t->size, "truncated file header (%llu of %u "
		    "bytes)", (unsigned long long)t->size, TRACE_HEADER_SIZE);
	}
	if (memcmp(h, "HMTRACE", 8) != 0)
		trace_fail(t, 0, "bad magic (not an hmalloc trace)");
	t->version = rd32(h + 8);
	if (t->version != 1) {
		trace_fail(t, 8, "unsupported version %u (this reader knows "
		    "version 1)", t->version);
	}
	if (rd32(h + 12) != TRACE_HEADER_SIZE) {
		trace_fail(t, 12, "header size %u, version 1 has %u",
		    rd32(h + 12), TRACE_HEADER_SIZE);
	}
	t->pid = rd32(h + 16);
	t->ppid = rd32(h + 20);
	t->start_ns = rd64(h + 24);
	t->start_ms = rd64(h + 32);
	t->page_size = rd32(h + 40);
	t->flags = rd32(h + 44);
	if (t->flags & ~1u)
		trace_fail(t, 44, "unknown header flags 0x%x", t->flags);
	if (memcmp(h + 48, zero, 16) != 0)
		trace_fail(t, 48, "reserved header bytes are not zero");
}

/* Appends chunk ci to the thread's list: the chunks that hold its
 * records, in file order, which is the order the thread wrote them. */
static void
thread_chunk(struct trace *t, struct tthread *th, uint32_t ci) {
	if (t->nlinks == t->links_cap) {
		uint64_t ncap = t->links_cap ? t->links_cap * 2 : 1024;
		t->links = anon_grow(t->links, sizeof(*t->links) * t->links_cap,
		    sizeof(*t->links) * ncap);
		t->links_cap = ncap;
	}
	uint32_t li = (uint32_t)t->nlinks++;
	t->links[li].chunk = ci;
	t->links[li].next = UINT32_MAX;
	if (th->tail == UINT32_MAX)
		th->head = li;
	else
		t->links[th->tail].next = li;
	th->tail = li;
	th->last_chunk = ci;
}

void
trace_open(struct trace *t, const char *path) {
	struct stat st;
	uint64_t cap = 0;
	memset(t, 0, sizeof(*t));
	t->path = path;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0)
		die("%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		die("%s: not a regular file", path);
	t->size = (uint64_t)st.st_size;
	if (t->size > 0) {
		/* A file mapping: its pages count as RssFile, not as the
		 * allocator's anonymous memory. */
		t->base = mmap(NULL, t->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (t->base == MAP_FAILED)
			die("%s: mmap: %s", path, strerror(errno));
		madvise((void *)t->base, t->size, MADV_SEQUENTIAL);
	}
	close(fd);
	check_header(t);
	t->min_ms = UINT64_MAX;

	uint64_t off = TRACE_HEADER_SIZE;
	while (off < t->size) {
		const uint8_t *h = t->base + off;
		uint64_t left = t->size - off;
		if (left < CHUNK_HEADER_SIZE) {
			trace_fail(t, off, "truncated chunk header (%llu of %u "
			    "bytes)", (unsigned long long)left,
			    CHUNK_HEADER_SIZE);
		}
		if (memcmp(h, "HMCK", 4) != 0)
			trace_fail(t, off, "bad chunk magic");
		uint32_t len = rd32(h + 4);
		if (len > CHUNK_MAX_LEN) {
			trace_fail(t, off + 4, "chunk length %u over the limit "
			    "of 16 MiB", len);
		}
		if (len > left - CHUNK_HEADER_SIZE) {
			trace_fail(t, off + 4, "chunk length %u runs past the "
			    "end of the file (%llu bytes follow the chunk "
			    "header)", len, (unsigned long long)(left -
			    CHUNK_HEADER_SIZE));
		}
		uint64_t sum = checksum(h + CHUNK_HEADER_SIZE, len);
		if (sum != rd64(h + 32)) {
			trace_fail(t, off + 32, "checksum mismatch (the header "
			    "says 0x%016llx, the records give 0x%016llx)",
			    (unsigned long long)rd64(h + 32),
			    (unsigned long long)sum);
		}
		if (t->nchunks == cap) {
			uint64_t ncap = cap ? cap * 2 : 1024;
			t->chunks = anon_grow(t->chunks, sizeof(struct chunk) *
			    cap, sizeof(struct chunk) * ncap);
			cap = ncap;
		}
		struct chunk *ch = &t->chunks[t->nchunks++];
		ch->off = off;
		ch->len = len;
		ch->seq = rd64(h + 16);
		ch->ms = rd64(h + 24);
		/* Resolved at the chunk's first call record, by every
		 * pass: a shared chunk's header may name no thread that
		 * made a call. */
		ch->thread = NO_THREAD;

		struct cursor c;
		cursor_init(&c, t, ch);
		while (cursor_next(&c)) {
			struct rec *r = &c.rec;
			struct tthread *th = &t->threads[r->thread];
			th->calls++;
			if (th->last_chunk != t->nchunks - 1)
				thread_chunk(t, th, (uint32_t)(t->nchunks - 1));
			t->ncalls++;
			t->ncalls_op[r->op]++;
			if (r->null)
				t->nnull_op[r->op]++;
			if (r->ms < t->min_ms)
				t->min_ms = r->ms;
			if (r->ms > t->max_ms)
				t->max_ms = r->ms;
		}
		off += CHUNK_HEADER_SIZE + (uint64_t)len;
	}
	if (t->min_ms == UINT64_MAX)
		t->min_ms = t->max_ms = 0;
}
