# Shared helpers for the real-program tests in test/programs/*.sh.
#
# Sourced, never run: the test runner picks up *.sh only, so this file's
# name ends in .bash on purpose.
#
# Each test runs a real program twice, once on glibc malloc (no preload) and
# once with LD_PRELOAD=$HM_LIB, on the same deterministic input, and compares
# the outputs.  Status follows the runner: 0 pass, 1 fail, 77 skip.
#
# Environment:
#   HM_LIB    absolute path of the libhmalloc.so under test.  "none" (or
#             empty) runs both sides without preload: for checking the
#             scripts themselves before the library exists.
#   HM_BUILD  the build directory (C++ test programs are built there).
#   HM_KEEP_TMP  when set, keep the working directory (for debugging).

set -u

pt_name=${0##*/}
pt_name=${pt_name%.sh}

pt_log() { printf '%s: %s\n' "$pt_name" "$*" >&2; }
pt_fail() { pt_log "FAIL: $*"; exit 1; }
pt_skip() { printf '%s: skip: %s\n' "$pt_name" "$*"; exit 77; }

# pt_need CMD...: skip unless every command is installed.
pt_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || pt_skip "$c is not installed"
	done
}

# The library under test.  Check that it really gets preloaded: ld.so only
# warns ("cannot be preloaded") and runs the program on glibc when it
# cannot load the object, which would make every comparison pass.
pt_lib=${HM_LIB-}
if [ -z "$pt_lib" ] || [ "$pt_lib" = none ]; then
	pt_lib=
	pt_log "warning: HM_LIB not set: running without preload (script check only)"
else
	[ -f "$pt_lib" ] || pt_fail "HM_LIB=$pt_lib: no such file"
	pt_real=$(readlink -f "$pt_lib")
	pt_err=$(env -u MALLOC_CONF LD_PRELOAD="$pt_lib" cat /proc/self/maps 2>&1 >/dev/null)
	if ! env -u MALLOC_CONF LD_PRELOAD="$pt_lib" cat /proc/self/maps 2>/dev/null |
		grep -q -F " $pt_real"; then
		pt_fail "LD_PRELOAD=$pt_lib does not load $pt_real: $pt_err"
	fi
	[ -z "$pt_err" ] || pt_log "warning: LD_PRELOAD=$pt_lib: $pt_err"
fi

# A private working directory, removed at exit.
pt_tmp=$(mktemp -d "${TMPDIR:-/tmp}/hm-$pt_name.XXXXXX") || pt_fail "mktemp -d"
trap '[ -n "${HM_KEEP_TMP:-}" ] || rm -rf "$pt_tmp"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Deterministic environment for every program run.
export LC_ALL=C TZ=UTC
export HOME="$pt_tmp/home"
mkdir -p "$HOME"

# pt_run MODE TAG CMD...: run CMD with MODE glibc (no preload) or hmalloc
# (LD_PRELOAD=$HM_LIB); stdout to $pt_tmp/TAG.out, stderr to TAG.err.  A
# non-zero exit fails the test and shows the end of stderr.
pt_run() {
	local mode=$1 tag=$2 rc
	shift 2
	case $mode in
	glibc) env -u LD_PRELOAD "$@" >"$pt_tmp/$tag.out" 2>"$pt_tmp/$tag.err" ;;
	hmalloc)
		if [ -n "$pt_lib" ]; then
			env LD_PRELOAD="$pt_lib" "$@" >"$pt_tmp/$tag.out" 2>"$pt_tmp/$tag.err"
		else
			env -u LD_PRELOAD "$@" >"$pt_tmp/$tag.out" 2>"$pt_tmp/$tag.err"
		fi ;;
	*) pt_fail "pt_run: bad mode $mode" ;;
	esac
	rc=$?
	if [ "$rc" -ne 0 ]; then
		pt_log "FAIL: $tag ($mode) exited with status $rc: $*"
		pt_log "last lines of its stderr:"
		tail -n 30 "$pt_tmp/$tag.err" >&2
		exit 1
	fi
	return 0
}

# pt_compare A B WHAT: compare two files; on a mismatch show the first lines
# of the diff and fail.
pt_compare() {
	local a=$1 b=$2 what=$3
	if ! cmp -s "$a" "$b"; then
		pt_log "FAIL: $what differs between glibc and hmalloc (first lines of diff):"
		diff -u "$a" "$b" | head -n 40 >&2
		exit 1
	fi
	pt_log "ok: $what identical ($(wc -l <"$a") lines)"
}

# pt_compare_runs TAG_GLIBC TAG_HMALLOC: compare the stdout of two runs.
pt_compare_runs() {
	pt_compare "$pt_tmp/$1.out" "$pt_tmp/$2.out" "output of $pt_name"
}
