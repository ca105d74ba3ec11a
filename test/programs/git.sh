#!/usr/bin/env bash
# git on hmalloc: init, 200 commits with fixed names, dates and content, a
# tag, gc, fsck --full, log -p, blame, diff.  Commit hashes depend only on
# content, names and dates, so HEAD must be the same object as in the glibc
# run, and so must every other deterministic output.
. "$(dirname "$0")/progtest.bash"

pt_need git

# The workload, run by bash so that the shell and every git process it
# starts inherit the same preload.
cat >"$pt_tmp/work.sh" <<'EOF'
set -eu
repo=$1
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0
export GIT_AUTHOR_NAME="Hm Author" GIT_AUTHOR_EMAIL="author@example.org"
export GIT_COMMITTER_NAME="Hm Committer" GIT_COMMITTER_EMAIL="committer@example.org"
git init -q "$repo"
cd "$repo"
git symbolic-ref HEAD refs/heads/main
git config gc.autoDetach false
git config core.autocrlf false
mkdir -p src doc
for i in $(seq 1 200); do
	f=src/file$((i % 17)).txt
	{
		printf 'commit %d: line %d of %s\n' "$i" "$((i * 7919 % 1000))" "$f"
		j=0
		while [ $j -lt $((i % 13 + 1)) ]; do
			printf '%d %d %s\n' "$i" "$j" "$(printf '%x' $(((i * 2654435761 + j * 40503) % 4294967296)))"
			j=$((j + 1))
		done
	} >>"$f"
	if [ $((i % 10)) -eq 0 ]; then
		seq "$i" 3 "$((i * 40))" >"doc/notes$i.txt"
	fi
	if [ $((i % 30)) -eq 0 ]; then
		git rm -q "doc/notes$((i - 10)).txt"
		sed -i '1d' src/file3.txt
	fi
	git add -A
	d=$((1700000000 + i * 3600))
	GIT_AUTHOR_DATE="@$d +0000" GIT_COMMITTER_DATE="@$((d + 60)) +0000" \
		git commit -q -m "commit $i" -m "Touches $f."
	if [ $((i % 50)) -eq 0 ]; then
		GIT_COMMITTER_DATE="@$((d + 120)) +0000" git tag -a -m "release $i" "v$i"
	fi
done
git gc -q --aggressive --prune=now
git fsck --full --strict --no-progress
echo "HEAD $(git rev-parse HEAD)"
echo "tree $(git rev-parse 'HEAD^{tree}')"
echo "tag $(git rev-parse v200)"
git count-objects -v | grep -E '^(count|in-pack|packs|prune-packable|garbage):'
echo "commits $(git rev-list --count HEAD)"
echo "log-p $(git log -p --stat | sha256sum | cut -c1-16)"
echo "blame $(git blame -s src/file3.txt | sha256sum | cut -c1-16)"
echo "diff $(git diff --stat v50 v200 | tail -n 1)"
echo "archive $(git archive --format=tar HEAD | sha256sum | cut -c1-16)"
EOF

pt_run glibc glibc bash "$pt_tmp/work.sh" "$pt_tmp/repo-glibc"
pt_run hmalloc hm bash "$pt_tmp/work.sh" "$pt_tmp/repo-hm"
pt_compare_runs glibc hm
grep '^HEAD ' "$pt_tmp/hm.out" >&2
grep -q '^archive ' "$pt_tmp/hm.out" || pt_fail "incomplete output under hmalloc"
exit 0
