#!/usr/bin/env bash
# Runs tests and prints one line per test and a closing summary line
# "N passed, N failed, N skipped".
#
# Each argument is a test: an executable, or a .sh script run with bash.
# A file NAME.env beside a test's source (test/DIR/NAME.env) is sourced
# first: it sets MALLOC_CONF and the like, as jemalloc's .sh files do.
# Exit status 77 means skipped.  Output goes to $HM_LOGDIR/NAME.log and
# is shown for failures.
#
# Environment: HM_LIB (the shared library under test), HM_BUILD (build
# directory), HM_TIMEOUT (seconds per test, default 600), HM_CROSS_CONFS
# (option strings for the crossed runs, see below).
set -u
logdir=${HM_LOGDIR:-build/test-logs}
mkdir -p "$logdir"
timeout_s=${HM_TIMEOUT:-600}
pass=0 fail=0 skip=0
failed=()

# Tests after "--cross" run once more per option string in HM_CROSS_CONFS
# (space-separated), added to their MALLOC_CONF.
plain=() cross=()
seen_cross=0
for t in "$@"; do
	if [ "$t" = "--cross" ]; then
		seen_cross=1
	elif [ $seen_cross -eq 1 ]; then
		cross+=("$t")
	else
		plain+=("$t")
	fi
done
runs=()
for t in "${plain[@]}"; do
	runs+=("$t|")
done
for c in ${HM_CROSS_CONFS:-}; do
	for t in "${cross[@]}"; do
		runs+=("$t|$c")
	done
done

for run in "${runs[@]}"; do
	t=${run%%|*}
	conf=${run#*|}
	name=${t#test/}
	name=${name#*/test/}
	name=${name%.sh}
	src_base="test/${name}"
	[ -n "$conf" ] && name="$name [$conf]"
	log="$logdir/$(echo "$name" | tr '/ :[]' '_____').log"
	start=$(date +%s.%N)
	(
		if [ -f "${src_base}.env" ]; then
			set -a
			. "${src_base}.env"
			set +a
		fi
		if [ -n "$conf" ]; then
			export MALLOC_CONF="${MALLOC_CONF:+$MALLOC_CONF,}$conf"
		fi
		case "$t" in
		*.sh) exec timeout -k 10 "$timeout_s" bash "$t" ;;
		*) exec timeout -k 10 "$timeout_s" "$t" ;;
		esac
	) >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
	case $rc in
	0) pass=$((pass + 1)); printf 'PASS  %-45s %6ss\n' "$name" "$secs" ;;
	77) skip=$((skip + 1)); printf 'SKIP  %-45s %s\n' "$name" "$(grep -m1 -i 'skip' "$log" | cut -c1-60)" ;;
	*) fail=$((fail + 1)); failed+=("$name")
	   printf 'FAIL  %-45s (exit %d)\n' "$name" "$rc"
	   tail -n 25 "$log" | sed 's/^/    | /' ;;
	esac
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "failed: ${failed[*]}"
fi
# HM_TALLY: a file of counts carried over several runs (make check runs
# the sanitizer builds first); the summary is then of them all.
if [ -n "${HM_TALLY:-}" ]; then
	if [ -f "$HM_TALLY" ]; then
		read -r p0 f0 s0 <"$HM_TALLY"
		pass=$((pass + p0)) fail=$((fail + f0)) skip=$((skip + s0))
	fi
	echo "$pass $fail $skip" >"$HM_TALLY"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
