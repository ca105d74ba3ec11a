/*
 * The order of the option sources (conf.h): the program's malloc_conf,
 * /etc/malloc.conf, MALLOC_CONF, HMALLOC_CONF, each overriding the one
 * before.  conf_order.env sets MALLOC_CONF=narenas:3,dirty_decay_ms:5 and
 * HMALLOC_CONF=dirty_decay_ms:6; this program defines malloc_conf (the unit
 * test links the allocator statically, so hmalloc sees the definition).
 * Expected: narenas 3 (MALLOC_CONF over malloc_conf), dirty_decay_ms 6
 * (HMALLOC_CONF last), junk "alloc" (only malloc_conf sets it).
 *
 * The runner may append options to MALLOC_CONF for its crossed runs
 * (HM_CONF_CROSS): the expected narenas and junk are the last ones the
 * sources name, in order, whatever they are.
 */
#include "unit_util.h"

#include "conf.h"
#include "decay.h"
#include "secure.h"

const char *HM_PUBLIC(malloc_conf) = "narenas:2,junk:alloc";

/* The value of the last "key:" pair in conf, or NULL; copied to buf. */
static const char *
last_value(const char *conf, const char *key, char *buf, size_t size) {
	const char *found = NULL;
	size_t klen = strlen(key);
	for (const char *s = conf; s != NULL && *s != '\0';) {
		const char *end = strchr(s, ',');
		size_t len = end != NULL ? (size_t)(end - s) : strlen(s);
		if (len > klen && strncmp(s, key, klen) == 0 && s[klen] == ':'
		    && len - klen - 1 < size) {
			memcpy(buf, s + klen + 1, len - klen - 1);
			buf[len - klen - 1] = '\0';
			found = buf;
		}
		s = end != NULL ? end + 1 : NULL;
	}
	return found;
}

/* The expected final value of key: malloc_conf's, overridden in order. */
static const char *
expected(const char *key, char *buf, size_t size) {
	const char *v = last_value(HM_PUBLIC(malloc_conf), key, buf, size);
	char tmp[64];
	const char *srcs[] = {getenv("MALLOC_CONF"), getenv("HMALLOC_CONF")};
	for (size_t i = 0; i < 2; i++) {
		if (last_value(srcs[i], key, tmp, sizeof(tmp)) != NULL) {
			snprintf(buf, size, "%s", tmp);
			v = buf;
		}
	}
	return v;
}

static void
require_env(void) {
	const char *mc = getenv("MALLOC_CONF"), *hc = getenv("HMALLOC_CONF");
	if (mc == NULL || strncmp(mc, "narenas:3,dirty_decay_ms:5", 26) != 0
	    || hc == NULL || strcmp(hc, "dirty_decay_ms:6") != 0)
		test_skip("needs the environment of conf_order.env (run it "
		    "through make check-unit)");
	char buf[1];
	if (hm_conf_read_link(HM_CONF_FILE, buf, sizeof(buf)))
		test_skip(HM_CONF_FILE " exists and may set options");
}

TEST_BEGIN(test_narenas)
	require_env();
	unit_boot();
	char buf[64];
	const char *want = expected("narenas", buf, sizeof(buf));
	assert_ptr_not_null(want, "no source sets narenas");
	printf("narenas: expecting %s\n", want);
	unsigned n = 0;
	size_t sz = sizeof(n);
	assert_d_eq(hm_mallctl("opt.narenas", &n, &sz, NULL, 0), 0,
	    "mallctl(opt.narenas)");
	expect_d_eq(n, strtoll(want, NULL, 0), "opt.narenas");
	expect_d_eq(opt_narenas, strtoll(want, NULL, 0), "opt_narenas");
	expect_d_eq(hm_narenas, strtoll(want, NULL, 0), "arenas in use");
	/* With the .env as written: MALLOC_CONF beats malloc_conf. */
	if (strcmp(getenv("MALLOC_CONF"), "narenas:3,dirty_decay_ms:5") == 0)
		expect_d_eq(n, 3, "opt.narenas");
TEST_END

TEST_BEGIN(test_dirty_decay_ms)
	require_env();
	unit_boot();
	ssize_t v = 0;
	size_t sz = sizeof(v);
	assert_d_eq(hm_mallctl("opt.dirty_decay_ms", &v, &sz, NULL, 0), 0,
	    "mallctl(opt.dirty_decay_ms)");
	/* HMALLOC_CONF is read last. */
	expect_d_eq(v, 6, "opt.dirty_decay_ms");
	expect_d_eq(opt_dirty_decay_ms, 6, "opt_dirty_decay_ms");
TEST_END

TEST_BEGIN(test_junk)
	require_env();
	unit_boot();
	char buf[64];
	const char *want = expected("junk", buf, sizeof(buf));
	assert_ptr_not_null(want, "no source sets junk");
	const char *v = NULL;
	size_t sz = sizeof(v);
	assert_d_eq(hm_mallctl("opt.junk", &v, &sz, NULL, 0), 0,
	    "mallctl(opt.junk)");
	assert_ptr_not_null(v, "opt.junk");
	expect_str_eq(v, want, "opt.junk");
	if (strcmp(want, "alloc") == 0) {
		expect_d_eq(opt_junk, 2, "opt_junk (index of \"alloc\")");
		expect_true(hm_junk_alloc, "hm_junk_alloc");
		expect_false(hm_junk_free, "hm_junk_free");
		/* And it is in force: new memory is junk-filled. */
		unsigned char *p = hm_malloc(100);
		assert_ptr_not_null(p, "malloc(100)");
		for (size_t i = 0; i < 100; i++) {
			if (p[i] != JUNK_ALLOC_BYTE) {
				expect_d_eq(p[i], JUNK_ALLOC_BYTE, "byte %zu", i);
				break;
			}
		}
		hm_free(p);
	}
TEST_END

int
main(void) {
	return test(test_narenas, test_dirty_decay_ms, test_junk);
}
