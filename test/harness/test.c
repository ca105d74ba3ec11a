/* The harness runner: see test.h. */
#include "test.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *test_name_current;
enum test_status test_status_current;
jmp_buf test_jmp;

void
test_fail(const char *file, int line, const char *fmt, ...) {
	va_list ap;
	fprintf(stderr, "%s:%d: %s: ", file, line, test_name_current);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	test_status_current = test_status_fail;
}

void
test_skip(const char *fmt, ...) {
	va_list ap;
	fprintf(stderr, "%s: skipped: ", test_name_current);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (test_status_current == test_status_pass)
		test_status_current = test_status_skip;
	test_leave();
}

const char **
hm_test_split_names(const char *list) {
	/* The harness may use the system allocator: it is outside the test. */
	static const char *names[256];
	static char buf[8192];
	int n = 0;
	size_t len = strlen(list);
	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, list, len);
	buf[len] = '\0';
	for (char *tok = strtok(buf, ", \t\n"); tok != NULL && n < 256;
	    tok = strtok(NULL, ", \t\n"))
		names[n++] = tok;
	return names;
}

int
test_run_all(const char *file, test_fn_t **fns, const char **names, int n) {
	const char *only = getenv("HM_TEST");
	/* volatile: the loop survives longjmp out of a test. */
	volatile int npass = 0, nfail = 0, nskip = 0;
	setvbuf(stdout, NULL, _IONBF, 0);
	/* A filter that names no test is a mistake, not a pass. */
	bool found = only == NULL;
	for (int i = 0; i < n && !found; i++)
		found = strcmp(only, names[i]) == 0;
	if (!found) {
		printf("%s: HM_TEST=%s names no test of this program\n", file,
		    only);
		printf("%s: 0 passed, 1 failed, 0 skipped\n", file);
		return 1;
	}
	for (volatile int i = 0; i < n; i++) {
		if (only != NULL && strcmp(only, names[i]) != 0)
			continue;
		test_status_current = test_status_pass;
		test_name_current = names[i];
		if (setjmp(test_jmp) == 0)
			fns[i]();
		static const char *words[] = {"pass", "skip", "fail"};
		printf("%s: %s: %s\n", file, names[i],
		    words[test_status_current]);
		switch (test_status_current) {
		case test_status_pass: npass++; break;
		case test_status_skip: nskip++; break;
		case test_status_fail: nfail++; break;
		}
	}
	printf("%s: %d passed, %d failed, %d skipped\n", file, npass, nfail,
	    nskip);
	if (nfail > 0)
		return 1;
	if (npass == 0 && nskip > 0)
		return 77;
	return 0;
}

uint64_t
test_rand_next(uint64_t *state) {
	return test_mix64(*state += 0x9e3779b97f4a7c15ULL);
}

uint64_t
test_seed(void) {
	const char *s = getenv("HM_TEST_SEED");
	uint64_t seed;
	if (s != NULL) {
		seed = strtoull(s, NULL, 0);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec
		    ^ (uint64_t)getpid();
	}
	printf("seed: HM_TEST_SEED=%" PRIu64 "\n", seed);
	return seed;
}

/* Reads a small /proc file into a static buffer; its length or 0. */
static size_t
proc_read(const char *path, char *buf, size_t size) {
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (size_t)n;
}

static size_t
field_kb(const char *buf, const char *name) {
	const char *s = strstr(buf, name);
	return s == NULL ? 0 : (size_t)strtoull(s + strlen(name), NULL, 10);
}

size_t
test_rss_bytes(void) {
	static char buf[4096];
	if (proc_read("/proc/self/smaps_rollup", buf, sizeof(buf)) > 0) {
		size_t rss = field_kb(buf, "\nRss:");
		size_t lazy = field_kb(buf, "\nLazyFree:");
		if (rss != 0)
			return (rss - (lazy < rss ? lazy : rss)) * 1024;
	}
	if (proc_read("/proc/self/statm", buf, sizeof(buf)) == 0)
		return 0;
	char *end;
	strtoull(buf, &end, 10);
	return (size_t)strtoull(end, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE);
}

size_t
test_proc_status_kb(const char *field) {
	static char buf[8192];
	char name[64];
	if (proc_read("/proc/self/status", buf, sizeof(buf)) == 0)
		return 0;
	snprintf(name, sizeof(name), "\n%s", field);
	return field_kb(buf, name);
}

void
test_sleep_ms(long ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

size_t
test_stat_size(const char *fmt, ...) {
	char name[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	uint64_t epoch = 1;
	size_t v = 0, sz = sizeof(v);
	expect_d_eq(hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)), 0,
	    "epoch");
	expect_d_eq(hm_mallctl(name, &v, &sz, NULL, 0), 0, "%s", name);
	return v;
}

bool
test_frees_altered(void) {
	bool zero = false;
	size_t q = 0, sz = sizeof(zero);
	if (hm_mallctl("opt.zero_free", &zero, &sz, NULL, 0) != 0)
		return false;
	sz = sizeof(q);
	hm_mallctl("opt.quarantine", &q, &sz, NULL, 0);
	/* Guarded huge blocks are not cached: unmapped at once. */
	bool guard = false;
	sz = sizeof(guard);
	hm_mallctl("opt.guard", &guard, &sz, NULL, 0);
	return zero || q != 0 || guard;
}

bool
test_canary_on(void) {
	bool c = false;
	size_t sz = sizeof(c);
	return hm_mallctl("opt.canary", &c, &sz, NULL, 0) == 0 && c;
}

void
test_san_off(void) {
	bool off = false;
	/* ENOENT where opt.san_guard is false: off already. */
	hm_mallctl("san.active", NULL, NULL, &off, sizeof(off));
}

bool
test_prof_on(void) {
	bool on = false, active = false;
	size_t sz = sizeof(on);
	if (hm_mallctl("opt.prof", &on, &sz, NULL, 0) != 0 || !on)
		return false;
	sz = sizeof(active);
	return hm_mallctl("prof.active", &active, &sz, NULL, 0) == 0 && active;
}

int
test_cmp_addr(const void *a, const void *b) {
	/* The first member, read as the pointer it is: void * and character
	 * pointers share their representation. */
	const void *pa, *pb;
	memcpy(&pa, a, sizeof(pa));
	memcpy(&pb, b, sizeof(pb));
	uintptr_t x = (uintptr_t)pa, y = (uintptr_t)pb;
	return x < y ? -1 : x > y;
}

int
test_fork_capture(void (*child)(void *), void *arg, char *out,
    size_t outsize) {
	int fds[2];
	int status = -1;
	out[0] = '\0';
	if (pipe(fds) != 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		child(arg);
		_exit(0);
	}
	close(fds[1]);
	size_t len = 0;
	ssize_t r;
	while (len + 1 < outsize
	    && (r = read(fds[0], out + len, outsize - 1 - len)) > 0)
		len += (size_t)r;
	out[len] = '\0';
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}
