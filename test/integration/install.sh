#!/usr/bin/env bash
# make install into a temporary prefix: every file lands, pkg-config finds
# the library, a program built with its flags runs on hmalloc, and the
# installed wrapper preloads the installed library.
set -u
repo=$(pwd)
if [ "${HM_BUILD:-}" != "$repo/build" ]; then
	echo "skip: install is tested on the default build only"
	exit 77
fi
command -v pkg-config >/dev/null || { echo "skip: no pkg-config"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

make -s -C "$repo" install PREFIX="$tmp/prefix" >"$tmp/install.log" 2>&1 \
	|| { cat "$tmp/install.log"; fail "make install"; }
for f in lib/libhmalloc.so lib/libhmalloc.so.1 lib/libhmalloc.a \
	include/hmalloc.h lib/pkgconfig/hmalloc.pc bin/hmalloc.sh \
	share/man/man3/hmalloc.3; do
	[ -e "$tmp/prefix/$f" ] || fail "missing $f"
done
soname=$(objdump -p "$tmp/prefix/lib/libhmalloc.so" | awk '/SONAME/ {print $2}')
[ "$soname" = "libhmalloc.so.1" ] || fail "soname is '$soname'"

export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
flags=$(pkg-config --cflags --libs hmalloc) || fail "pkg-config"
cat >"$tmp/prog.c" <<'C'
#include <hmalloc.h>
#include <stdio.h>
int main(void) {
	size_t sz = sizeof(const char *);
	const char *v;
	if (mallctl("version", &v, &sz, NULL, 0) != 0)
		return 1;
	void *p = malloc(17);
	printf("%s %zu\n", v, malloc_usable_size(p));
	free(p);
	return 0;
}
C
cc -o "$tmp/prog" "$tmp/prog.c" $flags -Wl,-rpath,"$tmp/prefix/lib" \
	|| fail "compiling with pkg-config flags"
out=$("$tmp/prog") || fail "the linked program failed"
want="$(sed -n 's/^#define HMALLOC_VERSION "\(.*\)"/\1/p' include/hmalloc.h) 32"
[ "$out" = "$want" ] || fail "linked program said '$out', want '$want'"

# The installed wrapper preloads the installed library.
out=$("$tmp/prefix/bin/hmalloc.sh" -c stats_print:true \
	perl -e 'my @a = map { "x" x $_ } 1..1000;' 2>&1 >/dev/null)
case "$out" in
*"Begin hmalloc statistics"*) ;;
*) fail "hmalloc.sh did not run the program on hmalloc: $out" ;;
esac
man -l "$tmp/prefix/share/man/man3/hmalloc.3" >/dev/null 2>&1 \
	|| { command -v man >/dev/null && fail "man page does not render"; }
echo "install: ok"
