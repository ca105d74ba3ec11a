#!/usr/bin/env bash
# hmreplay --compare on a small trace, one run each: at least hmalloc and
# glibc run, the table lists every allocator, and the SVG chart is
# well-formed with one line (polyline) per allocator.  A --conf row runs
# too, and `trace` never reaches a child.
. "$(dirname "$0")/progtest.bash"

pt_need python3

root=$(cd "$(dirname "$0")/../.." && pwd)
hmr=${HMREPLAY:-$root/bin/hmreplay}
[ -x "$hmr" ] || pt_fail "$hmr is not built (make)"
cd "$pt_tmp" || pt_fail "cd $pt_tmp"
[ -n "$pt_lib" ] && export HMREPLAY_HMALLOC=$pt_lib

python3 "$root/test/trace/mktrace.py" random r.trace 20000 3 9 >r.facts ||
	pt_fail "mktrace random"
pt_run glibc compare "$hmr" --compare --runs 1 --chart chart.svg \
	--conf 'nodecay=dirty_decay_ms:0,trace:true,trace_prefix:'"$pt_tmp"/self \
	r.trace
out=$pt_tmp/compare.out
rows=()
for name in hmalloc glibc jemalloc mimalloc tcmalloc 'hmalloc nodecay'; do
	if grep -Eq "^$name +[0-9]+\.[0-9]+ " "$out"; then
		rows+=("$name")
	elif [ "$name" = hmalloc ] || [ "$name" = glibc ] ||
		[ "$name" = 'hmalloc nodecay' ]; then
		cat "$out" >&2
		pt_fail "no table row for $name"
	fi
done
pt_log "rows: ${rows[*]}"
grep -q 'trace:true' "$out" && pt_fail "a child was given trace:true"
ls "$pt_tmp"/self* >/dev/null 2>&1 && pt_fail "a child wrote a trace of itself"
grep -q 'leaving out trace:true' "$pt_tmp/compare.err" ||
	pt_fail "--conf's trace option was not reported as left out"
grep -Eq '^ +[0-9.]+ \|' "$out" || pt_fail "no text chart"

[ "$(head -c 4 chart.svg)" = "<svg" ] || pt_fail "chart.svg does not start with <svg"
n=$(grep -c '<polyline' chart.svg)
[ "$n" -eq ${#rows[@]} ] || pt_fail "chart.svg has $n polylines for ${#rows[@]} allocators"
python3 - chart.svg <<'PY' || pt_fail "chart.svg is not well-formed XML"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag.endswith("svg"), root.tag
for p in root.iter("{http://www.w3.org/2000/svg}polyline"):
    pts = [tuple(map(float, xy.split(","))) for xy in p.get("points").split()]
    assert len(pts) >= 2, "a series of fewer than 2 points"
PY
pt_log "ok: ${#rows[@]} allocators compared, chart with $n series"
exit 0
