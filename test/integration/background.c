/*
 * The background purging thread (background.env: dirty_decay_ms:300, the
 * thread on): it runs from load time (started by the library's
 * constructor, never by an allocation call), purges while the program
 * idles, sleeps when nothing is dirty, is absent in a forked child until
 * the child reaches a launch point (a thread of its own that exits), stops
 * on `background_thread` false, and is stopped at exit.  Observed through
 * stats.background_thread.* and /proc/self/task.
 */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)
#define NBLOCKS 32
/* Polling deadline: generous against a loaded machine, far above 300 ms. */
#define DEADLINE_MS 20000

static uint64_t
bg_stat(const char *name) {
	uint64_t epoch = 1;
	assert_d_eq(hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)), 0,
	    "epoch");
	char full[96];
	snprintf(full, sizeof(full), "stats.background_thread.%s", name);
	if (strcmp(name, "num_threads") == 0) {
		size_t v;
		size_t sz = sizeof(v);
		assert_d_eq(hm_mallctl(full, &v, &sz, NULL, 0), 0, "%s", full);
		return v;
	}
	uint64_t v;
	size_t sz = sizeof(v);
	assert_d_eq(hm_mallctl(full, &v, &sz, NULL, 0), 0, "%s", full);
	return v;
}

/* Threads of this process ("Threads:" of /proc/self/status), read
 * without allocating: a free could itself wake the thread. */
static int
ntasks(void) {
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY);
	assert_d_ge(fd, 0, "open /proc/self/status");
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_d_gt(n, 0, "read /proc/self/status");
	buf[n] = '\0';
	const char *t = strstr(buf, "\nThreads:");
	assert_ptr_not_null(t, "Threads: in /proc/self/status");
	return atoi(t + strlen("\nThreads:"));
}

/* About 32 MiB in Large runs, touched, then freed: dirty memory, above
 * the amount that makes a thread worth starting. */
static size_t
churn(void) {
	void *p[NBLOCKS];
	for (int i = 0; i < NBLOCKS; i++) {
		p[i] = hm_malloc(MiB);
		assert_ptr_not_null(p[i], "malloc(1 MiB)");
		memset(p[i], 0x3c, MiB);
	}
	for (int i = 0; i < NBLOCKS; i++)
		hm_free(p[i]);
	hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	return NBLOCKS * MiB;
}

/* Polls until the thread count is want (or the deadline); returns it. */
static uint64_t
wait_threads(uint64_t want) {
	uint64_t n = bg_stat("num_threads");
	for (int t = 0; t < DEADLINE_MS && n != want; t += 20) {
		test_sleep_ms(20);
		n = bg_stat("num_threads");
	}
	return n;
}

/* Polls, idle, until RSS is below limit; returns the last reading. */
static size_t
wait_rss_below(size_t limit) {
	size_t rss = test_rss_bytes();
	for (int t = 0; t < DEADLINE_MS && rss >= limit; t += 50) {
		test_sleep_ms(50);
		rss = test_rss_bytes();
	}
	return rss;
}

static bool
preconditions(void) {
	ssize_t ms = 0;
	bool bg = false;
	size_t sz = sizeof(ms);
	assert_d_eq(hm_mallctl("opt.dirty_decay_ms", &ms, &sz, NULL, 0), 0,
	    "opt.dirty_decay_ms");
	sz = sizeof(bg);
	assert_d_eq(hm_mallctl("background_thread", &bg, &sz, NULL, 0), 0,
	    "background_thread");
	return ms == 300 && bg;
}

TEST_BEGIN(test_starts_and_purges)
	if (!preconditions())
		test_skip("needs dirty_decay_ms:300 and the thread on");
	expect_u64_eq(bg_stat("num_threads"), 1, "the thread runs from load "
	    "time, before any memory is dirty");
	size_t rss0 = test_rss_bytes();
	size_t total = churn();
	uint64_t runs0 = bg_stat("num_runs");
	size_t rss = wait_rss_below(rss0 + total / 8);
	expect_zu_lt(rss, rss0 + total / 8,
	    "idle, the thread gives the memory back (rss %zu MiB before, "
	    "%zu after)", rss0 / MiB, rss / MiB);
	expect_u64_gt(bg_stat("num_runs"), runs0, "num_runs counts passes");
	/* Nothing dirty: the thread sleeps without a deadline. */
	size_t pdirty = 1, sz = sizeof(pdirty);
	for (int t = 0; t < DEADLINE_MS && pdirty != 0; t += 50) {
		test_sleep_ms(50);
		bg_stat("num_runs");
		assert_d_eq(hm_mallctl("stats.arenas.4096.pdirty", &pdirty, &sz,
		    NULL, 0), 0, "pdirty");
	}
	expect_zu_eq(pdirty, 0, "every dirty page purged");
	uint64_t runs1 = bg_stat("num_runs");
	test_sleep_ms(600);
	expect_u64_le(bg_stat("num_runs"), runs1 + 1,
	    "with nothing to purge the thread sleeps");
TEST_END

/* A thread that allocates (so that it has thread state to clean up at
 * exit, where the launch point is) and exits. */
static void *
noop_thread(void *arg) {
	hm_free(hm_malloc(64));
	return arg;
}

static void
fork_child(void) {
	alarm(30);
	/* Only the forking thread comes along. */
	if (bg_stat("num_threads") != 0 || ntasks() != 1)
		_exit(10);
	size_t rss0 = test_rss_bytes();
	size_t total = churn();
	/* No allocation call starts it. */
	test_sleep_ms(100);
	if (bg_stat("num_threads") != 0 || ntasks() != 1)
		_exit(13);
	/* A thread of the child's that exits is a launch point. */
	pthread_t t;
	if (pthread_create(&t, NULL, noop_thread, NULL) != 0
	    || pthread_join(t, NULL) != 0)
		_exit(14);
	if (wait_threads(1) != 1)
		_exit(11);
	if (wait_rss_below(rss0 + total / 8) >= rss0 + total / 8)
		_exit(12);
	_exit(0);
}

TEST_BEGIN(test_survives_fork)
	if (!preconditions())
		test_skip("needs dirty_decay_ms:300 and the thread on");
	churn();
	assert_u64_eq(wait_threads(1), 1, "the parent's thread is running");
	pid_t pid = fork();
	assert_d_ge(pid, 0, "fork");
	if (pid == 0)
		fork_child();
	int status;
	assert_d_eq(waitpid(pid, &status, 0), pid, "waitpid");
	expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child: no thread after fork (10) nor after its frees (13), "
	    "starts its own when a thread of its exits (11) and purges with "
	    "it (12): status 0x%x", status);
	expect_u64_eq(bg_stat("num_threads"), 1,
	    "the parent's thread is still running");
	/* And still purges. */
	size_t rss0 = test_rss_bytes();
	size_t total = churn();
	size_t rss = wait_rss_below(rss0 + total / 8);
	expect_zu_lt(rss, rss0 + total / 8, "the parent purges after fork");
TEST_END

TEST_BEGIN(test_stops)
	if (!preconditions())
		test_skip("needs dirty_decay_ms:300 and the thread on");
	churn();
	assert_u64_eq(wait_threads(1), 1, "running");
	int tasks = ntasks();
	bool off = false, on = true;
	assert_d_eq(hm_mallctl("background_thread", NULL, NULL, &off,
	    sizeof(off)), 0, "background_thread false");
	expect_u64_eq(bg_stat("num_threads"), 0, "stopped");
	expect_d_eq(ntasks(), tasks - 1, "the thread is gone (joined)");
	/* Dirty memory no longer starts one. */
	churn();
	test_sleep_ms(100);
	expect_u64_eq(bg_stat("num_threads"), 0, "stays stopped");
	assert_d_eq(hm_mallctl("background_thread", NULL, NULL, &on,
	    sizeof(on)), 0, "background_thread true");
	expect_u64_eq(wait_threads(1), 1, "restarted");
TEST_END

/*
 * At exit: the thread is stopped (joined, the wait bounded) after the
 * program's exit handlers and destructors and before the exit-time
 * statistics report, which must find it gone.  The program runs itself
 * again with stats_print:true, starts the thread working and exits.
 */
static void
exit_child(void *arg) {
	char *argv[] = {(char *)arg, "--exit-child", NULL};
	setenv("MALLOC_CONF", "dirty_decay_ms:300,stats_print:true", 1);
	execv("/proc/self/exe", argv);
	_exit(23);
}

static int
exit_child_main(void) {
	alarm(30);
	churn();
	if (wait_threads(1) != 1)
		_exit(21);
	exit(0);
}

static char *self_name;

TEST_BEGIN(test_stopped_at_exit)
	if (!preconditions())
		test_skip("needs dirty_decay_ms:300 and the thread on");
	static char out[1 << 16];
	int status = test_fork_capture(exit_child, self_name, out, sizeof(out));
	expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the program exits (21: the thread never ran): status 0x%x",
	    status);
	expect_ptr_not_null(strstr(out, "Background threads: 0,"),
	    "the exit-time report finds the thread stopped:\n%.2000s", out);
TEST_END

/*
 * glibc ends the process when its last thread exits.  The main thread
 * calls pthread_exit; a worker that allocates finishes later; the process
 * must then exit 0 (with stdio flushed), the purging thread left alone
 * ending it as glibc would have.  The parent's wait is bounded.
 */
static void *
last_worker(void *arg) {
	(void)arg;
	test_sleep_ms(200);
	void *p = hm_malloc(100);
	hm_free(p);
	printf("worker done\n");
	return NULL;
}

static void
last_thread_child(void) {
	pthread_t t;
	if (pthread_create(&t, NULL, last_worker, NULL) != 0)
		_exit(30);
	pthread_exit(NULL);
}

TEST_BEGIN(test_last_thread_exits)
	if (!preconditions())
		test_skip("needs dirty_decay_ms:300 and the thread on");
	int fds[2];
	assert_d_eq(pipe(fds), 0, "pipe");
	fflush(NULL);
	pid_t pid = fork();
	assert_d_ge(pid, 0, "fork");
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		last_thread_child();
	}
	close(fds[1]);
	/* (The child cannot time itself out: its only thread left would
	 * be the purging thread, which takes no signal.) */
	int status = -1;
	pid_t w = 0;
	for (int t = 0; t < DEADLINE_MS && w == 0; t += 20) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == 0)
			test_sleep_ms(20);
	}
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	char out[256];
	ssize_t n = read(fds[0], out, sizeof(out) - 1);
	out[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	expect_d_ne(w, 0, "the process ends when its last thread exits, not "
	    "waiting for the purging thread");
	expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status 0x%x", status);
	expect_ptr_not_null(strstr(out, "worker done"),
	    "exit(0) flushed stdio: \"%s\"", out);
TEST_END

int
main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "--exit-child") == 0)
		return exit_child_main();
	self_name = argv[0];
	/* TSan does not follow fork with threads running. */
	if (HM_TEST_SANITIZED)
		return test(test_starts_and_purges, test_stops);
	return test(test_starts_and_purges, test_survives_fork, test_stops,
	    test_stopped_at_exit, test_last_thread_exits);
}
