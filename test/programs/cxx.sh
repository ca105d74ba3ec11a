#!/usr/bin/env bash
# C++ on hmalloc: cxx_threads (four threads; new/delete, maps of strings,
# vector growth, strings, exceptions, alignas(64) and alignas(4096) types
# through aligned new/delete, sized and aligned+sized delete, nothrow new)
# run on glibc, preloaded with hmalloc, and linked with -lhmalloc.  The
# program aborts on a misaligned pointer or a failed check; its checksums
# must be the same in all three runs.
. "$(dirname "$0")/progtest.bash"

src=$(cd "$(dirname "$0")" && pwd)/cxx_threads.cc
bin=${HM_BUILD:+$HM_BUILD/test/programs/cxx_threads}
cxx=${CXX:-c++}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	# Not built by make (a script check outside `make check`): build it.
	command -v "$cxx" >/dev/null 2>&1 ||
		pt_skip "cxx_threads is not built and there is no C++ compiler ($cxx)"
	bin=$pt_tmp/cxx_threads
	"$cxx" -std=c++17 -O1 -g -Wall -Wextra -o "$bin" "$src" -lpthread ||
		pt_fail "building $bin from $src"
fi

pt_run glibc glibc "$bin"
pt_run hmalloc hm "$bin"
pt_compare_runs glibc hm
grep -q '^total ' "$pt_tmp/hm.out" || pt_fail "incomplete output under hmalloc"

# Linked instead of preloaded: libstdc++'s operator new must reach hmalloc
# through the executable's own dependency on libhmalloc.
if [ -n "$pt_lib" ] && command -v "$cxx" >/dev/null 2>&1; then
	libdir=$(dirname "$pt_lib")
	"$cxx" -std=c++17 -O1 -g -o "$pt_tmp/cxx_linked" "$src" -L"$libdir" \
		-Wl,--no-as-needed -lhmalloc -Wl,--as-needed -Wl,-rpath,"$libdir" \
		-lpthread 2>"$pt_tmp/link.err" ||
		pt_fail "linking cxx_threads with -lhmalloc: $(head -n 20 "$pt_tmp/link.err")"
	env -u LD_PRELOAD -u MALLOC_CONF LD_TRACE_LOADED_OBJECTS=1 "$pt_tmp/cxx_linked" \
		>"$pt_tmp/ldd.out" 2>&1
	grep -q 'libhmalloc[^ ]* => /' "$pt_tmp/ldd.out" ||
		pt_fail "cxx_linked does not load libhmalloc: $(cat "$pt_tmp/ldd.out")"
	pt_run glibc linked "$pt_tmp/cxx_linked"
	pt_compare "$pt_tmp/glibc.out" "$pt_tmp/linked.out" "output of cxx_threads linked with -lhmalloc"
fi
exit 0
