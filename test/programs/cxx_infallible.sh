#!/usr/bin/env bash
# opt.experimental_infallible_new and the safety_check_abort hook
# (cxx_infallible.cc): each mode's outcome under hmalloc, and the
# option's line.
. "$(dirname "$0")/progtest.bash"
bin=${HM_BUILD:+$HM_BUILD/test/programs/cxx_infallible}
[ -n "$bin" ] && [ -x "$bin" ] || pt_skip "cxx_infallible is not built"
[ -n "$pt_lib" ] || pt_skip "no library to preload"
run() {
	LD_PRELOAD=$pt_lib "$bin" "$@" >"$pt_tmp/out" 2>&1
}
line='<hmalloc>: allocation of size 4611686018427387904 failed (opt.experimental_infallible_new)'

HMALLOC_CONF= run throw || pt_fail "throw: $(cat "$pt_tmp/out")"
grep -qx 'cxx_infallible: throw ok' "$pt_tmp/out" || pt_fail "throw: $(cat "$pt_tmp/out")"

rc=0
HMALLOC_CONF=experimental_infallible_new:true run abort || rc=$?
[ "$rc" -eq 134 ] || pt_fail "abort: exit $rc, not SIGABRT: $(cat "$pt_tmp/out")"
[ "$(cat "$pt_tmp/out")" = "$line" ] || pt_fail "abort: want the one line, got: $(cat "$pt_tmp/out")"

HMALLOC_CONF=experimental_infallible_new:true run hook || pt_fail "hook: $(cat "$pt_tmp/out")"
[ "$(head -n 1 "$pt_tmp/out")" = "hook: $line" ] || pt_fail "hook: $(cat "$pt_tmp/out")"
grep -qx 'cxx_infallible: hook ok' "$pt_tmp/out" || pt_fail "hook: $(cat "$pt_tmp/out")"

rc=0
HMALLOC_CONF= run corrupt || rc=$?
[ "$rc" -eq 134 ] || pt_fail "corrupt: exit $rc, not SIGABRT: $(cat "$pt_tmp/out")"
! grep -q 'not aborted' "$pt_tmp/out" || pt_fail "corrupt: went on"
grep -Eqx 'hook: <hmalloc>: double free: 0x[0-9a-f]+' "$pt_tmp/out" || pt_fail "corrupt: the hook did not get the line: $(cat "$pt_tmp/out")"
! grep -q '^<hmalloc>' "$pt_tmp/out" || pt_fail "corrupt: the line went to stderr too: $(cat "$pt_tmp/out")"
exit 0
