/*
 * bench/rss/rss.h: what the RSS-over-time workloads share, on top of
 * bench.h: a monotonic clock, phase marks for the sampler and idle periods
 * that make no allocator call at all.
 *
 * A workload writes lines to standard output with write(2) from a stack
 * buffer (stdio would malloc its buffer at the first printf):
 *   @idle_begin <t> <seconds> <live_bytes>   an idle period starts
 *   @idle_end <t>                            it ends
 *   @mark <name> <t>                         any other phase change
 *   checksum=<16 hex digits>                 last line
 * t is CLOCK_MONOTONIC in seconds, the clock bench/rss.py's sampler uses,
 * so it can place the marks on its samples.  live_bytes is what the
 * program holds (requested bytes) while it idles: the floor an ideal
 * allocator would sit on.
 */
#ifndef BENCH_RSS_H
#define BENCH_RSS_H

#include <errno.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "../bench.h"

static inline double
mono(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void
out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void
out(const char *fmt, ...) {
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof buf)
		n = sizeof buf - 1;
	for (int off = 0; off < n;) {
		ssize_t w = write(1, buf + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (int)w;
	}
}

static inline void
mark(const char *name) {
	out("@mark %s %.6f\n", name, mono());
}

/* Sleeps for seconds (no allocator call), between two marks. */
static inline void
idle(double seconds, size_t live_bytes) {
	out("@idle_begin %.6f %.3f %zu\n", mono(), seconds, live_bytes);
	double end = mono() + seconds;
	for (;;) {
		double left = end - mono();
		if (left <= 0)
			break;
		struct timespec ts = {(time_t)left,
		    (long)((left - (double)(time_t)left) * 1e9)};
		nanosleep(&ts, NULL);
	}
	out("@idle_end %.6f\n", mono());
}

static inline void
out_checksum(uint64_t sum) {
	out("checksum=%016llx\n", (unsigned long long)sum);
}

/* Usage of every program: PROG [SCALE [IDLE_S [FINAL_IDLE_S]]]. */
static inline double
arg_double(int argc, char **argv, int i, double def) {
	double v = argc > i ? strtod(argv[i], NULL) : def;
	return v >= 0 ? v : def;
}

#endif
