/*
 * The fuzzer's replay driver, run by `make check`: every input of the seed
 * corpus (or the files and directories given) through the interpreter
 * (interp.c), on a prefixed build of hmalloc.  Exit status 0 when every
 * input ran clean; a mismatch aborts with the input and operation named.
 *
 * With no argument it runs HMFUZZ_CORPUS and also requires that the
 * corpus reach every kind of operation, so that a corpus that no longer
 * decodes into what it was written for fails.  HMFUZZ_TRACE=1 prints each
 * operation.
 */
#include "interp.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef HMFUZZ_CORPUS
#  define HMFUZZ_CORPUS "test/fuzz/corpus"
#endif

static size_t ninputs, nops;

static int
run_file(const char *path) {
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return 1;
	}
	size_t cap = 4096, len = 0;
	unsigned char *buf = malloc(cap);
	size_t n;
	while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
	}
	int bad = ferror(f) || buf == NULL;
	fclose(f);
	if (bad) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(buf);
		return 1;
	}
	hmfuzz_input_name = path;
	nops += hmfuzz_run(buf, len);
	ninputs++;
	free(buf);
	return 0;
}

static int
cmp_names(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory's regular files, in name order. */
static int
run_dir(const char *dir) {
	DIR *d = opendir(dir);
	if (d == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	char **names = NULL;
	size_t count = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		names = realloc(names, (count + 1) * sizeof(*names));
		size_t len = strlen(dir) + strlen(e->d_name) + 2;
		names[count] = malloc(len);
		snprintf(names[count++], len, "%s/%s", dir, e->d_name);
	}
	closedir(d);
	qsort(names, count, sizeof(*names), cmp_names);
	int bad = 0;
	for (size_t i = 0; i < count; i++) {
		struct stat st;
		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
			bad |= run_file(names[i]);
		free(names[i]);
	}
	free(names);
	return bad;
}

static int
run_path(const char *path) {
	struct stat st;
	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return S_ISDIR(st.st_mode) ? run_dir(path) : run_file(path);
}

int
main(int argc, char **argv) {
	const char *env = getenv("HMFUZZ_TRACE");
	hmfuzz_trace = env != NULL && *env != '\0' && *env != '0';
	int bad = 0;
	if (argc < 2)
		bad |= run_path(HMFUZZ_CORPUS);
	for (int i = 1; i < argc; i++)
		bad |= run_path(argv[i]);
	printf("replay: %zu inputs, %zu operations:", ninputs, nops);
	for (int k = 0; k < FZ_NKINDS; k++)
		printf(" %s %llu", hmfuzz_kind_names[k],
		    (unsigned long long)hmfuzz_stats[k]);
	printf("\n");
	if (ninputs == 0) {
		fprintf(stderr, "replay: no input\n");
		return 1;
	}
	if (argc < 2) {
		for (int k = 0; k < FZ_NKINDS; k++) {
			if (hmfuzz_stats[k] == 0) {
				fprintf(stderr, "replay: the corpus has no %s "
				    "operation\n", hmfuzz_kind_names[k]);
				bad = 1;
			}
		}
	}
	return bad;
}
