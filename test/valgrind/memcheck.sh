#!/usr/bin/env bash
# hmalloc built with HM_VALGRIND (vg.h) under valgrind's memcheck.  memcheck
# replaces any malloc it finds with its own unless told to leave the
# program's in place (--soname-synonyms=somalloc=nouserintercepts): each
# mode of vgprog.c runs both ways, on memcheck's own heap (what a program
# on glibc sees under memcheck) and on hmalloc's, and
#   - hmalloc's report names hmalloc's frames for the blocks (the entry
#     points and the engine, api.c and alloc.c), never
#     memcheck's replacement functions;
#   - it holds the same errors, kind by kind (invalid reads and writes,
#     invalid frees, uninitialised values) and the same leaked and
#     possibly leaked block counts as memcheck's own heap (byte counts may
#     differ by hmalloc's size classes);
#   - and what each mode is about is there (or, for the clean modes, no
#     error and every block freed), so that a run where both heaps miss a
#     mistake fails too.
# Skipped without valgrind.
set -u
prog=build/valgrind/test/vgprog
if ! command -v valgrind >/dev/null 2>&1; then
	echo "skip: valgrind is not installed"
	exit 77
fi
[ -x "$prog" ] || { echo "missing $prog (make valgrind-build)"; exit 1; }
unset LD_PRELOAD MALLOC_CONF HMALLOC_CONF
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# summary FILE: the errors of a report, one per line, sorted: their kinds
# and the leak counts in blocks.
summary() {
	{
		grep -oE '(Invalid (read|write) of size [0-9]+|Invalid free\(\)|Conditional jump or move depends on uninitialised value|Use of uninitialised value of size [0-9]+|Mismatched free)' "$1"
		sed -nE 's/.*(definitely|indirectly|possibly) lost: [0-9,]+ bytes in ([0-9,]+) blocks.*/\1 lost: \2 blocks/p' "$1"
	} | sort
}

# run MODE EXPECT...: both heaps, compared; every EXPECT (an extended
# regex) must be in hmalloc's report.
run() {
	local mode=$1
	shift
	valgrind --tool=memcheck --leak-check=full "$prog" "$mode" \
		>"$tmp/own" 2>&1
	valgrind --tool=memcheck --leak-check=full \
		--soname-synonyms=somalloc=nouserintercepts "$prog" "$mode" \
		>"$tmp/hm" 2>&1
	local rc=$? bad=
	if grep -Eq 'vgpreload_memcheck[^)]*\) *$' "$tmp/hm" &&
	    grep -E 'at 0x[0-9A-F]+: (malloc|free|calloc|realloc|posix_memalign) \(in .*vgpreload' "$tmp/hm" >/dev/null; then
		bad="memcheck's own allocator served the program"
	fi
	if [ -z "$bad" ] && grep -q "block of size\|blocks are .* lost" "$tmp/hm" &&
	    ! grep -Eq '\((api|alloc)\.c:' "$tmp/hm"; then
		bad="no hmalloc frame (api.c, alloc.c) for the blocks"
	fi
	if [ -z "$bad" ] && [ "$(summary "$tmp/own")" != "$(summary "$tmp/hm")" ]; then
		bad="errors differ from memcheck's own heap: own [$(summary "$tmp/own" | tr '\n' ';')] hmalloc [$(summary "$tmp/hm" | tr '\n' ';')]"
	fi
	local e
	for e in "$@"; do
		[ -n "$bad" ] && break
		grep -Eq "$e" "$tmp/hm" || bad="no \"$e\" in hmalloc's report"
	done
	if [ -n "$bad" ]; then
		echo "FAIL $mode: $bad (exit $rc):"
		sed 's/^/    /' "$tmp/hm" | tail -n 30
		fail=1
		return
	fi
	echo "ok   $mode: $(summary "$tmp/hm" | tr '\n' ';')"
}

run clean "ERROR SUMMARY: 0 errors" "All heap blocks were freed"
run clean_rounds "ERROR SUMMARY: 0 errors" "All heap blocks were freed"
run use_after_free "Invalid read of size 1" \
	"8 bytes inside a block of size 64 free'd"
run use_after_reuse "Invalid read of size 1" \
	"8 bytes inside a block of size 64 free'd"
run double_free "Invalid free\(\)" "ERROR SUMMARY: 1 errors"
run uninitialised "Conditional jump or move depends on uninitialised"
run uninit_realloc "Conditional jump or move depends on uninitialised"
run leak "definitely lost: 4,096 bytes in 1 blocks"
run leak_sizes "definitely lost: [0-9,]+ bytes in 1 blocks" \
	"possibly lost: 5,242,880 bytes in 1 blocks"
run realloc_shrunk "Invalid read of size 1"
exit $fail
