#!/usr/bin/env bash
# Static analysis of the library's sources, independent of the Makefile:
# every src/*.c goes through gcc's -fanalyzer and through clang's static
# analyzer (the engine scan-build drives, called directly so that no build
# is intercepted), with the flags the library is built with.  Each
# diagnostic, analyser finding or ordinary warning alike, must match an
# entry of tools/dev/analyze.supp, the reviewed list of false positives;
# anything else fails the run, its whole report shown.
#
#   tools/dev/analyze.sh [gcc] [clang]     (both by default)
#
# Environment: ANALYZE_SUPP (the list, default tools/dev/analyze.supp),
# ANALYZE_OUT (reports, default build/analyze), ANALYZE_JOBS
# (parallel compilations, default 2), CC_GCC and CC_CLANG (the compilers).
# Exit status: 0 clean, 1 unsuppressed diagnostics or a failed compilation,
# 2 a malformed suppression list or a missing compiler.
#
# Why both: on this code clang's analyzer follows more (null dereferences
# through the chunk map, dead stores, pthread and varargs misuse) while gcc's
# models allocation and the file API differently, and the pair takes well
# under a minute on two CPUs.
set -euo pipefail
cd "$(dirname "$0")/../.."
export LC_ALL=C  # ASCII quotes in messages, so the suppressions match

supp=${ANALYZE_SUPP:-tools/dev/analyze.supp}
out=${ANALYZE_OUT:-build/analyze}
njobs=${ANALYZE_JOBS:-2}
cc_gcc=${CC_GCC:-gcc}
cc_clang=${CC_CLANG:-clang}

# CFLAGS_LIB of the Makefile (default OPT), less what only concerns objects.
flags=(-std=c11 -O2 -fPIC -fvisibility=hidden -ftls-model=initial-exec
	-D_GNU_SOURCE -Iinclude -Isrc
	-fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc
	-fno-builtin-free -fno-builtin-posix_memalign -fno-builtin-aligned_alloc
	-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes)
gcc_flags=(-fanalyzer -fdiagnostics-color=never -fdiagnostics-urls=never)
# clang's default checkers (scan-build's) and the non-alpha ones that apply
# to C on Linux.
clang_flags=(--analyze -Xanalyzer -analyzer-output=text
	-Xanalyzer -analyzer-checker=valist,optin.portability.UnixAPI,security.FloatLoopCounter
	-fno-color-diagnostics)

tools=("$@")
[ ${#tools[@]} -eq 0 ] && tools=(gcc clang)
for t in "${tools[@]}"; do
	case $t in
	gcc) cc=$cc_gcc ;;
	clang) cc=$cc_clang ;;
	*) echo "analyze: unknown analyser '$t' (gcc or clang)" >&2; exit 2 ;;
	esac
	if ! command -v "$cc" >/dev/null 2>&1; then
		echo "analyze: $cc not found" >&2
		exit 2
	fi
done

# The suppression list: "FILE KIND MESSAGE[ | CODE]", FILE the file the
# diagnostic names (FILE@TU: only when analysing translation unit TU), KIND
# the checker or warning option ("[...]" at the end of the diagnostic, or
# "warning" or "error" when there is none), MESSAGE a part of the message, CODE a part
# of the source line the diagnostic points at (blanks squeezed), so that an
# entry names one statement without naming a line number.  Each entry
# follows a comment (it covers the entries up to the next blank line) that
# says why the diagnostic is a false positive.
s_file=() s_tu=() s_kind=() s_msg=() s_code=() s_line=() s_used=()
commented=0 lineno=0 bad=0
while IFS= read -r line || [ -n "$line" ]; do
	lineno=$((lineno + 1))
	case $line in
	'#'*) commented=1; continue ;;
	*[![:space:]]*) ;;
	*) commented=0; continue ;;  # a comment covers the entries below it
	esac
	read -r f k m <<<"$line"
	if [ -z "${m:-}" ]; then
		echo "$supp:$lineno: want FILE KIND MESSAGE: $line" >&2
		bad=1
		continue
	fi
	if [ $commented -eq 0 ]; then
		echo "$supp:$lineno: entry without a comment saying why: $line" >&2
		bad=1
	fi
	case $f in
	*@*) s_file+=("${f%@*}"); s_tu+=("${f#*@}") ;;
	*) s_file+=("$f"); s_tu+=("") ;;
	esac
	case $m in
	*' | '*) s_msg+=("${m%% | *}") s_code+=("${m#* | }") ;;
	*) s_msg+=("$m") s_code+=("") ;;
	esac
	s_kind+=("$k") s_line+=("$lineno") s_used+=(0)
done <"$supp"
[ $bad -eq 0 ] || exit 2

mkdir -p "$out"
srcs=(src/*.c)

# analyse_one TOOL SRC: the tool's report on SRC into $out/TOOL/NAME.log,
# and its exit status into NAME.rc.
analyse_one() {
	local tool=$1 src=$2 base log
	base=$(basename "$src" .c)
	log=$out/$tool/$base.log
	if [ "$tool" = gcc ]; then
		"$cc_gcc" "${flags[@]}" "${gcc_flags[@]}" -c "$src" -o /dev/null \
			>"$log" 2>&1 && echo 0 >"$out/$tool/$base.rc" \
			|| echo $? >"$out/$tool/$base.rc"
	else
		"$cc_clang" "${flags[@]}" "${clang_flags[@]}" "$src" -o /dev/null \
			>"$log" 2>&1 && echo 0 >"$out/$tool/$base.rc" \
			|| echo $? >"$out/$tool/$base.rc"
	fi
}

# Diagnostics of a report, one per line:
# FILE<TAB>KIND<TAB>MESSAGE<TAB>WHERE<TAB>CODE (the source line, squeezed).
diagnostics() {
	# (Second form: a diagnostic without a position, "cc1: warning: ...".)
	sed -n -E -e 's/^([^ :][^:]*):([0-9]+):([0-9]+): (warning|error|fatal error): (.*)$/\1\t\5\t\2\t\3\t\4/p' \
	    -e 's/^([^ :][^:]*): (warning|error|fatal error): (.*)$/\1\t\3\t0\t0\t\2/p' "$1" |
	while IFS=$'\t' read -r file text ln col severity; do
		local kind=$severity code=
		[ "$ln" -gt 0 ] && [ -f "$file" ] &&
		    code=$(sed -n "${ln}p" "$file" | tr -s ' \t' '  ')
		# The last [...] names the checker or option; gcc puts a
		# [CWE-n] before it.
		if [[ $text =~ ^(.*[^ ])\ +\[([^]]+)\]$ ]]; then
			text=${BASH_REMATCH[1]}
			kind=${BASH_REMATCH[2]}
			if [[ $text =~ ^(.*[^ ])\ +\[CWE-[0-9]+\]$ ]]; then
				text=${BASH_REMATCH[1]}
			fi
		fi
		code=${code# }
		printf '%s\t%s\t%s\t%s\t%s\n' "$file" "$kind" "$text" \
		    "$file:$ln:$col" "${code% }"
	done
}

failed=0
for tool in "${tools[@]}"; do
	start=$(date +%s)
	rm -rf "${out:?}/$tool"
	mkdir -p "$out/$tool"
	for src in "${srcs[@]}"; do
		while [ "$(jobs -rp | wc -l)" -ge "$njobs" ]; do
			wait -n || true
		done
		analyse_one "$tool" "$src" &
	done
	wait
	ndiag=0 nsupp=0 nnew=0
	for src in "${srcs[@]}"; do
		base=$(basename "$src" .c)
		log=$out/$tool/$base.log
		rc=$(cat "$out/$tool/$base.rc" 2>/dev/null || echo 1)
		show=0
		while IFS=$'\t' read -r file kind text where code; do
			[ -n "$file" ] || continue
			ndiag=$((ndiag + 1))
			hit=-1
			for i in "${!s_file[@]}"; do
				if [ "${s_file[$i]}" = "$file" ] \
				    && [ "${s_kind[$i]}" = "$kind" ] \
				    && { [ -z "${s_tu[$i]}" ] \
				    || [ "${s_tu[$i]}" = "$src" ]; } \
				    && [[ $text == *"${s_msg[$i]}"* ]] \
				    && [[ $code == *"${s_code[$i]}"* ]]; then
					hit=$i
					break
				fi
			done
			if [ $hit -ge 0 ]; then
				nsupp=$((nsupp + 1))
				s_used[$hit]=1
			else
				nnew=$((nnew + 1))
				show=1
				printf 'analyze: %s: %s (analysing %s): %s [%s]\n' \
				    "$tool" "$where" "$src" "$text" "$kind"
				printf '  to suppress, after a comment saying why:\n'
				printf '    %s  %s  %s | %s\n' "$file" "$kind" \
				    "$text" "$code"
			fi
		done < <(diagnostics "$log")
		if [ "$rc" -ne 0 ]; then
			echo "analyze: $tool: analysing $src failed (exit $rc)"
			show=1
			nnew=$((nnew + 1))
		fi
		if [ $show -eq 1 ]; then
			echo "---- $log"
			cat "$log"
			echo "----"
		fi
	done
	printf 'analyze: %s: %d files, %d diagnostics, %d suppressed, %d new, %ds\n' \
	    "$tool" "${#srcs[@]}" "$ndiag" "$nsupp" "$nnew" \
	    "$(($(date +%s) - start))"
	[ $nnew -eq 0 ] || failed=1
done

# A suppression nothing matched: the code changed, or another compiler
# version; worth a look, not a failure.
for i in "${!s_file[@]}"; do
	case " ${tools[*]} " in
	*" clang "*" gcc "* | *" gcc "*" clang "*) ;;
	*) continue ;;  # one analyser run: the other's entries are idle
	esac
	if [ "${s_used[$i]}" -eq 0 ]; then
		echo "analyze: note: $supp:${s_line[$i]}: matched nothing"
	fi
done
if [ $failed -ne 0 ]; then
	echo "analyze: FAILED: fix the code, or review the diagnostic and add it to $supp"
	exit 1
fi
echo "analyze: clean"
