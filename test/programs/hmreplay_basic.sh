#!/usr/bin/env bash
# hmreplay on synthetic traces (test/trace/mktrace.py): every opcode, the
# counts of the replay report and exact figures of --summary; threads
# with cross-thread frees and addresses reused across threads, on glibc
# and on hmalloc; what a replay tolerates; and every kind of corrupted
# file rejected with one line naming the offset.
. "$(dirname "$0")/progtest.bash"

pt_need python3

root=$(cd "$(dirname "$0")/../.." && pwd)
hmr=${HMREPLAY:-$root/bin/hmreplay}
mk="python3 $root/test/trace/mktrace.py"
[ -x "$hmr" ] || pt_fail "$hmr is not built (make)"
cd "$pt_tmp" || pt_fail "cd $pt_tmp"

# fact FILE KEY: a value mktrace printed.
fact() { sed -n "s/^$2=//p" "$1"; }
# expect_line FILE REGEX WHAT
expect_line() {
	grep -Eq -- "$2" "$1" || { cat "$1" >&2; pt_fail "$3: no line matching '$2'"; }
}
# result FILE KEY: a value of --result.
result() { sed -n "s/^$2 //p" "$1"; }

# One thread, every opcode.
$mk basic basic.trace >basic.facts || pt_fail "mktrace basic"
pt_run glibc basic-replay "$hmr" --result basic.res basic.trace
out=$pt_tmp/basic-replay.out
[ "$(result basic.res calls)" = "$(fact basic.facts calls)" ] ||
	pt_fail "basic: replayed $(result basic.res calls) calls, the trace has $(fact basic.facts calls)"
for op in malloc calloc memalign aligned_alloc posix_memalign valloc pvalloc \
	realloc free free_sized mallocx rallocx xallocx dallocx sdallocx; do
	want=$(fact basic.facts "calls_$op")
	[ -n "$want" ] || pt_fail "basic: mktrace made no $op"
	expect_line "$out" "^  $op +$want\$" "basic report, $op"
	[ "$(result basic.res "calls_$op")" = "$want" ] ||
		pt_fail "basic: --result says $(result basic.res "calls_$op") ${op}s, want $want"
done
for k in unknown_frees dropped unknown_resizes failed misordered; do
	[ "$(result basic.res $k)" = 0 ] || pt_fail "basic: $k is $(result basic.res $k)"
done
expect_line "$out" '^  peak +[0-9.]+ MiB' "basic report, peak RSS"

pt_run glibc basic-summary "$hmr" --summary basic.trace
sum=$pt_tmp/basic-summary.out
expect_line "$sum" "^  calls +$(fact basic.facts calls)\$" "basic summary, calls"
expect_line "$sum" '^  threads +1$' "basic summary, threads"
expect_line "$sum" "^  peak live bytes +$(fact basic.facts peak_live_bytes)  \\(8 blocks" \
	"basic summary, peak live bytes"
expect_line "$sum" "^  never freed +$(fact basic.facts final_live_bytes) bytes in 1 blocks" \
	"basic summary, never freed"
expect_line "$sum" '^  malloc +2  \(NULL 1\)$' "basic summary, failed malloc"
expect_line "$sum" '^  cross-thread frees +0 of 7 frees$' "basic summary, frees"
expect_line "$sum" "^  bytes per call +[0-9]" "basic summary, bytes per call"
pt_log "ok: basic trace"

# Three threads: cross-thread frees and resizes, addresses reused by
# another thread, a shared chunk.
$mk mt mt.trace >mt.facts || pt_fail "mktrace mt"
pt_run glibc mt-summary "$hmr" --summary mt.trace
sum=$pt_tmp/mt-summary.out
expect_line "$sum" '^  threads +3$' "mt summary, threads"
expect_line "$sum" "^  cross-thread frees +$(fact mt.facts cross_frees) of $(fact mt.facts frees) frees\$" \
	"mt summary, cross-thread frees"
expect_line "$sum" "^  peak live bytes +$(fact mt.facts peak_live_bytes) " "mt summary, peak live bytes"
[ "$(fact mt.facts cross_frees)" -gt 100 ] || pt_fail "mt: too few cross-thread frees to test"
for mode in glibc hmalloc; do
	pt_run $mode mt-$mode "$hmr" --result mt-$mode.res --rss-csv mt-$mode.csv mt.trace
	[ "$(result mt-$mode.res calls)" = "$(fact mt.facts calls)" ] ||
		pt_fail "mt on $mode: replayed $(result mt-$mode.res calls) of $(fact mt.facts calls) calls"
	for k in unknown_frees dropped unknown_resizes failed misordered; do
		[ "$(result mt-$mode.res $k)" = 0 ] || pt_fail "mt on $mode: $k is $(result mt-$mode.res $k)"
	done
	head -n 1 mt-$mode.csv | grep -qx 'ms,calls,fraction,rss_anon_kib' ||
		pt_fail "mt on $mode: bad --rss-csv header"
	[ "$(tail -n 1 mt-$mode.csv | cut -d, -f2)" = "$(fact mt.facts calls)" ] ||
		pt_fail "mt on $mode: the last RSS sample is not after the last call"
done
pt_log "ok: threads, cross-thread frees and reused addresses"

# What the replay tolerates: a free of an unknown address, an allocation
# at a live address, a realloc of an unknown block.
$mk tolerate tol.trace >tol.facts || pt_fail "mktrace tolerate"
pt_run glibc tol "$hmr" tol.trace
expect_line "$pt_tmp/tol.out" '^  unknown frees +1  ' "tolerate, unknown frees"
expect_line "$pt_tmp/tol.out" '^  dropped blocks +1  ' "tolerate, dropped blocks"
expect_line "$pt_tmp/tol.out" '^  unknown resizes +1  ' "tolerate, unknown resizes"
expect_line "$pt_tmp/tol.out" "^  calls replayed +$(( $(fact tol.facts calls) - 1 ))\$" \
	"tolerate, calls replayed (all but the unknown free)"
pt_log "ok: tolerated records counted"

# Corrupted files: each rejected, non-zero, one line: file, offset, what.
reject() {
	local file=$1 off=$2 what=$3 rc
	"$hmr" "$file" >reject.out 2>reject.err
	rc=$?
	[ "$rc" -ne 0 ] || pt_fail "$file was not rejected"
	[ "$(wc -l <reject.err)" -eq 1 ] || { cat reject.err >&2; pt_fail "$file: not one line"; }
	grep -Eq -- "^hmreplay: $file: offset $off: $what" reject.err ||
		{ cat reject.err >&2; pt_fail "$file: want offset $off: $what"; }
	[ ! -s reject.out ] || pt_fail "$file: a report despite the error"
}
size=$(fact basic.facts size)
head -c 30 basic.trace >cut-header.trace
reject cut-header.trace 30 'truncated file header'
head -c $((size - 5)) basic.trace >cut-chunk.trace
reject cut-chunk.trace 68 'chunk length [0-9]+ runs past the end of the file'
head -c 80 basic.trace >cut-chunk-header.trace
reject cut-chunk-header.trace 64 'truncated chunk header'
cp basic.trace flip.trace
printf '\377' | dd of=flip.trace bs=1 seek=$((64 + 40 + 7)) conv=notrunc 2>/dev/null
cmp -s basic.trace flip.trace && pt_fail "the flipped byte did not change the file"
reject flip.trace 96 'checksum mismatch'
for s in badmagic:'bad magic' badversion:'unsupported version 2' \
	unknownop:'unknown opcode 16' badflag:'unknown flags 0x40' \
	pastchunk:'malloc record runs past the end of its chunk'; do
	name=${s%%:*}
	$mk "$name" "$name.trace" >"$name.facts" || pt_fail "mktrace $name"
	reject "$name.trace" "$(fact "$name.facts" offset)" "${s#*:}"
done
pt_log "ok: corrupted files rejected"
exit 0
