#!/usr/bin/env bash
# A program linked statically against libhmalloc.a and static glibc links
# without duplicate symbols (glibc's malloc.o must not be dragged in) and
# runs on hmalloc: malloc/calloc/realloc/free/posix_memalign/aligned_alloc
# work, stdio, strdup, a thread and a forked child allocate, and
# malloc_usable_size(malloc(17)) is hmalloc's 32 (glibc would say 24).
#
# Environment: HM_LIB (the shared library; libhmalloc.a sits beside it).
# Exit 0 pass, 1 fail, 77 skip (no static glibc).
set -u

lib=${HM_LIB:-lib/libhmalloc.so}
static="$(dirname "$lib")/libhmalloc.a"
cc=${CC:-cc}

libc_a=$($cc -print-file-name=libc.a)
if [ ! -f "$libc_a" ]; then
	echo "skip: static glibc (libc.a) is not installed"
	exit 77
fi
if [ ! -f "$static" ]; then
	echo "FAIL: $static not found (expected beside $lib)"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hm_static.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/prog.c" <<'EOF'
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* From hmalloc.h; declared here so the test needs no include path. */
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
    size_t newlen);
size_t nallocx(size_t size, int flags);

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
	fprintf(stderr, "FAIL line %d: %s: ", __LINE__, #cond); \
	fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); } } while (0)

static void *
thread_main(void *arg) {
	(void)arg;
	for (int i = 0; i < 1000; i++) {
		char *p = malloc((size_t)i * 7 + 1);
		if (p == NULL)
			return (void *)1;
		memset(p, i, (size_t)i * 7 + 1);
		free(p);
	}
	return NULL;
}

int
main(void) {
	void *volatile p17 = malloc(17);
	CHECK(p17 != NULL, "malloc(17)");
	CHECK(malloc_usable_size(p17) == 32,
	    "malloc_usable_size(malloc(17)) = %zu, hmalloc's class is 32",
	    malloc_usable_size(p17));
	free(p17);
	CHECK(nallocx(17, 0) == 32, "nallocx(17, 0) = %zu", nallocx(17, 0));

	const char *version = NULL;
	size_t sz = sizeof(version);
	CHECK(mallctl("version", &version, &sz, NULL, 0) == 0 && version != NULL,
	    "mallctl(version)");

	char *c = calloc(1000, 10);
	CHECK(c != NULL, "calloc");
	for (int i = 0; c != NULL && i < 10000; i++)
		CHECK(c[i] == 0, "calloc byte %d", i);
	if (c != NULL)
		memset(c, 'x', 10000);
	char *r = realloc(c, 5 << 20);
	CHECK(r != NULL, "realloc to 5 MiB");
	if (r != NULL) {
		CHECK(r[0] == 'x' && r[9999] == 'x', "realloc kept contents");
		memset(r, 'y', 5 << 20);
		free(r);
	}
	void *a = NULL;
	CHECK(posix_memalign(&a, 4096, 100) == 0 && ((uintptr_t)a & 4095) == 0,
	    "posix_memalign");
	free(a);
	a = aligned_alloc(65536, 1000);
	CHECK(a != NULL && ((uintptr_t)a & 65535) == 0, "aligned_alloc");
	free(a);
	volatile size_t huge = SIZE_MAX;
	errno = 0;
	void *h = malloc(huge);
	CHECK(h == NULL && errno == ENOMEM, "malloc(SIZE_MAX)");
	free(h);

	char *s = strdup("static hmalloc");
	CHECK(s != NULL && strcmp(s, "static hmalloc") == 0, "strdup");
	free(s);
	printf("stdio works: %d\n", 42);

	pthread_t t;
	void *ret = (void *)1;
	CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0, "pthread_create");
	pthread_join(t, &ret);
	CHECK(ret == NULL, "thread allocations");

	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		void *q = malloc(100000);
		if (q == NULL)
			_exit(3);
		memset(q, 1, 100000);
		free(q);
		_exit(malloc_usable_size(p17 = malloc(17)) == 32 ? 0 : 4);
	}
	int status = 0;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)
	    && WEXITSTATUS(status) == 0, "forked child (status %#x)", status);

	if (failures == 0)
		printf("static program: all checks passed\n");
	return failures == 0 ? 0 : 1;
}
EOF

# A sanitizer build's library needs its runtime: link with the same flags.
variant_flags=
for f in ${HM_VARIANT_CFLAGS:-}; do
	case $f in -fsanitize=*|-fno-sanitize*) variant_flags="$variant_flags $f" ;; esac
done
if ! $cc -std=gnu11 -O1 -static $variant_flags -o "$tmp/prog" "$tmp/prog.c" \
	"$static" -lpthread >"$tmp/link.log" 2>&1; then
	echo "FAIL: static link failed:"
	cat "$tmp/link.log"
	exit 1
fi
if grep -qi 'multiple definition' "$tmp/link.log"; then
	echo "FAIL: duplicate symbols:"
	cat "$tmp/link.log"
	exit 1
fi
# The program must not contain glibc's allocator next to hmalloc's.
if nm "$tmp/prog" 2>/dev/null | grep -qE ' (_int_malloc|__malloc_arena_thread_freeres|malloc_consolidate)$'; then
	echo "FAIL: glibc's malloc.o was linked in as well"
	nm "$tmp/prog" | grep -E ' (_int_malloc|malloc_consolidate)$'
	exit 1
fi
if ! "$tmp/prog"; then
	echo "FAIL: the static program failed"
	exit 1
fi
echo "static_link: pass"
exit 0
