#!/usr/bin/env bash
# operator new/delete exported by hmalloc (see cxx_new.cc): the same
# program passes on glibc and, with hmalloc's own checks, preloaded.
. "$(dirname "$0")/progtest.bash"
bin=${HM_BUILD:+$HM_BUILD/test/programs/cxx_new}
[ -n "$bin" ] && [ -x "$bin" ] || pt_skip "cxx_new is not built"
"$bin" >"$pt_tmp/glibc.out" 2>&1 || pt_fail "on glibc: $(cat "$pt_tmp/glibc.out")"
if [ -z "$pt_lib" ]; then
	pt_skip "no library to preload"
fi
LD_PRELOAD=$pt_lib "$bin" check >"$pt_tmp/hm.out" 2>&1 ||
	pt_fail "under hmalloc: $(cat "$pt_tmp/hm.out")"
grep -qx 'cxx_new: ok' "$pt_tmp/hm.out" || pt_fail "no ok line: $(cat "$pt_tmp/hm.out")"
# The operators really are hmalloc's.
nm -D --defined-only "$pt_lib" | grep -q ' _Znwm$' || pt_fail "_Znwm not exported"
exit 0
