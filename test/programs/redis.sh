#!/usr/bin/env bash
# redis-server on hmalloc.  Debian's redis is linked with libjemalloc2 and
# calls jemalloc's API (mallctl, malloc_stats_print, malloc_usable_size), so
# preloaded it talks to hmalloc.  The server listens on a unix socket only
# (--port 0: no TCP), with persistence off.  The test loads ~24 MB of
# strings from 1 B to 100 KiB (then overwrites, appends to and deletes some
# of them), lists and hashes, reads everything back, checks the allocator
# figures of INFO memory (which redis takes from mallctl stats.*), runs
# redis-benchmark, empties the database, purges (MEMORY PURGE:
# mallctl arena.<narenas>.purge) and shuts the server down: it must exit 0
# and hmalloc must not have complained.
. "$(dirname "$0")/progtest.bash"

pt_need redis-server redis-cli awk cmp
[ -n "$pt_lib" ] || pt_skip "no library to preload"

here=$(cd "$(dirname "$0")" && pwd)
wrapper=$here/../../bin/hmalloc.sh
log=$pt_tmp/redis.log
pid=

# The socket path must fit in sun_path (108 bytes).
sockdir=$pt_tmp
if [ ${#sockdir} -gt 90 ]; then
	sockdir=$(mktemp -d /tmp/hm-redis.XXXXXX) || pt_fail "mktemp -d"
fi
sock=$sockdir/redis.sock

# Whatever happens: kill the server, then remove the working directories.
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		local i=0
		while [ $i -lt 50 ] && kill -0 "$pid" 2>/dev/null; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$pid" 2>/dev/null
	fi
	if [ -z "${HM_KEEP_TMP:-}" ]; then
		rm -rf "$pt_tmp"
		[ "$sockdir" = "$pt_tmp" ] || rm -rf "$sockdir"
	fi
}
trap cleanup EXIT

# cli ARGS...: redis-cli (never preloaded), bounded.
cli() { env -u LD_PRELOAD timeout 30 redis-cli -s "$sock" "$@"; }
server_alive() { kill -0 "$pid" 2>/dev/null; }
show_log() {
	pt_log "last lines of the server's log and stderr:"
	tail -n 20 "$log" "$pt_tmp/server.err" >&2 2>/dev/null
}
die() { show_log; pt_fail "$*"; exit 1; }

# info_field SECTION NAME: one field of INFO SECTION.
info_field() {
	cli info "$1" | tr -d '\r' | awk -F: -v k="$2" '$1 == k { print $2; f = 1 } END { exit !f }'
}

# Start the server.  Memory goes back to the system only when asked
# (no decay, no purging thread), so that the check after MEMORY PURGE sees
# the purge's work alone.
export HMALLOC_CONF="dirty_decay_ms:-1,background_thread:false${HMALLOC_CONF:+,$HMALLOC_CONF}"
args=(--port 0 --unixsocket "$sock" --unixsocketperm 700 --save "" --appendonly no
	--dir "$pt_tmp" --logfile "$log" --daemonize no --loglevel notice)
if [ -x "$wrapper" ]; then
	HMALLOC_LIB=$pt_lib "$wrapper" redis-server "${args[@]}" \
		>"$pt_tmp/server.out" 2>"$pt_tmp/server.err" </dev/null &
else
	LD_PRELOAD=$pt_lib redis-server "${args[@]}" \
		>"$pt_tmp/server.out" 2>"$pt_tmp/server.err" </dev/null &
fi
pid=$!
start=$(date +%s.%N)

# Ready when it answers PING (20 s at most).
i=0
while [ $i -lt 200 ] && [ "$(cli ping 2>/dev/null)" != PONG ]; do
	server_alive || die "redis-server exited before answering PING"
	i=$((i + 1))
	sleep 0.1
done
[ $i -lt 200 ] || die "redis-server did not answer PING within 20 s"
pt_log "ok: redis-server (pid $pid) ready after $(awk -v a="$start" -v b="$(date +%s.%N)" \
	'BEGIN { printf "%.1f", b - a }') s"

# On hmalloc?  Its library is mapped, and redis's MEMORY MALLOC-STATS (which
# calls malloc_stats_print) prints hmalloc's report.  (INFO's mem_allocator
# is the string redis was built with: jemalloc-5.3.0.)
real=$(readlink -f "$pt_lib")
grep -q -F " $real" "/proc/$pid/maps" || die "$real is not mapped in redis-server"
cli memory malloc-stats >"$pt_tmp/malloc-stats.out" || die "MEMORY MALLOC-STATS failed"
grep -q '___ Begin hmalloc statistics ___' "$pt_tmp/malloc-stats.out" ||
	die "MEMORY MALLOC-STATS is not hmalloc's report: $(head -n 3 "$pt_tmp/malloc-stats.out")"
pt_log "ok: hmalloc serves redis-server (mem_allocator says $(info_field memory mem_allocator))"

# The data, in redis's protocol for redis-cli --pipe, from a seeded
# generator (Park-Miller: exact in awk's doubles).  Also writes the
# commands that read it all back, their expected output, and the bytes of
# data stored.
env -u LD_PRELOAD awk -v dir="$pt_tmp" '
function rnd(n) { seed = (seed * 16807) % 2147483647; return seed % n }
function bulk(s) { return "$" length(s) "\r\n" s "\r\n" }
function val(tag, len) {
	return substr(tag "=" substr(pool, rnd(7600) + 1, len), 1, len)
}
# String sizes: 1 B to 100 KiB, most keys small, a tenth over 16 KiB.
function size(i, c) {
	if (i == 0) return 1
	if (i == 1) return 102400
	c = i % 10
	if (c == 0 || c == 4 || c == 8) return 1 + rnd(64)
	if (c == 2 || c == 7) return 1025 + rnd(15360)
	if (c == 3) return 16385 + rnd(86016)
	return 65 + rnd(960)
}
BEGIN {
	seed = 20240611
	alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for (p = 0; p < 1100; p++) {
		piece = ""
		for (j = 0; j < 100; j++)
			piece = piece substr(alpha, rnd(64) + 1, 1)
		pool = pool piece
	}
	load = dir "/load.resp"; cmds = dir "/check.cmds"; want = dir "/check.want"
	n = 3000; ncmd = 0
	for (i = 0; i < n; i++) {
		v[i] = val("k" i, size(i))
		printf "*3\r\n$3\r\nSET\r\n%s%s", bulk("str:" i), bulk(v[i]) >load
		ncmd++
	}
	# Overwrite with another size, append (the string grows in place or
	# moves), delete.
	for (i = 10; i < n; i += 11) {
		v[i] = val("o" i, size(i + 3))
		printf "*3\r\n$3\r\nSET\r\n%s%s", bulk("str:" i), bulk(v[i]) >load
		ncmd++
	}
	for (i = 4; i < n; i += 5) {
		e = val("a" i, 1 + rnd(3000))
		v[i] = v[i] e
		printf "*3\r\n$6\r\nAPPEND\r\n%s%s", bulk("str:" i), bulk(e) >load
		ncmd++
	}
	keys = 0
	for (i = 0; i < n; i++) {
		if (i % 7 == 6) {
			printf "*2\r\n$3\r\nDEL\r\n%s", bulk("str:" i) >load
			ncmd++
			continue
		}
		print "GET str:" i >cmds
		print v[i] >want
		bytes += length(v[i]); keys++
	}
	# Lists: 30 of 300 elements up to 2 KiB; the first 50 popped.
	for (j = 0; j < 30; j++) {
		printf "*%d\r\n$5\r\nRPUSH\r\n%s", 302, bulk("list:" j) >load
		for (k = 0; k < 300; k++) {
			e = val("l" j "." k, 1 + rnd(j * 70 + 10))
			printf "%s", bulk(e) >load
			if (k >= 50) { le[k] = e; bytes += length(e) }
		}
		printf "*3\r\n$4\r\nLPOP\r\n%s%s", bulk("list:" j), bulk("50") >load
		ncmd += 2
		print "LRANGE list:" j " 0 -1" >cmds
		for (k = 50; k < 300; k++)
			print le[k] >want
	}
	# Hashes: even ones small (listpack), odd ones 200 fields up to 500 B
	# (hash table); every third field deleted.
	for (j = 0; j < 30; j++) {
		nf = j % 2 ? 200 : 100
		printf "*%d\r\n$4\r\nHSET\r\n%s", 2 + 2 * nf, bulk("hash:" j) >load
		for (k = 0; k < nf; k++) {
			hv[k] = val("h" j "." k, 1 + rnd(j % 2 ? 500 : 40))
			printf "%s%s", bulk("f" k), bulk(hv[k]) >load
		}
		printf "*%d\r\n$4\r\nHDEL\r\n%s", 2 + int((nf + 2) / 3), bulk("hash:" j) >load
		for (k = 0; k < nf; k += 3)
			printf "%s", bulk("f" k) >load
		ncmd += 2
		line = "HMGET hash:" j
		for (k = 0; k < nf; k++) {
			if (k % 3 == 0) continue
			line = line " f" k
			print hv[k] >want
			bytes += length(hv[k])
		}
		print line >cmds
	}
	print "DBSIZE" >cmds
	print keys + 60 >want
	print ncmd, bytes >(dir "/load.info")
}' || pt_fail "generating the data"
read -r ncmd bytes <"$pt_tmp/load.info"
pt_log "data: $ncmd commands, $(wc -c <"$pt_tmp/load.resp") bytes of protocol, $bytes bytes of values"

# Load it.
cli --pipe <"$pt_tmp/load.resp" >"$pt_tmp/pipe.out" 2>&1 || {
	cat "$pt_tmp/pipe.out" >&2
	die "redis-cli --pipe failed"
}
grep -q "^errors: 0, replies: $ncmd\$" "$pt_tmp/pipe.out" ||
	die "redis-cli --pipe: $(tail -n 3 "$pt_tmp/pipe.out")"
pt_log "ok: loaded ($(tail -n 1 "$pt_tmp/pipe.out"))"

# Read everything back.
cli <"$pt_tmp/check.cmds" >"$pt_tmp/check.got" 2>"$pt_tmp/check.err" ||
	die "reading the data back: $(head -n 5 "$pt_tmp/check.err")"
if ! cmp -s "$pt_tmp/check.want" "$pt_tmp/check.got"; then
	pt_log "first differing line: $(cmp "$pt_tmp/check.want" "$pt_tmp/check.got" 2>&1 | head -n 1)"
	die "the data read back differs from the data written"
fi
pt_log "ok: every value read back identical ($(wc -l <"$pt_tmp/check.cmds") commands," \
	"sha256 $(sha256sum <"$pt_tmp/check.got" | cut -c1-16))"

# INFO memory: redis refreshes the allocator_* figures (mallctl epoch,
# stats.allocated, stats.active, stats.resident) every 100 ms in its cron.
# mem_figures: allocated active resident used_memory, as shell words.
mem_figures() {
	cli info memory | tr -d '\r' | awk -F: '
		$1 == "allocator_allocated" { a = $2 } $1 == "allocator_active" { b = $2 }
		$1 == "allocator_resident" { c = $2 } $1 == "used_memory" { d = $2 }
		END { if (a == "" || b == "" || c == "" || d == "") exit 1; print a, b, c, d }'
}
# wait_mem COND: poll (5 s at most) until the awk condition COND on a, b,
# c, d (allocated, active, resident, used_memory) holds; sets alloc active
# resident used to the last figures.
wait_mem() {
	local i f
	for ((i = 0; i < 50; i++)); do
		[ $i -eq 0 ] || sleep 0.1
		f=$(mem_figures) || die "INFO memory has no allocator_allocated/active/resident"
		read -r alloc active resident used <<<"$f"
		awk -v a="$alloc" -v b="$active" -v c="$resident" -v d="$used" \
			"BEGIN { exit !($1) }" && return 0
	done
	return 1
}
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
max=$((4 * bytes + 8 * 1048576))
wait_mem "a >= $bytes" ||
	die "allocator_allocated $alloc < $bytes bytes of values stored"
pt_log "INFO memory: allocator_allocated $(mib "$alloc"), active $(mib "$active")," \
	"resident $(mib "$resident"), used_memory $(mib "$used"); values $(mib "$bytes")"
[ "$alloc" -le "$max" ] ||
	die "allocator_allocated $alloc is more than 4 x $bytes + 8 MiB"
[ "$active" -ge "$alloc" ] || die "allocator_active $active < allocator_allocated $alloc"
[ "$resident" -ge "$active" ] || die "allocator_resident $resident < allocator_active $active"
pt_log "ok: allocator figures plausible"
loaded_alloc=$alloc loaded_resident=$resident

# redis-benchmark: 4 x 20000 requests from 10 clients on 10000 keys.
if command -v redis-benchmark >/dev/null 2>&1; then
	env -u LD_PRELOAD timeout 45 redis-benchmark -s "$sock" -n 20000 -c 10 -r 10000 \
		-d 128 -q -t set,get,lpush,lpop >"$pt_tmp/bench.out" 2>&1 ||
		die "redis-benchmark failed: $(tr '\r' '\n' <"$pt_tmp/bench.out" | tail -n 5)"
	tr '\r' '\n' <"$pt_tmp/bench.out" |
		grep -E '^(SET|GET|LPUSH|LPOP): [0-9.]+ requests per second' >"$pt_tmp/bench.rps"
	[ "$(wc -l <"$pt_tmp/bench.rps")" -eq 4 ] ||
		die "redis-benchmark did not report 4 rates: $(tr '\r' '\n' <"$pt_tmp/bench.out" | tail -n 5)"
	pt_log "ok: redis-benchmark: $(cut -d, -f1 "$pt_tmp/bench.rps" | tr '\n' ';')"
	server_alive || die "redis-server died during redis-benchmark"
else
	pt_log "note: redis-benchmark is not installed; no benchmark run"
fi

# Empty the database: the memory goes back to hmalloc.
[ "$(cli flushall)" = OK ] || die "FLUSHALL failed"
[ "$(cli dbsize)" = 0 ] || die "DBSIZE is not 0 after FLUSHALL"
wait_mem "a < $loaded_alloc - $bytes / 2" ||
	die "allocator_allocated $alloc after FLUSHALL: not below $loaded_alloc - $bytes / 2"
pt_log "ok: after FLUSHALL allocator_allocated $(mib "$alloc"), resident $(mib "$resident")"

# MEMORY PURGE: redis calls mallctl("arena.<narenas>.purge"), jemalloc's
# older spelling of arena.4096.purge (all arenas).
out=$(cli memory purge) || die "MEMORY PURGE: redis-cli failed"
[ "$out" = OK ] || die "MEMORY PURGE answered: $out"
# The freed pages are back with the system (only the purge returns them
# here).
wait_mem "c < $loaded_resident - $bytes / 2" ||
	die "allocator_resident $resident after MEMORY PURGE: not below $loaded_resident - $bytes / 2"
pt_log "ok: MEMORY PURGE; allocator_resident $(mib "$resident"), active $(mib "$active")"
server_alive || die "redis-server died"

# Shut down: exit status 0, nothing from hmalloc on stderr or in the log.
cli shutdown nosave >"$pt_tmp/shutdown.out" 2>&1
i=0
while [ $i -lt 200 ] && server_alive; do
	i=$((i + 1))
	sleep 0.1
done
server_alive && die "redis-server still running 20 s after SHUTDOWN NOSAVE"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] || die "redis-server exited with status $rc"
if grep -q '<hmalloc>' "$pt_tmp/server.err" "$pt_tmp/server.out" "$log"; then
	grep '<hmalloc>' "$pt_tmp/server.err" "$pt_tmp/server.out" "$log" | head -n 10 >&2
	pt_fail "hmalloc printed errors"
fi
grep -q 'ready to exit, bye bye' "$log" || die "no orderly shutdown in the log"
pt_log "ok: redis-server exited with status 0"
exit 0
