/*
 * Helpers for tests that look at the process's mappings: /proc/self/maps
 * and /proc/self/smaps read without allocating (into a buffer mapped once,
 * up front, so that reading never maps anything new), and running one
 * test of the program again, in a new process, under other options.
 */
#ifndef HM_PROC_MAPS_H
#define HM_PROC_MAPS_H

#include "test.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROC_BUF_SIZE ((size_t)16 << 20)

static char *proc_buf;

/* Maps the buffer; call before the steps whose mappings are checked. */
static inline void
proc_init(void) {
	if (proc_buf != NULL)
		return;
	void *p = mmap(NULL, PROC_BUF_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED, "mmap for the /proc buffer");
	proc_buf = p;
}

/* The whole of path, NUL-terminated, in proc_buf; its length. */
static inline size_t
proc_slurp(const char *path) {
	proc_init();
	int fd = open(path, O_RDONLY);
	assert_d_ge(fd, 0, "open(%s)", path);
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, proc_buf + len, PROC_BUF_SIZE - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	proc_buf[len] = '\0';
	return len;
}

/* One mapping: its range, and for smaps its VmFlags line (NUL-ended
 * copy, up to 127 characters) and THPeligible (-1 if absent). */
typedef struct proc_map_s {
	uintptr_t start, end;
	char flags[128];
	int thp_eligible;
} proc_map_t;

/*
 * Walks /proc/self/smaps (with_flags) or /proc/self/maps: calls fn for
 * each mapping until it returns true; returns whether one did.
 */
static inline bool
proc_maps_walk(bool with_flags, bool (*fn)(const proc_map_t *, void *),
    void *arg) {
	proc_slurp(with_flags ? "/proc/self/smaps" : "/proc/self/maps");
	char *s = proc_buf;
	proc_map_t m;
	bool have = false;
	while (*s != '\0') {
		char *eol = strchr(s, '\n');
		if (eol == NULL)
			eol = s + strlen(s);
		unsigned long long a, b;
		char c;
		if (sscanf(s, "%llx-%llx %c", &a, &b, &c) == 3
		    && strchr(s, '-') < eol) {
			/* A header line: the previous mapping is complete. */
			if (have && fn(&m, arg))
				return true;
			memset(&m, 0, sizeof(m));
			m.start = (uintptr_t)a;
			m.end = (uintptr_t)b;
			m.thp_eligible = -1;
			have = true;
		} else if (strncmp(s, "VmFlags:", 8) == 0) {
			size_t n = (size_t)(eol - s) - 8;
			if (n >= sizeof(m.flags))
				n = sizeof(m.flags) - 1;
			memcpy(m.flags, s + 8, n);
			m.flags[n] = '\0';
		} else if (strncmp(s, "THPeligible:", 12) == 0) {
			m.thp_eligible = atoi(s + 12);
		}
		s = *eol != '\0' ? eol + 1 : eol;
	}
	return have && fn(&m, arg);
}

struct proc_find_arg {
	uintptr_t addr;
	proc_map_t *out;
};

static inline bool
proc_find_fn(const proc_map_t *m, void *arg) {
	struct proc_find_arg *a = arg;
	if (a->addr >= m->start && a->addr < m->end) {
		*a->out = *m;
		return true;
	}
	return false;
}

/* The mapping that holds addr; false if none does. */
static inline bool
proc_map_find(const void *addr, bool with_flags, proc_map_t *out) {
	struct proc_find_arg a = {(uintptr_t)addr, out};
	return proc_maps_walk(with_flags, proc_find_fn, &a);
}

static inline bool
proc_sum_fn(const proc_map_t *m, void *arg) {
	*(size_t *)arg += m->end - m->start;
	return false;
}

/* The sum of all mappings' sizes: the process's address space. */
static inline size_t
proc_maps_total(void) {
	size_t total = 0;
	proc_maps_walk(false, proc_sum_fn, &total);
	return total;
}

/* Whether a VmFlags line holds the two-letter flag. */
static inline bool
proc_flag(const char *flags, const char *flag) {
	for (const char *s = flags; (s = strstr(s, flag)) != NULL; s++) {
		if ((s == flags || s[-1] == ' ') && (s[2] == ' '
		    || s[2] == '\0'))
			return true;
	}
	return false;
}

/*
 * Runs test `name` of this program again, in a new process, with conf
 * added to MALLOC_CONF and HM_PROC_CHILD set; returns the harness's exit
 * status (0 passed, 77 skipped) or -1.
 */
static inline int
proc_rerun(const char *name, const char *conf) {
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char env[1024];
		const char *old = getenv("MALLOC_CONF");
		snprintf(env, sizeof(env), "%s%s%s", old != NULL ? old : "",
		    old != NULL && *old != '\0' ? "," : "", conf);
		setenv("MALLOC_CONF", env, 1);
		setenv("HM_TEST", name, 1);
		setenv("HM_PROC_CHILD", "1", 1);
		char *argv[] = {(char *)"child", NULL};
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static inline bool
proc_is_child(void) {
	return getenv("HM_PROC_CHILD") != NULL;
}

#endif /* HM_PROC_MAPS_H */
