/*
 * hm_snprintf (log.c): the conversions hmalloc formats with (%s %c %d %i
 * %u %x %p %%, length modifiers l ll z, width, '-' and '0' flags,
 * precision for %s), truncation (the wanted length is returned and the
 * buffer always NUL-terminated, nothing written past it), and agreement
 * with the C library on random formats and values.
 */
#include "unit_util.h"

#include <limits.h>
#include <sys/types.h>

#include "log.h"

/* Formats with hm_snprintf into a guarded buffer and compares. */
#define CHECK_FMT(expect, ...)                                             \
	do {                                                               \
		char buf_[256];                                            \
		memset(buf_, 'Z', sizeof(buf_));                           \
		size_t n_ = hm_snprintf(buf_, sizeof(buf_), __VA_ARGS__);  \
		expect_str_eq(buf_, expect, "hm_snprintf(%s)", #__VA_ARGS__); \
		expect_zu_eq(n_, strlen(expect), "return of hm_snprintf(%s)", \
		    #__VA_ARGS__);                                         \
	} while (0)

TEST_BEGIN(test_conversions)
	CHECK_FMT("plain text", "plain text");
	CHECK_FMT("", "%s", "");
	CHECK_FMT("abc", "%s", "abc");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-overflow"
	CHECK_FMT("(null)", "%s", (char *)NULL);
#pragma GCC diagnostic pop
	CHECK_FMT("x=42 y=-7", "x=%d y=%i", 42, -7);
	CHECK_FMT("0", "%d", 0);
	CHECK_FMT("4294967295", "%u", UINT_MAX);
	CHECK_FMT("-2147483648 2147483647", "%d %d", INT_MIN, INT_MAX);
	CHECK_FMT("deadbeef", "%x", 0xdeadbeefU);
	CHECK_FMT("0", "%x", 0U);
	CHECK_FMT("18446744073709551615", "%zu", SIZE_MAX);
	CHECK_FMT("-1 9223372036854775807", "%zd %zd", (ssize_t)-1,
	    (ssize_t)SSIZE_MAX);
	CHECK_FMT("-9223372036854775808", "%zd", (ssize_t)(-SSIZE_MAX - 1));
	CHECK_FMT("ffffffffffffffff", "%zx", SIZE_MAX);
	CHECK_FMT("-9223372036854775808", "%lld", (long long)INT64_MIN);
	CHECK_FMT("9223372036854775807", "%lld", (long long)INT64_MAX);
	CHECK_FMT("-9223372036854775808", "%ld", (long)INT64_MIN);
	CHECK_FMT("18446744073709551615", "%llu", (unsigned long long)UINT64_MAX);
	CHECK_FMT("18446744073709551615", "%lu", (unsigned long)UINT64_MAX);
	CHECK_FMT("ffffffffffffffff", "%llx", (unsigned long long)UINT64_MAX);
	CHECK_FMT("8000000000000000", "%lx", (unsigned long)INT64_MIN);
	CHECK_FMT("0x1234abcd", "%p", (void *)(uintptr_t)0x1234abcd);
	CHECK_FMT("0xffffffffffffffff", "%p", (void *)UINTPTR_MAX);
	CHECK_FMT("a%b", "a%cb", '%');
	CHECK_FMT("Q", "%c", 'Q');
	CHECK_FMT("100%", "100%%");
	CHECK_FMT("%%", "%%%%");
	CHECK_FMT("<hmalloc>: Invalid conf pair: k:v\n",
	    "<hmalloc>: Invalid conf pair: %.*s:%.*s\n", 1, "key", 3, "v");
TEST_END

TEST_BEGIN(test_width_flags_precision)
	CHECK_FMT("   42", "%5d", 42);
	CHECK_FMT("42   |", "%-5d|", 42);
	CHECK_FMT("00042", "%05d", 42);
	CHECK_FMT("-0042", "%05d", -42);
	CHECK_FMT("  -42", "%5d", -42);
	CHECK_FMT("-42  |", "%-5d|", -42);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
	CHECK_FMT("-42  |", "%-05d|", -42); /* '-' wins over '0' */
#pragma GCC diagnostic pop
	CHECK_FMT("12345", "%3d", 12345);    /* width is a minimum */
	CHECK_FMT("0000ff", "%06x", 0xffU);
	CHECK_FMT("    ff", "%6x", 0xffU);
	CHECK_FMT("ff    |", "%-6x|", 0xffU);
	CHECK_FMT("00000000000000000001", "%020zu", (size_t)1);
	CHECK_FMT("      0x10", "%10p", (void *)(uintptr_t)16);
	CHECK_FMT("0x10      |", "%-10p|", (void *)(uintptr_t)16);
	CHECK_FMT("   ab", "%5s", "ab");
	CHECK_FMT("ab   |", "%-5s|", "ab");
	CHECK_FMT("abc", "%.3s", "abcdef");
	CHECK_FMT("", "%.0s", "abcdef");
	CHECK_FMT("ab", "%.5s", "ab");
	CHECK_FMT("  abc", "%5.3s", "abcdef");
	CHECK_FMT("abc  |", "%-5.3s|", "abcdef");
	CHECK_FMT("   ab", "%*s", 5, "ab");
	CHECK_FMT("abc", "%.*s", 3, "abcdef");
	CHECK_FMT("abcdef", "%.*s", -1, "abcdef"); /* negative: no precision */
	CHECK_FMT("    x", "%5c", 'x');
	CHECK_FMT("x    |", "%-5c|", 'x');
TEST_END

TEST_BEGIN(test_truncation)
	char buf[16];
	memset(buf, 'Z', sizeof(buf));
	expect_zu_eq(hm_snprintf(buf, 5, "hello world"), 11, "wanted length");
	expect_str_eq(buf, "hell", "truncated to size - 1");
	for (size_t i = 5; i < sizeof(buf); i++)
		expect_d_eq(buf[i], 'Z', "byte %zu past size written", i);

	memset(buf, 'Z', sizeof(buf));
	expect_zu_eq(hm_snprintf(buf, 1, "%d", 12345), 5, "size 1");
	expect_d_eq(buf[0], '\0', "size 1 leaves only the NUL");
	expect_d_eq(buf[1], 'Z', "byte past size 1 written");

	memset(buf, 'Z', sizeof(buf));
	expect_zu_eq(hm_snprintf(buf, 0, "%s", "abc"), 3, "size 0");
	expect_d_eq(buf[0], 'Z', "size 0 writes nothing");
	expect_zu_eq(hm_snprintf(NULL, 0, "%zu-%s", (size_t)123, "xy"), 6,
	    "NULL buffer, size 0");

	/* Exactly fitting and one short. */
	memset(buf, 'Z', sizeof(buf));
	expect_zu_eq(hm_snprintf(buf, 6, "%5d", 7), 5, "fits exactly");
	expect_str_eq(buf, "    7", "fits exactly");
	memset(buf, 'Z', sizeof(buf));
	expect_zu_eq(hm_snprintf(buf, 5, "%5d", -7), 5, "one short");
	expect_str_eq(buf, "   -", "one short");
	expect_d_eq(buf[5], 'Z', "byte past size written");

	/* Truncation inside padding, a number and a string. */
	memset(buf, 'Z', sizeof(buf));
	expect_zu_eq(hm_snprintf(buf, 8, "%-10s|%020lld", "ab",
	    (long long)INT64_MIN), 31, "long output");
	expect_str_eq(buf, "ab     ", "long output truncated");
	expect_d_eq(buf[8], 'Z', "byte past size written");
TEST_END

/* One random conversion spec and a value for it. */
typedef enum { V_INT, V_UINT, V_LONG, V_ULONG, V_LLONG, V_ULLONG, V_SIZE,
	V_SSIZE, V_CHAR, V_STR, V_PTR } vkind_t;

static const struct {
	const char *conv;
	vkind_t kind;
} convs[] = {
	{"d", V_INT}, {"i", V_INT}, {"u", V_UINT}, {"x", V_UINT},
	{"ld", V_LONG}, {"li", V_LONG}, {"lu", V_ULONG}, {"lx", V_ULONG},
	{"lld", V_LLONG}, {"llu", V_ULLONG}, {"llx", V_ULLONG},
	{"zu", V_SIZE}, {"zx", V_SIZE}, {"zd", V_SSIZE},
	{"c", V_CHAR}, {"s", V_STR}, {"p", V_PTR},
};

static const char *const strs[] = {"", "a", "hmalloc", "Invalid conf pair",
	"0123456789abcdefghijklmnopqrstuvwxyz"};

/* A value of varied magnitude. */
static uint64_t
rand_magnitude(uint64_t *st) {
	uint64_t v = test_rand_next(st);
	unsigned bits = (unsigned)(test_rand_next(st) % 65);
	return bits == 64 ? v : v & (((uint64_t)1 << bits) - 1);
}

TEST_BEGIN(test_random_vs_libc)
	uint64_t seed = test_seed(), st = seed;
	unsigned nbad = 0, nbad_conv[HM_ARRAY_SIZE(convs)] = {0};
	for (unsigned iter = 0; iter < 2000; iter++) {
		unsigned ci = (unsigned)(test_rand_next(&st) % HM_ARRAY_SIZE(convs));
		vkind_t kind = convs[ci].kind;
		bool is_int = kind != V_CHAR && kind != V_STR && kind != V_PTR;
		char fmt[64];
		size_t fl = 0;
		const char *pre = iter % 3 == 0 ? "<" : "";
		fl += (size_t)snprintf(fmt + fl, sizeof(fmt) - fl, "%s%%", pre);
		unsigned flags = (unsigned)(test_rand_next(&st) % 4);
		if (flags & 1)
			fmt[fl++] = '-';
		/* '0' is defined for the integer conversions only. */
		if ((flags & 2) && is_int)
			fmt[fl++] = '0';
		if (test_rand_next(&st) % 3 != 0)
			fl += (size_t)snprintf(fmt + fl, sizeof(fmt) - fl, "%u",
			    (unsigned)(test_rand_next(&st) % 26));
		if (kind == V_STR && test_rand_next(&st) % 2 == 0)
			fl += (size_t)snprintf(fmt + fl, sizeof(fmt) - fl, ".%u",
			    (unsigned)(test_rand_next(&st) % 12));
		snprintf(fmt + fl, sizeof(fmt) - fl, "%s%s", convs[ci].conv,
		    iter % 2 ? "|tail" : "");

		/* Output sizes: roomy, or anything up to it (truncation). */
		size_t size = test_rand_next(&st) % 4 == 0
		    ? (size_t)(test_rand_next(&st) % 40) : 128;
		char mine[130], ref[130];
		memset(mine, 'Z', sizeof(mine));
		memset(ref, 'Z', sizeof(ref));
		uint64_t v = rand_magnitude(&st);
		/* Signed conversions: negative half the time (wrapping). */
		uint64_t sv = test_rand_next(&st) % 2 ? 0 - v : v;
		size_t nm = 0;
		int nr = 0;
#define BOTH(val)                                                          \
	do {                                                               \
		nm = hm_snprintf(mine, size, fmt, val);                    \
		nr = snprintf(ref, size, fmt, val);                        \
	} while (0)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		switch (kind) {
		case V_INT: BOTH((int)(uint32_t)sv); break;
		case V_UINT: BOTH((unsigned)v); break;
		case V_LONG: BOTH((long)sv); break;
		case V_ULONG: BOTH((unsigned long)v); break;
		case V_LLONG: BOTH((long long)sv); break;
		case V_ULLONG: BOTH((unsigned long long)v); break;
		case V_SIZE: BOTH((size_t)v); break;
		case V_SSIZE: BOTH((ssize_t)sv); break;
		case V_CHAR: BOTH((int)(' ' + v % 95)); break;
		case V_STR: BOTH(strs[v % HM_ARRAY_SIZE(strs)]); break;
		case V_PTR: BOTH((void *)(uintptr_t)(v | 1)); break;
		}
#pragma GCC diagnostic pop
#undef BOTH
		bool bad = nm != (size_t)nr || memcmp(mine, ref, sizeof(mine)) != 0;
		if (bad && nbad_conv[ci]++ < 2) {
			expect_zu_eq(nm, (size_t)nr, "format \"%s\", size %zu", fmt,
			    size);
			mine[sizeof(mine) - 1] = ref[sizeof(ref) - 1] = '\0';
			if (size > 0)
				expect_str_eq(mine, ref, "format \"%s\", size %zu "
				    "(seed %" PRIu64 ")", fmt, size, seed);
			else
				expect_str_eq(mine, ref, "size 0 wrote");
		}
	}
	/* Two mismatches per conversion are shown; here are the counts. */
	for (size_t ci = 0; ci < HM_ARRAY_SIZE(convs); ci++) {
		expect_d_eq(nbad_conv[ci], 0, "mismatches with libc for %%%s, "
		    "seed %" PRIu64, convs[ci].conv, seed);
		nbad += nbad_conv[ci];
	}
	expect_d_eq(nbad, 0, "mismatches with libc in 2000 formats");
TEST_END

/* hm_printf goes through hm_write to stderr. */
TEST_BEGIN(test_printf_to_stderr)
	capture_t c;
	char out[256];
	capture_begin(&c);
	hm_printf("<hmalloc>: %s of %p (size %zu)\n", "double free",
	    (void *)(uintptr_t)0x7f0010, (size_t)48);
	capture_end(&c, out, sizeof(out));
	expect_str_eq(out, "<hmalloc>: double free of 0x7f0010 (size 48)\n",
	    "hm_printf output");
TEST_END

int
main(void) {
	return test(test_conversions, test_width_flags_precision,
	    test_truncation, test_random_vs_libc, test_printf_to_stderr);
}
