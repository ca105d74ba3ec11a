/*
 * opt.slab_sizes (slab_sizes.env: "1-64:2|4097-8192:5|100-200:8").
 *
 * test_geometry: arenas.bin.<i>.slab_size and nregs follow the ranges,
 *   clamped to what a slab holds (256 regions, 8 pages, one region).
 * test_blocks: blocks of the changed classes are whole, apart and
 *   aligned, over several slabs each.
 * test_invalid: malformed values are reported and leave the default.
 */
#include "api_util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define CONF "1-64:2|4097-8192:5|100-200:8"

static unsigned
bin_of(size_t size) {
	unsigned n = 0;
	size_t sz = sizeof(n);
	assert_d_eq(hm_mallctl("arenas.nbins", &n, &sz, NULL, 0), 0, "nbins");
	for (unsigned i = 0; i < n; i++) {
		char name[64];
		size_t s = 0;
		sz = sizeof(s);
		snprintf(name, sizeof(name), "arenas.bin.%u.size", i);
		assert_d_eq(hm_mallctl(name, &s, &sz, NULL, 0), 0, "%s", name);
		if (s == size)
			return i;
	}
	assert_true(false, "no bin of %zu bytes", size);
	return 0;
}

static void
expect_slab(size_t size, size_t slab, unsigned nregs) {
	unsigned i = bin_of(size);
	char name[64];
	size_t s = 0;
	uint32_t n = 0;
	size_t sz = sizeof(s);
	snprintf(name, sizeof(name), "arenas.bin.%u.slab_size", i);
	expect_d_eq(hm_mallctl(name, &s, &sz, NULL, 0), 0, "%s", name);
	expect_zu_eq(s, slab, "slab of the %zu-byte class", size);
	sz = sizeof(n);
	snprintf(name, sizeof(name), "arenas.bin.%u.nregs", i);
	expect_d_eq(hm_mallctl(name, &n, &sz, NULL, 0), 0, "%s", name);
	expect_u_eq(n, nregs, "regions of the %zu-byte class", size);
}

static bool
conf_on(void) {
	const char *v = NULL;
	size_t sz = sizeof(v);
	return hm_mallctl("opt.slab_sizes", &v, &sz, NULL, 0) == 0
	    && strcmp(v, CONF) == 0;
}

TEST_BEGIN(test_geometry)
	if (!conf_on())
		test_skip("needs slab_sizes:" CONF " (slab_sizes.env)");
	/* 2 pages would be 512 regions of 16 bytes: one page. */
	expect_slab(16, 4096, 256);
	expect_slab(32, 8192, 256);
	expect_slab(48, 8192, 170);
	expect_slab(64, 8192, 128);
	/* 8 pages of 112 bytes would be 292 regions: 7 pages. */
	expect_slab(112, 7 * 4096, 256);
	expect_slab(128, 8 * 4096, 256);
	expect_slab(160, 8 * 4096, 204);
	expect_slab(192, 8 * 4096, 170);
	expect_slab(5120, 5 * 4096, 4);
	expect_slab(6144, 5 * 4096, 3);
	expect_slab(8192, 5 * 4096, 2);
	/* Outside every range: the default, one page for 80 bytes. */
	expect_slab(80, 4096, 51);
TEST_END

TEST_BEGIN(test_blocks)
	if (!conf_on())
		test_skip("needs slab_sizes:" CONF " (slab_sizes.env)");
	static const size_t sizes[] = {16, 32, 64, 112, 128, 192, 5120, 8192};
	enum { N = 800 };
	static unsigned char *p[N];
	for (size_t k = 0; k < HM_TEST_ARRAY_LEN(sizes); k++) {
		size_t size = sizes[k];
		/* (With canaries the last word is not the program's.) */
		size_t use = size;
		for (unsigned i = 0; i < N; i++) {
			p[i] = hm_malloc(size);
			assert_ptr_not_null(p[i], "malloc(%zu)", size);
			expect_zu_eq((uintptr_t)p[i] % 16, 0,
			    "%zu-byte block aligned as malloc's", size);
			use = hm_malloc_usable_size(p[i]);
			memset(p[i], (int)(i & 0xff), use);
		}
		for (unsigned i = 0; i < N; i++) {
			for (size_t j = 0; j < use; j += 13)
				if (p[i][j] != (unsigned char)(i & 0xff)) {
					expect_d_eq(p[i][j], i & 0xff,
					    "block %u of %zu bytes, byte %zu",
					    i, size, j);
					break;
				}
		}
		qsort(p, N, sizeof(p[0]), test_cmp_addr);
		for (unsigned i = 1; i < N; i++)
			expect_true(p[i - 1] + size <= p[i],
			    "blocks of %zu bytes apart", size);
		for (unsigned i = 0; i < N; i++)
			hm_free(p[i]);
	}
TEST_END

static void
exec_bad(void *arg) {
	setenv("MALLOC_CONF", arg, 1);
	char *argv[] = {"slab_sizes", "show", NULL};
	execv("/proc/self/exe", argv);
	_exit(127);
}

TEST_BEGIN(test_invalid)
	static const char *bad[] = {"64-1:2", "1-64:0", "1-64", "1-64:2|",
	    "x-64:2", "1-64:2|5", "1:64-2"};
	for (size_t k = 0; k < HM_TEST_ARRAY_LEN(bad); k++) {
		char conf[128], out[1024], want[256];
		snprintf(conf, sizeof(conf), "slab_sizes:%s", bad[k]);
		int st = test_fork_capture(exec_bad, conf, out, sizeof(out));
		expect_true(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "%s: status 0x%x", conf, st);
		snprintf(want, sizeof(want), "<hmalloc>: Invalid conf pair: "
		    "%s\nslab_sizes=[]\n", conf);
		expect_str_eq(out, want, "%s", conf);
	}
TEST_END

int
main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "show") == 0) {
		const char *v = "?";
		size_t sz = sizeof(v);
		hm_mallctl("opt.slab_sizes", &v, &sz, NULL, 0);
		printf("slab_sizes=[%s]\n", v);
		return 0;
	}
	return test(test_geometry, test_blocks, test_invalid);
}
