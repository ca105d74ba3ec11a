#!/usr/bin/env bash
# C++ sized delete (see cxx_sized_delete.cc): legal sizes pass on glibc and
# under hmalloc; under hmalloc, sizes of another class abort with its
# message.  The compiler must really emit the sized forms for the
# compiler-generated half to mean anything.
. "$(dirname "$0")/progtest.bash"
bin=${HM_BUILD:+$HM_BUILD/test/programs/cxx_sized_delete}
[ -n "$bin" ] && [ -x "$bin" ] || pt_skip "cxx_sized_delete is not built"
for sym in _ZdlPvm _ZdaPvm _ZdlPvmSt11align_val_t; do
	nm -u "$bin" | grep -Eq " $sym(@|$)" ||
		pt_fail "the program does not call $sym (no sized deallocation?)"
done
"$bin" >"$pt_tmp/glibc.out" 2>&1 || pt_fail "on glibc: $(cat "$pt_tmp/glibc.out")"
if [ -z "$pt_lib" ]; then
	pt_skip "no library to preload"
fi
LD_PRELOAD=$pt_lib "$bin" check >"$pt_tmp/hm.out" 2>&1 ||
	pt_fail "under hmalloc: $(cat "$pt_tmp/hm.out")"
grep -qx 'cxx_sized_delete: ok, [1-9][0-9]* wrong sizes caught' "$pt_tmp/hm.out" ||
	pt_fail "no ok line: $(cat "$pt_tmp/hm.out")"
cat "$pt_tmp/hm.out"
exit 0
