#!/usr/bin/env bash
# make demo: run a real program on hmalloc through the LD_PRELOAD wrapper
# and let hmalloc print its statistics when the program exits.
set -euo pipefail
cd "$(dirname "$0")/.."

wrapper=bin/hmalloc.sh
if [ ! -x "$wrapper" ]; then
	echo "demo: $wrapper is missing: run make first" >&2
	exit 1
fi

py=
if [ -x /usr/bin/python3 ]; then
	py=/usr/bin/python3
elif command -v python3 >/dev/null 2>&1; then
	py=$(command -v python3)
fi

cat <<EOF
=== hmalloc demo ======================================================
$("$wrapper" --version), preloaded by $wrapper into an unmodified program.

The program below is ${py:-perl}, not rebuilt: it builds a 200,000-entry
dict, round-trips it through JSON, sorts 200,000 records and joins strings.
Every malloc, realloc and free it makes goes to hmalloc (PYTHONMALLOC=malloc
sends even Python's small objects there instead of to its own pools).

MALLOC_CONF=stats_print:true (the wrapper's -c option) makes hmalloc print
its statistics report, as malloc_stats_print(3) writes it, to stderr when
the program exits: the options in force, then global and per-arena
counters: bytes allocated, active, mapped and dirty, and allocation and
free counts per size class.
=======================================================================
EOF

if [ -n "$py" ]; then
	PYTHONMALLOC=malloc "$wrapper" -c stats_print:true "$py" -s -c '
import json, random, time
t0 = time.perf_counter()
rng = random.Random(42)
d = {"key%06d" % i: {"n": i, "tags": ["t%d" % (i % 17)] * (i % 4)} for i in range(200000)}
text = json.dumps(d)
back = json.loads(text)
assert back == d
recs = sorted(((rng.random(), "r%d" % i) for i in range(200000)), reverse=True)
joined = ",".join(r[1] for r in recs[:50000])
print("program: dict of %d entries, %.1f MB of JSON, sorted %d records, joined %d chars in %.2f s"
      % (len(back), len(text) / 1e6, len(recs), len(joined), time.perf_counter() - t0))
print("program: exiting; hmalloc statistics follow")
'
else
	# shellcheck disable=SC2016 # perl code, not shell
	"$wrapper" -c stats_print:true perl -e '
my %h; $h{sprintf "key%06d", $_} = [$_, "t" . ($_ % 17)] for 1 .. 200000;
my @s = sort { $a->[0] <=> $b->[0] } map { [rand(), $_] } 1 .. 200000;
print "program: hash of ", scalar(keys %h), " entries, sorted ", scalar(@s), " records\n";
print "program: exiting; hmalloc statistics follow\n";
'
fi
