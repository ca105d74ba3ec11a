#!/usr/bin/env bash
# tools/hmprof reads heap_v2 profiles, independently of the library's
# profiler: a small program writes one itself, with stacks of its own
# return addresses (functions leak_here and keep_small, called from main)
# and known sample counts, then appends its /proc/self/maps.  Checked:
#   - --text names both functions with the unbiased estimates computed
#     here from jeprof's formula (flat, cumulative and the totals), for a
#     position-independent and a fixed-address (ET_EXEC) program, with
#     addr2line and with the ELF symbol tables alone (--no-addr2line);
#     --alloc, --objects, --thread, --top, a period of 1 (no scaling);
#   - --collapsed prints the three stacks, outermost first;
#   - --svg writes valid XML (ElementTree parses it) holding both names;
#     a C++ build adds a template function, whose < > & must be escaped;
#   - a PROGRAM argument names the functions once the program's path in
#     the maps is gone;
#   - a file that is not heap_v2, a missing file and a directory give
#     exit status 2 and one line on stderr;
#   - jeprof, when installed, reads the same file and names the same
#     functions with the same figures.
# Environment: HMPROF (the script under test, default tools/hmprof).
# Exit 0 pass, 1 fail, 77 skip.
set -u

repo=$(cd "$(dirname "$0")/../.." && pwd)
hmprof=${HMPROF:-$repo/tools/hmprof}
cc=${CC:-cc}
py=$(command -v python3) || { echo "skip: python3 is not installed"; exit 77; }
command -v "$cc" >/dev/null 2>&1 || { echo "skip: no C compiler ($cc)"; exit 77; }

# addr2line stays offline: debug files are looked up on this machine only.
unset DEBUGINFOD_URLS

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hm_hmprof.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$hmprof" ] || fail "$hmprof is not executable"

cat >"$tmp/fake.c" <<'EOF'
/*
 * fake OUT: writes a heap_v2 profile to OUT as the library's profiler
 * would, of three stacks (innermost first) with known counts:
 *   leak_here main libc             16 objects, 8 MiB   [20: 10 MiB]
 *   keep_small leak_here main libc   4 objects, 16 KiB  [0: 0]
 *   keep_small main libc             8 objects, 512 B   [10: 640]
 * and, built as C++, Box<int>::hold(int&) main libc  2 objects, 2 MB.
 * "fake OUT extra" adds two stacks:
 *   malloc leak_here main libc        1 object, 1 MiB: malloc's frame is
 *                                     the allocator's, left out
 *   leak_here leak_here main libc     2 objects, 512 KiB: recursion,
 *                                     counted once in the cumulative
 * Frame pointers make __builtin_return_address(1 and 2) usable.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

static FILE *out;
static int extra;

/* A pc inside the caller: the return address of this call. */
static NOINLINE void *
here(void) {
	return __builtin_return_address(0);
}

static void
sample(void *const *pcs, int npcs, unsigned long n, unsigned long s,
    unsigned long an, unsigned long as) {
	fprintf(out, "@");
	for (int i = 0; i < npcs; i++)
		fprintf(out, " %p", pcs[i]);
	fprintf(out, "\n  t*: %lu: %lu [%lu: %lu]\n", n, s, an, as);
	fprintf(out, "  t0: %lu: %lu [%lu: %lu]\n", n, s, an, as);
}

static NOINLINE void
keep_small(int from_leak) {
	void *pcs[4];
	int n = 0;
	pcs[n++] = here();
	pcs[n++] = __builtin_return_address(0);
	pcs[n++] = __builtin_return_address(1);
	if (from_leak) {
		pcs[n++] = __builtin_return_address(2);
		sample(pcs, n, 4, 4 * 4096, 0, 0);
	} else {
		sample(pcs, n, 8, 8 * 64, 10, 10 * 64);
	}
}

static NOINLINE void
leak_here(void) {
	void *pcs[3] = {here(), __builtin_return_address(0),
	    __builtin_return_address(1)};
	sample(pcs, 3, 16, 16 * 524288, 20, 20 * 524288);
	keep_small(1);
	if (extra) {
		void *in_malloc[4] = {(char *)(uintptr_t)malloc + 4, pcs[0],
		    pcs[1], pcs[2]};
		sample(in_malloc, 4, 1, 1048576, 0, 0);
		/* pcs[0] + 1 is moved back to pcs[0] as a return address. */
		void *rec[4] = {pcs[0], (char *)pcs[0] + 1, pcs[1], pcs[2]};
		sample(rec, 4, 2, 2 * 262144, 0, 0);
	}
}

#ifdef __cplusplus
template <typename T> struct Box {
	static NOINLINE void
	hold(T &v) {
		void *pcs[3] = {here(), __builtin_return_address(0),
		    __builtin_return_address(1)};
		sample(pcs, 3, 2, 2 * 1000000, 0, 0);
		v++;
	}
};
#endif

int
main(int argc, char **argv) {
	if (argc < 2)
		return 2;
	extra = argc > 2 && strcmp(argv[2], "extra") == 0;
	out = fopen(argv[1], "w");
	if (out == NULL)
		return 1;
	fprintf(out, "heap_v2/524288\n");
	fprintf(out, "  t*: 28: 8405504 [30: 10486400]\n");
	fprintf(out, "  t0: 28: 8405504 [30: 10486400] main\n");
	leak_here();
	keep_small(0);
#ifdef __cplusplus
	int x = 0;
	Box<int>::hold(x);
#endif
	fprintf(out, "\nMAPPED_LIBRARIES:\n");
	FILE *maps = fopen("/proc/self/maps", "r");
	if (maps == NULL)
		return 1;
	char buf[4096];
	size_t k;
	while ((k = fread(buf, 1, sizeof(buf), maps)) > 0)
		fwrite(buf, 1, k, out);
	fclose(maps);
	return fclose(out) == 0 ? 0 : 1;
}
EOF

cat >"$tmp/check.py" <<'EOF'
"""check.py MODE FILE: checks hmprof's output in FILE."""
import math, re, sys

P = 524288
def unbias(n, s, period=P):
    if period <= 1:
        return n, s
    k = 1 / (1 - math.exp(-(s / n) / period))
    return n * k, s * k

mode, path = sys.argv[1], sys.argv[2]
text = open(path).read()
# (objects, bytes) per stack
A = unbias(16, 16 * 524288)         # leak_here
C = unbias(4, 4 * 4096)             # keep_small from leak_here
B = unbias(8, 8 * 64)               # keep_small from main
errors = []

def near(got, want, what):
    if abs(got - want) > 1.01:
        errors.append("%s: %s, expected %.1f" % (what, got, want))

def rows():
    out = {}
    for m in re.finditer(r"^\s*(\d+)\s+[\d.]+%\s+[\d.]+%\s+(\d+)\s+[\d.]+%"
                         r"\s+(\S.*)$", text, re.M):
        out[m.group(3)] = (int(m.group(1)), int(m.group(2)))
    return out

def total():
    m = re.search(r"^Total: (\d+) B .* in (\d+) objects, estimated from "
                  r"(\d+) sampled; sampling interval (\d+) B", text, re.M)
    if not m:
        errors.append("no Total line")
        return (0, 0, 0, 0)
    return tuple(int(x) for x in m.groups())

def check_rows(r, leak_flat, leak_cum, small_flat, all_cum, what):
    for f in ("leak_here", "keep_small", "main"):
        if f not in r:
            errors.append("%s: %s is not named" % (what, f))
            return
    near(r["leak_here"][0], leak_flat, what + ": leak_here flat")
    near(r["leak_here"][1], leak_cum, what + ": leak_here cum")
    near(r["keep_small"][0], small_flat, what + ": keep_small flat")
    near(r["keep_small"][1], small_flat, what + ": keep_small cum")
    near(r["main"][0], 0, what + ": main flat")
    near(r["main"][1], all_cum, what + ": main cum")

if mode == "text":
    tb, to, ns, per = total()
    near(tb, A[1] + B[1] + C[1], "total bytes")
    near(to, A[0] + B[0] + C[0], "total objects")
    if ns != 28 or per != P:
        errors.append("samples %d, period %d" % (ns, per))
    check_rows(rows(), A[1], A[1] + C[1], B[1] + C[1], A[1] + B[1] + C[1],
               "in use")
    order = [l.split()[-1] for l in text.splitlines()
             if re.match(r"^\s*\d+\s+[\d.]+%", l)]
    if order[:2] != ["leak_here", "keep_small"]:
        errors.append("rows not sorted by flat bytes: %s" % order)
elif mode == "alloc":
    A2, B2 = unbias(20, 20 * 524288), unbias(10, 640)
    tb, to, ns, per = total()
    near(tb, A2[1] + B2[1], "--alloc total bytes")
    check_rows(rows(), A2[1], A2[1], B2[1], A2[1] + B2[1], "--alloc")
elif mode == "objects":
    check_rows(rows(), A[0], A[0] + C[0], B[0] + C[0], A[0] + B[0] + C[0],
               "--objects")
elif mode == "period1":
    tb, to, ns, per = total()
    if (tb, to, per) != (8405504, 28, 1):
        errors.append("period 1: total %d B, %d objects, period %d"
                      % (tb, to, per))
    check_rows(rows(), 8388608, 8388608 + 16384, 512 + 16384, 8405504,
               "period 1")
elif mode in ("extra", "extra_keep"):
    R1, R2 = unbias(1, 1048576), unbias(2, 2 * 262144)
    r = rows()
    all_cum = A[1] + B[1] + C[1] + R1[1] + R2[1]
    if mode == "extra":
        check_rows(r, A[1] + R1[1] + R2[1], A[1] + C[1] + R1[1] + R2[1],
                   B[1] + C[1], all_cum, "malloc and recursion")
    else:
        check_rows(r, A[1] + R2[1], A[1] + C[1] + R1[1] + R2[1],
                   B[1] + C[1], all_cum, "--keep-alloc-frames")
        m = [f for f in r if "malloc" in f and abs(r[f][0] - R1[1]) <= 1.01]
        if not m:
            errors.append("--keep-alloc-frames: no malloc row of %d B"
                          % round(R1[1]))
elif mode == "top1":
    r = rows()
    if list(r) != ["leak_here"]:
        errors.append("--top 1 shows %s" % list(r))
elif mode == "collapsed":
    got = {}
    for line in text.splitlines():
        stack, _, v = line.rpartition(" ")
        got[stack] = int(v)
    want = {"main;leak_here": A[1], "main;leak_here;keep_small": C[1],
            "main;keep_small": B[1]}
    for suffix, v in want.items():
        hits = [s for s in got if s == suffix or s.endswith(";" + suffix)]
        if len(hits) != 1:
            errors.append("--collapsed: %d lines end with %s" % (len(hits), suffix))
        else:
            near(got[hits[0]], v, "--collapsed " + suffix)
    if len(got) != 3:
        errors.append("--collapsed: %d lines" % len(got))
elif mode == "svg":
    import xml.etree.ElementTree as E
    root = E.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    titles = [t.text or "" for t in root.iter(ns + "title")]
    for f in ("all", "main", "leak_here", "keep_small") + tuple(sys.argv[3:]):
        if not any(t.startswith(f) for t in titles):
            errors.append("svg: no frame titled %s" % f)
    if len(list(root.iter(ns + "rect"))) < 6:
        errors.append("svg: too few rectangles")
    lt = [t for t in titles if t.startswith("leak_here:")]
    if lt and "%d B" % round(A[1] + C[1]) not in lt[0]:
        errors.append("svg: leak_here's title %r" % lt[0])
elif mode == "jeprof":
    # jeprof prints MB with one decimal.
    r = {}
    for m in re.finditer(r"^\s*([\d.]+)\s+[\d.]+%\s+[\d.]+%\s+([\d.]+)\s+"
                         r"[\d.]+%\s+(\S+)", text, re.M):
        r[m.group(3)] = (float(m.group(1)), float(m.group(2)))
    mb = 1 << 20
    for f, flat in (("leak_here", A[1]), ("keep_small", B[1] + C[1])):
        if f not in r:
            errors.append("jeprof does not name %s" % f)
        elif abs(r[f][0] - flat / mb) > 0.051:
            errors.append("jeprof: %s flat %.1f MB, hmprof's %.2f MB"
                          % (f, r[f][0], flat / mb))
if errors:
    print("\n".join(errors))
    print("--- output:\n" + text[:3000])
    sys.exit(1)
EOF

check() {
	"$py" "$tmp/check.py" "$@" || fail "hmprof $1 output ($2)"
}

# Position-independent (the default) and fixed-address programs.
builds=pie
"$cc" -O0 -g -fno-omit-frame-pointer -o "$tmp/pie" "$tmp/fake.c" \
	>"$tmp/cc.log" 2>&1 || { cat "$tmp/cc.log"; fail "the fake program does not build"; }
if "$cc" -O0 -g -fno-omit-frame-pointer -no-pie -fno-pie -o "$tmp/nopie" \
	"$tmp/fake.c" >/dev/null 2>&1; then
	builds="pie nopie"
else
	echo "note: $cc cannot build a fixed-address program; PIE only"
fi

for b in $builds; do
	"$tmp/$b" "$tmp/$b.heap" || fail "$b: the fake program failed"
	head -1 "$tmp/$b.heap" | grep -qx 'heap_v2/524288' || fail "$b: profile header"
	"$hmprof" --text "$tmp/$b.heap" >"$tmp/$b.text" 2>"$tmp/err" ||
		{ cat "$tmp/err"; fail "$b: hmprof --text failed"; }
	check text "$tmp/$b.text"
	"$hmprof" --no-addr2line "$tmp/$b.heap" >"$tmp/$b.symtab" 2>&1 ||
		fail "$b: hmprof --no-addr2line failed"
	check text "$tmp/$b.symtab"
	echo "$b: --text and --no-addr2line: ok"
done

heap=$tmp/pie.heap
"$hmprof" --alloc "$heap" >"$tmp/alloc" || fail "hmprof --alloc failed"
check alloc "$tmp/alloc"
"$hmprof" --objects --thread 0 "$heap" >"$tmp/objects" ||
	fail "hmprof --objects --thread 0 failed"
check objects "$tmp/objects"
"$tmp/pie" "$tmp/extra.heap" extra || fail "the fake program failed (extra)"
"$hmprof" "$tmp/extra.heap" >"$tmp/extra" || fail "hmprof on the extra stacks failed"
check extra "$tmp/extra"
"$hmprof" --keep-alloc-frames "$tmp/extra.heap" >"$tmp/extra_keep" ||
	fail "hmprof --keep-alloc-frames failed"
check extra_keep "$tmp/extra_keep"
"$hmprof" --top 1 "$heap" >"$tmp/top1" || fail "hmprof --top 1 failed"
check top1 "$tmp/top1"
sed '1s|.*|heap_v2/1|' "$heap" >"$tmp/p1.heap"
"$hmprof" "$tmp/p1.heap" >"$tmp/p1" || fail "hmprof on heap_v2/1 failed"
check period1 "$tmp/p1"
"$hmprof" --collapsed "$heap" >"$tmp/collapsed" 2>"$tmp/err" ||
	{ cat "$tmp/err"; fail "hmprof --collapsed failed"; }
check collapsed "$tmp/collapsed"
"$hmprof" --svg "$tmp/out.svg" "$heap" >"$tmp/svg.out" 2>&1 ||
	{ cat "$tmp/svg.out"; fail "hmprof --svg failed"; }
[ -s "$tmp/svg.out" ] && fail "hmprof --svg alone printed: $(head -3 "$tmp/svg.out")"
"$py" -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' \
	"$tmp/out.svg" || fail "the SVG is not valid XML"
check svg "$tmp/out.svg"
echo "--alloc, --objects, allocator frames, recursion, --top, period 1,"\
	"--collapsed, --svg: ok"

# C++ names in the SVG: < > & escaped.
cxx=${CXX:-c++}
if command -v "$cxx" >/dev/null 2>&1 &&
	"$cxx" -x c++ -O0 -g -fno-omit-frame-pointer -o "$tmp/cxx" \
		"$tmp/fake.c" >/dev/null 2>&1; then
	"$tmp/cxx" "$tmp/cxx.heap" || fail "the C++ fake program failed"
	"$hmprof" --svg "$tmp/cxx.svg" "$tmp/cxx.heap" ||
		fail "hmprof --svg on the C++ profile"
	"$py" -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' \
		"$tmp/cxx.svg" || fail "the C++ profile's SVG is not valid XML"
	grep -q 'Box&lt;int&gt;::hold(int&amp;)' "$tmp/cxx.svg" ||
		fail "the SVG lacks Box<int>::hold(int&), escaped"
	"$py" "$tmp/check.py" svg "$tmp/cxx.svg" "Box<int>::hold(int&)" ||
		fail "C++ SVG"
	echo "C++ names in the SVG: ok"
else
	echo "(no C++ compiler: the escaping of C++ names was not checked)"
fi

# jeprof reads the same file (before the program is moved away below).
if command -v jeprof >/dev/null 2>&1; then
	jeprof --text "$tmp/pie" "$heap" >"$tmp/jeprof" 2>"$tmp/jeprof.err" ||
		{ cat "$tmp/jeprof.err"; fail "jeprof --text failed on the fake profile"; }
	check jeprof "$tmp/jeprof"
	echo "jeprof agrees: ok"
else
	echo "(jeprof is not installed: the cross-check with it was skipped)"
fi

# The program's path in the maps gone: its functions are shown as
# offsets, until the program is named.
mv "$tmp/pie" "$tmp/moved"
"$hmprof" "$heap" >"$tmp/gone" 2>&1 || fail "hmprof with the program gone"
grep -q leak_here "$tmp/gone" && fail "named leak_here without the program"
grep -q ' pie+0x[0-9a-f]*$' "$tmp/gone" ||
	{ cat "$tmp/gone"; fail "no pie+0xOFFSET frames without the program"; }
"$hmprof" "$tmp/moved" "$heap" >"$tmp/named" 2>&1 ||
	fail "hmprof PROGRAM DUMP failed"
check text "$tmp/named"
echo "PROGRAM argument: ok"

# Errors: exit 2, one line on stderr.
printf 'heap profile:   1:  8 [  1:  8] @ heapprofile\n' >"$tmp/gperf.heap"
: >"$tmp/empty"
for bad in /etc/hostname "$tmp/gperf.heap" "$tmp/empty" "$tmp/missing" "$tmp"; do
	[ -e "$bad" ] || [ "$bad" = "$tmp/missing" ] || continue
	"$hmprof" --text "$bad" >"$tmp/bad.out" 2>"$tmp/bad.err"
	rc=$?
	[ $rc -eq 2 ] || fail "hmprof $bad: exit $rc, expected 2"
	[ "$(wc -l <"$tmp/bad.err")" -eq 1 ] ||
		fail "hmprof $bad: stderr is not one line: $(cat "$tmp/bad.err")"
	[ -s "$tmp/bad.out" ] && fail "hmprof $bad printed on stdout"
done
echo "errors: ok"

echo "test/integration/hmprof.sh: pass"
exit 0
