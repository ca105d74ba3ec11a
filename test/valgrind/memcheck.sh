#!/usr/bin/env bash
# hmalloc built with HM_VALGRIND (vg.h) under valgrind's memcheck: a clean
# program gets no error, and each mistake of vgprog.c is reported as
# memcheck reports it on glibc's heap.  Skipped without valgrind.
set -u
prog=build/valgrind/test/vgprog
if ! command -v valgrind >/dev/null 2>&1; then
	echo "skip: valgrind is not installed"
	exit 77
fi
[ -x "$prog" ] || { echo "missing $prog (make valgrind-build)"; exit 1; }
unset LD_PRELOAD MALLOC_CONF
fail=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# run MODE EXPECT...: every EXPECT (an extended regex) must be in the report.
run() {
	local mode=$1
	shift
	valgrind --tool=memcheck --leak-check=full --error-exitcode=99 \
		"$prog" "$mode" >"$out" 2>&1
	local rc=$?
	local e
	for e in "$@"; do
		if ! grep -Eq "$e" "$out"; then
			echo "FAIL $mode: no \"$e\" in memcheck's report (exit $rc):"
			sed 's/^/    /' "$out" | tail -n 30
			fail=1
			return
		fi
	done
	echo "ok   $mode (exit $rc)"
}

run clean "ERROR SUMMARY: 0 errors" "All heap blocks were freed"
run use_after_free "Invalid read of size 1" \
	"8 bytes inside a block of size 64 free'd"
run uninitialised "Conditional jump or move depends on uninitialised"
run leak "definitely lost: 4,096 bytes in 1 blocks"
run realloc_shrunk "Invalid read of size 1"
exit $fail
