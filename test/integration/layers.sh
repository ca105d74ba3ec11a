#!/usr/bin/env bash
# tools/dev/layers.py holds src/ to the layer table of docs/design.md.
# Checked:
#   - the tree as it is passes, naming every module of src/;
#   - in a copy, each of these fails the check, with a line naming the
#     file: a lower module including a higher one's header (os.c
#     including base.h), one including a header of its own line, a call
#     to a higher module's hm_<module>_ function (chunk.c calling
#     hm_arena_boot), a module the table does not name; and a mention of
#     a higher name in a comment or a string does not.
# Exit 0 pass, 1 fail, 77 skip.
set -u

repo=$(cd "$(dirname "$0")/../.." && pwd)
command -v python3 >/dev/null 2>&1 || { echo "skip: python3 is not installed"; exit 77; }
check=$repo/tools/dev/layers.py

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hm_layers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

out=$(python3 "$check" "$repo") || fail "the tree fails its own layer table: $out"
nsrc=$(cd "$repo/src" && ls -- *.c *.h | sed 's/\.[ch]$//' | sort -u | wc -l)
echo "$out" | grep -q "^layers: $nsrc modules on [0-9]* lines, 0 violations$" ||
	fail "expected $nsrc modules and no violation: $out"

# copy: a fresh copy of src/ and docs/ to break one way.
copy() {
	rm -rf "$tmp/t"
	mkdir -p "$tmp/t"
	cp -r "$repo/src" "$repo/docs" "$tmp/t/"
}

# expect_fail WHAT PATTERN: the check fails, and PATTERN is in its report.
expect_fail() {
	local rep rc=0
	rep=$(python3 "$check" "$tmp/t") || rc=$?
	[ "$rc" -eq 1 ] || fail "$1: exit $rc, not 1: $rep"
	echo "$rep" | grep -q -- "$2" || fail "$1: no line matching '$2' in: $rep"
	echo "layers: $1: caught"
}

copy
sed -i '0,/#include "util.h"/s//#include "util.h"\n#include "base.h"/' "$tmp/t/src/os.c"
expect_fail "os.c includes base.h" '^src/os.c:[0-9]*: includes base.h, on a higher line'

copy
sed -i '0,/#include "check.h"/s//#include "check.h"\n#include "large.h"/' "$tmp/t/src/bin.c"
expect_fail "bin.c includes large.h" '^src/bin.c:[0-9]*: includes large.h, on its own line'

copy
printf 'void hm_chunk_test_call(void) { hm_arena_boot(); }\n' >>"$tmp/t/src/chunk.c"
expect_fail "chunk.c calls hm_arena_boot" '^src/chunk.c:[0-9]*: uses hm_arena_boot of arena, on a higher line'

copy
printf '/* x.c */\n' >"$tmp/t/src/x.c"
expect_fail "a module outside the table" '^src/x.c: module x is not in the layer table'

copy
printf '/* hm_arena_boot() */\nstatic const char *hm_chunk_s = "hm_init_hard";\n' >>"$tmp/t/src/chunk.c"
rep=$(python3 "$check" "$tmp/t") || fail "a comment or a string counted as a call: $rep"
echo "layers: names in comments and strings: ignored"
exit 0
