/*
 * fork() from a signal handler while the interrupted thread is inside
 * malloc or free (crash handlers that fork depend on it; glibc's
 * tst-mallocfork2 checks it).  A CPU-time timer raises SIGVTALRM every
 * millisecond the main loop runs; the handler forks, and the child
 * _exit(0)s at once (the interrupted allocation call may have left an
 * arena half-updated: a child of such a fork should only exec or exit).
 * The main loop mallocs and frees sizes that take the arena and huge locks
 * (Large and Huge blocks) as well as cached ones.  The prepare handler
 * must not wait for a lock the interrupted thread holds.  NFORKS forks
 * (HM_STRESS_SHORT: fewer); the watchdog (SIGALRM) turns a hang into a
 * failure.
 */
#include "stress_util.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define NFORKS 1000
#define NFORKS_SHORT 200
#define WATCHDOG_S 90
#define NSLOTS 64

static volatile sig_atomic_t nforks, nfailed, nbadstatus;

static void
on_tick(int sig) {
	(void)sig;
	int saved = errno;
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0) {
		nfailed++;
	} else {
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st)
		    || WEXITSTATUS(st) != 0)
			nbadstatus++;
		nforks++;
	}
	errno = saved;
}

TEST_BEGIN(test_fork_in_handler) {
	if (HM_TEST_TSAN)
		test_skip("ThreadSanitizer reports the fork handlers' locking "
		    "inside a handler that interrupted a locked section as a "
		    "lock-order inversion");
	stress_watchdog(WATCHDOG_S);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tick;
	sa.sa_flags = SA_RESTART;
	assert_d_eq(sigaction(SIGVTALRM, &sa, NULL), 0, "sigaction");
	struct itimerval it = {{0, 1000}, {0, 1000}};
	assert_d_eq(setitimer(ITIMER_VIRTUAL, &it, NULL), 0, "setitimer");

	int want = stress_short() ? NFORKS_SHORT : NFORKS;
	void *slot[NSLOTS] = {0};
	uint64_t rng = test_seed();
	unsigned long nops = 0;
	while (nforks < want) {
		uint64_t r = test_rand_next(&rng);
		unsigned i = (unsigned)(r % NSLOTS);
		hm_free(slot[i]);
		/* Mostly Large (the arena lock), some Huge (the huge and os
		 * locks), some Small. */
		size_t size;
		switch ((r >> 8) % 8) {
		case 0: size = (size_t)2 << 20 | (r >> 16) % (1 << 20); break;
		case 1: size = 16 + (r >> 16) % 4096; break;
		default: size = (size_t)40 << 10 | (r >> 16) % (256 << 10);
		}
		slot[i] = hm_malloc(size);
		assert_ptr_not_null(slot[i], "malloc(%zu)", size);
		((char *)slot[i])[size - 1] = 1;
		nops++;
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_VIRTUAL, &off, NULL);
	alarm(0);
	for (unsigned i = 0; i < NSLOTS; i++)
		hm_free(slot[i]);
	expect_d_eq(nfailed, 0, "forks that failed");
	expect_d_eq(nbadstatus, 0, "children that did not exit 0");
	/* Forks landed among allocation calls, not in an idle loop (a
	 * sanitizer's slower calls make fewer between ticks). */
	expect_zu_ge(nops, (size_t)want / 2, "allocations between forks");
}
TEST_END

int
main(void) {
	return test(test_fork_in_handler);
}
