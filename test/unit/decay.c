/*
 * The decay curve (decay.h) on a clock the test drives: pages that came
 * into a stage k steps ago may remain in the fraction
 * 1 - smoothstep(k / DECAY_NSTEPS), so a burst goes back gradually, slowly
 * at first, and wholly after one decay time; pages coming later are not
 * hurried by earlier ones; memory freed and reused again and again counts
 * once.
 */
#include "unit_util.h"

#include <string.h>

#include "decay.h"

#define DECAY ((uint64_t)6400) /* ms: steps of 100 ms */
#define STEP (DECAY / DECAY_NSTEPS)
#define BURST ((size_t)64000)

/* 1 - smoothstep(x), the fraction the curve keeps at x = age / decay. */
static double
keep(double x) {
	return x >= 1 ? 0 : 1 - x * x * (3 - 2 * x);
}

/* A stage as an arena runs it: each pass purges down to the limit. */
typedef struct {
	decay_t d;
	size_t npages;
} stage_t;

static size_t
pass(stage_t *s, uint64_t now) {
	size_t limit = hm_decay_limit(&s->d, now, DECAY, s->npages);
	if (s->npages > limit)
		s->npages = limit;
	return limit;
}

/* n pages freed into the stage at now. */
static void
add(stage_t *s, size_t n, uint64_t now) {
	hm_decay_note(&s->d, n, now);
	s->npages += n;
}

TEST_BEGIN(test_burst_goes_back_smoothly)
	static stage_t s;
	memset(&s, 0, sizeof(s));
	uint64_t t0 = 1000000;
	pass(&s, t0);
	add(&s, BURST, t0);
	expect_zu_eq(pass(&s, t0 + 1), BURST, "all of it may stay at first");
	size_t prev = BURST;
	bool middle = false;
	for (uint64_t k = 1; k <= DECAY_NSTEPS + 2; k++) {
		pass(&s, t0 + k * STEP);
		size_t held = s.npages;
		/* It came during the first step: counted k steps old. */
		double want = BURST * keep((double)k / DECAY_NSTEPS);
		expect_true(held <= prev, "never rises: %zu after %zu (step %llu)",
		    held, prev, (unsigned long long)k);
		/* Within the hysteresis: a sixty-fourth of what is held. */
		double tol = held / 64.0 + 2;
		expect_true(held + tol >= want && held <= want + tol,
		    "step %llu: %zu, curve %.1f", (unsigned long long)k, held,
		    want);
		if (held > BURST / 10 && held < BURST * 9 / 10)
			middle = true;
		prev = held;
	}
	expect_true(middle, "the burst goes back gradually, not at once");
	expect_zu_eq(prev, 0, "all of it goes within one decay time");
TEST_END

TEST_BEGIN(test_new_pages_wait_their_turn)
	static stage_t s;
	memset(&s, 0, sizeof(s));
	uint64_t t0 = 5000;
	pass(&s, t0);
	add(&s, BURST, t0);
	pass(&s, t0 + 1);
	/* Late pages, just before the burst is due. */
	uint64_t t1 = t0 + DECAY - STEP;
	pass(&s, t1);
	add(&s, 1000, t1);
	pass(&s, t1 + 1);
	pass(&s, t0 + DECAY + 2 * STEP);
	expect_true(s.npages >= 990 && s.npages <= 1000,
	    "the late pages stay (%zu), the burst not", s.npages);
	/* A long idle period: everything goes. */
	pass(&s, t1 + 10 * DECAY);
	expect_zu_eq(s.npages, 0, "after a long idle period");
TEST_END

/* Pages freed and reused many times within the decay time are the same
 * pages: the stage holds them as it would hold one free. */
TEST_BEGIN(test_reuse_counts_once)
	static stage_t churn;
	memset(&churn, 0, sizeof(churn));
	uint64_t t0 = 100000;
	pass(&churn, t0);
	/* 20 rounds, one a step: all freed, all reused. */
	for (int r = 0; r < 20; r++) {
		uint64_t t = t0 + (uint64_t)r * STEP + 1;
		add(&churn, BURST, t);
		pass(&churn, t);
		expect_zu_eq(churn.npages, BURST,
		    "nothing purged while the memory is in use (round %d)", r);
		churn.npages -= BURST;
	}
	uint64_t t1 = t0 + 20 * STEP + 1;
	add(&churn, BURST, t1);
	/* A quarter of the decay time after the last free: most of it
	 * stays (as young as that free); half-way, about half. */
	pass(&churn, t1 + DECAY / 4);
	expect_true(churn.npages >= BURST * 8 / 10,
	    "as young as its last free (%zu of %zu left)", churn.npages,
	    BURST);
	pass(&churn, t1 + DECAY / 2 + STEP);
	expect_true(churn.npages >= BURST * 4 / 10
	    && churn.npages <= BURST * 6 / 10,
	    "half-way: about half (%zu of %zu)", churn.npages, BURST);
	pass(&churn, t1 + DECAY + 2 * STEP);
	expect_zu_eq(churn.npages, 0, "all of it within one decay time");
TEST_END

TEST_BEGIN(test_new_decay_time)
	static stage_t s;
	memset(&s, 0, sizeof(s));
	pass(&s, 1000);
	add(&s, 500, 1000);
	/* A new decay time: what the stage holds counts as coming now. */
	size_t lim = hm_decay_limit(&s.d, 1000 + STEP / 2, 2 * DECAY, s.npages);
	expect_zu_eq(lim, 500, "all of it may stay at first");
	lim = hm_decay_limit(&s.d, 1000 + 2 * DECAY + 4 * STEP, 2 * DECAY,
	    s.npages);
	expect_zu_eq(lim, 0, "and goes within the new time");
TEST_END

int
main(void) {
	return test(test_burst_goes_back_smoothly, test_new_pages_wait_their_turn,
	    test_reuse_counts_once, test_new_decay_time);
}
