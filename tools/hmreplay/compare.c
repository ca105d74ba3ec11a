/*
 * compare.c: --compare runs the replay under several allocators and
 * draws the resident memory against the progress of the replay.
 *
 * Each run is hmreplay itself, started again with LD_PRELOAD naming the
 * allocator (none for glibc) and MALLOC_CONF / HMALLOC_CONF cleared, so
 * that no child traces itself and jemalloc never reads hmalloc's options.
 * The child checks that its preload took (--expect-lib: ld.so only warns
 * when it cannot load one) and hands back its figures and samples in
 * files.  This process measures nothing itself, so it may use malloc.
 */
#include "hmreplay.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct point {
	double x;	/* fraction of the calls replayed */
	uint64_t kib;
};

struct run {
	bool ok;
	double wall_ms;
	uint64_t peak_kib, final_kib, calls;
	struct point *pts;
	size_t npts;
};

struct row {
	char name[96];
	char lib[PATH_MAX];	/* empty: no preload */
	char conf[1024];	/* MALLOC_CONF, or empty */
	bool has_conf;
	char env_preload[PATH_MAX + 16];
	char env_conf[1024 + 16];
	struct run *runs;
	unsigned nok;
};

static const char *const search_dirs[] = {
	"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu",
	"/usr/lib/aarch64-linux-gnu", "/lib/aarch64-linux-gnu",
	"/usr/lib64", "/lib64", "/usr/local/lib", "/usr/lib", "/lib", NULL
};

static const struct {
	const char *name;
	const char *files[3];
} known[] = {
	{ "jemalloc", { "libjemalloc.so.2", NULL, NULL } },
	{ "mimalloc", { "libmimalloc.so.2", "libmimalloc.so", NULL } },
	{ "tcmalloc", { "libtcmalloc_minimal.so.4", "libtcmalloc.so.4", NULL } },
};

static const char *const colors[] = {
	"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
	"#e377c2", "#17becf", "#7f7f7f", "#bcbd22"
};
static const char symbols[] = "*o+x#%@&=~";

static double
mib_of(uint64_t kib) {
	return (double)kib / 1024.0;
}

static void *
xcalloc(size_t n, size_t size) {
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		die("out of memory");
	return p;
}

static bool
readable(const char *path) {
	return access(path, R_OK) == 0;
}

static bool
find_lib(const char *const *files, char *out, size_t n) {
	for (unsigned f = 0; f < 3 && files[f] != NULL; f++) {
		for (unsigned d = 0; search_dirs[d] != NULL; d++) {
			snprintf(out, n, "%s/%s", search_dirs[d], files[f]);
			if (readable(out))
				return true;
		}
	}
	return false;
}

static bool
selected(const char *only, const char *name) {
	if (only == NULL)
		return true;
	size_t len = strlen(name);
	for (const char *p = only; *p != '\0';) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == len && memcmp(p, name, len) == 0)
			return true;
		p += l + (e != NULL);
	}
	return false;
}

/* The options without trace and trace_prefix: a replay must not write a
 * trace of itself. */
static void
strip_trace(const char *conf, char *out, size_t n) {
	size_t o = 0;
	out[0] = '\0';
	for (const char *p = conf; *p != '\0';) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		const char *colon = memchr(p, ':', l);
		size_t kl = colon ? (size_t)(colon - p) : l;
		bool drop = (kl == 5 && memcmp(p, "trace", 5) == 0) ||
		    (kl == 12 && memcmp(p, "trace_prefix", 12) == 0);
		if (drop) {
			fprintf(stderr, "hmreplay: compare: leaving out %.*s\n",
			    (int)l, p);
		} else if (l > 0 && o + l + 2 < n) {
			if (o > 0)
				out[o++] = ',';
			memcpy(out + o, p, l);
			o += l;
			out[o] = '\0';
		}
		p += l + (e != NULL);
	}
}

static unsigned
build_rows(const struct compare_opts *o, const char *self, struct row **out) {
	unsigned cap = 8 + o->nlibs + o->nconfs, n = 0;
	struct row *rows = xcalloc(cap, sizeof(*rows));
	/* (Room left in hm for the file name after dir.) */
	char hm[PATH_MAX], dir[PATH_MAX - 64];
	const char *env = getenv("HMREPLAY_HMALLOC");

	/* hmalloc: beside the binary, bin/../lib. */
	if (env != NULL && env[0] != '\0') {
		snprintf(hm, sizeof(hm), "%s", env);
	} else {
		snprintf(dir, sizeof(dir), "%.*s", (int)sizeof(dir) - 1, self);
		char *slash = strrchr(dir, '/');
		if (slash != NULL)
			*slash = '\0';
		snprintf(hm, sizeof(hm), "%s/../lib/libhmalloc.so", dir);
	}
	snprintf(rows[n].name, sizeof(rows[n].name), "hmalloc");
	snprintf(rows[n].lib, sizeof(rows[n].lib), "%s", hm);
	n++;
	snprintf(rows[n].name, sizeof(rows[n].name), "glibc");
	n++;
	for (unsigned k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
		char path[PATH_MAX];
		if (find_lib(known[k].files, path, sizeof(path))) {
			snprintf(rows[n].name, sizeof(rows[n].name), "%s",
			    known[k].name);
			snprintf(rows[n].lib, sizeof(rows[n].lib), "%s", path);
			n++;
		}
	}
	for (unsigned k = 0; k < o->nlibs; k++) {
		const char *eq = strchr(o->libs[k], '=');
		char name[96];
		snprintf(name, sizeof(name), "%.*s", (int)(eq - o->libs[k]),
		    o->libs[k]);
		unsigned i;
		for (i = 0; i < n; i++)
			if (strcmp(rows[i].name, name) == 0)
				break;
		if (i == n)
			n++;
		snprintf(rows[i].name, sizeof(rows[i].name), "%s", name);
		snprintf(rows[i].lib, sizeof(rows[i].lib), "%s", eq + 1);
	}
	/* Selection, then the hmalloc option rows. */
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++) {
		if (selected(o->only, rows[i].name))
			rows[m++] = rows[i];
	}
	n = m;
	for (unsigned k = 0; k < o->nconfs; k++) {
		const char *eq = strchr(o->confs[k], '=');
		struct row *r = &rows[n++];
		memset(r, 0, sizeof(*r));
		snprintf(r->name, sizeof(r->name), "hmalloc %.*s",
		    (int)(eq - o->confs[k]), o->confs[k]);
		snprintf(r->lib, sizeof(r->lib), "%s", hm);
		strip_trace(eq + 1, r->conf, sizeof(r->conf));
		r->has_conf = true;
	}
	for (unsigned i = 0; i < n; i++) {
		char real[PATH_MAX];
		if (rows[i].lib[0] == '\0')
			continue;
		if (realpath(rows[i].lib, real) == NULL) {
			die("compare: %s: library %s: %s", rows[i].name,
			    rows[i].lib, strerror(errno));
		}
		snprintf(rows[i].lib, sizeof(rows[i].lib), "%s", real);
	}
	*out = rows;
	return n;
}

static char **
child_env(struct row *r) {
	size_t n = 0, k = 0;
	while (environ[n] != NULL)
		n++;
	char **env = xcalloc(n + 3, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "LD_PRELOAD=", 11) == 0 ||
		    strncmp(environ[i], "MALLOC_CONF=", 12) == 0 ||
		    strncmp(environ[i], "HMALLOC_CONF=", 13) == 0)
			continue;
		env[k++] = environ[i];
	}
	if (r->lib[0] != '\0') {
		snprintf(r->env_preload, sizeof(r->env_preload),
		    "LD_PRELOAD=%s", r->lib);
		env[k++] = r->env_preload;
	}
	if (r->has_conf && r->conf[0] != '\0') {
		snprintf(r->env_conf, sizeof(r->env_conf), "MALLOC_CONF=%s",
		    r->conf);
		env[k++] = r->env_conf;
	}
	env[k] = NULL;
	return env;
}

static void
show_tail(const char *path) {
	FILE *f = fopen(path, "r");
	char line[512];
	char *lines[8] = { 0 };
	unsigned n = 0;
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		free(lines[n % 8]);
		lines[n % 8] = strdup(line);
		n++;
	}
	fclose(f);
	for (unsigned i = n > 8 ? n - 8 : 0; i < n; i++) {
		fprintf(stderr, "    | %s", lines[i % 8]);
		if (strchr(lines[i % 8], '\n') == NULL)
			fputc('\n', stderr);
	}
	for (unsigned i = 0; i < 8; i++)
		free(lines[i]);
}

static bool
read_result(const char *path, struct run *r) {
	FILE *f = fopen(path, "r");
	char key[64];
	unsigned long long v;
	unsigned got = 0;
	if (f == NULL)
		return false;
	while (fscanf(f, "%63s %llu", key, &v) == 2) {
		if (strcmp(key, "wall_ns") == 0) {
			r->wall_ms = (double)v / 1e6;
			got++;
		} else if (strcmp(key, "peak_kib") == 0) {
			r->peak_kib = v;
			got++;
		} else if (strcmp(key, "final_kib") == 0) {
			r->final_kib = v;
			got++;
		} else if (strcmp(key, "calls") == 0) {
			r->calls = v;
			got++;
		}
	}
	fclose(f);
	return got == 4;
}

static void
read_csv(const char *path, struct run *r) {
	FILE *f = fopen(path, "r");
	char line[256];
	size_t cap = 0;
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		double ms, frac;
		unsigned long long calls, kib;
		if (sscanf(line, "%lf,%llu,%lf,%llu", &ms, &calls, &frac,
		    &kib) != 4)
			continue;
		if (r->npts == cap) {
			cap = cap ? cap * 2 : 1024;
			r->pts = realloc(r->pts, cap * sizeof(*r->pts));
			if (r->pts == NULL)
				die("out of memory");
		}
		r->pts[r->npts].x = frac;
		r->pts[r->npts].kib = kib;
		r->npts++;
	}
	fclose(f);
}

static void
one_run(const char *self, const char *dir, const struct compare_opts *o,
    struct row *row, unsigned ri, unsigned k) {
	char res[PATH_MAX], csv[PATH_MAX], err[PATH_MAX], ms[16];
	struct run *run = &row->runs[k];
	snprintf(res, sizeof(res), "%s/%u.%u.result", dir, ri, k);
	snprintf(csv, sizeof(csv), "%s/%u.%u.csv", dir, ri, k);
	snprintf(err, sizeof(err), "%s/%u.%u.err", dir, ri, k);
	snprintf(ms, sizeof(ms), "%u", o->sample_ms);
	const char *argv[16];
	unsigned a = 0;
	argv[a++] = self;
	argv[a++] = "--quiet";
	argv[a++] = "--result";
	argv[a++] = res;
	argv[a++] = "--rss-csv";
	argv[a++] = csv;
	argv[a++] = "--sample-ms";
	argv[a++] = ms;
	if (row->lib[0] != '\0') {
		argv[a++] = "--expect-lib";
		argv[a++] = row->lib;
	}
	argv[a++] = "--";
	argv[a++] = o->trace;
	argv[a] = NULL;
	char **env = child_env(row);

	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int nul = open("/dev/null", O_RDWR);
		if (fd < 0 || nul < 0)
			_exit(127);
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(fd, 2);
		execve(self, (char *const *)argv, env);
		dprintf(2, "hmreplay: exec %s: %s\n", self, strerror(errno));
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	}
	free(env);
	run->ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    read_result(res, run);
	if (!run->ok) {
		if (WIFSIGNALED(status)) {
			fprintf(stderr, "hmreplay: compare: %s, run %u: killed "
			    "by signal %d\n", row->name, k + 1, WTERMSIG(status));
		} else {
			fprintf(stderr, "hmreplay: compare: %s, run %u: failed "
			    "(exit status %d)\n", row->name, k + 1,
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		}
		show_tail(err);
	} else {
		read_csv(csv, run);
		row->nok++;
	}
	unlink(res);
	unlink(csv);
	unlink(err);
}

static int
cmp_double(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The lower median, and min and max, of field f of the row's good runs. */
struct stat3 {
	double med, min, max;
};

static struct stat3
stat_of(const struct row *row, unsigned runs, int f) {
	double v[1000];
	unsigned n = 0;
	struct stat3 s = { 0, 0, 0 };
	for (unsigned k = 0; k < runs; k++) {
		const struct run *r = &row->runs[k];
		if (!r->ok)
			continue;
		v[n++] = f == 0 ? r->wall_ms : f == 1 ? mib_of(r->peak_kib) :
		    mib_of(r->final_kib);
	}
	if (n == 0)
		return s;
	qsort(v, n, sizeof(double), cmp_double);
	s.med = v[(n - 1) / 2];
	s.min = v[0];
	s.max = v[n - 1];
	return s;
}

/* The run of median wall time: the one the charts draw. */
static const struct run *
median_run(const struct row *row, unsigned runs) {
	struct stat3 s = stat_of(row, runs, 0);
	for (unsigned k = 0; k < runs; k++) {
		if (row->runs[k].ok && row->runs[k].wall_ms == s.med)
			return &row->runs[k];
	}
	return NULL;
}

static double
nice_ceil(double v) {
	double step = 1;
	if (v <= 0)
		return 1;
	while (step * 10 < v)
		step *= 10;
	while (step > v * 10)
		step /= 10;
	static const double m[] = { 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10 };
	for (unsigned i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (m[i] * step >= v)
			return m[i] * step;
	return 10 * step;
}

static void
xml_text(FILE *f, const char *s) {
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

static void
write_svg(const char *path, const char *trace, struct row *rows,
    unsigned nrows, unsigned runs, double ymax) {
	const double W = 900, H = 480, L = 70, R = 190, T = 40, B = 50;
	const double pw = W - L - R, ph = H - T - B;
	FILE *f = fopen(path, "w");
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
	    "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
	    "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
	fprintf(f, "<title>RssAnon during the replay of ");
	xml_text(f, trace);
	fprintf(f, "</title>\n");
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" "
	    "fill=\"white\"/>\n", W, H);
	fprintf(f, "<text x=\"%.0f\" y=\"22\" font-size=\"14\">RssAnon during "
	    "the replay of ", L);
	xml_text(f, trace);
	fprintf(f, " (each allocator's run of median wall time)</text>\n");
	for (unsigned i = 0; i <= 4; i++) {
		double x = L + pw * i / 4, y = T + ph - ph * i / 4;
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
		    "y2=\"%.1f\" stroke=\"#dddddd\"/>\n", x, T, x, T + ph);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
		    "y2=\"%.1f\" stroke=\"#dddddd\"/>\n", L, y, L + pw, y);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" "
		    "text-anchor=\"middle\">%u%%</text>\n", x, T + ph + 18,
		    i * 25);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">"
		    "%g</text>\n", L - 6, y + 4, ymax * i / 4);
	}
	fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
	    "stroke=\"black\"/>\n", L, T + ph, L + pw, T + ph);
	fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
	    "stroke=\"black\"/>\n", L, T, L, T + ph);
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">calls "
	    "replayed</text>\n", L + pw / 2, H - 10);
	fprintf(f, "<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" "
	    "transform=\"rotate(-90 16 %.1f)\">RssAnon (MiB)</text>\n",
	    T + ph / 2, T + ph / 2);
	unsigned drawn = 0;
	for (unsigned i = 0; i < nrows; i++) {
		const struct run *r = median_run(&rows[i], runs);
		const char *color = colors[i % (sizeof(colors) /
		    sizeof(colors[0]))];
		if (r == NULL || r->npts == 0)
			continue;
		size_t step = r->npts / 2000 + 1;
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" "
		    "stroke-width=\"1.5\" points=\"", color);
		for (size_t k = 0; k < r->npts; k += step) {
			const struct point *pt = &r->pts[k];
			fprintf(f, "%s%.1f,%.1f", k ? " " : "", L + pw * pt->x,
			    T + ph - ph * mib_of(pt->kib) / ymax);
		}
		if ((r->npts - 1) % step != 0) {
			const struct point *pt = &r->pts[r->npts - 1];
			fprintf(f, " %.1f,%.1f", L + pw * pt->x,
			    T + ph - ph * mib_of(pt->kib) / ymax);
		}
		fprintf(f, "\"/>\n");
		double ly = T + 10 + 20 * drawn++;
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
		    "y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>\n",
		    L + pw + 15, ly, L + pw + 40, ly, color);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", L + pw + 46, ly + 4);
		xml_text(f, rows[i].name);
		fprintf(f, "</text>\n");
	}
	fprintf(f, "</svg>\n");
	if (fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
}

static void
text_chart(struct row *rows, unsigned nrows, unsigned runs, double ymax) {
	enum { CW = 64, CH = 12 };
	char grid[CH][CW + 1];
	memset(grid, ' ', sizeof(grid));
	for (unsigned y = 0; y < CH; y++)
		grid[y][CW] = '\0';
	for (unsigned i = 0; i < nrows; i++) {
		const struct run *r = median_run(&rows[i], runs);
		if (r == NULL || r->npts == 0)
			continue;
		char sym = symbols[i % (sizeof(symbols) - 1)];
		size_t k = 0;
		double last = -1;
		for (unsigned c = 0; c < CW; c++) {
			double hi = (double)(c + 1) / CW, v = -1;
			while (k < r->npts && (r->pts[k].x < hi || c == CW - 1)) {
				double m = mib_of(r->pts[k].kib);
				if (m > v)
					v = m;
				k++;
			}
			if (v < 0)
				v = last;
			if (v < 0)
				continue;
			last = v;
			int y = (int)(v / ymax * (CH - 1) + 0.5);
			if (y > CH - 1)
				y = CH - 1;
			grid[CH - 1 - y][c] = sym;
		}
	}
	printf("\nRssAnon (MiB) against calls replayed, each allocator's run "
	    "of median wall time\n");
	for (unsigned y = 0; y < CH; y++) {
		double v = ymax * (double)(CH - 1 - y) / (CH - 1);
		if (y == 0 || y == CH - 1 || y == CH / 2)
			printf("%9.1f |%s\n", v, grid[y]);
		else
			printf("%9s |%s\n", "", grid[y]);
	}
	printf("%9s +", "");
	for (unsigned c = 0; c < CW; c++)
		putchar(c % 16 == 0 ? '+' : '-');
	printf("\n%9s 0%%%14s25%%%13s50%%%13s75%%%12s100%%\n", "", "", "", "",
	    "");
	printf("%9s ", "");
	for (unsigned i = 0; i < nrows; i++)
		printf(" %c %s ", symbols[i % (sizeof(symbols) - 1)],
		    rows[i].name);
	printf("\n");
}

int
compare_run(const struct compare_opts *o) {
	char self[PATH_MAX], dir[PATH_MAX - 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		die("cannot find my own executable: %s", strerror(errno));
	self[n] = '\0';

	/* The trace is checked here once, so that a bad file fails before
	 * any run. */
	struct trace t;
	trace_open(&t, o->trace);

	struct row *rows;
	unsigned nrows = build_rows(o, self, &rows);
	if (nrows == 0)
		die("compare: no allocator left to run");
	for (unsigned i = 0; i < nrows; i++)
		rows[i].runs = xcalloc(o->runs, sizeof(struct run));

	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%.*s/hmreplay.XXXXXX",
	    (int)sizeof(dir) - 20, tmp && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp %s: %s", dir, strerror(errno));

	printf("comparing %u allocators on %s (%llu calls, %u threads), %u "
	    "run%s each, round robin\n", nrows, o->trace,
	    (unsigned long long)t.ncalls, t.nthreads, o->runs,
	    o->runs == 1 ? "" : "s");
	for (unsigned i = 0; i < nrows; i++) {
		printf("  %-20s %s%s%s\n", rows[i].name, rows[i].lib[0] ?
		    rows[i].lib : "(no preload)", rows[i].has_conf ?
		    "  MALLOC_CONF=" : "", rows[i].conf);
	}
	fflush(stdout);
	for (unsigned k = 0; k < o->runs; k++)
		for (unsigned i = 0; i < nrows; i++)
			one_run(self, dir, o, &rows[i], i, k);
	rmdir(dir);

	bool failed = false;
	uint64_t calls = 0;
	double ymax = 0;
	printf("\n%-20s %27s   %27s   %9s\n", "", "wall time (ms)",
	    "peak RssAnon (MiB)", "final");
	printf("%-20s %9s %8s %8s   %9s %8s %8s   %9s\n", "allocator", "median",
	    "min", "max", "median", "min", "max", "median");
	for (unsigned i = 0; i < nrows; i++) {
		struct row *row = &rows[i];
		if (row->nok != o->runs)
			failed = true;
		if (row->nok == 0) {
			printf("%-20s failed\n", row->name);
			continue;
		}
		struct stat3 w = stat_of(row, o->runs, 0);
		struct stat3 p = stat_of(row, o->runs, 1);
		struct stat3 f = stat_of(row, o->runs, 2);
		printf("%-20s %9.2f %8.2f %8.2f   %9.2f %8.2f %8.2f   %9.2f",
		    row->name, w.med, w.min, w.max, p.med, p.min, p.max, f.med);
		if (row->nok != o->runs)
			printf("  (%u of %u runs failed)", o->runs - row->nok,
			    o->runs);
		printf("\n");
		for (unsigned k = 0; k < o->runs; k++) {
			const struct run *r = &row->runs[k];
			if (!r->ok)
				continue;
			if (calls != 0 && r->calls != calls) {
				fprintf(stderr, "hmreplay: compare: %s replayed "
				    "%llu calls, another run %llu\n", row->name,
				    (unsigned long long)r->calls,
				    (unsigned long long)calls);
				failed = true;
			}
			calls = r->calls;
		}
		const struct run *m = median_run(row, o->runs);
		for (size_t k = 0; m != NULL && k < m->npts; k++)
			if (mib_of(m->pts[k].kib) > ymax)
				ymax = mib_of(m->pts[k].kib);
	}
	ymax = nice_ceil(ymax);
	text_chart(rows, nrows, o->runs, ymax);
	if (o->chart != NULL) {
		write_svg(o->chart, o->trace, rows, nrows, o->runs, ymax);
		printf("chart: %s\n", o->chart);
	}
	if (fflush(stdout) != 0)
		die("standard output: %s", strerror(errno));
	return failed ? 1 : 0;
}
