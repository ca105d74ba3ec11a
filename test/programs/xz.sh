#!/usr/bin/env bash
# xz on hmalloc: a 50 MiB deterministic, compressible text goes through
# `xz -T2 -c | xz -d -c` with both processes preloaded; the result must have
# the input's sha256, and the compressed stream must be byte-identical to the
# one xz produces on glibc (same size, same sha256).
. "$(dirname "$0")/progtest.bash"

pt_need xz sha256sum awk

# The input: numbered lines of words from a small vocabulary, 30 % of them
# repeats, from awk's generator with a fixed seed (not preloaded: it only
# has to be the same for both runs of this test).
env -u LD_PRELOAD awk 'BEGIN {
	srand(42)
	n = split("alpha beta gamma delta epsilon zeta eta theta iota kappa " \
	    "lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi " \
	    "omega malloc free realloc arena chunk slab bin tcache", w, " ")
	total = 0
	while (total < 52428800) {
		if (rand() < 0.3)
			line = prev
		else
			line = sprintf("%08d %s %s %d %s\n", i++, w[int(rand() * n) + 1],
			    w[int(rand() * 8) + 1], int(rand() * 64) * 1024,
			    w[int(rand() * n) + 1])
		prev = line
		printf "%s", line
		total += length(line)
	}
}' >"$pt_tmp/input" || pt_fail "generating the input"
want=$(sha256sum <"$pt_tmp/input" | cut -d' ' -f1)
pt_log "input: $(wc -c <"$pt_tmp/input") bytes, sha256 $want"

# Preset -2: -6 takes ~40 s per run on two cores; the allocator does the
# same work either way (two encoder threads, their buffers, the decoder).
cat >"$pt_tmp/work.sh" <<'EOF'
set -o pipefail
xz -T2 -2 -c "$1" | tee "$2" | xz -d -c | sha256sum | cut -d' ' -f1
EOF

pt_run glibc glibc bash "$pt_tmp/work.sh" "$pt_tmp/input" "$pt_tmp/glibc.xz"
pt_run hmalloc hm bash "$pt_tmp/work.sh" "$pt_tmp/input" "$pt_tmp/hm.xz"

got=$(cat "$pt_tmp/hm.out")
[ "$got" = "$want" ] || pt_fail "round trip under hmalloc: sha256 $got, want $want"
got=$(cat "$pt_tmp/glibc.out")
[ "$got" = "$want" ] || pt_fail "round trip under glibc: sha256 $got, want $want"
pt_log "ok: round trip sha256 matches under glibc and hmalloc"

size_glibc=$(wc -c <"$pt_tmp/glibc.xz")
size_hm=$(wc -c <"$pt_tmp/hm.xz")
[ "$size_glibc" -eq "$size_hm" ] ||
	pt_fail "compressed size differs: glibc $size_glibc, hmalloc $size_hm"
cmp -s "$pt_tmp/glibc.xz" "$pt_tmp/hm.xz" ||
	pt_fail "compressed streams differ (same size $size_hm)"
pt_log "ok: compressed streams identical ($size_hm bytes)"
exit 0
