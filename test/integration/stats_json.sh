#!/usr/bin/env bash
# malloc_stats_print(..., "J") writes valid JSON with jemalloc 5.3's key
# paths, and tools/hmstat reads it.  A program built against the library
# makes known allocations (small, large and huge blocks in arenas 0 and 1,
# a manual arena created and destroyed), takes mallctl's figures after an
# epoch, then prints one report per opts string; Python checks that:
#   - every report parses (python3 -m json.tool too), for every combination
#     of the letters g m d a b l x e after J, and has exactly the sections
#     the letters leave in;
#   - jemalloc.stats.* equal mallctl's stats.*, jemalloc.version and
#     jemalloc.hmalloc.version equal mallctl("version"), the arenas section
#     equals arenas.* (bin and lextent sizes included);
#   - stats.arenas.merged.bins has arenas.nbins entries and
#     lextents arenas.nlextents, with jemalloc's per-entry keys; the merged
#     figures equal stats.arenas.<MALLCTL_ARENAS_ALL>.* and add up to the
#     totals; the known blocks show in their arenas' classes;
#   - "destroyed" is there exactly when the library provides the destroyed
#     arenas' sum (hm_ctl_stats_destroyed) and "d" is not given;
#   - the text report has jemalloc's sections;
#   - MALLOC_CONF=stats_print:true prints the text report at exit, and
#     stats_print_opts:J (with other letters) a JSON one;
#   - tools/hmstat prints the totals and fragmentation of the report, the
#     known classes at the top, draws a PNG with gnuplot when it is
#     installed (skipped otherwise), and without gnuplot fails for --png
#     only, saying so.
#
# Environment: HM_LIB (the shared library).  Exit 0 pass, 1 fail, 77 skip.
set -u

repo=$(cd "$(dirname "$0")/../.." && pwd)
lib=${HM_LIB:-$repo/lib/libhmalloc.so}
libdir=$(cd "$(dirname "$lib")" && pwd)
cc=${CC:-cc}
py=$(command -v python3) || { echo "skip: python3 is not installed"; exit 77; }
case " ${HM_VARIANT_CFLAGS:-} " in
*HM_PREFIXED*)
	echo "skip: the prefixed (hm_*) build is not a drop-in library"
	exit 77 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hm_stats_json.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat >"$tmp/prog.c" <<'EOF'
/*
 * prog reports OPTS...  known allocations, mallctl figures (to stderr,
 *                       "name value" lines, read before any report), one
 *                       report per OPTS to stdout, each after a line
 *                       "=== OPTS"
 * prog exit             known allocations, nothing printed: the report
 *                       comes from MALLOC_CONF=stats_print:true at exit
 * prog destroy          only creates, uses and destroys an arena
 * With HM_TEST_NO_DESTROY set, no arena is destroyed.
 */
#define _GNU_SOURCE
#include <hmalloc.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile keep[4096];
static int nkeep;

static void
must(int err, const char *what) {
	if (err != 0) {
		dprintf(2, "FAIL: %s: error %d\n", what, err);
		exit(1);
	}
}

static void
hold(void *p, const char *what) {
	if (p == NULL) {
		dprintf(2, "FAIL: %s\n", what);
		exit(1);
	}
	keep[nkeep++] = p;
}

static void destroy_arena(void);

static void
allocate(void) {
	for (int i = 0; i < 1000; i++)
		hold(malloc(40), "malloc(40)");
	for (int i = 0; i < 3; i++)
		hold(malloc(100000), "malloc(100000)");
	hold(malloc(8 << 20), "malloc(8 MiB)");
	/* Arena 1 for a while. */
	unsigned ind = 1, old;
	size_t sz = sizeof(old);
	must(mallctl("thread.arena", &old, &sz, &ind, sizeof(ind)),
	    "thread.arena = 1");
	for (int i = 0; i < 500; i++)
		hold(malloc(1000), "malloc(1000)");
	hold(malloc(40000), "malloc(40000)");
	must(mallctl("thread.arena", NULL, NULL, &old, sizeof(old)),
	    "thread.arena back");
	if (getenv("HM_TEST_NO_DESTROY") != NULL)
		return;
	destroy_arena();
}

/* A manual arena, used, then destroyed. */
static void
destroy_arena(void) {
	unsigned man;
	size_t sz;
	sz = sizeof(man);
	must(mallctl("arenas.create", &man, &sz, NULL, 0), "arenas.create");
	void *p = mallocx(5000, MALLOCX_ARENA(man) | MALLOCX_TCACHE_NONE);
	if (p == NULL)
		must(1, "mallocx in the manual arena");
	dallocx(p, MALLOCX_TCACHE_NONE);
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.destroy", man);
	must(mallctl(name, NULL, NULL, NULL, 0), name);
}

static void
out(void *opaque, const char *s) {
	(void)opaque;
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t k = write(1, s, n);
		if (k <= 0)
			exit(1);
		s += k;
		n -= (size_t)k;
	}
}

/* mallctl figures, kept until the reports are out. */
static char names[256][64];
static unsigned long long vals[256];
static int nvals;

static void
record(const char *name, size_t size) {
	unsigned long long v = 0;
	size_t sz = size;
	must(mallctl(name, &v, &sz, NULL, 0), name);
	snprintf(names[nvals], sizeof(names[0]), "%s", name);
	vals[nvals++] = v;
}

int
main(int argc, char **argv) {
	if (argc < 2)
		return 2;
	if (strcmp(argv[1], "destroy") == 0) {
		destroy_arena();
		return 0;
	}
	allocate();
	if (strcmp(argv[1], "exit") == 0)
		return 0;
	/* Twice: the first refresh after arenas appeared allocates their
	 * snapshots' metadata after reading the totals. */
	uint64_t epoch = 1;
	for (int i = 0; i < 2; i++)
		must(mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)), "epoch");
	const char *version = NULL;
	size_t sz = sizeof(version);
	must(mallctl("version", &version, &sz, NULL, 0), "version");
	static const char *const zs[] = {"stats.allocated", "stats.active",
	    "stats.metadata", "stats.resident", "stats.mapped",
	    "stats.retained", "arenas.quantum", "arenas.page",
	    "arenas.tcache_max", "arenas.chunksize",
	    "stats.arenas.4096.small.allocated",
	    "stats.arenas.4096.large.allocated", "stats.arenas.4096.pactive",
	    "stats.arenas.4096.mapped", "stats.arenas.0.small.allocated",
	    "stats.arenas.1.small.allocated", "stats.arenas.1.large.allocated"};
	for (size_t i = 0; i < sizeof(zs) / sizeof(zs[0]); i++)
		record(zs[i], sizeof(size_t));
	static const char *const us[] = {"arenas.narenas", "arenas.nbins",
	    "arenas.nhbins", "arenas.nlextents", "opt.narenas"};
	for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++)
		record(us[i], sizeof(unsigned));
	record("stats.arenas.4096.small.nmalloc", sizeof(uint64_t));
	unsigned nbins = 0;
	for (int i = 0; i < nvals; i++)
		if (strcmp(names[i], "arenas.nbins") == 0)
			nbins = (unsigned)vals[i];
	for (unsigned i = 0; i < nbins && nvals < 250; i++) {
		char n[64];
		snprintf(n, sizeof(n), "arenas.bin.%u.size", i);
		record(n, sizeof(size_t));
	}
	for (unsigned i = 0; i < 8; i++) {
		char n[64];
		snprintf(n, sizeof(n), "arenas.lextent.%u.size", i);
		record(n, sizeof(size_t));
	}
	for (int i = 2; i < argc; i++) {
		out(NULL, "=== ");
		out(NULL, argv[i]);
		out(NULL, "\n");
		malloc_stats_print(out, NULL, argv[i]);
	}
	dprintf(2, "version %s\n", version);
	for (int i = 0; i < nvals; i++)
		dprintf(2, "%s %llu\n", names[i], vals[i]);
	return 0;
}
EOF

# A sanitizer build's library needs its runtime: link with the same flags.
variant_flags=
for f in ${HM_VARIANT_CFLAGS:-}; do
	case $f in -fsanitize=*|-fno-sanitize*) variant_flags="$variant_flags $f" ;; esac
done
# shellcheck disable=SC2086 # word splitting of the flags is intended
"$cc" -std=gnu11 -O1 -Wall -Wextra $variant_flags -I"$repo/include" \
	-o "$tmp/prog" "$tmp/prog.c" -L"$libdir" -lhmalloc \
	-Wl,-rpath,"$libdir" -lpthread >"$tmp/cc.log" 2>&1 ||
	{ cat "$tmp/cc.log"; fail "the test program does not build"; }

run() {
	env -u HMALLOC_CONF -u LD_PRELOAD MALLOC_CONF="$1" "${@:2}"
}
conf=narenas:4,background_thread:false

# Debug builds check the lock order, which hm_arena_reset (arena.c) breaks
# by holding every bin lock at once: then no arena is destroyed here.
destroyed=1
if ! run "$conf" "$tmp/prog" destroy >"$tmp/destroy.log" 2>&1; then
	if grep -q "lock order violated" "$tmp/destroy.log"; then
		echo "note: arena.<i>.destroy fails the debug lock-order check" \
			"(hm_arena_reset, arena.c); no arena destroyed in this test"
		destroyed=0
		export HM_TEST_NO_DESTROY=1
	else
		cat "$tmp/destroy.log"
		fail "creating and destroying an arena"
	fi
fi

# Every combination of letters after J, and a few text reports.
combos=$("$py" -c '
import itertools
l = "gmdablxe"
print(" ".join("J" + "".join(c) for n in range(len(l) + 1)
               for c in itertools.combinations(l, n)))')
# shellcheck disable=SC2086 # one argument per combination
run "$conf" "$tmp/prog" reports $combos "" gmab "JZ?q" \
	>"$tmp/reports" 2>"$tmp/mallctl" ||
	{ cat "$tmp/mallctl"; fail "the program failed"; }

destroyed_hook=0
if [ $destroyed -eq 0 ]; then
	destroyed_hook=0  # nothing to report
elif command -v nm >/dev/null 2>&1; then
	if nm "$lib" 2>/dev/null | grep -qE ' [TtW] hm_ctl_stats_destroyed$'; then
		destroyed_hook=1
	fi
else
	destroyed_hook=unknown
fi

cat >"$tmp/check.py" <<'EOF'
import json, re, sys

reports_path, mallctl_path, hook = sys.argv[1:4]
mc = {}
for line in open(mallctl_path):
    k, _, v = line.rstrip("\n").partition(" ")
    if k.startswith("FAIL"):
        sys.exit(line)
    mc[k] = v if k == "version" else int(v)
text = open(reports_path, encoding="utf-8").read()
reports = {}
for part in text.split("=== ")[1:]:
    opts, _, body = part.partition("\n")
    reports[opts] = body

failures = []
def check(cond, msg):
    if not cond:
        failures.append(msg)

nbins, nlextents = mc["arenas.nbins"], mc["arenas.nlextents"]
bin_sizes = [mc["arenas.bin.%d.size" % i] for i in range(nbins)]
BIN_KEYS = {"nmalloc", "ndalloc", "curregs", "nrequests", "nfills",
            "nflushes", "nreslabs", "curslabs", "nonfull_slabs"}
ARENA_KEYS = {"nthreads", "uptime_ns", "dss", "dirty_decay_ms",
              "muzzy_decay_ms", "pactive", "pdirty", "pmuzzy",
              "dirty_nmadvise", "dirty_purged", "muzzy_nmadvise",
              "muzzy_purged", "small", "large", "mapped", "retained"}

def check_arena(name, a, opts):
    check(ARENA_KEYS <= set(a), "%s: %s lacks %s" % (
        opts, name, sorted(ARENA_KEYS - set(a))))
    check(("mutexes" in a) == ("x" not in opts), "%s: %s mutexes" % (opts, name))
    check(("bins" in a) == ("b" not in opts), "%s: %s bins" % (opts, name))
    check(("lextents" in a) == ("l" not in opts), "%s: %s lextents" % (opts, name))
    check("extents" not in a, "%s: %s has extents" % (opts, name))
    if "mutexes" in a:
        check(set(a["mutexes"]) == {"bins", "arena", "huge"},
              "%s: %s mutexes %s" % (opts, name, sorted(a["mutexes"])))
        for m, v in a["mutexes"].items():
            check(set(v) == {"num_ops", "num_wait"}, "%s: mutex %s" % (opts, m))
    if "bins" in a:
        check(isinstance(a["bins"], list) and len(a["bins"]) == nbins,
              "%s: %s.bins has %d entries, arenas.nbins %d" % (
                  opts, name, len(a["bins"]), nbins))
        for j, b in enumerate(a["bins"]):
            check(BIN_KEYS <= set(b), "%s: %s.bins[%d] keys %s" % (
                opts, name, j, sorted(b)))
        check(sum(b["curregs"] * bin_sizes[j] for j, b in enumerate(a["bins"]))
              == a["small"]["allocated"], "%s: %s small.allocated vs bins" % (
                  opts, name))
    if "lextents" in a:
        check(isinstance(a["lextents"], list)
              and len(a["lextents"]) == nlextents,
              "%s: %s.lextents has %d entries, arenas.nlextents %d" % (
                  opts, name, len(a["lextents"]), nlextents))
        check(all("curlextents" in l for l in a["lextents"]),
              "%s: %s.lextents[].curlextents" % (opts, name))

for opts, body in reports.items():
    if not opts.startswith("J"):
        continue
    try:
        d = json.loads(body)
    except ValueError as e:
        failures.append("%r: invalid JSON: %s: %.200s" % (opts, e, body))
        continue
    check(body.endswith("}\n") and body.count("\n") == 1,
          "%s: one line ending with a newline" % opts)
    check(list(d) == ["jemalloc"], "%s: top-level keys %s" % (opts, list(d)))
    je = d["jemalloc"]
    check(je.get("hmalloc") == {"version": mc["version"]},
          "%s: jemalloc.hmalloc %r" % (opts, je.get("hmalloc")))
    g = "g" not in opts
    for k in ("version", "config", "opt", "arenas"):
        check((k in je) == g, "%s: jemalloc.%s present: %s" % (opts, k, k in je))
    if g:
        check(je["version"] == mc["version"], "%s: version" % opts)
        check(je["config"]["stats"] is True and je["config"]["malloc_conf"] == "",
              "%s: config" % opts)
        check(je["opt"]["narenas"] == mc["opt.narenas"] == 4,
              "%s: opt.narenas %r" % (opts, je["opt"].get("narenas")))
        check(je["opt"]["background_thread"] is False
              and isinstance(je["opt"]["dss"], str), "%s: opt types" % opts)
        ar = je["arenas"]
        for k in ("narenas", "nbins", "nhbins", "nlextents", "quantum", "page",
                  "tcache_max", "chunksize"):
            check(ar[k] == mc["arenas." + k], "%s: arenas.%s %r vs %r" % (
                opts, k, ar[k], mc["arenas." + k]))
        check(len(ar["bin"]) == nbins and len(ar["lextent"]) == nlextents,
              "%s: arenas.bin / lextent lengths" % opts)
        check([b["size"] for b in ar["bin"]] == bin_sizes,
              "%s: arenas.bin[].size" % opts)
        check(all(set(b) == {"size", "nregs", "slab_size", "nshards"}
                  for b in ar["bin"]), "%s: arenas.bin keys" % opts)
        check([ar["lextent"][i]["size"] for i in range(8)]
              == [mc["arenas.lextent.%d.size" % i] for i in range(8)],
              "%s: arenas.lextent[].size" % opts)
    st = je["stats"]
    for k in ("allocated", "active", "metadata", "resident", "mapped",
              "retained"):
        check(st.get(k) == mc["stats." + k], "%s: stats.%s %r, mallctl %r" % (
            opts, k, st.get(k), mc["stats." + k]))
    check(st["background_thread"] == {"num_threads": 0, "num_runs": 0,
                                      "run_interval": 0},
          "%s: background_thread %r" % (opts, st["background_thread"]))
    check(("mutexes" in st) == ("x" not in opts), "%s: stats.mutexes" % opts)
    if "mutexes" in st:
        check({"ctl", "arenas", "base"} <= set(st["mutexes"]),
              "%s: stats.mutexes %s" % (opts, sorted(st["mutexes"])))
    m, dd, a = ("m" not in opts), ("d" not in opts), ("a" not in opts)
    check(("stats.arenas" in je) == (m or dd or a), "%s: stats.arenas" % opts)
    sa = je.get("stats.arenas", {})
    check(("merged" in sa) == m, "%s: merged present %s" % (opts, "merged" in sa))
    if hook != "unknown":
        check(("destroyed" in sa) == (dd and hook == "1"),
              "%s: destroyed present %s (hook %s)" % (
                  opts, "destroyed" in sa, hook))
    nums = sorted(k for k in sa if k.isdigit())
    check(nums == (["0", "1"] if a else []), "%s: arenas listed %s" % (opts, nums))
    for name, ad in sa.items():
        check_arena(name, ad, opts)
    if "merged" in sa:
        mg = sa["merged"]
        check(mg["small"]["allocated"] == mc["stats.arenas.4096.small.allocated"]
              and mg["large"]["allocated"]
              == mc["stats.arenas.4096.large.allocated"]
              and mg["pactive"] == mc["stats.arenas.4096.pactive"]
              and mg["mapped"] == mc["stats.arenas.4096.mapped"]
              and mg["small"]["nmalloc"] == mc["stats.arenas.4096.small.nmalloc"],
              "%s: merged vs stats.arenas.<ALL>" % opts)
        check(mg["small"]["allocated"] + mg["large"]["allocated"]
              == st["allocated"], "%s: merged small + large = allocated" % opts)
        if "lextents" in mg:
            sizes = [je["arenas"]["lextent"][j]["size"] for j in range(nlextents)] \
                if g else None
            if sizes:
                check(sum(l["curlextents"] * sizes[j]
                          for j, l in enumerate(mg["lextents"]))
                      == mg["large"]["allocated"],
                      "%s: merged large.allocated vs lextents" % opts)
                huge = sizes.index(8 << 20)
                check(mg["lextents"][huge]["curlextents"] >= 1,
                      "%s: the 8 MiB block" % opts)
    if a and "b" not in opts and "0" in sa:
        i48, i1k = bin_sizes.index(48), bin_sizes.index(1024)
        check(sa["0"]["bins"][i48]["curregs"] >= 1000,
              "%s: arena 0's 48-byte class holds the 1000 blocks" % opts)
        check(sa["1"]["bins"][i1k]["curregs"] >= 500,
              "%s: arena 1's 1024-byte class holds the 500 blocks" % opts)
    if a:
        check(sa["0"]["small"]["allocated"] == mc["stats.arenas.0.small.allocated"]
              and sa["1"]["small"]["allocated"]
              == mc["stats.arenas.1.small.allocated"]
              and sa["1"]["large"]["allocated"]
              == mc["stats.arenas.1.large.allocated"],
              "%s: per-arena figures vs mallctl" % opts)

njson = sum(1 for o in reports if o.startswith("J"))
check(njson == 257, "%d JSON reports" % njson)
for o in ("", "gmab"):
    t = reports[o]
    for s in ("___ Begin hmalloc statistics ___\n", "\nAllocated: %d, active: %d"
              % (mc["stats.allocated"], mc["stats.active"]),
              "\nBackground threads: 0, num_runs: 0, run_interval: 0 ns\n", "--- End hmalloc statistics ---\n"):
        check(s in t, "text %r lacks %r" % (o, s))
full = reports[""]
for s in ("Version: \"%s\"" % mc["version"], "Build-time option settings",
          "Run-time option settings", "  opt.narenas: 4\n", "\nArenas: ",
          "\nMerged arenas stats:\n", "\narenas[0]:\n", "\narenas[1]:\n",
          "\nbins:           size ind", "\nlarge:          size ind",
          "n_lock_ops", "                     ---\n"):
    check(s in full, "text report lacks %r" % s)
check("Merged" not in reports["gmab"] and "bins:" not in reports["gmab"]
      and "arenas[" not in reports["gmab"], "text gmab omits its sections")
def shape(v):
    """Keys and list lengths, without the values (counters move)."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(x) for x in v]
    return type(v).__name__
check(shape(json.loads(reports["JZ?q"])) == shape(json.loads(reports["J"])),
      "unknown letters change the JSON report's structure")
if failures:
    print("\n".join(failures[:40]))
    print("%d failures" % len(failures))
    sys.exit(1)
print("%d JSON reports and 2 text reports checked" % njson)
EOF
"$py" "$tmp/check.py" "$tmp/reports" "$tmp/mallctl" "$destroyed_hook" ||
	fail "report contents"

# python3 -m json.tool on the full report.
sed -n '/^=== J$/{n;p;q}' "$tmp/reports" >"$tmp/full.json"
"$py" -m json.tool "$tmp/full.json" >"$tmp/full.pretty" ||
	fail "python3 -m json.tool rejects the report"
grep -q '"stats.arenas": {' "$tmp/full.pretty" || fail "json.tool output"

# The report at exit: text, then JSON.
run "$conf,stats_print:true" "$tmp/prog" exit >"$tmp/exit.out" 2>"$tmp/exit.err" ||
	fail "program with stats_print:true"
grep -q '^___ Begin hmalloc statistics ___$' "$tmp/exit.err" ||
	fail "no text report at exit with stats_print:true"
grep -q '^--- End hmalloc statistics ---$' "$tmp/exit.err" ||
	fail "text report at exit is incomplete"
[ -s "$tmp/exit.out" ] && fail "the report at exit went to stdout"
for o in J Jgx Jmdabl; do
	run "$conf,stats_print:true,stats_print_opts:$o" "$tmp/prog" exit \
		>/dev/null 2>"$tmp/exit_$o.json" || fail "program with stats_print_opts:$o"
	"$py" -m json.tool "$tmp/exit_$o.json" >/dev/null ||
		fail "stats_print_opts:$o: the report at exit is not JSON: $(head -c 300 "$tmp/exit_$o.json")"
done
"$py" - "$tmp/exit_J.json" "$tmp/exit_Jgx.json" <<'EOF' || fail "reports at exit"
import json, sys
full, gx = (json.load(open(p))["jemalloc"] for p in sys.argv[1:3])
assert "opt" in full and full["opt"]["stats_print"] is True, "opt.stats_print"
assert full["opt"]["stats_print_opts"] == "J", full["opt"]["stats_print_opts"]
assert "merged" in full["stats.arenas"], "merged at exit"
assert "opt" not in gx and "mutexes" not in gx["stats"], "Jgx at exit"
EOF

# tools/hmstat on the report.
hmstat=$repo/tools/hmstat
[ -x "$hmstat" ] || fail "$hmstat is not executable"
"$hmstat" "$tmp/full.json" >"$tmp/hmstat.out" 2>&1 ||
	{ cat "$tmp/hmstat.out"; fail "hmstat failed"; }
"$py" - "$tmp/full.json" "$tmp/hmstat.out" <<'EOF' || { cat "$tmp/hmstat.out"; fail "hmstat summary"; }
import json, re, sys
je = json.load(open(sys.argv[1]))["jemalloc"]
out = open(sys.argv[2]).read()
st = je["stats"]
for k in ("allocated", "active", "metadata", "resident", "mapped"):
    m = re.search(r"^\s+%s\s+(\d+)\s" % k, out, re.M)
    assert m and int(m.group(1)) == st[k], "%s: %r vs %d" % (k, m and m.group(1), st[k])
m = re.search(r"^\s+fragmentation\s+([0-9.]+)", out, re.M)
want = 1 - st["allocated"] / st["active"]
assert m and abs(float(m.group(1)) - want) < 1e-4, "fragmentation %r vs %f" % (
    m and m.group(1), want)
mg = je["stats.arenas"]["merged"]
m = re.search(r"^\s+small\s+(\d+)\s+(\d+)\s+(\d+)", out, re.M)
assert m and int(m.group(2)) == mg["small"]["allocated"], "small by kind"
rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+(small|large|huge)\s+(\d+)\s+(\d+)\s+(\d+)",
                  out, re.M)
assert rows, "no class rows"
top = rows[0]
assert int(top[1]) == 8 << 20 and top[2] == "huge" and int(top[3]) >= 1, top
sizes = {int(r[1]): r for r in rows}
assert 48 in sizes and int(sizes[48][3]) >= 1000, "48-byte class %r" % (sizes.get(48),)
for r in rows:
    assert int(r[4]) == int(r[1]) * int(r[3]), "allocated = size x count: %r" % (r,)
print("hmstat summary: ok")
EOF
"$hmstat" --top 0 <"$tmp/exit.err" >/dev/null 2>&1 &&
	fail "hmstat accepted a text report"
"$hmstat" --top 0 "$tmp/exit_J.json" >"$tmp/hmstat2.out" 2>&1 ||
	fail "hmstat on the report at exit"
grep -q '^top size classes' "$tmp/hmstat2.out" || fail "hmstat --top 0"

# The chart: with gnuplot, a PNG; without (PATH holding python3 only),
# the summary and a non-zero exit that names gnuplot.
# (The interpreter itself, not a wrapper such as pyenv's shim script.)
mkdir "$tmp/bin"
ln -s "$("$py" -c 'import sys; print(sys.executable)')" "$tmp/bin/python3"
PATH=$tmp/bin "$tmp/bin/python3" "$hmstat" --png "$tmp/none.png" \
	"$tmp/full.json" >"$tmp/nognu.out" 2>"$tmp/nognu.err" &&
	fail "hmstat --png succeeded without gnuplot"
grep -q gnuplot "$tmp/nognu.err" || fail "hmstat without gnuplot: $(cat "$tmp/nognu.err")"
grep -q '^top size classes' "$tmp/nognu.out" ||
	fail "hmstat without gnuplot printed no summary"
[ -e "$tmp/none.png" ] && fail "hmstat without gnuplot wrote a PNG"
PATH=$tmp/bin "$tmp/bin/python3" "$hmstat" "$tmp/full.json" >/dev/null ||
	fail "hmstat without gnuplot and without --png failed"
if command -v gnuplot >/dev/null 2>&1; then
	"$hmstat" --png "$tmp/classes.png" "$tmp/full.json" >"$tmp/png.out" 2>&1 ||
		{ cat "$tmp/png.out"; fail "hmstat --png"; }
	[ "$(head -c 8 "$tmp/classes.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
		fail "hmstat --png did not write a PNG"
	[ "$(stat -c %s "$tmp/classes.png")" -gt 2000 ] || fail "PNG too small"
	echo "hmstat --png: ok"
else
	echo "(gnuplot is not installed: the PNG was not checked)"
fi
echo "stats_json: pass"
exit 0
