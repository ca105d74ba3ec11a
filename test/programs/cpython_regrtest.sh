#!/usr/bin/env bash
# CPython's own regression tests test_queue and test_threading on hmalloc
# (PYTHONMALLOC=malloc, so that every object is hmalloc's): threads that
# start and exit by the thousand, fork from threads, a main thread that
# exits before the others.  Skipped unless Debian's python test package
# (libpython3.11-testsuite) is installed.  The run is bounded: a hang is a
# failure.
. "$(dirname "$0")/progtest.bash"

py=/usr/bin/python3
[ -x "$py" ] || pt_skip "/usr/bin/python3 is not installed"
"$py" -c 'import test.test_queue, test.test_threading' 2>/dev/null ||
	pt_skip "the python test package (libpython3.11-testsuite) is not installed"
[ -n "$pt_lib" ] || pt_skip "no library to preload"

# hmalloc must really serve the interpreter: its exit-time report says so.
out=$(env PYTHONMALLOC=malloc MALLOC_CONF=stats_print:true LD_PRELOAD="$pt_lib" \
	"$py" -c 'print(sum(range(10)))' 2>&1) || pt_fail "python3 on hmalloc: $out"
grep -q '___ Begin hmalloc statistics ___' <<<"$out" ||
	pt_fail "hmalloc did not serve python3 (no statistics report): $out"

log="$pt_tmp/regrtest.log"
if ! env PYTHONMALLOC=malloc LD_PRELOAD="$pt_lib" timeout -k 10 540 \
	"$py" -m test -j2 test_queue test_threading >"$log" 2>&1; then
	tail -n 40 "$log" >&2
	pt_fail "python3 -m test test_queue test_threading (a timeout is a hang)"
fi
grep -q 'Tests result: SUCCESS' "$log" || { tail -n 20 "$log" >&2; pt_fail "no SUCCESS line"; }
pt_log "$(grep -E '^(All|Total duration)' "$log" | tr '\n' ' ')"
