#!/usr/bin/env bash
# Traces of real programs, recorded by hmalloc (MALLOC_CONF=trace:true)
# and replayed by bin/hmreplay:
#   - sqlite3 (one thread) and python3 (three threads, PYTHONMALLOC=malloc)
#     are recorded; hmreplay reads them;
#   - round trip: each trace is replayed on hmalloc while hmalloc records
#     the replay; every thread of the first trace has a thread in the
#     second that made the same calls with the same sizes and arguments,
#     in the same order, and the same peak of live requested bytes (the
#     one-thread trace's, exactly);
#   - each trace replays under hmalloc, glibc and whichever of jemalloc,
#     mimalloc and tcmalloc are installed (hmreplay --compare, one run
#     each), every call made, none failing.
. "$(dirname "$0")/progtest.bash"

pt_need python3 sqlite3
[ -n "$pt_lib" ] || pt_skip "HM_LIB is not set"
root=$(cd "$(dirname "$0")/../.." && pwd)
hmr=${HMREPLAY:-$root/bin/hmreplay}
[ -x "$hmr" ] || pt_fail "$hmr is not built (make)"
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
cd "$pt_tmp" || pt_fail "cd $pt_tmp"

# record TAG CMD...: run CMD on hmalloc, recording to $pt_tmp/TAG.*.trace;
# prints the trace of the process itself (the first one).
record() {
	local tag=$1
	shift
	MALLOC_CONF=trace:true,trace_prefix:$pt_tmp/$tag pt_run hmalloc "$tag" "$@"
	local f
	f=$(ls "$pt_tmp/$tag".*.trace 2>/dev/null | head -n 1)
	[ -n "$f" ] || pt_fail "$tag: no trace written"
	echo "$f"
}

cat >work.sql <<'EOF'
CREATE TABLE t(id INTEGER PRIMARY KEY, g INTEGER, name TEXT, pad BLOB);
CREATE INDEX t_g ON t(g, name);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000)
INSERT INTO t SELECT i, i % 97, printf('n%06d', (i * 7919) % 20000),
	zeroblob(i % 200) FROM s;
SELECT g, count(*), max(name) FROM t GROUP BY g ORDER BY g LIMIT 5;
DELETE FROM t WHERE g % 3 = 0;
SELECT count(*), sum(length(pad)) FROM t;
EOF
cat >work.py <<'EOF'
import json, threading
def work(k):
    d = {i: [str(i) * (i % 7), {"k": i}] for i in range(1500 + k)}
    s = json.dumps(d)
    assert len(json.loads(s)) == len(d)
ts = [threading.Thread(target=work, args=(k,)) for k in range(2)]
for t in ts: t.start()
work(2)
for t in ts: t.join()
print("ok")
EOF

sq=$(record sqlite sqlite3 :memory: ".read work.sql")
pyt=$(PYTHONMALLOC=malloc record python "$py" work.py)

# same TRACE1 TRACE2 [exact]: the calls of every thread of TRACE1 made by
# a thread of TRACE2, in order; with exact, the same peak live bytes.
same() {
	"$hmr" --dump "$1" >a.dump || pt_fail "hmreplay --dump $1"
	"$hmr" --dump "$2" >b.dump || pt_fail "hmreplay --dump $2"
	python3 - a.dump b.dump "${3:-}" <<'PY' || pt_fail "$1: the replay made other calls"
import sys
from collections import defaultdict

def threads(path):
    """Each thread's calls, without addresses: (call, size, arg, NULL)."""
    th = defaultdict(list)
    for line in open(path):
        w = line.split()
        f = dict(x.split("=", 1) for x in w[2:] if "=" in x)
        th[w[0]].append((w[1], f["size"], f["arg"], w[-1] == "NULL", line))
    return th

def peak(lines):
    """The most requested bytes live at once, following one thread."""
    live, cur, top = {}, 0, 0
    for call, size, arg, null, line in lines:
        f = dict(x.split("=", 1) for x in line.split()[2:] if "=" in x)
        a, size = int(f["addr"], 16), int(size)
        if call == "calloc":
            size *= int(arg)
        if call in ("free", "free_sized", "dallocx", "sdallocx", "realloc",
                    "rallocx") and a in live:
            cur -= live.pop(a)
        if null:
            continue
        if call in ("realloc", "rallocx"):
            a = int(f["result"], 16)
        if call not in ("free", "free_sized", "dallocx", "sdallocx",
                        "xallocx"):
            live[a] = size
            cur += size
        top = max(top, cur)
    return top

a, b = threads(sys.argv[1]), threads(sys.argv[2])
used = set()
for t, calls in a.items():
    key = [c[:4] for c in calls]
    match = [u for u, cs in b.items()
             if u not in used and [c[:4] for c in cs][:len(key)] == key]
    if not match:
        # The longest common prefix, to say where the replay went astray.
        best = max(b.values(), key=lambda cs: next(
            (i for i, (x, y) in enumerate(zip(key, [c[:4] for c in cs]))
             if x != y), min(len(key), len(cs))))
        i = next((i for i, (x, y) in enumerate(zip(key, [c[:4] for c in best]))
                  if x != y), min(len(key), len(best)))
        sys.exit("thread %s (%d calls): no thread of the replay made its "
                 "calls; the closest differs at call %d: %r against %r" % (
                     t, len(key), i, calls[i][4].strip() if i < len(calls)
                     else None, best[i][4].strip() if i < len(best) else None))
    used.add(match[0])
    if sys.argv[3] == "exact":
        pa, pb = peak(calls), peak(b[match[0]][:len(calls)])
        if pa != pb:
            sys.exit("thread %s: peak live bytes %d, replayed %d" % (t, pa, pb))
        print("thread %s: %d calls, peak %d live bytes, both" % (
            t, len(calls), pa))
    else:
        print("thread %s: %d calls, the same" % (t, len(calls)))
PY
}

for tr in "$sq" "$pyt"; do
	name=${tr##*/}
	name=${name%%.*}
	"$hmr" --summary "$tr" >"$name.summary" || pt_fail "--summary $tr"
	grep -E '^  (calls|threads) ' "$name.summary" >&2
	# Round trip: the replay, recorded.
	MALLOC_CONF=trace:true,trace_prefix:$pt_tmp/rt-$name pt_run hmalloc \
		"rt-$name" "$hmr" --quiet "$tr"
	rt=$(ls "$pt_tmp/rt-$name".*.trace | head -n 1)
	if [ "$name" = sqlite ]; then
		same "$tr" "$rt" exact >"$name.same"
	else
		same "$tr" "$rt" >"$name.same"
	fi
	cat "$name.same" >&2
	# Every allocator at hand.
	HMREPLAY_HMALLOC=$pt_lib pt_run glibc "cmp-$name" "$hmr" --compare \
		--runs 1 "$tr"
	for a in hmalloc glibc jemalloc mimalloc tcmalloc; do
		if grep -Eq "^$a +[0-9]+\.[0-9]+ " "cmp-$name.out"; then
			pt_log "ok: $name replayed under $a"
		elif [ "$a" = hmalloc ] || [ "$a" = glibc ] ||
			[ -n "$(ls /usr/lib/*/lib$a*.so* 2>/dev/null)" ]; then
			cat "cmp-$name.out" "cmp-$name.err" >&2
			pt_fail "$name: no result under $a"
		fi
	done
done
exit 0
