#!/usr/bin/env bash
# tally-run.sh TALLY NAME CMD...: runs CMD, a test run that adds its counts
# to the file TALLY (tools/dev/runtests.sh, HM_TALLY).  If CMD fails without
# having counted anything (its build broke), counts one failure for NAME,
# so that the summary of the runs after it still shows it.  Always exits
# 0: the last run's summary decides.
tally=$1 name=$2
shift 2
before=$(cat "$tally" 2>/dev/null || echo "0 0 0 0 0 0")
"$@"
rc=$?
after=$(cat "$tally" 2>/dev/null || echo "0 0 0 0 0 0")
if [ "$rc" -ne 0 ] && [ "$before" = "$after" ]; then
	echo "FAIL  $name (exit $rc before any test ran)"
	read -r p f s fp ff fs <<<"$after"
	echo "$p $((f + 1)) $s ${fp:-0} $((${ff:-0} + 1)) ${fs:-0}" >"$tally"
fi
exit 0
