/*
 * main.c: hmreplay's options, its replay report and --summary.
 *
 * The reports are printed after the replay: stdio's buffers may come from
 * the allocator under test, but only once nothing is measured any more.
 */
#include "hmreplay.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
"usage: hmreplay [OPTIONS] TRACE\n"
"       hmreplay --summary TRACE\n"
"       hmreplay --dump TRACE\n"
"       hmreplay --check TRACE\n"
"       hmreplay --compare [OPTIONS] TRACE\n"
"\n"
"Re-executes the allocation calls recorded in TRACE (a file hmalloc writes\n"
"with MALLOC_CONF=trace:true; the format is docs/trace.md) on the allocator\n"
"this process runs on, and reports the wall time and the resident memory.\n"
"Run it under another allocator with LD_PRELOAD; hmreplay itself is linked\n"
"to plain libc, and its own tables come from mmap, not malloc.\n"
"\n"
"The whole file is checked first: a truncated or corrupted trace is\n"
"rejected with its name, the byte offset and what is wrong.\n"
"\n"
"Replay model (docs/trace.md, \"Replay\"):\n"
"  - blocks are matched by address: each address's records, sorted by\n"
"    their order numbers, say which block a free or resize uses; a resize\n"
"    ends its block and makes a new one (in place or failed, too);\n"
"  - each recorded thread is replayed by a thread of its own, which makes\n"
"    its calls in its recorded order;\n"
"  - a call that frees or resizes a block waits until the call that made\n"
"    the block (an allocation or the last resize) has returned, in\n"
"    whichever thread; nothing else is ordered, and recorded time is not\n"
"    waited for: the replay runs as fast as the allocator lets it;\n"
"  - after an allocation or resize, the block's first 8 bytes get its\n"
"    number, and one byte of every 4 KiB page it spans and its last byte\n"
"    are written; before it is freed or resized, its first 8 bytes are\n"
"    checked: another value means two live blocks overlapped, which fails\n"
"    the replay;\n"
"  - skipped and counted: a free of an address no allocation of the\n"
"    trace made, the block dropped when an allocation returned its\n"
"    address while it was live, a call on a block its own thread makes\n"
"    later; a resize of an unknown block is replayed as an allocation;\n"
"  - a call that failed when recorded is made too (a block it makes here\n"
"    is freed at once); one that succeeded when recorded and fails here\n"
"    makes the exit status 1;\n"
"  - mallocx, rallocx, xallocx, dallocx and sdallocx are replayed with\n"
"    jemalloc's functions when the allocator has them (without arena and\n"
"    thread cache numbers), otherwise with the standard calls (alignment\n"
"    and zeroing kept); xallocx is then skipped and counted.\n"
"\n"
"Memory: RSS here is RssAnon, the resident anonymous memory (statm's\n"
"resident - shared): the allocator's heap, plus the replayer's thread\n"
"stacks (a few KiB each); the trace (a file mapping) and the replayer's\n"
"tables (a memfd) are not in it.  A sampler thread reads it every\n"
"--sample-ms, with the number of calls replayed so far.  Peak is the\n"
"largest sample, final the figure after the last call.\n"
"\n"
"Options:\n"
"  --summary          the workload's shape, without replaying: calls by\n"
"                     kind, requested sizes by power of two, lifetimes (in\n"
"                     calls and ms), peak live bytes, threads, cross-thread\n"
"                     frees, bytes of trace per call.  Live bytes and\n"
"                     lifetimes in calls follow the threads' calls merged\n"
"                     by the recorded coarse clock: exact within a thread,\n"
"                     to a clock tick between threads\n"
"  --check            check the whole file and print its size, calls and\n"
"                     threads only (quick: no block matching)\n"
"  --dump             the calls, as text, one line each, thread by thread\n"
"                     in each thread's order: the thread's number, the\n"
"                     call, then its fields as name=value (sizes and\n"
"                     arguments in decimal, addresses in hex, NULL for a\n"
"                     failed call)\n"
"  --rss-csv FILE     write the RSS samples: ms,calls,fraction,rss_anon_kib\n"
"  --sample-ms N      sampling period in ms (default 2); a long replay\n"
"                     keeps at most 16384 samples, halving as it goes\n"
"  --result FILE      write the figures as \"key value\" lines\n"
"  --stats-at F       once the share F (0 to 1) of the calls is replayed,\n"
"                     print the allocator's malloc_stats_print report on\n"
"                     standard error (hmalloc, jemalloc): where the memory\n"
"                     is at that point\n"
"  --stats-opts OPTS  malloc_stats_print's options for it (e.g. J, or\n"
"                     bla to leave out the bins, large classes, arenas)\n"
"  --quiet            no report on standard output\n"
"  --expect-lib PATH  fail unless the library PATH is loaded (--compare\n"
"                     checks its preloads with it)\n"
"  --help             this text\n"
"\n"
"Comparing allocators (--compare): the replay is run under hmalloc, glibc\n"
"and those of jemalloc (libjemalloc.so.2), mimalloc (libmimalloc.so.2) and\n"
"tcmalloc (libtcmalloc_minimal.so.4) found in the usual library\n"
"directories, by running hmreplay again with LD_PRELOAD set and MALLOC_CONF\n"
"and HMALLOC_CONF cleared (a child never traces itself).  Runs go round\n"
"robin, one of each allocator in turn.  It prints a table (median, min and\n"
"max of wall time and peak RSS, median final RSS), a text chart of RSS\n"
"against the fraction of calls replayed (so that allocators of different\n"
"speeds line up), and with --chart the same as an SVG file, from each\n"
"allocator's run of median wall time.\n"
"  --runs N           runs per allocator (default 3)\n"
"  --lib NAME=PATH    add an allocator, or replace the library of one\n"
"  --conf NAME=CONF   add a row \"hmalloc NAME\" run with MALLOC_CONF=CONF\n"
"                     (trace and trace_prefix are taken out)\n"
"  --only A,B,...     only these allocators (the --conf rows always run)\n"
"  --chart FILE.svg   write the RSS chart\n"
"  hmalloc's library: $HMREPLAY_HMALLOC, else lib/libhmalloc.so beside the\n"
"  bin/ directory that holds hmreplay.\n"
"\n"
"Exit status: 0 on success; 1 for a trace that cannot be read, a replay\n"
"that fails (an overlap, a call that succeeded when recorded and failed\n"
"here, threads that wait for each other) or a comparison run that fails;\n"
"2 for wrong usage.\n";

static HMR_NORETURN void
usage_error(const char *fmt, const char *arg) {
	fprintf(stderr, "hmreplay: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(hmreplay --help tells more)\n");
	exit(2);
}

static unsigned
parse_uint(const char *opt, const char *s, unsigned lo, unsigned hi) {
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		usage_error("bad number for %s", opt);
	return (unsigned)v;
}

/* What the file says of itself (--summary, --check). */
static void
print_file_facts(const struct trace *t) {
	printf("  file                 %llu bytes, %llu chunks\n",
	    (unsigned long long)t->size, (unsigned long long)t->nchunks);
	printf("  calls                %llu\n", (unsigned long long)t->ncalls);
	printf("  bytes per call       %.2f\n", t->ncalls ? (double)t->size /
	    (double)t->ncalls : 0.0);
	printf("  process              pid %u, parent %u%s, page size %u\n",
	    t->pid, t->ppid, (t->flags & 1) ? ", a fork child" : "",
	    t->page_size);
	printf("  duration             %llu ms (coarse clock, first to last "
	    "call)\n", (unsigned long long)(t->max_ms - t->min_ms));
	printf("  threads              %u\n", t->nthreads);
}

/* --dump: every call record, each thread's in its order (its chunks in
 * file order, the shared buffer's among them). */
static void
print_dump(const struct trace *t) {
	for (uint32_t i = 0; i < t->nthreads; i++) {
		for (uint32_t li = t->threads[i].head; li != UINT32_MAX;
		    li = t->links[li].next) {
			struct cursor c;
			cursor_init(&c, t, &t->chunks[t->links[li].chunk]);
			while (cursor_next(&c)) {
				const struct rec *r = &c.rec;
				if (r->thread != i)
					continue;
				printf("%u %s size=%llu arg=%llu addr=0x%llx",
				    t->threads[i].number, op_names[r->op],
				    (unsigned long long)r->size,
				    (unsigned long long)r->arg,
				    (unsigned long long)r->addr);
				if (r->op == OP_REALLOC || r->op == OP_RALLOCX)
					printf(" result=0x%llx",
					    (unsigned long long)r->result);
				if (r->op == OP_XALLOCX)
					printf(" extra=%llu usable=%llu",
					    (unsigned long long)r->extra,
					    (unsigned long long)r->usable);
				puts(r->null ? " NULL" : "");
			}
		}
	}
}

/* Whether the library `path` is mapped into this process. */
static bool
lib_loaded(const char *path) {
	char real[PATH_MAX];
	if (realpath(path, real) == NULL)
		return false;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	size_t cap = 1 << 20, n = 0;
	char *buf = anon_alloc(cap);
	for (;;) {
		if (n + 1 >= cap) {
			buf = anon_grow(buf, cap, cap * 2);
			cap *= 2;
		}
		ssize_t k = read(fd, buf + n, cap - n - 1);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	buf[n] = '\0';
	bool found = false;
	size_t len = strlen(real);
	for (char *line = buf; line != NULL && *line != '\0';) {
		char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		if (ll >= len && memcmp(line + ll - len, real, len) == 0 &&
		    (ll == len || line[ll - len - 1] == ' ')) {
			found = true;
			break;
		}
		line = nl ? nl + 1 : NULL;
	}
	anon_free(buf, cap);
	return found;
}

static double
mib(uint64_t kib) {
	return (double)kib / 1024.0;
}

static void
print_report(const struct trace *t, const struct plan *p,
    const struct replay_result *r) {
	printf("replay of %s: pid %u, %u threads, %llu calls in the trace\n",
	    t->path, t->pid, t->nthreads, (unsigned long long)t->ncalls);
	printf("  wall time            %.3f ms\n", (double)r->wall_ns / 1e6);
	printf("  calls replayed       %llu\n", (unsigned long long)r->calls);
	printf("  allocator API        %s\n", r->jemalloc_api ?
	    "standard, and jemalloc's *allocx" : "standard only");
	printf("calls replayed by kind\n");
	for (unsigned k = 1; k < OP_NCALL; k++) {
		if (r->calls_op[k] != 0)
			printf("  %-20s %llu\n", op_names[k],
			    (unsigned long long)r->calls_op[k]);
	}
	printf("left out or changed (docs/trace.md, \"Replay\")\n");
	printf("  unknown frees        %llu  (frees of addresses no allocation "
	    "in the trace made)\n", (unsigned long long)p->unknown_frees);
	printf("  dropped blocks       %llu  (allocations at a live address: "
	    "the old block is never freed)\n", (unsigned long long)p->dropped);
	printf("  unknown resizes      %llu  (of blocks from before the "
	    "trace: replayed as allocations)\n",
	    (unsigned long long)p->unknown_resizes);
	printf("  unknown xallocx      %llu  (skipped)\n",
	    (unsigned long long)p->unknown_xallocx);
	printf("  xallocx skipped      %llu  (no xallocx here)\n",
	    (unsigned long long)r->xallocx_skipped);
	printf("  failed here          %llu  (succeeded when recorded)\n",
	    (unsigned long long)r->failed);
	printf("  succeeded here       %llu  (failed when recorded; freed at "
	    "once or left in place)\n", (unsigned long long)r->null_ok);
	printf("waits\n");
	printf("  dependency sleeps    %llu  (waits for another thread's block "
	    "that slept)\n", (unsigned long long)r->dep_sleeps);
	printf("  misordered           %llu  (uses of a block their own "
	    "thread makes later in the trace: skipped)\n",
	    (unsigned long long)r->misordered);
	printf("RSS (RssAnon: resident anonymous memory)\n");
	printf("  baseline             %.2f MiB  (before the first call)\n",
	    mib(r->baseline_kib));
	printf("  peak                 %.2f MiB  (of %llu samples, every %.0f "
	    "ms at the end)\n", mib(r->peak_kib),
	    (unsigned long long)r->nsamples, (double)r->sample_ns / 1e6);
	printf("  final                %.2f MiB  (after the last call)\n",
	    mib(r->final_kib));
}

static void
write_result(const char *path, const struct trace *t, const struct plan *p,
    const struct replay_result *r) {
	FILE *f = fopen(path, "w");
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	fprintf(f, "trace_calls %llu\n", (unsigned long long)t->ncalls);
	fprintf(f, "threads %u\n", t->nthreads);
	fprintf(f, "calls %llu\n", (unsigned long long)r->calls);
	fprintf(f, "wall_ns %llu\n", (unsigned long long)r->wall_ns);
	fprintf(f, "baseline_kib %llu\n", (unsigned long long)r->baseline_kib);
	fprintf(f, "peak_kib %llu\n", (unsigned long long)r->peak_kib);
	fprintf(f, "final_kib %llu\n", (unsigned long long)r->final_kib);
	fprintf(f, "samples %llu\n", (unsigned long long)r->nsamples);
	fprintf(f, "unknown_frees %llu\n", (unsigned long long)p->unknown_frees);
	fprintf(f, "dropped %llu\n", (unsigned long long)p->dropped);
	fprintf(f, "unknown_resizes %llu\n",
	    (unsigned long long)p->unknown_resizes);
	fprintf(f, "unknown_xallocx %llu\n",
	    (unsigned long long)p->unknown_xallocx);
	fprintf(f, "xallocx_skipped %llu\n",
	    (unsigned long long)r->xallocx_skipped);
	fprintf(f, "failed %llu\n", (unsigned long long)r->failed);
	fprintf(f, "null_ok %llu\n", (unsigned long long)r->null_ok);
	fprintf(f, "dep_sleeps %llu\n", (unsigned long long)r->dep_sleeps);
	fprintf(f, "misordered %llu\n", (unsigned long long)r->misordered);
	fprintf(f, "on_null_block %llu\n",
	    (unsigned long long)r->on_null_block);
	fprintf(f, "blocks %llu\n", (unsigned long long)p->nblocks_all);
	for (unsigned k = 1; k < OP_NCALL; k++)
		fprintf(f, "calls_%s %llu\n", op_names[k],
		    (unsigned long long)r->calls_op[k]);
	if (fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
}

/* "lo-hi" of bucket k of the sizes (sizes: (2^(k-2), 2^(k-1)]) or the
 * lifetimes ([2^(k-1), 2^k)). */
static void
bucket_label(char *buf, size_t n, unsigned k, bool sizes) {
	uint64_t lo, hi;
	if (k == 0) {
		snprintf(buf, n, "0");
		return;
	}
	if (sizes) {
		lo = k == 1 ? 1 : (UINT64_C(1) << (k - 2)) + 1;
		hi = k == 1 ? 1 : (k - 1 >= 64 ? UINT64_MAX : UINT64_C(1) <<
		    (k - 1));
	} else {
		lo = UINT64_C(1) << (k - 1);
		hi = k >= 64 ? UINT64_MAX : (UINT64_C(1) << k) - 1;
	}
	if (lo == hi)
		snprintf(buf, n, "%llu", (unsigned long long)lo);
	else
		snprintf(buf, n, "%llu-%llu", (unsigned long long)lo,
		    (unsigned long long)hi);
}

static void
print_hist(const char *title, const uint64_t *h, bool sizes) {
	uint64_t total = 0;
	unsigned lo = NBUCKETS, hi = 0;
	char label[64];
	for (unsigned k = 0; k < NBUCKETS; k++) {
		total += h[k];
		if (h[k] != 0) {
			if (k < lo)
				lo = k;
			hi = k;
		}
	}
	printf("%s\n", title);
	if (total == 0) {
		printf("  (none)\n");
		return;
	}
	for (unsigned k = lo; k <= hi; k++) {
		if (h[k] == 0)
			continue;
		bucket_label(label, sizeof(label), k, sizes);
		printf("  %-22s %12llu  %5.1f%%\n", label,
		    (unsigned long long)h[k], 100.0 * (double)h[k] /
		    (double)total);
	}
}

static void
print_summary(const struct trace *t, const struct shape *s,
    const struct plan *p) {
	printf("summary of %s\n", t->path);
	print_file_facts(t);
	printf("calls by kind (NULL: failed calls, and free(NULL))\n");
	for (unsigned k = 1; k < OP_NCALL; k++) {
		if (t->ncalls_op[k] == 0)
			continue;
		printf("  %-20s %12llu", op_names[k],
		    (unsigned long long)t->ncalls_op[k]);
		if (t->nnull_op[k] != 0)
			printf("  (NULL %llu)",
			    (unsigned long long)t->nnull_op[k]);
		printf("\n");
	}
	print_hist("requested sizes of allocations and resizes, bytes, by "
	    "power of two: (2^(k-1), 2^k] (empty ranges left out)",
	    s->size_hist, true);
	print_hist("lifetimes of freed blocks, in calls (of all threads, "
	    "merged by the clock) from allocation to free", s->life_calls,
	    false);
	print_hist("lifetimes of freed blocks, ms (coarse clock)", s->life_ms,
	    false);
	printf("live memory (requested bytes; threads merged by the clock)\n");
	printf("  peak live bytes      %llu  (%llu blocks, at call %llu)\n",
	    (unsigned long long)s->peak_bytes,
	    (unsigned long long)s->peak_blocks,
	    (unsigned long long)s->peak_call);
	printf("  never freed          %llu bytes in %llu blocks\n",
	    (unsigned long long)s->live_bytes,
	    (unsigned long long)s->live_blocks);
	printf("threads\n");
	printf("  cross-thread frees   %llu of %llu frees\n",
	    (unsigned long long)s->cross_frees, (unsigned long long)s->frees);
	printf("  cross-thread resizes %llu of %llu resizes\n",
	    (unsigned long long)s->cross_resizes,
	    (unsigned long long)s->resizes);
	printf("  %-8s %-8s %12s %12s %12s %12s\n", "thread", "tid", "calls",
	    "allocations", "frees", "cross frees");
	for (uint32_t i = 0; i < t->nthreads && i < 32; i++) {
		const struct tthread *th = &t->threads[i];
		printf("  %-8u %-8u %12llu %12llu %12llu %12llu\n", th->number,
		    th->tid, (unsigned long long)th->calls,
		    (unsigned long long)s->thread_allocs[i],
		    (unsigned long long)s->thread_frees[i],
		    (unsigned long long)s->thread_cross[i]);
	}
	if (t->nthreads > 32)
		printf("  (%u more threads)\n", t->nthreads - 32);
	printf("left out by a replay\n");
	printf("  unknown frees        %llu\n",
	    (unsigned long long)p->unknown_frees);
	printf("  dropped blocks       %llu\n", (unsigned long long)p->dropped);
	printf("  unknown resizes      %llu\n",
	    (unsigned long long)p->unknown_resizes);
	printf("  unknown xallocx      %llu\n",
	    (unsigned long long)p->unknown_xallocx);
}

int
main(int argc, char **argv) {
	enum { REPLAY, SUMMARY, DUMP, CHECK, COMPARE } mode = REPLAY;
	struct replay_opts ro = { NULL, 2, -1, NULL };
	struct compare_opts co;
	const char *result = NULL, *expect_lib = NULL, *path = NULL;
	bool quiet = false;

	memset(&co, 0, sizeof(co));
	co.runs = 3;
	co.libs = (const char **)pool_alloc(sizeof(char *) * (size_t)argc);
	co.confs = (const char **)pool_alloc(sizeof(char *) * (size_t)argc);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		char name[32];
		if (a[0] != '-' || a[1] == '\0') {
			if (path != NULL)
				usage_error("more than one trace: %s", a);
			path = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			if (i + 1 < argc)
				path = argv[++i];
			continue;
		}
		const char *eq = strchr(a, '=');
		size_t nl = eq ? (size_t)(eq - a) : strlen(a);
		if (nl >= sizeof(name))
			usage_error("unknown option %s", a);
		memcpy(name, a, nl);
		name[nl] = '\0';
		bool takes = strcmp(name, "--rss-csv") == 0 ||
		    strcmp(name, "--sample-ms") == 0 ||
		    strcmp(name, "--result") == 0 ||
		    strcmp(name, "--stats-at") == 0 ||
		    strcmp(name, "--stats-opts") == 0 ||
		    strcmp(name, "--expect-lib") == 0 ||
		    strcmp(name, "--runs") == 0 ||
		    strcmp(name, "--lib") == 0 ||
		    strcmp(name, "--conf") == 0 ||
		    strcmp(name, "--only") == 0 ||
		    strcmp(name, "--chart") == 0;
		if (takes) {
			if (eq != NULL)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				usage_error("%s needs a value", name);
		} else if (eq != NULL) {
			usage_error("%s takes no value", name);
		}
		if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
			fputs(usage_text, stdout);
			return 0;
		} else if (strcmp(name, "--summary") == 0) {
			mode = SUMMARY;
		} else if (strcmp(name, "--dump") == 0) {
			mode = DUMP;
		} else if (strcmp(name, "--check") == 0) {
			mode = CHECK;
		} else if (strcmp(name, "--compare") == 0) {
			mode = COMPARE;
		} else if (strcmp(name, "--quiet") == 0) {
			quiet = true;
		} else if (strcmp(name, "--rss-csv") == 0) {
			ro.rss_csv = val;
		} else if (strcmp(name, "--sample-ms") == 0) {
			ro.sample_ms = parse_uint(name, val, 1, 60000);
		} else if (strcmp(name, "--result") == 0) {
			result = val;
		} else if (strcmp(name, "--stats-at") == 0) {
			char *end;
			ro.stats_at = strtod(val, &end);
			if (*end != '\0' || end == val || !(ro.stats_at >= 0)
			    || ro.stats_at > 1)
				usage_error("--stats-at wants a share of the "
				    "calls from 0 to 1, not %s", val);
		} else if (strcmp(name, "--stats-opts") == 0) {
			ro.stats_opts = val;
		} else if (strcmp(name, "--expect-lib") == 0) {
			expect_lib = val;
		} else if (strcmp(name, "--runs") == 0) {
			co.runs = parse_uint(name, val, 1, 1000);
		} else if (strcmp(name, "--lib") == 0) {
			if (strchr(val, '=') == NULL || val[0] == '=')
				usage_error("--lib wants NAME=PATH, not %s", val);
			co.libs[co.nlibs++] = val;
		} else if (strcmp(name, "--conf") == 0) {
			if (strchr(val, '=') == NULL || val[0] == '=')
				usage_error("--conf wants NAME=CONF, not %s", val);
			co.confs[co.nconfs++] = val;
		} else if (strcmp(name, "--only") == 0) {
			co.only = val;
		} else if (strcmp(name, "--chart") == 0) {
			co.chart = val;
		} else {
			usage_error("unknown option %s", a);
		}
	}
	if (path == NULL)
		usage_error("%s", "no trace given");
	if (mode != COMPARE && (co.nlibs || co.nconfs || co.only || co.chart))
		usage_error("%s", "--lib, --conf, --only and --chart go with "
		    "--compare");
	if (mode == COMPARE) {
		co.trace = path;
		co.sample_ms = ro.sample_ms;
		return compare_run(&co);
	}
	if (expect_lib != NULL && !lib_loaded(expect_lib))
		die("%s is not loaded: LD_PRELOAD did not take", expect_lib);

	struct trace t;
	struct plan plan;
	trace_open(&t, path);
	if (mode == DUMP)
		print_dump(&t);
	if (mode == CHECK) {
		printf("%s: well formed\n", t.path);
		print_file_facts(&t);
	}
	if (mode == DUMP || mode == CHECK)
		return fflush(stdout) == 0 ? 0 : 1;
	if (mode == SUMMARY) {
		struct shape shape;
		blocks_number(&t, &plan, &shape);
		print_summary(&t, &shape, &plan);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	blocks_number(&t, &plan, NULL);
	struct replay_result r;
	replay_run(&t, &plan, &ro, &r);
	if (!quiet)
		print_report(&t, &plan, &r);
	if (result != NULL)
		write_result(result, &t, &plan, &r);
	if (fflush(stdout) != 0)
		die("standard output: %s", strerror(errno));
	if (r.failed != 0) {
		die("%llu calls that succeeded when recorded failed in this "
		    "replay", (unsigned long long)r.failed);
	}
	return 0;
}
