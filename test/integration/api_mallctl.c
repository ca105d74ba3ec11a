/*
 * mallctl, with jemalloc's semantics: "version" (const char *),
 * "opt.narenas" and "arenas.narenas" (unsigned, read-only), "thread.arena"
 * (unsigned, read/write, per thread); ENOENT for unknown names, EINVAL for
 * a wrong *oldlenp or newlen, EPERM for writing a read-only name;
 * mallctlnametomib/mallctlbymib agree with mallctl.
 *
 * api_mallctl.env sets MALLOC_CONF=narenas:3; opt.narenas must equal the
 * last narenas value in MALLOC_CONF, whatever the runner adds.
 */
#include "api_util.h"

#include <pthread.h>

static unsigned
read_unsigned(const char *name) {
	unsigned v = 0xdeadbeef;
	size_t sz = sizeof(v);
	int r = hm_mallctl(name, &v, &sz, NULL, 0);
	expect_d_eq(r, 0, "mallctl(\"%s\") read", name);
	expect_zu_eq(sz, sizeof(v), "mallctl(\"%s\") *oldlenp", name);
	return v;
}

TEST_BEGIN(test_version)
	const char *v = NULL;
	size_t sz = sizeof(v);
	assert_d_eq(hm_mallctl("version", &v, &sz, NULL, 0), 0, "mallctl(version)");
	assert_ptr_not_null(v, "version string");
	expect_zu_gt(strlen(v), 0, "version string is empty");
	expect_d_eq(strncmp(v, HMALLOC_VERSION, strlen(HMALLOC_VERSION)), 0,
	    "version \"%s\" vs HMALLOC_VERSION \"%s\"", v, HMALLOC_VERSION);
	/* A read with nothing to read into does nothing and succeeds. */
	expect_d_eq(hm_mallctl("version", NULL, NULL, NULL, 0), 0,
	    "mallctl(version, NULL, NULL, NULL, 0)");
TEST_END

TEST_BEGIN(test_wrong_oldlen)
	const char *v = NULL;
	size_t sz = sizeof(v) - 1;
	expect_d_eq(hm_mallctl("version", &v, &sz, NULL, 0), EINVAL,
	    "version read with *oldlenp = %zu", sizeof(v) - 1);
	char big[16];
	sz = sizeof(big);
	expect_d_eq(hm_mallctl("version", big, &sz, NULL, 0), EINVAL,
	    "version read with *oldlenp = %zu", sizeof(big));
	static const char *unsigned_names[] = {"opt.narenas", "arenas.narenas",
	    "thread.arena"};
	for (size_t i = 0; i < 3; i++) {
		size_t zu = 0;
		sz = sizeof(zu);
		expect_d_eq(hm_mallctl(unsigned_names[i], &zu, &sz, NULL, 0), EINVAL,
		    "mallctl(\"%s\") read into a size_t", unsigned_names[i]);
		uint8_t byte = 0;
		sz = 1;
		expect_d_eq(hm_mallctl(unsigned_names[i], &byte, &sz, NULL, 0),
		    EINVAL, "mallctl(\"%s\") read into 1 byte", unsigned_names[i]);
	}
TEST_END

TEST_BEGIN(test_read_only)
	const char *nv = "x";
	expect_d_eq(hm_mallctl("version", NULL, NULL, &nv, sizeof(nv)), EPERM,
	    "write to version");
	unsigned one = 1;
	expect_d_eq(hm_mallctl("opt.narenas", NULL, NULL, &one, sizeof(one)),
	    EPERM, "write to opt.narenas");
	expect_d_eq(hm_mallctl("arenas.narenas", NULL, NULL, &one, sizeof(one)),
	    EPERM, "write to arenas.narenas");
	/* The values did not change. */
	const char *v = NULL;
	size_t sz = sizeof(v);
	expect_d_eq(hm_mallctl("version", &v, &sz, NULL, 0), 0, "version");
	if (v != NULL)
		expect_str_ne(v, "x", "version after a refused write");
TEST_END

TEST_BEGIN(test_narenas)
	unsigned opt = read_unsigned("opt.narenas");
	unsigned cur = read_unsigned("arenas.narenas");
	expect_d_ge(opt, 1, "opt.narenas");
	expect_d_ge(cur, opt, "arenas.narenas vs opt.narenas");
	long conf = conf_last_value(getenv("MALLOC_CONF"), "narenas");
	if (conf > 0)
		expect_d_eq(opt, conf, "opt.narenas with MALLOC_CONF=\"%s\"",
		    getenv("MALLOC_CONF"));
	expect_d_eq(read_unsigned("arenas.narenas"), cur, "arenas.narenas again");
TEST_END

TEST_BEGIN(test_thread_arena)
	unsigned narenas = read_unsigned("arenas.narenas");
	unsigned a = read_unsigned("thread.arena");
	expect_d_lt(a, narenas, "thread.arena vs arenas.narenas");
	/* Rebind, reading the old binding in the same call. */
	unsigned b = (a + 1) % narenas, old = 0xdeadbeef;
	size_t sz = sizeof(old);
	expect_d_eq(hm_mallctl("thread.arena", &old, &sz, &b, sizeof(b)), 0,
	    "thread.arena := %u", b);
	expect_d_eq(old, a, "old value returned by thread.arena write");
	expect_d_eq(read_unsigned("thread.arena"), b, "thread.arena after write");
	/* Allocation works from the new arena. */
	void *p[16];
	for (int i = 0; i < 16; i++) {
		p[i] = hm_malloc((size_t)100 << i);
		assert_ptr_not_null(p[i], "malloc after rebinding");
		memset(p[i], 7, (size_t)100 << i);
	}
	/* Back to the first arena; blocks from the other one free fine. */
	expect_d_eq(hm_mallctl("thread.arena", NULL, NULL, &a, sizeof(a)), 0,
	    "thread.arena := %u", a);
	for (int i = 0; i < 16; i++)
		hm_free(p[i]);
	expect_d_eq(read_unsigned("thread.arena"), a, "thread.arena");
	/* Refusals leave the binding alone. */
	unsigned bad = narenas + 100;
	expect_d_ne(hm_mallctl("thread.arena", NULL, NULL, &bad, sizeof(bad)), 0,
	    "thread.arena := %u with %u arenas", bad, narenas);
	size_t wrong = b;
	expect_d_eq(hm_mallctl("thread.arena", NULL, NULL, &wrong, sizeof(wrong)),
	    EINVAL, "thread.arena written with newlen %zu", sizeof(wrong));
	expect_d_eq(read_unsigned("thread.arena"), a, "thread.arena after refusals");
TEST_END

struct thread_arg {
	unsigned want;      /* arena the thread binds to */
	unsigned got;       /* what it read back */
	int write_ret;
};

static void *
thread_bind(void *varg) {
	struct thread_arg *arg = varg;
	arg->write_ret = hm_mallctl("thread.arena", NULL, NULL, &arg->want,
	    sizeof(arg->want));
	void *p = hm_malloc(1000);
	if (p != NULL)
		memset(p, 1, 1000);
	size_t sz = sizeof(arg->got);
	hm_mallctl("thread.arena", &arg->got, &sz, NULL, 0);
	hm_free(p);
	return NULL;
}

TEST_BEGIN(test_thread_arena_is_per_thread)
	unsigned narenas = read_unsigned("arenas.narenas");
	unsigned mine = read_unsigned("thread.arena");
	struct thread_arg arg = {.want = (mine + 1) % narenas, .got = 0xdeadbeef};
	pthread_t t;
	assert_d_eq(pthread_create(&t, NULL, thread_bind, &arg), 0,
	    "pthread_create");
	pthread_join(t, NULL);
	expect_d_eq(arg.write_ret, 0, "thread.arena := %u in a thread", arg.want);
	expect_d_eq(arg.got, arg.want, "thread.arena read back in the thread");
	expect_d_eq(read_unsigned("thread.arena"), mine,
	    "this thread's binding after another thread rebound");
TEST_END

TEST_BEGIN(test_unknown_names)
	static const char *names[] = {
		"", "nope", "versions", "version.x", "opt.nonexistent",
		"arenas.narenas.x", "thread.arena.x", "thread.arenas", ".version",
		"opt..narenas", "OPT.NARENAS",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		unsigned v = 0;
		size_t sz = sizeof(v);
		expect_d_eq(hm_mallctl(names[i], &v, &sz, NULL, 0), ENOENT,
		    "mallctl(\"%s\")", names[i]);
		size_t mib[8], miblen = 8;
		expect_d_eq(hm_mallctlnametomib(names[i], mib, &miblen), ENOENT,
		    "mallctlnametomib(\"%s\")", names[i]);
	}
	/*
	 * Interior nodes name no value: mallctl says ENOENT (jemalloc; its
	 * mallctlnametomib accepts them as partial MIBs, so not checked).
	 */
	static const char *interior[] = {"opt", "arenas", "thread"};
	for (size_t i = 0; i < sizeof(interior) / sizeof(interior[0]); i++) {
		unsigned v = 0;
		size_t sz = sizeof(v);
		expect_d_eq(hm_mallctl(interior[i], &v, &sz, NULL, 0), ENOENT,
		    "mallctl(\"%s\")", interior[i]);
	}
TEST_END

TEST_BEGIN(test_mib)
	static const char *names[] = {"opt.narenas", "arenas.narenas",
	    "thread.arena"};
	for (size_t i = 0; i < 3; i++) {
		size_t mib[8], miblen = 8;
		assert_d_eq(hm_mallctlnametomib(names[i], mib, &miblen), 0,
		    "mallctlnametomib(\"%s\")", names[i]);
		expect_zu_eq(miblen, 2, "mib length of \"%s\"", names[i]);
		unsigned v = 0xdeadbeef;
		size_t sz = sizeof(v);
		expect_d_eq(hm_mallctlbymib(mib, miblen, &v, &sz, NULL, 0), 0,
		    "mallctlbymib(\"%s\")", names[i]);
		expect_d_eq(v, read_unsigned(names[i]), "\"%s\" by mib and by name",
		    names[i]);
		sz = sizeof(size_t);
		size_t zu;
		expect_d_eq(hm_mallctlbymib(mib, miblen, &zu, &sz, NULL, 0), EINVAL,
		    "mallctlbymib(\"%s\") into a size_t", names[i]);
	}
	size_t mib[8], miblen = 8;
	assert_d_eq(hm_mallctlnametomib("version", mib, &miblen), 0,
	    "mallctlnametomib(version)");
	expect_zu_eq(miblen, 1, "mib length of version");
	const char *v = NULL, *byname = NULL;
	size_t sz = sizeof(v);
	expect_d_eq(hm_mallctlbymib(mib, miblen, &v, &sz, NULL, 0), 0,
	    "mallctlbymib(version)");
	sz = sizeof(byname);
	expect_d_eq(hm_mallctl("version", &byname, &sz, NULL, 0), 0,
	    "mallctl(version)");
	if (v != NULL && byname != NULL)
		expect_str_eq(v, byname, "version by mib and by name");
TEST_END

int
main(void) {
	return test(test_version, test_wrong_oldlen, test_read_only,
	    test_narenas, test_thread_arena, test_thread_arena_is_per_thread,
	    test_unknown_names, test_mib);
}
