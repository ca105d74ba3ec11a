#!/usr/bin/env bash
# The shared library exports the public API and nothing else: every defined
# dynamic symbol is a standard allocation name, one of glibc's __libc_*
# aliases, a jemalloc API name, malloc_message / malloc_conf, hmalloc's own
# calls, or a C++ operator new/delete; the key names are present; no
# internal (hm_*) name leaks.
#
# Environment: HM_LIB, the shared library.  Exit 0 pass, 1 fail, 77 skip.
set -u

lib=${HM_LIB:-lib/libhmalloc.so}
if ! command -v nm >/dev/null 2>&1; then
	echo "skip: nm not installed"
	exit 77
fi
if [ ! -e "$lib" ]; then
	echo "FAIL: library $lib not found"
	exit 1
fi

allowed_exact="
malloc calloc realloc free posix_memalign aligned_alloc memalign valloc
pvalloc malloc_usable_size reallocarray free_sized free_aligned_sized
malloc_trim mallinfo mallinfo2 malloc_stats malloc_info mallopt cfree
__libc_malloc __libc_calloc __libc_realloc __libc_free __libc_memalign
__libc_valloc __libc_pvalloc __libc_mallinfo __libc_mallinfo2
__libc_mallopt __libc_reallocarray __libc_posix_memalign __posix_memalign
__libc_malloc_trim __libc_malloc_usable_size
mallocx rallocx xallocx sallocx dallocx sdallocx nallocx mallctl
mallctlnametomib mallctlbymib malloc_stats_print malloc_message malloc_conf
hmalloc_atinit hmalloc_post_init
"
# C++ operators: new, new[], delete, delete[] in all their overloads
# (sized, aligned, nothrow), Itanium-mangled for a 64-bit size_t.
cxx_re='^_Z(nw|na)m(St11align_val_t)?(RKSt9nothrow_t)?$|^_Z(dl|da)Pv(m)?(St11align_val_t)?(RKSt9nothrow_t)?$'

# "nm -D --defined-only" lines: value type name[@version]; version nodes
# (type A) are not symbols of the library's code.
syms=$(nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' | sed 's/@.*//' | sort -u)
if [ -z "$syms" ]; then
	echo "FAIL: no defined dynamic symbols in $lib"
	exit 1
fi

fail=0
while read -r s; do
	[ -z "$s" ] && continue
	case "$s" in
	hm_*)
		echo "FAIL: internal name exported: $s"
		fail=1
		continue ;;
	esac
	if printf '%s\n' $allowed_exact | grep -qxF -- "$s"; then
		continue
	fi
	if printf '%s\n' "$s" | grep -qE -- "$cxx_re"; then
		continue
	fi
	echo "FAIL: unexpected exported symbol: $s"
	fail=1
done <<EOF
$syms
EOF

# The key names, and glibc's __libc_* entry points that LD_PRELOAD must
# take over (glibc 2.36 exports these at GLIBC_2.2.5).
for key in malloc free calloc realloc posix_memalign aligned_alloc memalign \
	valloc pvalloc malloc_usable_size reallocarray mallctl mallocx rallocx \
	xallocx sallocx dallocx sdallocx nallocx __libc_malloc __libc_calloc \
	__libc_realloc __libc_free __libc_memalign __libc_valloc \
	__libc_pvalloc; do
	if ! printf '%s\n' "$syms" | grep -qxF -- "$key"; then
		echo "FAIL: $key is not exported"
		fail=1
	fi
done

n=$(printf '%s\n' "$syms" | wc -l)
if [ "$fail" -ne 0 ]; then
	echo "nm_exports: FAIL ($n symbols checked)"
	exit 1
fi
echo "nm_exports: pass ($n exported symbols, all public)"
exit 0
