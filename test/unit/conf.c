/*
 * Options (conf.h, conf.c): hm_conf_parse sets options from valid pairs,
 * reports each invalid pair on one line of stderr and counts it, checks
 * bounds, reads hex and negative numbers; hm_conf_find; hm_conf_read_link;
 * abort_conf:true turns an invalid pair into SIGABRT at start-up.
 *
 * The options are the running allocator's (lg_chunk, zero and dss change
 * how it behaves), so every parse runs between a save and a restore of
 * all of them, with nothing allocated in between; the tests then look at
 * the values the parse produced in the saved copy.
 */
#include "unit_util.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "conf.h"
#include "decay.h"
#include "os.h"
#include "prof.h"
#include "secure.h"

#define MAX_OPTS 64

typedef struct conf_values_s {
	unsigned char v[MAX_OPTS][OPT_STRING_MAX];
} conf_values_t;

static size_t
opt_size(const conf_opt_t *o) {
	switch (o->type) {
	case CONF_BOOL: return sizeof(bool);
	case CONF_UNSIGNED: return sizeof(unsigned);
	case CONF_SSIZE: return sizeof(ssize_t);
	case CONF_SIZE: return sizeof(size_t);
	case CONF_ENUM: return sizeof(unsigned);
	case CONF_STRING:
	case CONF_SLAB_SIZES: return OPT_STRING_MAX;
	}
	return 0;
}

static void
conf_save(conf_values_t *s) {
	if (hm_conf_nopts > MAX_OPTS) {
		/* A new option outgrew the copy: say so, not overrun it. */
		fprintf(stderr, "test/unit/conf.c: MAX_OPTS < %u options\n",
		    hm_conf_nopts);
		abort();
	}
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < hm_conf_nopts; i++)
		memcpy(s->v[i], hm_conf_opts[i].ptr, opt_size(&hm_conf_opts[i]));
}

static void
conf_restore(const conf_values_t *s) {
	for (unsigned i = 0; i < hm_conf_nopts; i++)
		memcpy(hm_conf_opts[i].ptr, s->v[i], opt_size(&hm_conf_opts[i]));
}

static unsigned
opt_index(const char *name) {
	const conf_opt_t *o = hm_conf_find(name, strlen(name));
	if (o == NULL) {
		expect_not_reached("no option \"%s\"", name);
		return 0;
	}
	return (unsigned)(o - hm_conf_opts);
}

/* Reads option name out of a saved set, as a signed 64-bit number (bool,
 * unsigned, enum index, ssize_t, size_t). */
static int64_t
val(const conf_values_t *s, const char *name) {
	unsigned i = opt_index(name);
	const unsigned char *p = s->v[i];
	switch (hm_conf_opts[i].type) {
	case CONF_BOOL: { bool b; memcpy(&b, p, sizeof(b)); return b; }
	case CONF_UNSIGNED:
	case CONF_ENUM: { unsigned u; memcpy(&u, p, sizeof(u)); return u; }
	case CONF_SSIZE: { ssize_t z; memcpy(&z, p, sizeof(z)); return z; }
	case CONF_SIZE: { size_t z; memcpy(&z, p, sizeof(z)); return (int64_t)z; }
	case CONF_STRING:
	case CONF_SLAB_SIZES: break;
	}
	return -12345;
}

static const char *
sval(const conf_values_t *s, const char *name) {
	return (const char *)s->v[opt_index(name)];
}

typedef struct parse_result_s {
	unsigned nbad;
	conf_values_t before, after;
	char err[4096];
} parse_result_t;

/* Parses str into the live options and restores them at once. */
static void
parse(const char *str, parse_result_t *r) {
	capture_t c;
	capture_begin(&c);
	conf_save(&r->before);
	r->nbad = hm_conf_parse(str, "test");
	conf_save(&r->after);
	conf_restore(&r->before);
	capture_end(&c, r->err, sizeof(r->err));
}

/* The options other than the named ones kept their values. */
static void
expect_others_unchanged(const parse_result_t *r, const char *s,
    const char *n1, const char *n2) {
	for (unsigned i = 0; i < hm_conf_nopts; i++) {
		const char *name = hm_conf_opts[i].name;
		if ((n1 != NULL && strcmp(name, n1) == 0)
		    || (n2 != NULL && strcmp(name, n2) == 0))
			continue;
		expect_d_eq(memcmp(r->before.v[i], r->after.v[i],
		    opt_size(&hm_conf_opts[i])), 0, "\"%s\" changed option %s",
		    s, name);
	}
}

static parse_result_t res; /* large: not on the stack */

TEST_BEGIN(test_parse_valid)
	unit_boot();
	parse("narenas:3,junk:true", &res);
	expect_d_eq(res.nbad, 0, "invalid pairs");
	expect_str_eq(res.err, "", "stderr");
	expect_d_eq(val(&res.after, "narenas"), 3, "narenas");
	expect_d_eq(val(&res.after, "junk"), 1, "junk (index of \"true\")");
	expect_others_unchanged(&res, "narenas:3,junk:true", "narenas", "junk");

	const char *all = "abort:false,abort_conf:false,confirm_conf:false,"
	    "narenas:17,lg_chunk:22,dss:primary,dirty_decay_ms:-1,junk:free,"
	    "zero:true,stats_print:true,stats_print_opts:gmb";
	parse(all, &res);
	expect_d_eq(res.nbad, 0, "invalid pairs in \"%s\"", all);
	expect_str_eq(res.err, "", "stderr");
	expect_d_eq(val(&res.after, "abort"), 0, "abort");
	expect_d_eq(val(&res.after, "abort_conf"), 0, "abort_conf");
	expect_d_eq(val(&res.after, "narenas"), 17, "narenas");
	expect_d_eq(val(&res.after, "lg_chunk"), 22, "lg_chunk");
	expect_d_eq(val(&res.after, "dss"), DSS_PRIMARY, "dss");
	expect_d_eq(val(&res.after, "dirty_decay_ms"), -1, "dirty_decay_ms");
	expect_d_eq(val(&res.after, "junk"), 3, "junk (index of \"free\")");
	expect_d_eq(val(&res.after, "zero"), 1, "zero");
	expect_d_eq(val(&res.after, "stats_print"), 1, "stats_print");
	expect_str_eq(sval(&res.after, "stats_print_opts"), "gmb",
	    "stats_print_opts");

	/* The last value wins; a trailing comma ends the list. */
	parse("narenas:3,narenas:7,", &res);
	expect_d_eq(res.nbad, 0, "invalid pairs");
	expect_d_eq(val(&res.after, "narenas"), 7, "narenas");
	expect_str_eq(res.err, "", "stderr");

	parse("", &res);
	expect_d_eq(res.nbad, 0, "empty string");
	expect_others_unchanged(&res, "", NULL, NULL);

	/* The options really were restored. */
	expect_d_eq(opt_narenas, hm_narenas, "opt_narenas after the parses");
	expect_zu_eq((size_t)1 << opt_lg_chunk, hm_chunksize,
	    "opt_lg_chunk after the parses");
TEST_END

/* Each bad pair: counted once, reported as written, option untouched. */
static const struct {
	const char *conf;
	const char *line;
} bad_pairs[] = {
	{"narenas:abc", "<hmalloc>: Invalid conf pair: narenas:abc\n"},
	{"nokey:1", "<hmalloc>: Invalid conf pair: nokey:1\n"},
	{"narenas", "<hmalloc>: Invalid conf pair: narenas\n"},
	{"lg_chunk:99", "<hmalloc>: Invalid conf pair: lg_chunk:99\n"},
	{"dss:bogus", "<hmalloc>: Invalid conf pair: dss:bogus\n"},
	{":", "<hmalloc>: Invalid conf pair: :\n"},
	{"a:b:c", "<hmalloc>: Invalid conf pair: a:b:c\n"},
	{"narenas:", "<hmalloc>: Invalid conf pair: narenas:\n"},
	{"narenas: 3", "<hmalloc>: Invalid conf pair: narenas: 3\n"},
	{"narenas:3x", "<hmalloc>: Invalid conf pair: narenas:3x\n"},
	{"narenas:0x", "<hmalloc>: Invalid conf pair: narenas:0x\n"},
	{"narenas:-", "<hmalloc>: Invalid conf pair: narenas:-\n"},
	{"NARENAS:3", "<hmalloc>: Invalid conf pair: NARENAS:3\n"},
	{"zero:1", "<hmalloc>: Invalid conf pair: zero:1\n"},
	{"zero:TRUE", "<hmalloc>: Invalid conf pair: zero:TRUE\n"},
	{"junk:yes", "<hmalloc>: Invalid conf pair: junk:yes\n"},
	{"junk:", "<hmalloc>: Invalid conf pair: junk:\n"},
};

TEST_BEGIN(test_parse_invalid)
	unit_boot();
	static char joined[1024], lines[4096];
	joined[0] = lines[0] = '\0';
	for (size_t i = 0; i < HM_ARRAY_SIZE(bad_pairs); i++) {
		parse(bad_pairs[i].conf, &res);
		expect_d_eq(res.nbad, 1, "invalid pairs in \"%s\"",
		    bad_pairs[i].conf);
		expect_str_eq(res.err, bad_pairs[i].line, "stderr for \"%s\"",
		    bad_pairs[i].conf);
		expect_others_unchanged(&res, bad_pairs[i].conf, NULL, NULL);
		if (i < 7) { /* the ones the pattern below joins */
			if (i > 0)
				strcat(joined, ",");
			strcat(joined, bad_pairs[i].conf);
			strcat(lines, bad_pairs[i].line);
		}
	}
	parse(joined, &res);
	expect_d_eq(res.nbad, 7, "invalid pairs in \"%s\"", joined);
	expect_str_eq(res.err, lines, "stderr for \"%s\"", joined);
	expect_others_unchanged(&res, joined, NULL, NULL);

	/* Good pairs around bad ones still apply. */
	parse("narenas:abc,narenas:5,bogus:1,zero:true", &res);
	expect_d_eq(res.nbad, 2, "invalid pairs");
	expect_d_eq(val(&res.after, "narenas"), 5, "narenas");
	expect_d_eq(val(&res.after, "zero"), 1, "zero");
	expect_str_eq(res.err, "<hmalloc>: Invalid conf pair: narenas:abc\n"
	    "<hmalloc>: Invalid conf pair: bogus:1\n", "stderr");

	/* A string too long for stats_print_opts (OPT_STRING_MAX - 1
	 * characters fit). */
	char conf[OPT_STRING_MAX + 64], line[OPT_STRING_MAX + 128];
	memset(conf, 0, sizeof(conf));
	strcpy(conf, "stats_print_opts:");
	memset(conf + strlen(conf), 'g', OPT_STRING_MAX);
	snprintf(line, sizeof(line), "<hmalloc>: Invalid conf pair: %s\n", conf);
	parse(conf, &res);
	expect_d_eq(res.nbad, 1, "%d-character string", OPT_STRING_MAX);
	expect_str_eq(res.err, line, "stderr");
	conf[strlen(conf) - 1] = '\0';
	parse(conf, &res);
	expect_d_eq(res.nbad, 0, "%d-character string", OPT_STRING_MAX - 1);
	expect_zu_eq(strlen(sval(&res.after, "stats_print_opts")),
	    OPT_STRING_MAX - 1, "stats_print_opts length");
TEST_END

/* Values at and past the bounds, signs, hex, overflow. */
static const struct {
	const char *conf;
	const char *name;
	bool ok;
	int64_t value;
} values[] = {
	{"narenas:1", "narenas", true, 1},
	{"narenas:4096", "narenas", true, 4096},
	{"narenas:0", "narenas", false, 0},
	{"narenas:4097", "narenas", false, 0},
	{"narenas:-1", "narenas", false, 0},
	{"narenas:+3", "narenas", true, 3},
	{"narenas:007", "narenas", true, 7},
	{"narenas:4294967297", "narenas", false, 0},
	{"narenas:99999999999999999999", "narenas", false, 0},
	{"narenas:0x10", "narenas", true, 16},
	{"narenas:0X1F", "narenas", true, 31},
	{"narenas:0xfFf", "narenas", true, 4095},
	{"narenas:0x1000", "narenas", true, 4096},
	{"narenas:0x1001", "narenas", false, 0},
	{"narenas:0xg", "narenas", false, 0},
	{"narenas:0x10000000000000000", "narenas", false, 0},
	{"lg_chunk:18", "lg_chunk", true, 18},
	{"lg_chunk:30", "lg_chunk", true, 30},
	{"lg_chunk:17", "lg_chunk", false, 0},
	{"lg_chunk:31", "lg_chunk", false, 0},
	{"lg_chunk:0x15", "lg_chunk", true, 21},
	{"lg_chunk:-21", "lg_chunk", false, 0},
	{"dirty_decay_ms:-1", "dirty_decay_ms", true, -1},
	{"dirty_decay_ms:0", "dirty_decay_ms", true, 0},
	{"dirty_decay_ms:1099511627776", "dirty_decay_ms", true, 1099511627776LL},
	{"dirty_decay_ms:-2", "dirty_decay_ms", false, 0},
	{"dirty_decay_ms:1099511627777", "dirty_decay_ms", false, 0},
	{"dirty_decay_ms:-0x1", "dirty_decay_ms", true, -1},
	{"dirty_decay_ms:-0", "dirty_decay_ms", true, 0},
	{"dirty_decay_ms:9223372036854775807", "dirty_decay_ms", false, 0},
	{"dirty_decay_ms:-9223372036854775808", "dirty_decay_ms", false, 0},
	{"dirty_decay_ms:18446744073709551615", "dirty_decay_ms", false, 0},
	{"abort:true", "abort", true, 1},
	{"abort:false", "abort", true, 0},
	{"junk:false", "junk", true, 0},
	{"junk:true", "junk", true, 1},
	{"junk:alloc", "junk", true, 2},
	{"junk:free", "junk", true, 3},
	{"dss:disabled", "dss", true, DSS_DISABLED},
	{"dss:primary", "dss", true, DSS_PRIMARY},
	{"dss:secondary", "dss", true, DSS_SECONDARY},
};

TEST_BEGIN(test_values)
	unit_boot();
	for (size_t i = 0; i < HM_ARRAY_SIZE(values); i++) {
		parse(values[i].conf, &res);
		expect_d_eq(res.nbad, values[i].ok ? 0 : 1, "invalid pairs in "
		    "\"%s\"", values[i].conf);
		if (values[i].ok) {
			expect_d_eq(val(&res.after, values[i].name),
			    values[i].value, "\"%s\"", values[i].conf);
			expect_str_eq(res.err, "", "stderr for \"%s\"",
			    values[i].conf);
			expect_others_unchanged(&res, values[i].conf,
			    values[i].name, NULL);
		} else {
			char line[160];
			snprintf(line, sizeof(line),
			    "<hmalloc>: Invalid conf pair: %s\n", values[i].conf);
			expect_str_eq(res.err, line, "stderr for \"%s\"",
			    values[i].conf);
			expect_others_unchanged(&res, values[i].conf, NULL, NULL);
		}
	}
TEST_END

TEST_BEGIN(test_confirm_conf)
	unit_boot();
	capture_t c;
	conf_values_t saved;
	capture_begin(&c);
	conf_save(&saved);
	opt_confirm_conf = true;
	unsigned nbad = hm_conf_parse("narenas:2,bogus:1", "SRC");
	conf_restore(&saved);
	capture_end(&c, res.err, sizeof(res.err));
	expect_d_eq(nbad, 1, "invalid pairs");
	expect_str_eq(res.err, "<hmalloc>: conf from SRC: \"narenas:2,bogus:1\"\n"
	    "<hmalloc>: Invalid conf pair: bogus:1\n", "confirm_conf output");
TEST_END

TEST_BEGIN(test_find)
	unit_boot();
	for (unsigned i = 0; i < hm_conf_nopts; i++) {
		const char *name = hm_conf_opts[i].name;
		expect_ptr_eq(hm_conf_find(name, strlen(name)), &hm_conf_opts[i],
		    "hm_conf_find(\"%s\")", name);
		expect_ptr_not_null(hm_conf_opts[i].ptr, "option %s", name);
		for (unsigned j = 0; j < i; j++)
			expect_str_ne(name, hm_conf_opts[j].name, "duplicate name");
	}
	/* The length, not a NUL, ends the name. */
	expect_ptr_eq(hm_conf_find("narenas:3", 7), &hm_conf_opts[opt_index(
	    "narenas")], "hm_conf_find(\"narenas:3\", 7)");
	expect_ptr_null(hm_conf_find("narenas:3", 9), "with the value");
	expect_ptr_null(hm_conf_find("narena", 6), "a prefix");
	expect_ptr_null(hm_conf_find("narenasx", 8), "a longer name");
	expect_ptr_null(hm_conf_find("NARENAS", 7), "upper case");
	expect_ptr_null(hm_conf_find("", 0), "empty");
	expect_ptr_null(hm_conf_find("prof_log", 8), "jemalloc-only option");
	expect_ptr_eq(hm_conf_find("prof_leak", 9)->ptr, &opt_prof_leak,
	    "prof_leak");
	/* The variables behind the names. */
	expect_ptr_eq(hm_conf_find("narenas", 7)->ptr, &opt_narenas, "narenas");
	expect_ptr_eq(hm_conf_find("lg_chunk", 8)->ptr, &opt_lg_chunk,
	    "lg_chunk");
	expect_ptr_eq(hm_conf_find("dirty_decay_ms", 14)->ptr,
	    &opt_dirty_decay_ms, "dirty_decay_ms");
	expect_ptr_eq(hm_conf_find("junk", 4)->ptr, &opt_junk, "junk");
	expect_ptr_eq(hm_conf_find("dss", 3)->ptr, &opt_dss, "dss");
	expect_ptr_eq(hm_conf_find("abort_conf", 10)->ptr, &opt_abort_conf,
	    "abort_conf");
TEST_END

TEST_BEGIN(test_read_link)
	unit_boot();
	char dir[] = "/tmp/hm_conf_XXXXXX";
	assert_ptr_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	char link[256], file[256], missing[256], buf[1024];
	snprintf(link, sizeof(link), "%s/malloc.conf", dir);
	snprintf(file, sizeof(file), "%s/plain", dir);
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	assert_d_eq(symlink("narenas:2", link), 0, "symlink: %s",
	    strerror(errno));
	memset(buf, 'Z', sizeof(buf));
	expect_true(hm_conf_read_link(link, buf, sizeof(buf)), "read %s", link);
	expect_str_eq(buf, "narenas:2", "link target");

	/* A short buffer: truncated, still terminated. */
	memset(buf, 'Z', sizeof(buf));
	expect_true(hm_conf_read_link(link, buf, 4), "read into 4 bytes");
	expect_str_eq(buf, "nar", "truncated target");
	expect_d_eq(buf[4], 'Z', "byte past the buffer written");

	memset(buf, 'Z', sizeof(buf));
	expect_false(hm_conf_read_link(missing, buf, sizeof(buf)),
	    "missing path");
	expect_false(hm_conf_read_link("/nonexistent/dir/malloc.conf", buf,
	    sizeof(buf)), "missing directory");
	FILE *f = fopen(file, "w");
	assert_ptr_not_null(f, "fopen");
	fputs("narenas:5", f);
	fclose(f);
	expect_false(hm_conf_read_link(file, buf, sizeof(buf)),
	    "a regular file is not a link");
	expect_false(hm_conf_read_link(dir, buf, sizeof(buf)),
	    "a directory is not a link");
	unlink(link);
	unlink(file);
	rmdir(dir);
TEST_END

/*
 * abort_conf: a child re-executes this program with the options in its
 * environment; initialisation runs before main, so an abort comes before
 * main and a surviving child reaches main, sees HM_CONF_CHILD and exits 0.
 */
struct exec_s {
	char *exe;
	char **env;
};

static void
exec_child(void *arg) {
	struct exec_s *ex = arg;
	char *argv[] = {ex->exe, NULL};
	execve(ex->exe, argv, ex->env);
	_exit(127);
}

static void
run_child(const char *malloc_conf, const char *hmalloc_conf, int *status,
    char *out, size_t outsize) {
	extern char **environ;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_d_gt(n, 0, "readlink(/proc/self/exe)");
	exe[n] = '\0';
	size_t nenv = 0;
	while (environ[nenv] != NULL)
		nenv++;
	char **env = calloc(nenv + 4, sizeof(char *));
	assert_ptr_not_null(env, "calloc");
	size_t k = 0;
	for (size_t i = 0; i < nenv; i++) {
		if (strncmp(environ[i], "MALLOC_CONF=", 12) != 0
		    && strncmp(environ[i], "HMALLOC_CONF=", 13) != 0)
			env[k++] = environ[i];
	}
	char mc[256], hc[256];
	env[k++] = "HM_CONF_CHILD=1";
	if (malloc_conf != NULL) {
		snprintf(mc, sizeof(mc), "MALLOC_CONF=%s", malloc_conf);
		env[k++] = mc;
	}
	if (hmalloc_conf != NULL) {
		snprintf(hc, sizeof(hc), "HMALLOC_CONF=%s", hmalloc_conf);
		env[k++] = hc;
	}
	env[k] = NULL;
	struct exec_s ex = {exe, env};
	*status = test_fork_capture(exec_child, &ex, out, outsize);
	assert_d_ne(*status, -1, "fork");
	free(env);
}

static void
expect_abort(int status, const char *out, const char *line, const char *what) {
	expect_true(WIFSIGNALED(status), "%s: child not killed by a signal "
	    "(status %#x, output \"%s\")", what, status, out);
	if (WIFSIGNALED(status))
		expect_d_eq(WTERMSIG(status), SIGABRT, "%s: signal", what);
	expect_d_eq(strncmp(out, line, strlen(line)), 0,
	    "%s: output \"%s\", wanted it to start with \"%s\"", what, out, line);
}

TEST_BEGIN(test_abort_conf)
	unit_boot();
	int status;
	char out[4096];
	run_child("abort_conf:true,bogus:1", NULL, &status, out, sizeof(out));
	expect_abort(status, out, "<hmalloc>: Invalid conf pair: bogus:1\n",
	    "MALLOC_CONF=abort_conf:true,bogus:1");
	/* abort_conf from an earlier source, bad pair in a later one. */
	run_child("abort_conf:true", "narenas:zero", &status, out, sizeof(out));
	expect_abort(status, out, "<hmalloc>: Invalid conf pair: narenas:zero\n",
	    "MALLOC_CONF=abort_conf:true HMALLOC_CONF=narenas:zero");
	/* abort_conf after the bad pair, as jemalloc: still an abort. */
	run_child("bogus:1,abort_conf:true", NULL, &status, out, sizeof(out));
	expect_abort(status, out, "<hmalloc>: Invalid conf pair: bogus:1\n",
	    "MALLOC_CONF=bogus:1,abort_conf:true");
	/* Without a bad pair the child lives. */
	run_child("abort_conf:true,narenas:2", NULL, &status, out, sizeof(out));
	expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "valid conf with abort_conf:true: status %#x, output \"%s\"",
	    status, out);
	expect_str_eq(out, "child: no abort\n", "child output");
	/* Without abort_conf the bad pair is reported and skipped. */
	run_child("bogus:1,narenas:2", NULL, &status, out, sizeof(out));
	expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "bad pair without abort_conf: status %#x, output \"%s\"", status,
	    out);
	expect_str_eq(out, "<hmalloc>: Invalid conf pair: bogus:1\n"
	    "child: no abort\n", "child output");
TEST_END

int
main(void) {
	if (getenv("HM_CONF_CHILD") != NULL) {
		printf("child: no abort\n");
		return 0;
	}
	return test(test_parse_valid, test_parse_invalid, test_values,
	    test_confirm_conf, test_find, test_read_link, test_abort_conf);
}
