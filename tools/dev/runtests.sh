#!/usr/bin/env bash
# Runs tests and prints one line per test program and a closing summary
# line: "N passed, N failed, N skipped" counting test functions (each
# TEST_BEGIN of a program, a script as one), then the programs' counts.
#
# Each argument is a test: an executable, or a .sh script run with bash.
# A file NAME.env beside a test's source (test/DIR/NAME.env) is sourced
# first: it sets MALLOC_CONF and the like, as jemalloc's .sh files do.
# Exit status 77 means skipped.  Output goes to $HM_LOGDIR/NAME.log and
# is shown for failures.  A program's functions are counted from its last
# line ("FILE: N passed, N failed, N skipped"); a program that ends
# otherwise than its count says (a crash, a sanitizer's report) counts one
# failure more.
#
# Skips are gated: every skipped function (and skipped script), by its
# reason, must match a line of test/expected-skips (see there); one that
# does not fails.
#
# Environment: HM_LIB (the shared library under test), HM_BUILD (build
# directory), HM_TIMEOUT (seconds per test, default 600), HM_JOBS (tests
# at once, default 2), HM_CROSS_CONFS
# (option strings for the crossed runs, see below), HM_STRICT_SKIPS=1 (CI:
# entries of the skip list marked "local" do not apply).
set -u
logdir=${HM_LOGDIR:-build/test-logs}
mkdir -p "$logdir"
timeout_s=${HM_TIMEOUT:-600}
# Tests run HM_JOBS at a time (default 2); their lines come out in order.
jobs=${HM_JOBS:-2}
pass=0 fail=0 skip=0     # programs
fpass=0 ffail=0 fskip=0  # functions
failed=()

# The build the tests come from, as the skip list names it.
build_name=$(basename "${HM_BUILD:-build}")
[ "$build_name" = build ] && build_name=default
skiplist=$(dirname "$0")/../../test/expected-skips

# expected_skip TEST CONF REASON: whether the skip list allows a skip of
# TEST (e.g. unit/tcache) under CONF (- for none) for REASON (see the list).
shopt -s extglob
expected_skip() {
	local line local_only b t c reason
	[ -f "$skiplist" ] || return 1
	while read -r line; do
		case "$line" in ''|'#'*) continue ;; esac
		local_only=0
		if [ "${line%% *}" = local ]; then
			local_only=1
			line=${line#local }
		fi
		read -r b t c reason <<<"$line"
		[ -n "$reason" ] || continue
		[ "$local_only" = 1 ] && [ "${HM_STRICT_SKIPS:-0}" = 1 ] && continue
		# shellcheck disable=SC2053
		[[ $build_name == $b && $1 == $t && $2 == $c && $3 == $reason ]] &&
			return 0
	done <"$skiplist"
	return 1
}

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

# run_one I: runs runs[I] and leaves what to print in $resdir/I.out, then
# "STATUS NP NF NS" (pass, skip or fail, and its function counts) in
# $resdir/I.res, last, so that a result file present is a whole one.
run_one() {
	local i=$1
	local run=${runs[$1]}
	local t conf name src_base log start rc secs counts np nf ns fn st
	local skipped_fns=() unexpected=()
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
	# Function counts, and the skipped functions' names.
	counts=
	case "$t" in
	*.sh) ;;
	*)
		counts=$(grep -E '^[^ ]+: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" |
			tail -n 1 | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/')
		mapfile -t skipped_fns < <(sed -n -E 's/^[A-Za-z0-9_]+: skipped: //p' "$log")
		;;
	esac
	if [ -n "$counts" ]; then
		read -r np nf ns <<<"$counts"
	else
		case $rc in
		0) np=1 nf=0 ns=0 ;;
		77) np=0 nf=0 ns=1
		    skipped_fns=("$(grep -m1 -i 'skip' "$log" | sed -E 's/^.*skip(ped)?: *//I')") ;;
		*) np=0 nf=1 ns=0 ;;
		esac
	fi
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "$nf" -eq 0 ]; then
		nf=1
	fi
	# The gate: a skip nobody listed is a failure (skipped_fns holds the
	# reasons given).
	for fn in "${skipped_fns[@]}"; do
		expected_skip "${name%% \[*}" "${conf:--}" "$fn" || unexpected+=("$fn")
	done
	if [ ${#unexpected[@]} -gt 0 ]; then
		nf=$((nf + ${#unexpected[@]}))
		[ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] && rc=1
	fi
	{
	case $rc in
	0) st=pass; printf 'PASS  %-45s %6ss\n' "$name" "$secs"
	   [ "$ns" -eq 0 ] || printf '      %d of %d functions skipped: %s\n' "$ns" \
		"$((np + ns))" "$(grep -m1 ': skipped: ' "$log" | cut -c1-70)" ;;
	77) st=skip; printf 'SKIP  %-45s %s\n' "$name" "$(grep -m1 -i 'skip' "$log" | cut -c1-60)" ;;
	*) st=fail
	   printf 'FAIL  %-45s (exit %d)\n' "$name" "$rc"
	   if [ ${#unexpected[@]} -gt 0 ]; then
		printf '    | a skip test/expected-skips does not list (%s %s %s): %s\n' \
			"$build_name" "${name%% \[*}" "${conf:--}" "${unexpected[@]}"
	   fi
	   tail -n 25 "$log" | sed 's/^/    | /' ;;
	esac
	} >"$resdir/$i.out"
	echo "$name" >"$resdir/$i.name"
	echo "$st $np $nf $ns" >"$resdir/$i.tmp"
	mv "$resdir/$i.tmp" "$resdir/$i.res"
}

# collect: prints the results that are in, in the tests' order, and counts
# them.
next=0
collect() {
	local st np nf ns
	while [ "$next" -lt ${#runs[@]} ] && [ -f "$resdir/$next.res" ]; do
		cat "$resdir/$next.out"
		read -r st np nf ns <"$resdir/$next.res"
		fpass=$((fpass + np)) ffail=$((ffail + nf)) fskip=$((fskip + ns))
		case $st in
		pass) pass=$((pass + 1)) ;;
		skip) skip=$((skip + 1)) ;;
		*) fail=$((fail + 1)); failed+=("$(cat "$resdir/$next.name")") ;;
		esac
		next=$((next + 1))
	done
}

resdir=$(mktemp -d "${TMPDIR:-/tmp}/hm-runtests.XXXXXX")
trap 'rm -rf "$resdir"' EXIT
for i in "${!runs[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n
		collect
	done
	run_one "$i" &
done
wait
collect
if [ ${#failed[@]} -gt 0 ]; then
	echo "failed: ${failed[*]}"
fi
# HM_TALLY: a file of counts carried over several runs (make check runs
# the sanitizer builds first); the summary is then of them all.
if [ -n "${HM_TALLY:-}" ]; then
	if [ -f "$HM_TALLY" ]; then
		read -r p0 f0 s0 fp0 ff0 fs0 <"$HM_TALLY"
		pass=$((pass + p0)) fail=$((fail + f0)) skip=$((skip + s0))
		fpass=$((fpass + ${fp0:-0})) ffail=$((ffail + ${ff0:-0}))
		fskip=$((fskip + ${fs0:-0}))
	fi
	echo "$pass $fail $skip $fpass $ffail $fskip" >"$HM_TALLY"
fi
echo "$fpass passed, $ffail failed, $fskip skipped (test functions; programs: $pass passed, $fail failed, $skip skipped)"
[ "$fail" -eq 0 ]
