/*
 * fork() while other threads use stdio (the scenario of glibc bug 19431):
 * reader threads loop on getline() over files of long lines, so that each
 * line reallocs a Large buffer with the stream's lock held; other threads
 * loop on fflush(NULL), which holds glibc's list of streams and waits for
 * each stream's lock; one thread forks NFORKS times (HM_STRESS_SHORT:
 * fewer), and each child allocates, checks and frees, then _exit(0)s.
 * glibc's fork takes the list lock after the prepare handlers: had they
 * taken the arena locks first, the forking thread would wait for the
 * flusher, the flusher for a reader, the reader for an arena lock.
 * A watchdog turns a hang into a failure; a child has one of its own.
 *
 * Skipped under sanitizers: TSan does not support fork with threads running.
 */
#include "stress_util.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define NFORKS 1000
#define NFORKS_SHORT 200
#define NREADERS 2
#define NFLUSHERS 2
#define LINE_LEN (40 << 10)   /* a Large block for getline's buffer */
#define NLINES 8
#define WATCHDOG_S 90
#define CHILD_WATCHDOG_S 10

static atomic_bool stop;
static atomic_ulong nlines, nflushes;
static char path[64];

static void *
reader(void *arg) {
	(void)arg;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return (void *)1;
	while (!atomic_load(&stop)) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n = getline(&line, &cap, f);
		if (n < 0) {
			rewind(f);
		} else if (n != LINE_LEN + 1 || line[LINE_LEN / 2] != 'x') {
			free(line);
			fclose(f);
			return (void *)2;
		} else {
			atomic_fetch_add(&nlines, 1);
		}
		free(line);
		/* (glibc's locks are not fair: a reader that relocked at once
		 * would starve the flushers.) */
		sched_yield();
	}
	fclose(f);
	return NULL;
}

static void *
flusher(void *arg) {
	(void)arg;
	while (!atomic_load(&stop)) {
		fflush(NULL);
		atomic_fetch_add(&nflushes, 1);
		sched_yield();
	}
	return NULL;
}

/* In the child: its own allocations work, whatever the threads that did
 * not come along were doing. */
static void
child(void) {
	alarm(CHILD_WATCHDOG_S);
	for (size_t size = 16; size <= ((size_t)256 << 10); size *= 4) {
		unsigned char *p = malloc(size);
		if (p == NULL)
			_exit(4);
		memset(p, 0xa5, size);
		p = realloc(p, size * 2);
		if (p == NULL || p[size - 1] != 0xa5)
			_exit(5);
		free(p);
	}
	_exit(0);
}

TEST_BEGIN(test_fork_while_stdio) {
	if (HM_TEST_SANITIZED)
		test_skip("fork with threads running under a sanitizer");
	stress_watchdog(WATCHDOG_S);
	snprintf(path, sizeof(path), "/tmp/hm_fork_stdio.%d", (int)getpid());
	FILE *f = fopen(path, "w");
	assert_ptr_not_null(f, "fopen %s", path);
	char *line = malloc(LINE_LEN + 1);
	assert_ptr_not_null(line, "malloc");
	memset(line, 'x', LINE_LEN);
	line[LINE_LEN] = '\n';
	for (int i = 0; i < NLINES; i++)
		assert_zu_eq(fwrite(line, 1, LINE_LEN + 1, f), LINE_LEN + 1,
		    "fwrite");
	free(line);
	assert_d_eq(fclose(f), 0, "fclose");

	pthread_t r[NREADERS], fl[NFLUSHERS];
	for (int i = 0; i < NREADERS; i++)
		assert_d_eq(pthread_create(&r[i], NULL, reader, NULL), 0,
		    "pthread_create");
	for (int i = 0; i < NFLUSHERS; i++)
		assert_d_eq(pthread_create(&fl[i], NULL, flusher, NULL), 0,
		    "pthread_create");
	int nforks = stress_short() ? NFORKS_SHORT : NFORKS, nbad = 0;
	for (int i = 0; i < nforks; i++) {
		pid_t pid = fork();
		assert_d_ge(pid, 0, "fork");
		if (pid == 0)
			child();
		int st;
		assert_d_eq(waitpid(pid, &st, 0), pid, "waitpid");
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			if (nbad++ == 0)
				test_fail(__FILE__, __LINE__, "child %d: status "
				    "0x%x", i, st);
		}
	}
	atomic_store(&stop, true);
	for (int i = 0; i < NREADERS; i++) {
		void *ret;
		pthread_join(r[i], &ret);
		expect_ptr_null(ret, "reader %d (1: fopen, 2: bad line)", i);
	}
	for (int i = 0; i < NFLUSHERS; i++)
		pthread_join(fl[i], NULL);
	alarm(0);
	unlink(path);
	expect_d_eq(nbad, 0, "children that failed");
	expect_zu_gt(atomic_load(&nlines), 0, "lines read meanwhile");
	expect_zu_gt(atomic_load(&nflushes), 0, "flushes meanwhile");
}
TEST_END

int
main(void) {
	return test(test_fork_while_stdio);
}
