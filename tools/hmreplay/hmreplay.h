/*
 * hmreplay: re-executes an allocation trace (docs/trace.md) on whichever
 * allocator the process runs on, and measures it.
 *
 * The modules, in the order a run uses them:
 *   trace.c    maps the file and checks every chunk and record
 *   blocks.c   writes each thread's event stream, numbers the blocks and
 *              matches every free or resize to its block by the history
 *              of its address; --summary's figures
 *   replay.c   one thread per recorded thread runs its stream; a sampler
 *              thread follows the resident memory
 *   compare.c  runs the replay under several allocators and draws charts
 *   main.c     options and reports
 *   mem.c      the tool's own memory: mmap, never malloc, so that the
 *              allocator under test sees only the replayed calls
 */
#ifndef HMREPLAY_H
#define HMREPLAY_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HMR_NORETURN __attribute__((noreturn))
#define HMR_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Record opcodes of format version 1. */
enum {
	OP_MALLOC = 1,
	OP_CALLOC = 2,
	OP_MEMALIGN = 3,
	OP_ALIGNED_ALLOC = 4,
	OP_POSIX_MEMALIGN = 5,
	OP_VALLOC = 6,
	OP_PVALLOC = 7,
	OP_REALLOC = 8,
	OP_FREE = 9,
	OP_FREE_SIZED = 10,
	OP_MALLOCX = 11,
	OP_RALLOCX = 12,
	OP_XALLOCX = 13,
	OP_DALLOCX = 14,
	OP_SDALLOCX = 15,
	OP_NCALL = 16,		/* call opcodes are below this */
	OP_TIME = 24,
	OP_THREAD = 25
};
#define REC_OP_MASK 0x1f
#define REC_NULL 0x80

#define TRACE_HEADER_SIZE 64
#define CHUNK_HEADER_SIZE 40
#define CHUNK_MAX_LEN (16u << 20)

/* Replay threads are numbered below this; a block's number keeps the rest
 * of 60 bits for the producing thread's own count. */
#define MAX_THREADS (1u << 20)

extern const char *const op_names[OP_NCALL];

/* One decoded call record.  The fields a kind lacks stay zero. */
struct rec {
	uint64_t seq;		/* order number (of the record's first
				 * address; docs/trace.md) */
	uint64_t seq2;		/* resizes: the arrival of the result */
	uint64_t addr;		/* an allocation's result; the block freed or
				 * resized */
	uint64_t result;	/* resizes: the new address */
	uint64_t size;		/* size; calloc's size of one member */
	uint64_t arg;		/* alignment, calloc's nmemb, or *allocx flags */
	uint64_t extra;		/* xallocx */
	uint64_t usable;	/* xallocx's result */
	uint64_t ms;		/* the chunk's coarse clock at the record */
	uint64_t off;		/* where the record starts in the file */
	uint32_t thread;	/* replay thread index */
	uint8_t op;
	bool null;
};

struct chunk {
	uint64_t off;		/* of the chunk header */
	uint64_t seq;		/* number base */
	uint64_t ms;		/* time base */
	uint32_t len;
	uint32_t thread;	/* index of the header's thread */
};

struct tthread {
	uint32_t number;	/* the thread's number in the traced process */
	uint32_t tid;
	uint64_t calls;
	/* The chunks holding its records (links), in file order. */
	uint32_t head, tail, last_chunk;
};

struct chunk_link {
	uint32_t chunk, next;
};

struct trace {
	const char *path;
	const uint8_t *base;
	uint64_t size;
	uint32_t version, pid, ppid, page_size, flags;
	uint64_t start_ns, start_ms;
	struct chunk *chunks;
	uint64_t nchunks;
	struct tthread *threads;
	uint32_t nthreads;
	struct chunk_link *links;
	uint64_t nlinks, links_cap;
	uint64_t ncalls;
	uint64_t ncalls_op[OP_NCALL];
	uint64_t nnull_op[OP_NCALL];
	uint64_t min_ms, max_ms;
	/* Thread number -> index (open addressing, 0 = empty). */
	uint32_t *tmap;
	uint32_t tmap_mask;
	uint32_t threads_cap;
};

/* A decoder over one chunk's records. */
struct cursor {
	const struct trace *t;
	const uint8_t *p, *start, *end;
	uint64_t chunk_off;
	uint64_t seq, addr, ms;
	uint32_t thread;
	struct rec rec;
};

void trace_open(struct trace *t, const char *path);
HMR_NORETURN HMR_PRINTF(3, 4) void trace_fail(const struct trace *t,
    uint64_t off, const char *fmt, ...);
void cursor_init(struct cursor *c, const struct trace *t,
    const struct chunk *ch);
/* Decodes the next call record into c->rec; false at the chunk's end. */
bool cursor_next(struct cursor *c);

/* What --summary shows beyond the trace's own counts. */
#define NBUCKETS 66
struct shape {
	uint64_t size_hist[NBUCKETS];	/* requested sizes */
	uint64_t life_calls[NBUCKETS];	/* calls, alloc to free */
	uint64_t life_ms[NBUCKETS];
	uint64_t live_bytes, live_blocks;
	uint64_t peak_bytes, peak_blocks, peak_call;
	uint64_t frees, cross_frees;
	uint64_t resizes, cross_resizes;
	uint64_t *thread_allocs, *thread_frees, *thread_cross;
};

/*
 * What the replay needs: each thread's event stream, and the counts of
 * what the numbering left out.  Blocks are numbered thread by thread:
 * thread i's k-th block (an allocation or a resize's result) is block
 * base[i] + k, so a replay thread knows the numbers of the blocks it
 * makes, and a call on a block names it.
 */
#define NO_BLOCK UINT32_MAX
struct plan {
	uint8_t **streams;		/* per thread */
	uint64_t *nevents;		/* per thread */
	uint32_t *base, *nblocks;	/* per thread */
	uint64_t total_events;
	uint64_t nblocks_all;
	uint64_t unknown_frees;		/* frees of addresses not live */
	uint64_t dropped;		/* allocations at a live address */
	uint64_t unknown_resizes;	/* replayed as allocations */
	uint64_t unknown_xallocx;	/* skipped */
};

/* Writes the plan's streams; with a shape (--summary), also walks them
 * for the workload's figures. */
void blocks_number(const struct trace *t, struct plan *plan,
    struct shape *shape);
unsigned bucket_of(uint64_t v);

/*
 * Event stream: one byte (a trace opcode, and EV_NULL when the recorded
 * call failed), then for a call on a block the block's number (4 bytes,
 * little-endian; NO_BLOCK when the trace has none), then the record's
 * other fields as varints.
 */
#define EV_NULL 0x80
#define EV_LINK 0	/* the stream goes on at the 8-byte address that
			 * follows */
#define EV_MS 30	/* --summary only: a varint, the clock's advance */
#define EV_END 31

struct replay_opts {
	const char *rss_csv;
	unsigned sample_ms;
	/* Print the allocator's malloc_stats_print report once this share
	 * of the calls is replayed (negative: never). */
	double stats_at;
	const char *stats_opts;
};

struct replay_result {
	uint64_t wall_ns;
	uint64_t calls;
	uint64_t calls_op[OP_NCALL];
	uint64_t baseline_kib, peak_kib, final_kib;
	uint64_t nsamples;
	uint64_t sample_ns;		/* the period at the end */
	uint64_t dep_sleeps;		/* dependency waits that slept */
	uint64_t misordered;		/* calls on a later block of their
					 * own thread: skipped */
	uint64_t failed;		/* succeeded when recorded, not here */
	uint64_t null_ok;		/* failed when recorded, not here */
	uint64_t xallocx_skipped;
	uint64_t on_null_block;		/* calls skipped: their block failed */
	bool jemalloc_api;
};

void replay_run(const struct trace *t, const struct plan *plan,
    const struct replay_opts *o, struct replay_result *r);
/* Resident anonymous memory now, KiB (statm's resident - shared). */
uint64_t rss_anon_kib(void);

struct compare_opts {
	const char *trace;
	unsigned runs;
	unsigned sample_ms;
	const char *chart;
	const char **libs;	/* NAME=PATH */
	unsigned nlibs;
	const char **confs;	/* NAME=MALLOC_CONF */
	unsigned nconfs;
	const char *only;	/* comma-separated names, or NULL */
};
int compare_run(const struct compare_opts *o);

/* mem.c */
void *pool_alloc(size_t size);
void *anon_alloc(size_t size);
void *anon_grow(void *p, size_t old, size_t size);
void anon_free(void *p, size_t size);
HMR_NORETURN HMR_PRINTF(1, 2) void die(const char *fmt, ...);
/* Prints "hmreplay: " prefix, then fmt, on one line of standard error and
 * ends the process: with exit(1), or with _exit(1) when quick (other
 * threads may be inside the allocator: no exit handlers). */
HMR_NORETURN void die_v(bool quick, const char *prefix, const char *fmt,
    va_list ap);
/* write(2) of a whole buffer, retried on short writes. */
bool write_all(int fd, const void *buf, size_t len);
uint64_t now_ns(void);

#endif
