#!/usr/bin/env bash
# The heap profiler end to end, read by the real tools: Debian's jeprof and
# tools/hmprof.  A small C program (written below, built here, preloaded
# with hmalloc) keeps 64 MiB live in 64 KiB blocks from leak_here and
# 8 MiB in 256 B blocks from keep_small, frees everything else, and asks
# for a dump with mallctl("prof.dump").  Checked:
#   1. jeprof's flat bytes of both sites against the truth, within four
#      standard deviations of the sampling estimate, at two rates; the
#      freed churn leaves nothing in the live profile;
#   2. prof_leak: the summary at exit, and the dump it names;
#   3. automatic dumps: interval (.i), gdump (.u), final (.f);
#   4. tools/hmprof --text and --svg on the same dump;
#   5. with profiling off, prof.dump fails and writes nothing;
#   6. python3 under a fine sampling rate prints what it prints on glibc,
#      and dumps through ctypes in the middle of its work.
# The estimates and their bounds are printed, so that failures (and
# passes) can be quoted.
. "$(dirname "$0")/progtest.bash"

[ -n "$pt_lib" ] || pt_skip "HM_LIB is not set (the profiler is in the library)"
pt_need cc jeprof
case $pt_tmp in
*,*) pt_skip "the working directory $pt_tmp has a comma: MALLOC_CONF cannot name it" ;;
esac
[ ${#pt_tmp} -lt 200 ] || pt_skip "the working directory's name is too long for prof_prefix"

# Each run says its own options; none from outside.
unset MALLOC_CONF HMALLOC_CONF

top=$(cd "$(dirname "$0")/../.." && pwd)
if [ -x /usr/bin/python3 ]; then
	py=/usr/bin/python3
else
	py=$(command -v python3 || true)
fi

# The sizes must stay in step with the program below.
big_n=1024 big_size=65536
small_n=32768 small_size=256
big_truth=$((big_n * big_size))
small_truth=$((small_n * small_size))

cat >"$pt_tmp/prof_sites.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Weak: the program links without hmalloc and finds it when preloaded. */
__attribute__((weak)) int mallctl(const char *name, void *oldp,
    size_t *oldlenp, void *newp, size_t newlen);

#define BIG_N 1024
#define BIG_SIZE (64 * 1024)
#define SMALL_N 32768
#define SMALL_SIZE 256
#define CHURN_N 100000
#define CHURN_SIZE 100

/* Live until exit: what the profile must show. */
static void *big[BIG_N];
static void *small[SMALL_N];

__attribute__((noinline)) static void
leak_here(void) {
	for (int i = 0; i < BIG_N; i++) {
		if ((big[i] = malloc(BIG_SIZE)) == NULL)
			abort();
		memset(big[i], 0xa5, BIG_SIZE);
	}
}

__attribute__((noinline)) static void
keep_small(void) {
	for (int i = 0; i < SMALL_N; i++) {
		if ((small[i] = malloc(SMALL_SIZE)) == NULL)
			abort();
		memset(small[i], 0x5a, SMALL_SIZE);
	}
}

/* Sampled now and then, always freed: gone from the live profile. */
__attribute__((noinline)) static void
churn(void) {
	for (int i = 0; i < CHURN_N; i++) {
		char *volatile p = malloc(CHURN_SIZE);
		if (p == NULL)
			abort();
		memset(p, i, CHURN_SIZE);
		free(p);
	}
}

/* prof_sites [FILE]: allocates, then dumps to FILE and prints mallctl's
 * answer; exit status 0 whatever it was. */
int
main(int argc, char **argv) {
	printf("pid %ld\n", (long)getpid());
	leak_here();
	keep_small();
	churn();
	if (argc > 1) {
		const char *file = argv[1];
		if (mallctl == NULL) {
			printf("mallctl: not found (hmalloc not preloaded?)\n");
			return 2;
		}
		printf("prof.dump: %d\n",
		    mallctl("prof.dump", NULL, NULL, &file, sizeof(file)));
	}
	return 0;
}
EOF
prog=$pt_tmp/prof_sites
cc -O1 -g -fno-omit-frame-pointer -o "$prog" "$pt_tmp/prof_sites.c" \
	>"$pt_tmp/cc.log" 2>&1 || pt_fail "cc failed: $(cat "$pt_tmp/cc.log")"

# Every run starts here: a stray dump (default prefix "jeprof") would show.
cwd=$pt_tmp/cwd
mkdir -p "$cwd"
cd "$cwd" || pt_fail "cd $cwd"

# run TAG CONF [ARGS]: the program under hmalloc with MALLOC_CONF=CONF
# ("-" for none); output in $pt_tmp/TAG.out and TAG.err.
run() {
	local tag=$1 conf=$2
	shift 2
	if [ "$conf" = - ]; then
		pt_run hmalloc "$tag" "$prog" "$@"
	else
		pt_run hmalloc "$tag" env MALLOC_CONF="$conf" "$prog" "$@"
	fi
	if grep -q 'Invalid conf' "$pt_tmp/$tag.err"; then
		pt_fail "$tag: MALLOC_CONF=$conf rejected: $(cat "$pt_tmp/$tag.err")"
	fi
}

# dump_run TAG CONF: run and dump to $pt_tmp/TAG.heap, which must exist.
dump_run() {
	local tag=$1 conf=$2
	run "$tag" "$conf" "$pt_tmp/$tag.heap"
	grep -qx 'prof.dump: 0' "$pt_tmp/$tag.out" ||
		pt_fail "$tag: prof.dump failed under MALLOC_CONF=$conf: $(cat "$pt_tmp/$tag.out")"
	[ -s "$pt_tmp/$tag.heap" ] || pt_fail "$tag: prof.dump said 0 but wrote no $pt_tmp/$tag.heap"
}

# jeprof_text DUMP OUT: jeprof's flat profile in bytes, which must have
# its "Total:" line.
jeprof_text() {
	jeprof --text --show_bytes "$prog" "$1" >"$2" 2>"$2.err" ||
		pt_fail "jeprof failed on $1: $(tail -n 5 "$2.err")"
	grep -q '^Total: [0-9]* B$' "$2" ||
		pt_fail "jeprof printed no total for $1: $(head -n 5 "$2") $(tail -n 5 "$2.err")"
}

# flat FILE FUNC: the flat bytes of FUNC in a jeprof or hmprof --text
# listing (the first field of the line whose last field is FUNC), empty
# when FUNC is not listed.
flat() {
	awk -v f="$2" '$NF == f && $1 ~ /^[0-9]+$/ { print $1; exit }' "$1"
}

# check_estimate WHAT EST TRUTH N SIZE PERIOD STRICT: the error of a
# sampling estimate and its bound.  An object of SIZE bytes is sampled with
# probability p = 1 - exp(-SIZE/PERIOD) and counts 1/p times, so the
# estimate of N such objects is unbiased with a relative standard deviation
# of sqrt((1 - p) / (N p)); accept four of them.  STRICT=0 only prints.
check_estimate() {
	local what=$1 est=$2 truth=$3 n=$4 size=$5 period=$6 strict=$7 line
	line=$(awk -v est="$est" -v truth="$truth" -v n="$n" -v s="$size" \
		-v P="$period" -v strict="$strict" 'BEGIN {
		p = 1 - exp(-s / P)
		bound = 4 * sqrt((1 - p) / (n * p))
		err = (est - truth) / truth
		printf "%s B (truth %s B), error %+.2f %%, bound %.1f %% (4 sd)",
			est, truth, 100 * err, 100 * bound
		if (!strict)
			printf ", not checked: too loose at this rate"
		printf "\n"
		exit (strict && (err > bound || -err > bound)) ? 1 : 0
	}')
	local rc=$?
	if [ $rc -ne 0 ]; then
		pt_fail "$what: $line"
	fi
	pt_log "ok: $what: $line"
}

# header_period DUMP: the sampling period a heap_v2 dump declares.
header_period() {
	head -n 1 "$1" | sed -n 's|^heap_v2/\([0-9][0-9]*\)$|\1|p'
}

# 1. Estimates at the default rate (2^19) and at 2^14.
for lg in 19 14; do
	tag=rate$lg
	if [ $lg = 19 ]; then conf=prof:true; else conf=prof:true,lg_prof_sample:$lg; fi
	dump_run $tag "$conf"
	period=$(header_period "$pt_tmp/$tag.heap")
	[ "$period" = $((1 << lg)) ] ||
		pt_fail "$tag: dump header '$(head -n 1 "$pt_tmp/$tag.heap")', expected heap_v2/$((1 << lg))"
	jeprof_text "$pt_tmp/$tag.heap" "$pt_tmp/$tag.jeprof"
	pt_log "MALLOC_CONF=$conf: jeprof $(head -n 1 "$pt_tmp/$tag.jeprof")"
	for fn in leak_here keep_small; do
		[ -n "$(flat "$pt_tmp/$tag.jeprof" $fn)" ] ||
			pt_fail "$tag: jeprof does not name $fn: $(cat "$pt_tmp/$tag.jeprof")"
	done
	strict_small=1
	[ $lg = 19 ] && strict_small=0
	check_estimate "lg_prof_sample $lg: leak_here" "$(flat "$pt_tmp/$tag.jeprof" leak_here)" \
		$big_truth $big_n $big_size "$period" 1
	check_estimate "lg_prof_sample $lg: keep_small" "$(flat "$pt_tmp/$tag.jeprof" keep_small)" \
		$small_truth $small_n $small_size "$period" $strict_small
	churn_flat=$(flat "$pt_tmp/$tag.jeprof" churn)
	[ "${churn_flat:-0}" = 0 ] ||
		pt_fail "$tag: churn freed all its blocks but has $churn_flat B in the live profile"
done

# 2. prof_leak: the summary on stderr and the dump it names.
run leak "prof:true,prof_leak:true,prof_prefix:$pt_tmp/leak"
err=$pt_tmp/leak.err
grep -Eq '^<hmalloc>: leak summary: ~[0-9]+ bytes in ~[0-9]+ objects still allocated, from [0-9]+ sites? \([0-9]+ samples?\)$' "$err" ||
	pt_fail "prof_leak: no summary line on stderr: $(cat "$err")"
leak_line=$(grep -E '^<hmalloc>:   ~[0-9]+ bytes in ~[0-9]+ objects at leak_here\+' "$err" | head -n 1)
[ -n "$leak_line" ] || pt_fail "prof_leak: no line names leak_here: $(cat "$err")"
leak_file=$(sed -n 's|^<hmalloc>: every site: jeprof --text PROGRAM \(.*\)$|\1|p' "$err")
[ -n "$leak_file" ] || pt_fail "prof_leak: no 'every site' line: $(cat "$err")"
case $leak_file in
"$pt_tmp"/leak.*.f0.heap) ;;
*) pt_fail "prof_leak: the dump $leak_file is not named $pt_tmp/leak.<pid>.<seq>.f0.heap" ;;
esac
[ -s "$leak_file" ] || pt_fail "prof_leak: the named dump $leak_file does not exist"
jeprof_text "$leak_file" "$pt_tmp/leak.jeprof"
leak_flat=$(flat "$pt_tmp/leak.jeprof" leak_here)
[ -n "$leak_flat" ] || pt_fail "prof_leak: jeprof does not name leak_here in $leak_file"
leak_sum=$(echo "$leak_line" | sed 's|^<hmalloc>:   ~\([0-9]*\) bytes.*|\1|')
# The summary and jeprof scale the same samples: equal but for rounding.
awk -v a="$leak_sum" -v b="$leak_flat" 'BEGIN { d = a - b; exit (d < -2 || d > 2) }' ||
	pt_fail "prof_leak: the summary says ~$leak_sum B at leak_here, jeprof $leak_flat B from the same dump"
pt_log "ok: prof_leak: summary ~$leak_sum B at leak_here, jeprof $leak_flat B from ${leak_file##*/}"

# 3. Automatic dumps.  check_dumps TAG LETTER MIN MAX: files
# TAG.<pid>.<seq>.<LETTER><seq>.heap from run TAG, between MIN and MAX of
# them, each a heap_v2 profile.
check_dumps() {
	local tag=$1 c=$2 min=$3 max=$4 pid f n=0
	pid=$(sed -n 's/^pid \([0-9]*\)$/\1/p' "$pt_tmp/$tag.out")
	for f in "$pt_tmp/$tag".*.heap; do
		[ -e "$f" ] || continue
		[[ ${f##*/} =~ ^$tag\.$pid\.[0-9]+\.$c[0-9]+\.heap$ ]] ||
			pt_fail "$tag: unexpected dump ${f##*/} (pid $pid, expected .$c dumps only)"
		[ "$(head -c 8 "$f")" = heap_v2/ ] ||
			pt_fail "$tag: ${f##*/} does not start with heap_v2/"
		n=$((n + 1))
	done
	[ $n -ge "$min" ] && [ $n -le "$max" ] ||
		pt_fail "$tag: $n .$c dumps, expected $min to $max"
	pt_log "ok: $tag: $n .$c dumps"
}
# Some 83 MiB are allocated in all, 64 + 8 live and 11 in the churn: five
# intervals of 16 MiB, but the count is looked at on sample events only,
# so each interval runs a little long; ask for three.
run iv "prof:true,lg_prof_interval:24,prof_prefix:$pt_tmp/iv"
check_dumps iv i 3 1000
run gd "prof:true,prof_gdump:true,prof_prefix:$pt_tmp/gd"
check_dumps gd u 1 100000
run fi "prof:true,prof_final:true,prof_prefix:$pt_tmp/fi"
check_dumps fi f 1 1
[ -e "$pt_tmp/fi.$(sed -n 's/^pid //p' "$pt_tmp/fi.out").0.f0.heap" ] ||
	pt_fail "fi: the final dump is not sequence 0"

# 4. hmprof on the default-rate dump: the same figure as jeprof, and an
# SVG that parses.
if [ -z "$py" ]; then
	pt_log "python3 is not installed: hmprof not checked"
else
	"$py" "$top/tools/hmprof" --text "$pt_tmp/rate19.heap" >"$pt_tmp/hmprof.txt" 2>"$pt_tmp/hmprof.err" ||
		pt_fail "hmprof --text failed: $(cat "$pt_tmp/hmprof.err")"
	hm_flat=$(flat "$pt_tmp/hmprof.txt" leak_here)
	[ -n "$hm_flat" ] || pt_fail "hmprof --text does not name leak_here: $(cat "$pt_tmp/hmprof.txt")"
	je_flat=$(flat "$pt_tmp/rate19.jeprof" leak_here)
	awk -v a="$hm_flat" -v b="$je_flat" 'BEGIN { d = a - b; exit (d < -2 || d > 2) }' ||
		pt_fail "hmprof says $hm_flat B at leak_here, jeprof $je_flat B"
	pt_log "ok: hmprof --text: leak_here $hm_flat B (jeprof $je_flat B)"
	"$py" "$top/tools/hmprof" --svg "$pt_tmp/prof.svg" "$pt_tmp/rate19.heap" \
		>"$pt_tmp/hmprof-svg.out" 2>&1 ||
		pt_fail "hmprof --svg failed: $(cat "$pt_tmp/hmprof-svg.out")"
	"$py" - "$pt_tmp/prof.svg" <<'EOF' || pt_fail "hmprof --svg: not a flame graph of leak_here"
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except ET.ParseError as e:
    sys.exit("prof: %s is not well-formed XML: %s" % (sys.argv[1], e))
if not root.tag.endswith("svg"):
    sys.exit("prof: the root element is %s, not svg" % root.tag)
if not any("leak_here" in (el.text or "") for el in root.iter()):
    sys.exit("prof: no element's text names leak_here")
EOF
	pt_log "ok: hmprof --svg: well-formed SVG naming leak_here"
fi

# 5. Profiling off: prof.dump is not there (ENOENT, as in jemalloc built
# without profiling) and writes nothing.
run off - "$pt_tmp/off.heap"
off_rc=$(sed -n 's/^prof.dump: //p' "$pt_tmp/off.out")
[ -n "$off_rc" ] || pt_fail "off: the program printed no prof.dump answer: $(cat "$pt_tmp/off.out")"
[ "$off_rc" != 0 ] || pt_fail "off: prof.dump succeeded with profiling off"
[ "$off_rc" = 2 ] || pt_fail "off: prof.dump returned $off_rc, not ENOENT (2)"
[ ! -e "$pt_tmp/off.heap" ] || pt_fail "off: prof.dump wrote $pt_tmp/off.heap with profiling off"
pt_log "ok: profiling off: prof.dump returned $off_rc, no file"

# No run above may have dumped anywhere else.
stray=$(ls -A "$cwd")
[ -z "$stray" ] || pt_fail "files appeared in the working directory: $stray"

# 6. A real program with a fine sampling rate.  Under hmalloc it also asks
# for a dump through ctypes in the middle of its work, to see that the
# profiler was on and that a dump from a busy process holds its stacks.
if [ -z "$py" ]; then
	pt_log "python3 is not installed: the python3 run skipped"
	exit 0
fi
cat >"$pt_tmp/churn.py" <<'EOF'
import ctypes, hashlib, os

def dump(path):
    mallctl = ctypes.CDLL(None).mallctl
    mallctl.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p,
                        ctypes.c_void_p, ctypes.c_size_t]
    name = ctypes.c_char_p(path.encode())
    rc = mallctl(b"prof.dump", None, None, ctypes.byref(name),
                 ctypes.sizeof(name))
    if rc != 0:
        raise SystemExit("prof.dump to %s: %d" % (path, rc))

h = hashlib.sha256()
keep = []
for r in range(20):
    d = {("k%d" % i): [i, str(i) * (i % 9), (i, r)] for i in range(20000)}
    for k in list(d)[:: r + 2]:
        del d[k]
    lst = sorted(d.items(), key=lambda kv: (len(kv[1][1]), kv[0]))
    keep.append(lst[:: 50])
    if len(keep) > 5:
        keep.pop(0)
    h.update(repr(lst[:: 97]).encode())
    if r == 10 and os.environ.get("PROF_DUMP"):
        dump(os.environ["PROF_DUMP"])
print(len(keep), sum(len(k) for k in keep), h.hexdigest())
EOF
export PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 PYTHONMALLOC=malloc
pt_run glibc py-glibc "$py" -s "$pt_tmp/churn.py"
pt_run hmalloc py-hm env MALLOC_CONF=prof:true,lg_prof_sample:12 \
	PROF_DUMP="$pt_tmp/py.heap" "$py" -s "$pt_tmp/churn.py"
pt_compare "$pt_tmp/py-glibc.out" "$pt_tmp/py-hm.out" "python3's output with lg_prof_sample:12"
[ -s "$pt_tmp/py.heap" ] || pt_fail "python3: prof.dump wrote no $pt_tmp/py.heap"
[ "$(head -n 1 "$pt_tmp/py.heap")" = heap_v2/4096 ] ||
	pt_fail "python3: the dump starts with '$(head -n 1 "$pt_tmp/py.heap")', not heap_v2/4096"
nstacks=$(grep -c '^@' "$pt_tmp/py.heap")
[ "$nstacks" -ge 10 ] || pt_fail "python3: only $nstacks stacks in a dump from its busiest part"
pt_log "ok: python3 under lg_prof_sample:12: a dump of $nstacks stacks from the middle of its run"
exit 0
