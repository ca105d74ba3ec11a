/*
 * decay.c: the decay clock and curve (see decay.h), and the flags by which
 * arenas ask the background thread (background.c) to wake.  A leaf: it
 * calls no other module.
 */
#include "decay.h"

#include <string.h>
#include <time.h>

ssize_t opt_dirty_decay_ms = 5000;
ssize_t opt_muzzy_decay_ms = 0;
atomic_bool hm_decay_wanted;
atomic_bool hm_decay_idle;

uint64_t
hm_decay_now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* 2^16 * (1 - smoothstep(k / NSTEPS)), smoothstep(x) = 3x^2 - 2x^3. */
static uint32_t
decay_keep(unsigned k) {
	uint64_t n = DECAY_NSTEPS;
	if (k >= n)
		return 0;
	uint64_t s = ((uint64_t)k * k * (3 * n - 2 * k) << 16) / (n * n * n);
	return (uint32_t)((1u << 16) - s);
}

/* Moves d's steps on to now. */
static void
decay_advance(decay_t *d, uint64_t now) {
	uint64_t step = d->step_ms;
	if (step == 0 || now < d->epoch_ms + step)
		return;
	uint64_t k = (now - d->epoch_ms) / step;
	if (k >= DECAY_NSTEPS) {
		memset(d->backlog, 0, sizeof(d->backlog));
		memset(d->purged, 0, sizeof(d->purged));
	} else {
		size_t n = (DECAY_NSTEPS - k) * sizeof(size_t);
		memmove(d->backlog + k, d->backlog, n);
		memmove(d->purged + k, d->purged, n);
		memset(d->backlog, 0, k * sizeof(size_t));
		memset(d->purged, 0, k * sizeof(size_t));
		/* The step that ended k - 1 steps ago. */
		d->backlog[k - 1] = d->cur;
	}
	d->cur = 0;
	d->epoch_ms += k * step;
}

void
hm_decay_note(decay_t *d, size_t npages, uint64_t now) {
	decay_advance(d, now);
	d->cur += npages;
}

size_t
hm_decay_limit(decay_t *d, uint64_t now, uint64_t decay_ms, size_t npages) {
	uint64_t step = decay_ms / DECAY_NSTEPS;
	if (step == 0)
		step = 1;
	if (d->step_ms != step) {
		/* Started, or a new decay time: what the stage holds counts
		 * as coming now. */
		memset(d->backlog, 0, sizeof(d->backlog));
		memset(d->purged, 0, sizeof(d->purged));
		d->step_ms = step;
		d->epoch_ms = now;
		if (d->cur < npages)
			d->cur = npages;
	}
	decay_advance(d, now);
	/* The npages held are the latest comers, newest first, among those
	 * not purged (the rest were reused). */
	size_t left = npages, hcur = d->cur < left ? d->cur : left;
	left -= hcur;
	for (unsigned i = 0; i < DECAY_NSTEPS; i++) {
		size_t cap = d->backlog[i] - d->purged[i];
		d->held[i] = cap < left ? cap : left;
		left -= d->held[i];
	}
	/*
	 * Of the pages that came in a step, the curve lets `allowed` stay;
	 * held beyond that is due.  Purging takes the oldest pages, whole
	 * runs at a time, so it may go ahead of an older step's due: what it
	 * purged beyond (not what was reused) is credit for the newer ones.
	 * The test is cumulative, oldest first; pages older than the window
	 * (left) may not stay at all.
	 */
	size_t purge = left, due = left, credit = 0;
	for (unsigned i = DECAY_NSTEPS; i-- > 0;) {
		size_t allowed = (size_t)(((uint64_t)d->backlog[i]
		    * decay_keep(i + 1)) >> 16);
		if (d->held[i] > allowed) {
			due += d->held[i] - allowed;
		} else {
			size_t ahead = allowed - d->held[i];
			credit += d->purged[i] < ahead ? d->purged[i] : ahead;
		}
		if (due > credit && due - credit > purge)
			purge = due - credit;
	}
	return npages - purge;
}

void
hm_decay_purged(decay_t *d, size_t npages) {
	for (unsigned i = DECAY_NSTEPS; i-- > 0 && npages > 0;) {
		size_t t = d->held[i] < npages ? d->held[i] : npages;
		d->held[i] -= t;
		d->purged[i] += t;
		npages -= t;
	}
}

void
hm_decay_dirty_added(void) {
	/* A racy read: a thread that goes idle just after it wakes up for
	 * the next free's poke. */
	if (atomic_load_explicit(&hm_decay_idle, memory_order_relaxed))
		atomic_store_explicit(&hm_decay_wanted, true,
		    memory_order_relaxed);
}
