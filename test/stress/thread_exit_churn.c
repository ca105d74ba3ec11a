/*
 * Threads exit while others are created, each leaving its freed blocks to
 * be flushed from its thread cache at exit (dirty memory arrives at thread
 * exit, not at a free).  glibc then frees the exited threads' TLS vectors
 * from inside its stack cache (__nptl_free_stacks, holding the lock that
 * pthread_create takes): an allocator that started a thread from such a
 * free would wait for itself forever.  The purging thread is started
 * before main instead, so the program finishes; a watchdog turns a hang
 * into a failure.
 *
 * The main thread creates detached threads in waves and does not allocate
 * meanwhile, so the frees that follow a thread's exit are glibc's own.
 */
#include "stress_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define NWAVES 150
#define NWAVES_SHORT 40
#define WAVE 16
#define NSIZES 2
#define NPER 16               /* blocks per size: all fit the cache */
#define WATCHDOG_S 60

static const size_t sizes[NSIZES] = {16 << 10, 32 << 10};
static pthread_barrier_t freed;
static atomic_int nrunning, nbad;

/* Allocates 768 KiB in blocks that the thread cache keeps when freed, frees
 * them once the whole wave holds its blocks, and exits: the cache's
 * flush at exit is what makes the wave's memory dirty. */
static void *
worker(void *arg) {
	(void)arg;
	void *p[NSIZES][NPER];
	for (int s = 0; s < NSIZES; s++) {
		for (int i = 0; i < NPER; i++) {
			p[s][i] = hm_malloc(sizes[s]);
			if (p[s][i] == NULL) {
				atomic_fetch_add(&nbad, 1);
				continue;
			}
			memset(p[s][i], 0x5a, sizes[s]);
		}
	}
	pthread_barrier_wait(&freed);
	for (int s = 0; s < NSIZES; s++)
		for (int i = 0; i < NPER; i++)
			hm_free(p[s][i]);
	atomic_fetch_sub(&nrunning, 1);
	return NULL;
}

TEST_BEGIN(test_exit_while_creating) {
	stress_watchdog(WATCHDOG_S);
	int nwaves = stress_short() ? NWAVES_SHORT : NWAVES;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_barrier_init(&freed, NULL, WAVE);
	for (int w = 0; w < nwaves; w++) {
		atomic_store(&nrunning, WAVE);
		for (int i = 0; i < WAVE; i++) {
			pthread_t t;
			int err;
			while ((err = pthread_create(&t, &attr, worker, NULL))
			    == EAGAIN)
				test_sleep_ms(1);
			assert_d_eq(err, 0, "pthread_create");
		}
		/* No allocation here: the frees that follow the wave's
		 * exits are glibc's. */
		while (atomic_load(&nrunning) > 0)
			test_sleep_ms(1);
		test_sleep_ms(20);
	}
	pthread_barrier_destroy(&freed);
	pthread_attr_destroy(&attr);
	alarm(0);
	expect_d_eq(atomic_load(&nbad), 0, "allocations that failed");
}
TEST_END

int
main(void) {
	return test(test_exit_while_creating);
}
