/*
 * Decay (decay.env sets dirty_decay_ms:300): freed memory stays resident
 * for reuse, then goes back to the system within the decay time, on the
 * background thread even when the program makes no further call; with the
 * thread stopped, an allocation event after the decay time purges instead.
 * With a decay time of 0 (the option, or set on the arena) freed memory
 * goes back at once.  Where frees are altered (zero_free, quarantine,
 * guard: secure:true) memory still goes back, all but the quarantine's
 * bounded hold.
 */
#include "test.h"

#include <unistd.h>

#define MiB ((size_t)1 << 20)
#define NBLOCKS 48

static ssize_t
decay_ms(void) {
	ssize_t v = 0;
	size_t sz = sizeof(v);
	assert_d_eq(hm_mallctl("opt.dirty_decay_ms", &v, &sz, NULL, 0), 0,
	    "opt.dirty_decay_ms");
	return v;
}

/* 48 blocks of 256 KiB - 2 MiB (Large runs and huge blocks), touched,
 * then freed: about 50 MiB dirty. */
static size_t
churn(void) {
	void *p[NBLOCKS];
	size_t total = 0;
	for (int i = 0; i < NBLOCKS; i++) {
		size_t size = (size_t)(256 << 10) << (i % 4);
		p[i] = hm_malloc(size);
		assert_ptr_not_null(p[i], "malloc(%zu)", size);
		memset(p[i], 0x5c, size);
		total += size;
	}
	for (int i = 0; i < NBLOCKS; i++)
		hm_free(p[i]);
	assert_d_eq(hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0,
	    "flush");
	return total;
}

/* What the quarantine may hold back (opt.quarantine bytes, 0 if off). */
static size_t
quarantine_bytes(void) {
	size_t q = 0, sz = sizeof(q);
	assert_d_eq(hm_mallctl("opt.quarantine", &q, &sz, NULL, 0), 0,
	    "opt.quarantine");
	return q;
}

TEST_BEGIN(test_idle_program_gives_back)
	if (decay_ms() != 300)
		test_skip("needs dirty_decay_ms:300 (decay.env)");
	bool altered = test_frees_altered();
	size_t held = quarantine_bytes();
	bool bg = false;
	size_t sz = sizeof(bg);
	assert_d_eq(hm_mallctl("opt.background_thread", &bg, &sz, NULL, 0), 0,
	    "opt.background_thread");
	if (!bg)
		test_skip("background_thread:false");
	size_t rss0 = test_rss_bytes();
	size_t total = churn();
	size_t rss1 = test_rss_bytes();
	/* Still resident right after the frees: kept for reuse (unless the
	 * frees give pages back themselves). */
	if (!altered)
		expect_zu_gt(rss1, rss0 + total / 2,
		    "freed memory is kept for a while (rss %zu -> %zu)", rss0,
		    rss1);
	/* Idle: no call into the allocator while waiting. */
	size_t rss2 = rss1;
	for (int i = 0; i < 40 && rss2 > rss0 + total / 8 + held; i++) {
		test_sleep_ms(100);
		rss2 = test_rss_bytes();
	}
	printf("decay: rss %zu MiB before, %zu after the frees, %zu idle\n",
	    rss0 / MiB, rss1 / MiB, rss2 / MiB);
	expect_zu_lt(rss2, rss0 + total / 8 + held,
	    "an idle program gives memory back within the decay time "
	    "(quarantine %zu bytes)", held);
TEST_END

/*
 * Decay time 0: memory goes back as it is freed.  Under that option as it
 * is; otherwise the thread's arena is set to 0 for the test.
 */
TEST_BEGIN(test_zero_decay_returns_at_once)
	if (HM_TEST_SANITIZED)
		test_skip("sanitizers keep shadow memory resident");
	unsigned arena = 0;
	size_t sz = sizeof(arena);
	assert_d_eq(hm_mallctl("thread.arena", &arena, &sz, NULL, 0), 0,
	    "thread.arena");
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", arena);
	ssize_t old = -1, zero = 0;
	sz = sizeof(old);
	assert_d_eq(hm_mallctl(name, &old, &sz, &zero, sizeof(zero)), 0,
	    "%s = 0", name);
	size_t held = quarantine_bytes();
	/* No purging thread: the frees alone must give the memory back. */
	bool bg_old = false, off = false;
	sz = sizeof(bg_old);
	assert_d_eq(hm_mallctl("background_thread", &bg_old, &sz, &off,
	    sizeof(off)), 0, "background_thread off");
	size_t rss0 = test_rss_bytes();
	size_t total = churn();
	size_t rss1 = test_rss_bytes();
	assert_d_eq(hm_mallctl("background_thread", NULL, NULL, &bg_old,
	    sizeof(bg_old)), 0, "background_thread restored");
	printf("decay 0 (was %zd): rss %zu MiB before, %zu MiB right after "
	    "freeing %zu MiB\n", old, rss0 / MiB, rss1 / MiB, total / MiB);
	expect_zu_lt(rss1, rss0 + total / 8 + held,
	    "with dirty_decay_ms 0 freed memory goes back at once (rss %zu "
	    "-> %zu, quarantine %zu)", rss0, rss1, held);
	assert_d_eq(hm_mallctl(name, NULL, NULL, &old, sizeof(old)), 0,
	    "%s restored", name);
TEST_END

TEST_BEGIN(test_events_purge_without_thread)
	if (decay_ms() != 300)
		test_skip("needs dirty_decay_ms:300 (decay.env)");
	if (test_frees_altered())
		test_skip("zero_free, quarantine or guard: frees give memory "
		    "back themselves (test_idle_program_gives_back covers them)");
	bool off = false, on = true;
	assert_d_eq(hm_mallctl("background_thread", NULL, NULL, &off,
	    sizeof(off)), 0, "stop the background thread");
	size_t rss0 = test_rss_bytes();
	size_t total = churn();
	test_sleep_ms(800);
	size_t rss1 = test_rss_bytes();
	expect_zu_gt(rss1, rss0 + total / 2,
	    "no thread: idle memory stays (rss %zu -> %zu)", rss0, rss1);
	/* A run freed after the decay time triggers a pass. */
	void *p = hm_malloc(300 << 10);
	hm_free(p);
	hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	size_t rss2 = test_rss_bytes();
	expect_zu_lt(rss2, rss0 + total / 4,
	    "an allocation event after the decay time purges (rss %zu)", rss2);
	assert_d_eq(hm_mallctl("background_thread", NULL, NULL, &on,
	    sizeof(on)), 0, "restart the background thread");
TEST_END

int
main(void) {
	if (HM_TEST_SANITIZED)
		return test(test_idle_program_gives_back);
	return test(test_idle_program_gives_back,
	    test_zero_decay_returns_at_once, test_events_purge_without_thread);
}
