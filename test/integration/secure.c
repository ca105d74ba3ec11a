/*
 * secure:true (secure.env): freed blocks are zeroed and wait in the
 * quarantine before reuse, a second free of a waiting block and a write
 * to it are caught, regions come from slabs in random order, freed huge
 * blocks read as zero when reused, and a write past the end of a Small
 * block is caught by its canary.
 */
#include "../corrupt/corrupt.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* Reads p's bytes after its free, hidden from the optimiser. */
static const unsigned char *
freed(void *p) {
	__asm__ volatile("" : "+r"(p));
	return p;
}

static bool
secure_on(void) {
	bool s = false;
	size_t sz = sizeof(s);
	assert_d_eq(hm_mallctl("opt.secure", &s, &sz, NULL, 0), 0,
	    "opt.secure");
	return s;
}

static void
drain(void) {
	assert_d_eq(hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0,
	    "thread.tcache.flush");
}

TEST_BEGIN(test_options)
	if (!secure_on())
		test_skip("needs secure:true (secure.env)");
	bool v = false;
	size_t q = 0, sz = sizeof(v);
	assert_d_eq(hm_mallctl("opt.zero_free", &v, &sz, NULL, 0), 0, "zero");
	expect_true(v, "secure:true implies zero_free");
	assert_d_eq(hm_mallctl("opt.slab_random", &v, &sz, NULL, 0), 0, "rnd");
	expect_true(v, "secure:true implies slab_random");
	assert_d_eq(hm_mallctl("opt.canary", &v, &sz, NULL, 0), 0, "canary");
	expect_true(v, "secure:true implies canary");
	assert_d_eq(hm_mallctl("opt.guard", &v, &sz, NULL, 0), 0, "guard");
	expect_true(v, "secure:true implies guard");
	sz = sizeof(q);
	assert_d_eq(hm_mallctl("opt.quarantine", &q, &sz, NULL, 0), 0, "q");
	expect_zu_eq(q, MiB, "secure:true's quarantine");
TEST_END

/* Small and Large: the freed block is zero (but for the quarantine's tag
 * word) and is not handed out again while it waits. */
TEST_BEGIN(test_zeroed_and_held)
	if (!secure_on())
		test_skip("needs secure:true (secure.env)");
	static const size_t sizes[] = {16, 100, 4 * KiB, 14 * KiB, 64 * KiB};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t size = sizes[k];
		unsigned char *p = hm_malloc(size);
		assert_ptr_not_null(p, "malloc(%zu)", size);
		memset(p, 0xab, size);
		size_t usize = hm_malloc_usable_size(p);
		hm_free(p);
		const unsigned char *f = freed(p);
		size_t nonzero = 0;
		for (size_t i = sizeof(uintptr_t); i < usize; i++)
			nonzero += f[i] != 0;
		expect_zu_eq(nonzero, 0, "%zu B block zeroed on free", size);
		/* 8 blocks of the size: far below the quarantine's bytes. */
		void *q[8];
		for (int i = 0; i < 8; i++) {
			q[i] = hm_malloc(size);
			expect_ptr_ne(q[i], p, "%zu B: the freed block waits in "
			    "the quarantine", size);
		}
		for (int i = 0; i < 8; i++)
			hm_free(q[i]);
	}
	drain();
TEST_END

/* Statistics see every free once the quarantine is drained. */
TEST_BEGIN(test_drain_counts)
	if (!secure_on())
		test_skip("needs secure:true (secure.env)");
	drain();
	uint64_t epoch = 1;
	size_t a0, a1, a2, sz = sizeof(a0);
	hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
	hm_mallctl("stats.allocated", &a0, &sz, NULL, 0);
	void *p[64];
	for (int i = 0; i < 64; i++)
		p[i] = hm_malloc(1000);
	for (int i = 0; i < 64; i++)
		hm_free(p[i]);
	hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
	hm_mallctl("stats.allocated", &a1, &sz, NULL, 0);
	expect_zu_gt(a1, a0, "waiting blocks still count as allocated");
	drain();
	hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
	hm_mallctl("stats.allocated", &a2, &sz, NULL, 0);
	expect_zu_eq(a2, a0, "drained: every free counted");
TEST_END

/* Blocks leave in order once the quarantine's bytes are exceeded. */
TEST_BEGIN(test_bounded)
	if (!secure_on())
		test_skip("needs secure:true (secure.env)");
	drain();
	uint64_t epoch = 1;
	size_t a0, a1, sz = sizeof(a0);
	hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
	hm_mallctl("stats.allocated", &a0, &sz, NULL, 0);
	/* 4 MiB freed through a 1 MiB quarantine. */
	for (int i = 0; i < 64; i++)
		hm_free(hm_malloc(64 * KiB));
	hm_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
	hm_mallctl("stats.allocated", &a1, &sz, NULL, 0);
	expect_zu_le(a1, a0 + MiB, "the quarantine holds at most its bytes");
	expect_zu_ge(a1, a0 + MiB - 64 * KiB, "and fills up to them");
	drain();
TEST_END

TEST_BEGIN(test_random_order)
	if (!secure_on())
		test_skip("needs secure:true (secure.env)");
	void *p[64];
	unsigned ups = 0;
	for (int i = 0; i < 64; i++) {
		p[i] = hm_malloc(48);
		assert_ptr_not_null(p[i], "malloc(48)");
		ups += i > 0 && (uintptr_t)p[i] > (uintptr_t)p[i - 1];
	}
	/* In address order, 63 of 63 steps go up; at random about half. */
	expect_d_gt(ups, 10, "not in descending order");
	expect_d_lt(ups, 53, "not in ascending order");
	for (int i = 0; i < 64; i++)
		hm_free(p[i]);
	drain();
TEST_END

/* A reused huge block carries no old data: its pages went back on free
 * (without zero_free the huge cache hands them back as they were). */
TEST_BEGIN(test_huge_zeroed)
	if (!secure_on())
		test_skip("needs secure:true (secure.env)");
	size_t size = 4 * MiB;
	unsigned char *p = hm_malloc(size);
	assert_ptr_not_null(p, "malloc(4 MiB)");
	memset(p, 0xcd, size);
	hm_free(p);
	unsigned char *q = hm_malloc(size);
	assert_ptr_not_null(q, "malloc(4 MiB)");
	/* Zero, or junk:true's 0xa5: never the old 0xcd. */
	size_t old = 0;
	for (size_t i = 0; i < size; i += 512)
		old += q[i] == 0xcd;
	expect_zu_eq(old, 0, "a reused huge block carries no old data");
	hm_free(q);
TEST_END

/* Every usable byte is the program's; the canary's word is not. */
TEST_BEGIN(test_canary_room)
	if (!secure_on())
		test_skip("needs secure:true (secure.env)");
	for (size_t size = 1; size <= 14 * KiB; size = size * 3 / 2 + 1) {
		unsigned char *p = hm_malloc(size);
		assert_ptr_not_null(p, "malloc(%zu)", size);
		size_t u = hm_malloc_usable_size(p);
		expect_zu_ge(u, size, "usable size of malloc(%zu)", size);
		expect_zu_eq(hm_nallocx(size, 0), u, "nallocx(%zu)", size);
		memset(p, 0x77, u);
		/* Moved to a smaller class: the copy stops at its end. */
		unsigned char *q = hm_realloc(p, size / 3 + 1);
		assert_ptr_not_null(q, "realloc");
		expect_d_eq(q[0], 0x77, "contents kept");
		hm_free(q);
	}
	drain();
TEST_END

/* A write just past a huge block's usable end faults (guard page). */
static void
overrun_huge(void *arg) {
	(void)arg;
	alarm(20);
	unsigned char *p = hm_malloc(3 << 20);
	size_t u = hm_malloc_usable_size(p);
	memset(p, 1, u);
	/* Through a pointer the compiler cannot size (UBSan would stop the
	 * write first). */
	void *q = p;
	__asm__ volatile("" : "+r"(q));
	((volatile unsigned char *)q)[u] = 1;
	_exit(0);
}

TEST_BEGIN(test_huge_guard)
	if (!secure_on())
		test_skip("needs secure:true (secure.env)");
	char out[256];
	int status = test_fork_capture(overrun_huge, NULL, out, sizeof(out));
	expect_true(status != -1 && WIFSIGNALED(status)
	    && WTERMSIG(status) == SIGSEGV,
	    "a write past a huge block faults (status 0x%x; output: %s)",
	    status, out);
	/* Shrunk in place, the guard follows; grown, it moves. */
	unsigned char *p = hm_malloc(8 << 20);
	assert_ptr_not_null(p, "malloc(8 MiB)");
	memset(p, 7, 8 << 20);
	unsigned char *q = hm_realloc(p, 3 << 20);
	assert_ptr_not_null(q, "shrink");
	expect_d_eq(q[(3 << 20) - 1], 7, "contents kept");
	q = hm_realloc(q, 12 << 20);
	assert_ptr_not_null(q, "grow");
	expect_d_eq(q[(3 << 20) - 1], 7, "contents kept");
	memset(q, 8, 12 << 20);
	hm_free(q);
TEST_END

/* Whether the byte at p can be read, without faulting: the kernel
 * answers EFAULT for a buffer it cannot read. */
static bool
readable(const void *p) {
	int fds[2];
	assert_d_eq(pipe(fds), 0, "pipe");
	ssize_t n = write(fds[1], p, 1);
	close(fds[0]);
	close(fds[1]);
	return n == 1;
}

#define PAGE_SIZE_4K 4096

/* One Large block in GUARD_LARGE_EVERY (16) per thread ends at an
 * inaccessible page: all of its usable bytes work, the next one faults;
 * realloc moves it with its contents; freed, the page is ordinary again. */
TEST_BEGIN(test_large_guard)
	if (!secure_on())
		test_skip("needs secure:true (secure.env)");
	enum { N = 48 };
	unsigned char *p[N];
	size_t size = 100000;
	int nguarded = 0, first = -1;
	for (int i = 0; i < N; i++) {
		p[i] = hm_malloc(size);
		assert_ptr_not_null(p[i], "malloc(%zu)", size);
		size_t u = hm_malloc_usable_size(p[i]);
		expect_zu_eq(u, hm_nallocx(size, 0), "usable size");
		memset(p[i], i, u);
		if (!readable(p[i] + u)) {
			nguarded++;
			if (first < 0)
				first = i;
		}
	}
	expect_d_ge(nguarded, N / 16 - 1, "guarded among %d Large blocks", N);
	expect_d_le(nguarded, N / 16 + 1, "guarded among %d Large blocks", N);
	if (first >= 0) {
		unsigned char *g = p[first];
		size_t u = hm_malloc_usable_size(g);
		unsigned char *q = hm_realloc(g, 2 * size);
		assert_ptr_not_null(q, "realloc up");
		expect_ptr_ne(q, g, "a guarded block moves to grow");
		bool same = true;
		for (size_t j = 0; j < u; j++)
			same &= q[j] == (unsigned char)first;
		expect_true(same, "contents moved");
		p[first] = q;
	}
	for (int i = 0; i < N; i++)
		hm_free(p[i]);
	/* Out of the quarantine, back in the arena, the pages serve other
	 * blocks: a guard left behind would fault here. */
	drain();
	for (int i = 0; i < N; i++) {
		p[i] = hm_malloc(size / 2 + (size_t)i * PAGE_SIZE_4K);
		assert_ptr_not_null(p[i], "malloc");
		memset(p[i], 0x5c, hm_malloc_usable_size(p[i]));
	}
	for (int i = 0; i < N; i++)
		hm_free(p[i]);
	drain();
TEST_END

static void
misuse_overflow(void *p) {
	size_t u = hm_malloc_usable_size(p);
	((volatile unsigned char *)p)[u] ^= 1;
	hm_free(p);
}

static void
misuse_write_then_drain(void *p) {
	((volatile unsigned char *)p)[40] = 1;
	hm_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
}

TEST_BEGIN(test_misuse)
	if (!secure_on())
		test_skip("needs secure:true (secure.env)");
	static const size_t sizes[] = {100, 64 * KiB};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		void *p = hm_malloc(sizes[k]);
		hm_free(p);
		/* Still in the quarantine: a second free is caught there. */
		expect_abort(misuse_free, p, p, "double free");
		expect_abort(misuse_write_then_drain, p, p, "write after free");
	}
	void *s = hm_malloc(100);
	expect_abort(misuse_overflow, s, s, "heap overflow (canary overwritten)");
	hm_free(s);
	drain();
TEST_END

int
main(void) {
	return test(test_options, test_zeroed_and_held, test_drain_counts,
	    test_bounded, test_random_order, test_huge_zeroed, test_canary_room,
	    test_huge_guard, test_large_guard, test_misuse);
}
