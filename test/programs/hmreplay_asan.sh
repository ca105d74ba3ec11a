#!/usr/bin/env bash
# hmreplay built with AddressSanitizer replays the three-thread trace of
# test/trace/mktrace.py (cross-thread frees and resizes, addresses freed
# by one thread and allocated again by another) on glibc: a use after
# free or an overflow in the replay's ordering shows as ASan's report.
# (Leak checking is off: the trace leaves blocks live at its end.)
. "$(dirname "$0")/progtest.bash"

pt_need python3 cc

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$pt_tmp" || pt_fail "cd $pt_tmp"
echo 'int main(void) { return 0; }' >probe.c
cc -fsanitize=address probe.c -o probe 2>/dev/null && ./probe ||
	pt_skip "a compiler with AddressSanitizer (libasan) is not installed"
cc -std=c11 -O1 -g -D_GNU_SOURCE -fsanitize=address -fno-omit-frame-pointer \
	-Wall -Wextra -o hmreplay-asan "$root"/tools/hmreplay/*.c -lpthread -ldl ||
	pt_fail "cannot build hmreplay with -fsanitize=address"
python3 "$root/test/trace/mktrace.py" mt mt.trace >mt.facts || pt_fail "mktrace mt"
python3 "$root/test/trace/mktrace.py" random r.trace 30000 4 5 >r.facts ||
	pt_fail "mktrace random"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=99
for t in mt r; do
	pt_run glibc asan-$t ./hmreplay-asan --result $t.res $t.trace
	grep -q 'AddressSanitizer' "$pt_tmp/asan-$t.err" &&
		{ cat "$pt_tmp/asan-$t.err" >&2; pt_fail "ASan report replaying $t.trace"; }
	want=$(sed -n 's/^calls=//p' $t.facts)
	got=$(sed -n 's/^calls //p' $t.res)
	[ "$got" = "$want" ] || pt_fail "$t.trace: replayed $got of $want calls"
	pt_log "ok: $t.trace ($want calls) under ASan"
done
exit 0
