/*
 * bench/runone: run one program under one allocator and measure it.
 *
 *   runone [-p LIB] [-o FILE] [-t SECONDS] [--] PROGRAM [ARG...]
 *
 * -p LIB     preload LIB into PROGRAM only (LD_PRELOAD); without it the
 *            program runs on glibc's malloc (any LD_PRELOAD is removed)
 * -o FILE    PROGRAM's standard output goes to FILE
 * -t SECONDS kill PROGRAM (its whole process group) after SECONDS
 *
 * Prints one line on standard output:
 *   wall=S maxrss_kb=K utime=S stime=S minflt=N majflt=N nvcsw=N nivcsw=N
 *   status=exit:N | signal:N | timeout
 * wall is CLOCK_MONOTONIC around fork..wait4; the rest comes from wait4's
 * rusage.  This program is small and does not allocate much, so the fork
 * it makes carries almost nothing into the child's peak RSS (Linux keeps
 * the larger of the pre- and post-exec peaks).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double
tv(struct timeval t) {
	return (double)t.tv_sec + (double)t.tv_usec * 1e-6;
}

static void
usage(void) {
	fprintf(stderr, "usage: runone [-p LIB] [-o FILE] [-t SECONDS] [--] "
	    "PROGRAM [ARG...]\n");
	exit(2);
}

int
main(int argc, char **argv) {
	const char *lib = NULL, *out = NULL;
	double timeout = 0;
	int opt;
	while ((opt = getopt(argc, argv, "+p:o:t:")) != -1) {
		switch (opt) {
		case 'p': lib = optarg; break;
		case 'o': out = optarg; break;
		case 't': timeout = strtod(optarg, NULL); break;
		default: usage();
		}
	}
	if (optind >= argc)
		usage();

	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);

	double t0 = now();
	pid_t pid = fork();
	if (pid < 0) {
		perror("runone: fork");
		return 2;
	}
	if (pid == 0) {
		setpgid(0, 0);
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
		if (out != NULL) {
			int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0 || dup2(fd, 1) < 0) {
				perror(out);
				_exit(126);
			}
			close(fd);
		}
		if (lib != NULL && lib[0] != '\0')
			setenv("LD_PRELOAD", lib, 1);
		else
			unsetenv("LD_PRELOAD");
		execvp(argv[optind], &argv[optind]);
		fprintf(stderr, "runone: %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);

	int timed_out = 0;
	if (timeout > 0) {
		for (;;) {
			double left = timeout - (now() - t0);
			if (left <= 0) {
				timed_out = 1;
				kill(-pid, SIGKILL);
				break;
			}
			struct timespec ts = {(time_t)left,
			    (long)((left - (double)(time_t)left) * 1e9)};
			int sig = sigtimedwait(&chld, NULL, &ts);
			if (sig == SIGCHLD)
				break;
			if (sig < 0 && errno != EAGAIN && errno != EINTR) {
				perror("runone: sigtimedwait");
				break;
			}
		}
	}

	int status;
	struct rusage ru;
	pid_t w;
	while ((w = wait4(pid, &status, 0, &ru)) < 0 && errno == EINTR)
		;
	double wall = now() - t0;
	if (w < 0) {
		perror("runone: wait4");
		return 2;
	}
	/* A program that left children behind: end them too. */
	kill(-pid, SIGKILL);

	char st[32];
	if (timed_out)
		snprintf(st, sizeof st, "timeout");
	else if (WIFEXITED(status))
		snprintf(st, sizeof st, "exit:%d", WEXITSTATUS(status));
	else
		snprintf(st, sizeof st, "signal:%d", WTERMSIG(status));
	printf("wall=%.6f maxrss_kb=%ld utime=%.3f stime=%.3f minflt=%ld "
	    "majflt=%ld nvcsw=%ld nivcsw=%ld status=%s\n", wall, ru.ru_maxrss,
	    tv(ru.ru_utime), tv(ru.ru_stime), ru.ru_minflt, ru.ru_majflt,
	    ru.ru_nvcsw, ru.ru_nivcsw, st);
	return 0;
}
