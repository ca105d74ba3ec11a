#!/usr/bin/env bash
# The benchmark suite's programs as tests: every workload of `make bench`
# that is one of its own programs (bench/run.py lists them) runs at a small
# scale on glibc and on hmalloc, under the default options and a few
# others; each program writes and checks every block it uses and prints a
# checksum of what it read back (checksum=...), which must be glibc's.  A program that
# exits otherwise (malloc returned NULL: "out of memory") fails the test.
. "$(dirname "$0")/progtest.bash"

pt_need python3
bin=${HM_BUILD:-build}/bench
here=$(cd "$(dirname "$0")/../../bench" && pwd)
[ -x "$bin/st_fixed" ] || pt_skip "bench programs not built ($bin): make bench-progs"

# name TAB argv, one workload a line, for the programs in $bin only.
env -u LD_PRELOAD python3 - "$here" "$bin" >"$pt_tmp/list" <<'PY' ||
import os, sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import run
bindir = os.path.abspath(sys.argv[2])
for name, argv, _ in run.workloads(bindir, 0.03):
    if argv and os.path.dirname(argv[0]) == bindir:
        print(name + "\t" + " ".join(argv))
PY
	pt_fail "listing the workloads (bench/run.py)"
[ -s "$pt_tmp/list" ] || pt_fail "bench/run.py lists no program of $bin"

n=0
while IFS=$'\t' read -r name cmd; do
	# shellcheck disable=SC2086
	pt_run glibc "$name.glibc" $cmd
	for conf in "" narenas:1 tcache:false dirty_decay_ms:0; do
		# shellcheck disable=SC2086
		MALLOC_CONF=$conf pt_run hmalloc "$name.hm" $cmd
		want=$(grep '^checksum=' "$pt_tmp/$name.glibc.out")
		got=$(grep '^checksum=' "$pt_tmp/$name.hm.out")
		[ -n "$want" ] || pt_fail "$name printed no checksum on glibc"
		[ "$got" = "$want" ] ||
			pt_fail "$name${conf:+ ($conf)}: '$got', on glibc '$want'"
	done
	n=$((n + 1))
done <"$pt_tmp/list"
pt_log "ok: $n programs, each under 4 option sets, checksums as on glibc"
exit 0
