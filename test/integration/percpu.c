/*
 * percpu_arena:percpu (set by percpu.env): one arena per CPU, and a
 * thread pinned to a CPU allocates from that CPU's arena once its cache
 * refills.
 */
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

TEST_BEGIN(test_percpu)
	const char *mode = NULL;
	size_t sz = sizeof(mode);
	assert_d_eq(hm_mallctl("opt.percpu_arena", &mode, &sz, NULL, 0), 0,
	    "opt.percpu_arena");
	if (strcmp(mode, "percpu") != 0)
		test_skip("percpu_arena is \"%s\" (percpu.env not applied)", mode);
	cpu_set_t set;
	assert_d_eq(sched_getaffinity(0, sizeof(set), &set), 0, "affinity");
	unsigned ncpus = (unsigned)CPU_COUNT(&set);
	unsigned narenas;
	sz = sizeof(narenas);
	assert_d_eq(hm_mallctl("arenas.narenas", &narenas, &sz, NULL, 0), 0,
	    "arenas.narenas");
	expect_zu_eq(narenas, ncpus, "one arena per CPU");
	/* Pin to each CPU in turn; new (uncached) sizes make slow-path
	 * allocations, which rebind the thread to the CPU's arena. */
	unsigned pinned = 0;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one) != 0)
			continue;
		pinned++;
		void *p = hm_malloc(3 << 20); /* huge: never cached */
		assert_ptr_not_null(p, "malloc");
		unsigned ind;
		sz = sizeof(ind);
		assert_d_eq(hm_mallctl("thread.arena", &ind, &sz, NULL, 0), 0,
		    "thread.arena");
		expect_zu_eq(ind, (unsigned)cpu % narenas,
		    "arena of a thread pinned to CPU %d", cpu);
		hm_free(p);
	}
	sched_setaffinity(0, sizeof(set), &set);
	if (pinned == 0)
		test_skip("sched_setaffinity refused every CPU: nothing checked");
TEST_END

int
main(void) {
	return test(test_percpu);
}
