#!/usr/bin/env bash
# redis-benchmark throughput of Debian's redis-server on hmalloc (preloaded)
# and on its own allocator (libjemalloc2, which it is linked with).
#
#   bench/redis_bench.sh [RUNS]        # RUNS per allocator, default 3
#
# Each run starts a fresh server (persistence off, unix socket in a
# temporary directory, no TCP: --port 0), checks which allocator serves it
# (MEMORY MALLOC-STATS header), runs
#   redis-benchmark -s SOCKET -q -n $REQUESTS -c $CLIENTS -t $TESTS
# and shuts it down.  Runs alternate between the allocators (the first one
# alternates too), and the table gives the median requests/s per test.
#
# Environment: HM_LIB (default lib/libhmalloc.so of this tree), REQUESTS
# (200000), CLIENTS (20), TESTS (set,get,lpush,lpop,incr), RUN_TIMEOUT
# (seconds per redis-benchmark run, 300).  Not part of make check.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)

runs=${1:-3}
requests=${REQUESTS:-200000}
clients=${CLIENTS:-20}
tests=${TESTS:-set,get,lpush,lpop,incr}
run_timeout=${RUN_TIMEOUT:-300}
lib=${HM_LIB:-$root/lib/libhmalloc.so}

die() { printf 'redis_bench: %s\n' "$*" >&2; exit 1; }
for c in redis-server redis-cli redis-benchmark awk timeout; do
	command -v "$c" >/dev/null 2>&1 || die "$c is not installed"
done
[ -f "$lib" ] || die "$lib: no such file (build with make, or set HM_LIB)"
[ -x bin/hmalloc.sh ] || die "bin/hmalloc.sh is missing (build with make)"
case $runs in '' | *[!0-9]*) die "RUNS must be a number" ;; esac
[ "$runs" -ge 1 ] && [ "$runs" -le 20 ] || die "RUNS must be 1..20"

tmp=$(mktemp -d /tmp/hm-redis-bench.XXXXXX) || die "mktemp -d"
sock=$tmp/redis.sock
pid=
stop_server() {
	local i=0
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		env -u LD_PRELOAD timeout 10 redis-cli -s "$sock" shutdown nosave >/dev/null 2>&1
		while [ $i -lt 100 ] && kill -0 "$pid" 2>/dev/null; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	pid=
}
cleanup() {
	stop_server
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_server hmalloc|jemalloc
start_server() {
	local which=$1 i=0 want
	local args=(--port 0 --unixsocket "$sock" --unixsocketperm 700 --save ""
		--appendonly no --dir "$tmp" --logfile "$tmp/redis-$which.log" --daemonize no)
	rm -f "$sock"
	if [ "$which" = hmalloc ]; then
		HMALLOC_LIB=$lib bin/hmalloc.sh redis-server "${args[@]}" \
			>/dev/null 2>"$tmp/server.err" </dev/null &
		want='___ Begin hmalloc statistics ___'
	else
		env -u LD_PRELOAD redis-server "${args[@]}" >/dev/null 2>"$tmp/server.err" </dev/null &
		want='___ Begin jemalloc statistics ___'
	fi
	pid=$!
	while [ $i -lt 200 ] && [ "$(env -u LD_PRELOAD timeout 5 redis-cli -s "$sock" ping 2>/dev/null)" != PONG ]; do
		kill -0 "$pid" 2>/dev/null || die "redis-server ($which) exited: $(tail -n 5 "$tmp/server.err")"
		sleep 0.1
		i=$((i + 1))
	done
	[ $i -lt 200 ] || die "redis-server ($which) did not answer PING within 20 s"
	env -u LD_PRELOAD timeout 10 redis-cli -s "$sock" memory malloc-stats 2>&1 |
		grep -q -F "$want" || die "redis-server is not running on $which"
}

# One line per result: ALLOCATOR TEST RPS.
results=$tmp/results
: >"$results"
cmd="redis-benchmark -s SOCKET -q -n $requests -c $clients -t $tests"
printf 'redis_bench: %s, %d runs per allocator, %s\n' "$(redis-server --version | cut -d' ' -f1-3)" \
	"$runs" "$cmd"
for ((r = 1; r <= runs; r++)); do
	if [ $((r % 2)) -eq 1 ]; then order="hmalloc jemalloc"; else order="jemalloc hmalloc"; fi
	for which in $order; do
		start_server "$which"
		env -u LD_PRELOAD timeout "$run_timeout" redis-benchmark -s "$sock" -q \
			-n "$requests" -c "$clients" -t "$tests" >"$tmp/bench.out" 2>&1 ||
			die "redis-benchmark failed ($which): $(tr '\r' '\n' <"$tmp/bench.out" | tail -n 3)"
		stop_server
		tr '\r' '\n' <"$tmp/bench.out" |
			awk -v a="$which" '/^[A-Z_]+( \([^)]*\))?: [0-9.]+ requests per second/ {
				split($0, p, ": "); split(p[2], q, " "); print a, p[1], q[1] }' >"$tmp/run"
		[ -s "$tmp/run" ] || die "no results from redis-benchmark ($which)"
		printf 'run %d %-8s %s\n' "$r" "$which" "$(awk '{ printf "%s %s  ", $2, $3 }' "$tmp/run")"
		cat "$tmp/run" >>"$results"
	done
done

# Medians, in the order redis-benchmark ran the tests.
echo
echo "Median requests/s of $runs runs: \`$cmd\`"
echo
awk '
	!($2 in seen) { seen[$2] = 1; order[++n] = $2 }
	{ v[$1, $2, ++c[$1, $2]] = $3 }
	function median(a, t,   k, m, x, i, j, tmp) {
		m = c[a, t]
		for (i = 1; i <= m; i++) x[i] = v[a, t, i]
		for (i = 2; i <= m; i++)
			for (j = i; j > 1 && x[j - 1] > x[j]; j--) { tmp = x[j]; x[j] = x[j - 1]; x[j - 1] = tmp }
		return m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2
	}
	END {
		print "| test | hmalloc | jemalloc 5.3 (Debian) | hmalloc / jemalloc |"
		print "| --- | ---: | ---: | ---: |"
		for (i = 1; i <= n; i++) {
			h = median("hmalloc", order[i]); j = median("jemalloc", order[i])
			printf "| %s | %.0f | %.0f | %.3f |\n", order[i], h, j, (j > 0 ? h / j : 0)
		}
	}' "$results"
