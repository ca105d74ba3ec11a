/*
 * Runs one heap mistake (or none) for memcheck to find, on hmalloc built
 * with HM_VALGRIND: memcheck.sh runs each mode under valgrind and checks
 * the report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* p, hidden from the optimiser. */
static void *
opaque(void *p) {
	__asm__ volatile("" : "+r"(p));
	return p;
}

static volatile unsigned char sink;
static void *leaked;

int
main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "clean";
	if (strcmp(mode, "clean") == 0) {
		/* Every allocation path, used correctly: no error. */
		void *p[64];
		for (int i = 0; i < 64; i++) {
			size_t size = (size_t)16 << (i % 18);
			p[i] = i % 3 == 0 ? calloc(1, size) : malloc(size);
			memset(p[i], i, size);
		}
		for (int i = 0; i < 64; i++) {
			size_t size = (size_t)16 << (i % 18);
			p[i] = realloc(p[i], size * 3);
			for (size_t k = 0; k < size; k += 4096)
				sink = ((unsigned char *)p[i])[k];
		}
		void *a;
		if (posix_memalign(&a, 4096, 1000) != 0)
			return 1;
		memset(a, 1, 1000);
		free(a);
		for (int i = 0; i < 64; i++)
			free(p[i]);
		return 0;
	}
	if (strcmp(mode, "use_after_free") == 0) {
		unsigned char *p = malloc(64);
		memset(p, 1, 64);
		free(p);
		sink = ((unsigned char *)opaque(p))[8];
		return 0;
	}
	if (strcmp(mode, "uninitialised") == 0) {
		unsigned char *p = malloc(64);
		if (((unsigned char *)opaque(p))[10] == 42)
			sink = 1;
		free(p);
		return 0;
	}
	if (strcmp(mode, "leak") == 0) {
		leaked = malloc(4096);
		memset(leaked, 0, 4096);
		leaked = NULL;
		return 0;
	}
	if (strcmp(mode, "realloc_shrunk") == 0) {
		/* A Large block shrunk in place: its old tail is not the
		 * program's any more. */
		unsigned char *p = malloc(64 << 10);
		memset(p, 1, 64 << 10);
		p = realloc(p, 32 << 10);
		sink = ((unsigned char *)opaque(p))[48 << 10];
		free(p);
		return 0;
	}
	if (strcmp(mode, "clean_rounds") == 0) {
		/* Rounds of every call, sizes across the classes, then a
		 * huge block: no error, nothing left. */
		for (int r = 0; r < 200; r++) {
			size_t size = 1 + (size_t)(r * 7919) % 20000;
			unsigned char *a = malloc(size);
			memset(a, r, size);
			a = realloc(a, size * 2 + 1);
			for (size_t k = 0; k < size; k += 64)
				sink = a[k];
			memset(a + size, 1, size + 1);
			void *b;
			if (posix_memalign(&b, (size_t)64 << (r % 8), size) != 0)
				return 1;
			memset(b, 2, size);
			unsigned char *c = calloc(r + 1, 24);
			for (int k = 0; k < (r + 1) * 24; k += 8)
				sink = c[k];
			free(c);
			free(b);
			free(a);
		}
		unsigned char *big = malloc(3 << 20);
		memset(big, 3, 3 << 20);
		big = realloc(big, 5 << 20);
		sink = big[(3 << 20) - 1];
		free(big);
		return 0;
	}
	if (strcmp(mode, "use_after_reuse") == 0) {
		/* The freed block's memory is asked for again at once: the
		 * old pointer still reads freed memory. */
		unsigned char *p = malloc(64);
		memset(p, 1, 64);
		free(p);
		unsigned char *q = malloc(64);
		memset(q, 2, 64);
		sink = ((unsigned char *)opaque(p))[8];
		free(q);
		return 0;
	}
	if (strcmp(mode, "double_free") == 0) {
		void *p = malloc(100);
		free(p);
		free(opaque(p));
		return 0;
	}
	if (strcmp(mode, "leak_sizes") == 0) {
		/* A Large block and a huge one, lost. */
		leaked = malloc(100 << 10);
		memset(leaked, 0, 100 << 10);
		leaked = malloc(5 << 20);
		memset(leaked, 0, 5 << 20);
		leaked = NULL;
		return 0;
	}
	if (strcmp(mode, "uninit_realloc") == 0) {
		/* Grown by realloc: the new part was never written. */
		unsigned char *p = malloc(32);
		memset(p, 1, 32);
		p = realloc(p, 4096);
		if (((unsigned char *)opaque(p))[2000] == 7)
			sink = 1;
		free(p);
		return 0;
	}
	fprintf(stderr, "unknown mode %s\n", mode);
	return 2;
}
