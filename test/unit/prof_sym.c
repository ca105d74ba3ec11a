/*
 * The leak report's symbolizer (prof_sym.c).
 *
 * test_own_functions: a static and a global function of this program
 *   resolve to their names, "+0x.." inside them (a return address less
 *   one, as the profiler passes it), and so does a library function
 *   linked in (hm_sym_name itself, hidden).
 * test_libc: write() resolves to a name containing "write" (libc's, or a
 *   sanitizer's interceptor); an address of libc holding no function
 *   gives "libc.so.6+0x..", its own address.
 * test_unmapped: no mapping, anonymous memory, the stack: "0x...".
 * test_plain_file: a mapped file that is not ELF: "name+0x<file offset>".
 * test_vdso: the kernel's [vdso] image names its functions.
 * test_file_copy: this program copied to a file and mapped at its text's
 *   offset resolves through the copy; once deleted, through
 *   /proc/self/map_files.
 * test_tiny_buffer: every buffer length gets a NUL-terminated prefix of
 *   the full name and nothing written past it.
 * test_closed: a context never opened, or whose open failed, names
 *   addresses by their value; close is safe twice.
 * test_no_alloc: a whole report's worth of lookups, through more objects
 *   than the context keeps, allocates and frees nothing
 *   (thread.allocated, thread.deallocated), and gives each address the
 *   same name as a fresh context does.
 * test_hostile: copies of this program truncated at many lengths, and
 *   with random bytes of their ELF headers, section headers, symbol and
 *   string tables overwritten: every lookup returns a NUL-terminated,
 *   printable name and nothing faults (HM_TEST_SEED repeats a run).
 */
#include "unit_util.h"

#include <elf.h>
#include <link.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "prof_sym.h"

/* ------------------------------------------------------------------ */
/* Functions to find. */

static volatile int sink;
static uintptr_t captured_ra;

static __attribute__((noinline)) void
capture_ra(void) {
	captured_ra = (uintptr_t)__builtin_return_address(0);
	sink++;
}

static __attribute__((noinline, used)) int
sym_static_fn(int x) {
	for (int i = 0; i < x; i++)
		sink += i;
	capture_ra();
	return sink;
}

__attribute__((noinline)) int sym_global_fn(int x);
__attribute__((noinline)) int
sym_global_fn(int x) {
	sink += x;
	capture_ra();
	sink += 2 * x;
	return sink;
}

/* Called through these, the functions keep their own bodies. */
static int (*volatile static_fp)(int) = sym_static_fn;
static int (*volatile global_fp)(int) = sym_global_fn;

/* ------------------------------------------------------------------ */
/* Helpers (they may allocate: none runs inside a no-allocation check). */

/* The line of /proc/self/maps that holds pc; false if none. */
static bool
find_mapping(uintptr_t pc, uintptr_t *start, uintptr_t *end,
    uint64_t *off, char *path, size_t pathsize) {
	FILE *f = fopen("/proc/self/maps", "r");
	assert_ptr_not_null(f, "fopen(/proc/self/maps)");
	char line[4096];
	bool found = false;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long s, e, o;
		int n = 0;
		if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %n", &s, &e, &o,
		    &n) < 3)
			continue;
		if (pc < s || pc >= e)
			continue;
		*start = s;
		*end = e;
		*off = o;
		if (path != NULL) {
			char *p = line + n;
			p[strcspn(p, "\n")] = '\0';
			snprintf(path, pathsize, "%s", p);
		}
		found = true;
		break;
	}
	fclose(f);
	return found;
}

static const char *
base_name(const char *path) {
	const char *b = strrchr(path, '/');
	return b != NULL ? b + 1 : path;
}

static bool
starts_with(const char *s, const char *prefix) {
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A name for pc from a context of its own. */
static const char *
name_once(uintptr_t pc, char *buf, size_t len) {
	hm_sym_t s;
	expect_true(hm_sym_open(&s), "hm_sym_open");
	hm_sym_name(&s, pc, buf, len);
	hm_sym_close(&s);
	return buf;
}

/* ------------------------------------------------------------------ */

TEST_BEGIN(test_own_functions)
	char buf[256];
	uintptr_t sfn = (uintptr_t)static_fp, gfn = (uintptr_t)global_fp;
	hm_sym_t s;
	assert_true(hm_sym_open(&s), "hm_sym_open");
	expect_str_eq(hm_sym_name(&s, sfn, buf, sizeof(buf)), "sym_static_fn",
	    "start of a static function");
	expect_str_eq(hm_sym_name(&s, gfn, buf, sizeof(buf)), "sym_global_fn",
	    "start of a global function");
	expect_str_eq(hm_sym_name(&s, sfn + 1, buf, sizeof(buf)),
	    "sym_static_fn+0x1", "inside a static function");

	static_fp(3);
	uintptr_t ra = captured_ra;
	char want[64];
	snprintf(want, sizeof(want), "sym_static_fn+0x%lx",
	    (unsigned long)(ra - 1 - sfn));
	expect_str_eq(hm_sym_name(&s, ra - 1, buf, sizeof(buf)), want,
	    "a return address in a static function");
	global_fp(5);
	ra = captured_ra;
	snprintf(want, sizeof(want), "sym_global_fn+0x%lx",
	    (unsigned long)(ra - 1 - gfn));
	expect_str_eq(hm_sym_name(&s, ra - 1, buf, sizeof(buf)), want,
	    "a return address in a global function");
	expect_true(ra - 1 > gfn, "return address past the function's start");

	expect_str_eq(hm_sym_name(&s, (uintptr_t)hm_sym_name + 2, buf,
	    sizeof(buf)), "hm_sym_name+0x2", "a hidden library function");

	/* Read-only data: the program, but no function. */
	static const char rodata[] = "not code";
	uintptr_t start, end;
	uint64_t off;
	char path[512];
	assert_true(find_mapping((uintptr_t)rodata, &start, &end, &off, path,
	    sizeof(path)), "mapping of rodata");
	snprintf(want, sizeof(want), "%s+0x", base_name(path));
	hm_sym_name(&s, (uintptr_t)rodata, buf, sizeof(buf));
	expect_true(starts_with(buf, want), "read-only data: \"%s\"", buf);
	hm_sym_close(&s);
TEST_END

/* The program's path, as the maps show it. */
static const char *
exe_path(void) {
	static char path[512];
	if (path[0] == '\0') {
		ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
		assert_d_gt(n, 0, "readlink(/proc/self/exe)");
		path[n] = '\0';
	}
	return path;
}

/* libc's load bias and first loadable segment, via dl_iterate_phdr. */
struct libc_info {
	uintptr_t bias;
	uint64_t first_vaddr;
	char path[512];
	bool found;
};

static int
libc_cb(struct dl_phdr_info *info, size_t size, void *arg) {
	(void)size;
	struct libc_info *li = arg;
	if (info->dlpi_name == NULL
	    || strstr(base_name(info->dlpi_name), "libc.so") == NULL)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		if (info->dlpi_phdr[i].p_type == PT_LOAD) {
			li->bias = info->dlpi_addr;
			li->first_vaddr = info->dlpi_phdr[i].p_vaddr;
			snprintf(li->path, sizeof(li->path), "%s",
			    info->dlpi_name);
			li->found = true;
			return 1;
		}
	}
	return 0;
}

TEST_BEGIN(test_libc)
	char buf[256];
	uintptr_t w = (uintptr_t)&write;
	uintptr_t start, end;
	uint64_t off;
	char path[512];
	assert_true(find_mapping(w, &start, &end, &off, path, sizeof(path)),
	    "mapping of write");
	/* (A sanitizer's interceptor is fine: it is named after write.  A
	 * program's PLT entry is not: non-PIE programs take its address.) */
	if (strcmp(path, exe_path()) == 0)
		test_skip("&write is the program's PLT entry (not PIE)");

	hm_sym_t s;
	assert_true(hm_sym_open(&s), "hm_sym_open");
	hm_sym_name(&s, w, buf, sizeof(buf));
	expect_true(strstr(buf, "write") != NULL && strchr(buf, '+') == NULL,
	    "write resolved to \"%s\"", buf);
	hm_sym_name(&s, w + 4, buf, sizeof(buf));
	expect_true(strstr(buf, "write+0x4") != NULL,
	    "write + 4 resolved to \"%s\"", buf);

	/* The ELF header: in the object, in no function. */
	struct libc_info li = {0};
	dl_iterate_phdr(libc_cb, &li);
	expect_true(li.found, "no libc.so among the loaded objects");
	if (li.found) {
		uintptr_t hdr = li.bias + li.first_vaddr + 0x10;
		snprintf(buf, sizeof(buf), "%s+0x%lx", base_name(li.path),
		    (unsigned long)(li.first_vaddr + 0x10));
		char got[256];
		expect_str_eq(hm_sym_name(&s, hdr, got, sizeof(got)), buf,
		    "libc's ELF header");
	}
	hm_sym_close(&s);
TEST_END

TEST_BEGIN(test_unmapped)
	char buf[64], want[64];
	hm_sym_t s;
	assert_true(hm_sym_open(&s), "hm_sym_open");
	expect_str_eq(hm_sym_name(&s, 0x10, buf, sizeof(buf)), "0x10",
	    "page zero");
	expect_str_eq(hm_sym_name(&s, UINTPTR_MAX, buf, sizeof(buf)),
	    "0xffffffffffffffff", "top of the address space");
	int local = 0;
	snprintf(want, sizeof(want), "0x%lx", (unsigned long)&local);
	expect_str_eq(hm_sym_name(&s, (uintptr_t)&local, buf, sizeof(buf)),
	    want, "the stack");
	hm_sym_close(&s);

	/* Anonymous memory, mapped before the snapshot. */
	char *p = mmap(NULL, PAGE, PROT_READ | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED, "mmap");
	snprintf(want, sizeof(want), "0x%lx", (unsigned long)(p + 8));
	expect_str_eq(name_once((uintptr_t)(p + 8), buf, sizeof(buf)), want,
	    "anonymous memory");
	munmap(p, PAGE);
TEST_END

/* A temporary file holding size bytes from src (or of byte c when src
 * is NULL); its path in path. */
static int
temp_file(char *path, size_t pathsize, const void *src, size_t size, int c) {
	snprintf(path, pathsize, "/tmp/hm_prof_sym_XXXXXX");
	int fd = mkstemp(path);
	assert_d_ge(fd, 0, "mkstemp: %s", strerror(errno));
	static char chunk[1 << 16];
	for (size_t done = 0; done < size;) {
		size_t n = size - done < sizeof(chunk) ? size - done
		    : sizeof(chunk);
		if (src == NULL)
			memset(chunk, c, n);
		ssize_t w = write(fd, src != NULL ? (const char *)src + done
		    : chunk, n);
		assert_d_gt(w, 0, "write: %s", strerror(errno));
		done += (size_t)w;
	}
	return fd;
}

TEST_BEGIN(test_plain_file)
	char path[64], buf[128], want[128];
	int fd = temp_file(path, sizeof(path), NULL, 3 * PAGE, 0xcc);
	char *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 2 * PAGE);
	assert_true(p != MAP_FAILED, "mmap");
	snprintf(want, sizeof(want), "%s+0x%lx", base_name(path),
	    (unsigned long)(2 * PAGE + 0x123));
	expect_str_eq(name_once((uintptr_t)p + 0x123, buf, sizeof(buf)), want,
	    "a file that is not ELF");
	munmap(p, PAGE);
	close(fd);
	unlink(path);
TEST_END

TEST_BEGIN(test_vdso)
	uintptr_t base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
	if (base == 0)
		test_skip("no vDSO");
	uintptr_t start, end;
	uint64_t off;
	char path[64];
	assert_true(find_mapping(base, &start, &end, &off, path, sizeof(path)),
	    "the vDSO's mapping");
	expect_str_eq(path, "[vdso]", "the vDSO's mapping");
	hm_sym_t s;
	assert_true(hm_sym_open(&s), "hm_sym_open");
	unsigned named = 0;
	bool clock_gettime_seen = false;
	for (uintptr_t pc = start; pc < end; pc += 4) {
		char buf[128];
		hm_sym_name(&s, pc, buf, sizeof(buf));
		if (starts_with(buf, "[vdso]+0x") || starts_with(buf, "0x"))
			continue;
		named++;
		if (strstr(buf, "clock_gettime") != NULL)
			clock_gettime_seen = true;
	}
	hm_sym_close(&s);
	expect_true(named > 0, "no function named in the vDSO");
	expect_true(clock_gettime_seen, "clock_gettime not found in the vDSO");
TEST_END

/* The executable's bytes, read whole. */
static unsigned char *exe;
static size_t exe_size;

static void
read_exe(void) {
	if (exe != NULL)
		return;
	int fd = open("/proc/self/exe", O_RDONLY);
	assert_d_ge(fd, 0, "open(/proc/self/exe)");
	struct stat st;
	assert_d_eq(fstat(fd, &st), 0, "fstat");
	exe_size = (size_t)st.st_size;
	exe = hm_malloc(exe_size);
	assert_ptr_not_null(exe, "malloc(%zu)", exe_size);
	for (size_t done = 0; done < exe_size;) {
		ssize_t n = read(fd, exe + done, exe_size - done);
		assert_d_gt(n, 0, "read(/proc/self/exe)");
		done += (size_t)n;
	}
	close(fd);
}

/* File offset of sym_global_fn in the executable. */
static uint64_t
global_fn_offset(void) {
	uintptr_t start, end;
	uint64_t off;
	uintptr_t fn = (uintptr_t)global_fp;
	assert_true(find_mapping(fn, &start, &end, &off, NULL, 0),
	    "mapping of sym_global_fn");
	return off + (fn - start);
}

/* Maps the page of fd holding file offset fo; the address of fo in it. */
static uintptr_t
map_at(int fd, uint64_t fo, void **map) {
	*map = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd,
	    (off_t)ALIGN_DOWN(fo, PAGE));
	assert_true(*map != MAP_FAILED, "mmap: %s", strerror(errno));
	return (uintptr_t)*map + (uintptr_t)(fo & PAGE_MASK);
}

TEST_BEGIN(test_file_copy)
	read_exe();
	uint64_t fo = global_fn_offset();
	char path[64], buf[128];
	int fd = temp_file(path, sizeof(path), exe, exe_size, 0);
	void *map;
	uintptr_t pc = map_at(fd, fo, &map);
	expect_str_eq(name_once(pc, buf, sizeof(buf)), "sym_global_fn",
	    "copy of the program");
	expect_str_eq(name_once(pc + 3, buf, sizeof(buf)), "sym_global_fn+0x3",
	    "copy of the program");

	unlink(path);
	char mf[64];
	snprintf(mf, sizeof(mf), "/proc/self/map_files/%lx-%lx",
	    (unsigned long)map, (unsigned long)map + PAGE);
	int mfd = open(mf, O_RDONLY);
	name_once(pc + 3, buf, sizeof(buf));
	if (mfd >= 0) {
		close(mfd);
		expect_str_eq(buf, "sym_global_fn+0x3", "deleted copy");
	} else {
		/* No access to map_files: the file name and offset. */
		char want[128];
		snprintf(want, sizeof(want), "%s+0x", base_name(path));
		expect_true(starts_with(buf, want), "deleted copy, without "
		    "map_files: \"%s\"", buf);
	}
	munmap(map, PAGE);
	close(fd);
TEST_END

TEST_BEGIN(test_tiny_buffer)
	char full[128];
	uintptr_t pc = (uintptr_t)global_fp + 0x11;
	hm_sym_t s;
	assert_true(hm_sym_open(&s), "hm_sym_open");
	hm_sym_name(&s, pc, full, sizeof(full));
	expect_str_eq(full, "sym_global_fn+0x11", "full name");
	uintptr_t pcs[] = {pc, 0x1234, (uintptr_t)&write};
	for (size_t k = 0; k < HM_ARRAY_SIZE(pcs); k++) {
		hm_sym_name(&s, pcs[k], full, sizeof(full));
		for (size_t len = 0; len <= strlen(full) + 2; len++) {
			char buf[160];
			memset(buf, 'Z', sizeof(buf));
			const char *r = hm_sym_name(&s, pcs[k], buf, len);
			expect_ptr_eq(r, buf, "returns buf");
			for (size_t i = len; i < sizeof(buf); i++) {
				if (buf[i] != 'Z') {
					expect_not_reached("len %zu: byte %zu "
					    "written", len, i);
					break;
				}
			}
			if (len == 0)
				continue;
			size_t n = strnlen(buf, len);
			expect_zu_lt(n, len, "not NUL-terminated (len %zu)",
			    len);
			expect_true(n < len && strncmp(buf, full, n) == 0
			    && n == (len - 1 < strlen(full) ? len - 1
			    : strlen(full)), "len %zu: \"%.*s\" of \"%s\"",
			    len, (int)n, buf, full);
		}
	}
	hm_sym_close(&s);
TEST_END

TEST_BEGIN(test_closed)
	char buf[64], want[64];
	uintptr_t pc = (uintptr_t)global_fp;
	snprintf(want, sizeof(want), "0x%lx", (unsigned long)pc);
	hm_sym_t s;
	memset(&s, 0, sizeof(s));
	expect_str_eq(hm_sym_name(&s, pc, buf, sizeof(buf)), want,
	    "a context never opened");
	assert_true(hm_sym_open(&s), "hm_sym_open");
	expect_str_eq(hm_sym_name(&s, pc, buf, sizeof(buf)), "sym_global_fn",
	    "opened");
	hm_sym_close(&s);
	expect_str_eq(hm_sym_name(&s, pc, buf, sizeof(buf)), want, "closed");
	hm_sym_close(&s);
	/* Reopened after close. */
	assert_true(hm_sym_open(&s), "hm_sym_open again");
	expect_str_eq(hm_sym_name(&s, pc, buf, sizeof(buf)), "sym_global_fn",
	    "reopened");
	hm_sym_close(&s);
TEST_END

/* Addresses of a report: one in every file mapping, and a few more. */
#define NPCS 256
static uintptr_t pcs[NPCS];
static char names[NPCS][128];

static size_t
collect_pcs(void) {
	size_t n = 0;
	pcs[n++] = (uintptr_t)global_fp + 7;
	pcs[n++] = (uintptr_t)static_fp;
	pcs[n++] = (uintptr_t)&write;
	pcs[n++] = 0x10;
	uintptr_t vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
	if (vdso != 0)
		pcs[n++] = vdso + 0x800;
	FILE *f = fopen("/proc/self/maps", "r");
	assert_ptr_not_null(f, "fopen(/proc/self/maps)");
	char line[4096];
	while (n < NPCS && fgets(line, sizeof(line), f) != NULL) {
		unsigned long s, e;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3
		    && strchr(line, '/') != NULL)
			pcs[n++] = s + (e - s) / 2;
	}
	fclose(f);
	return n;
}

TEST_BEGIN(test_no_alloc)
	size_t n = collect_pcs();
	/* Names from a fresh context each, to compare with. */
	for (size_t i = 0; i < n; i++)
		name_once(pcs[i], names[i], sizeof(names[i]));
	uint64_t *allocp, *deallocp;
	size_t sz = sizeof(allocp);
	assert_d_eq(hm_mallctl("thread.allocatedp", &allocp, &sz, NULL, 0), 0,
	    "thread.allocatedp");
	assert_d_eq(hm_mallctl("thread.deallocatedp", &deallocp, &sz, NULL,
	    0), 0, "thread.deallocatedp");
	/* The counters see an allocation (else the check proves nothing). */
	uint64_t a0 = *allocp;
	void *volatile q = hm_malloc(24);
	hm_free(q);
	expect_u64_gt(*allocp, a0, "thread.allocated did not count");

	a0 = *allocp;
	uint64_t d0 = *deallocp;
	hm_sym_t s;
	bool opened = hm_sym_open(&s);
	unsigned mismatches = 0;
	char buf[128];
	/* Round-robin over more objects than the context keeps: each
	 * eviction unmaps one and maps another. */
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < n; i++) {
			hm_sym_name(&s, pcs[i], buf, sizeof(buf));
			mismatches += strcmp(buf, names[i]) != 0;
		}
	}
	hm_sym_close(&s);
	uint64_t a1 = *allocp, d1 = *deallocp;
	expect_true(opened, "hm_sym_open");
	expect_u64_eq(a1, a0, "bytes allocated while symbolizing");
	expect_u64_eq(d1, d0, "bytes freed while symbolizing");
	expect_u_eq(mismatches, 0, "names differ from a fresh context's");
	if (mismatches != 0) {
		hm_sym_open(&s);
		for (size_t i = 0; i < n; i++) {
			hm_sym_name(&s, pcs[i], buf, sizeof(buf));
			if (strcmp(buf, names[i]) != 0)
				fprintf(stderr, "    %#lx: %s, fresh %s\n",
				    (unsigned long)pcs[i], buf, names[i]);
		}
		hm_sym_close(&s);
	}
	printf("prof_sym: %zu addresses, e.g. %s, %s, %s\n", n, names[0],
	    names[2], names[n - 1]);
TEST_END

/* The parts of the executable a symbolizer reads: [off, off + len). */
struct region {
	uint64_t off;
	uint64_t len;
};

static size_t
elf_regions(struct region *r, size_t max) {
	size_t n = 0;
	Elf64_Ehdr eh;
	memcpy(&eh, exe, sizeof(eh));
	r[n++] = (struct region){0, sizeof(eh)};
	r[n++] = (struct region){eh.e_phoff,
	    (uint64_t)eh.e_phnum * eh.e_phentsize};
	r[n++] = (struct region){eh.e_shoff,
	    (uint64_t)eh.e_shnum * eh.e_shentsize};
	for (unsigned i = 0; i < eh.e_shnum && n + 2 <= max; i++) {
		Elf64_Shdr sh, str;
		memcpy(&sh, exe + eh.e_shoff + (uint64_t)i * eh.e_shentsize,
		    sizeof(sh));
		if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM)
			continue;
		memcpy(&str, exe + eh.e_shoff
		    + (uint64_t)sh.sh_link * eh.e_shentsize, sizeof(str));
		r[n++] = (struct region){sh.sh_offset, sh.sh_size};
		r[n++] = (struct region){str.sh_offset, str.sh_size};
	}
	return n;
}

/* Looks up a few addresses of the page mapped from fd at fo; each name
 * must be NUL-terminated, not empty, and printable. */
static void
lookup_all(int fd, uint64_t fo, const char *what, uint64_t arg) {
	void *map;
	uintptr_t pc = map_at(fd, fo, &map);
	uintptr_t probes[] = {pc, pc + 1, pc + 0x20, (uintptr_t)map,
	    (uintptr_t)map + PAGE - 1};
	hm_sym_t s;
	hm_sym_open(&s);
	for (size_t i = 0; i < HM_ARRAY_SIZE(probes); i++) {
		char buf[96];
		memset(buf, 'Z', sizeof(buf));
		hm_sym_name(&s, probes[i], buf, sizeof(buf) - 8);
		size_t n = strnlen(buf, sizeof(buf) - 8);
		bool printable = true;
		for (size_t j = 0; j < n; j++)
			printable &= buf[j] >= 0x20 && buf[j] < 0x7f;
		if (n == 0 || n == sizeof(buf) - 8 || buf[sizeof(buf) - 1]
		    != 'Z' || !printable)
			expect_not_reached("%s %#llx: bad name \"%.*s\"", what,
			    (unsigned long long)arg, (int)sizeof(buf), buf);
	}
	hm_sym_close(&s);
	munmap(map, PAGE);
}

TEST_BEGIN(test_hostile)
	read_exe();
	uint64_t fo = global_fn_offset();
	uint64_t seed = test_seed(), st = seed;
	char path[64];

	/* Truncated copies: every header boundary and a spread of sizes. */
	struct region reg[16];
	size_t nreg = elf_regions(reg, HM_ARRAY_SIZE(reg));
	size_t cuts[64], ncuts = 0;
	static const size_t fixed[] = {0, 1, 4, 16, 63, 64, 65, 100, 4095,
	    4096, 4097};
	for (size_t i = 0; i < HM_ARRAY_SIZE(fixed); i++)
		cuts[ncuts++] = fixed[i];
	for (size_t i = 0; i < nreg && ncuts + 3 <= HM_ARRAY_SIZE(cuts); i++) {
		cuts[ncuts++] = reg[i].off;
		cuts[ncuts++] = reg[i].off + reg[i].len / 2;
		cuts[ncuts++] = reg[i].off + reg[i].len - 1;
	}
	while (ncuts < HM_ARRAY_SIZE(cuts))
		cuts[ncuts++] = test_rand_next(&st) % exe_size;
	for (size_t i = 0; i < ncuts; i++) {
		size_t cut = cuts[i] < exe_size ? cuts[i] : exe_size - 1;
		int fd = temp_file(path, sizeof(path), exe, cut, 0);
		lookup_all(fd, fo, "truncated at", cut);
		close(fd);
		unlink(path);
	}

	/* Overwritten bytes and words, in a shared mapping of one copy:
	 * the symbolizer's own mapping of the file sees each change. */
	int fd = temp_file(path, sizeof(path), exe, exe_size, 0);
	unsigned char *w = mmap(NULL, exe_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	assert_true(w != MAP_FAILED, "mmap(MAP_SHARED)");
	static const uint64_t values[] = {0, 1, 0xff, 0xffff, 0xffffffff,
	    0x7fffffffffffffff, UINT64_MAX, 0x40, 0x1000, 0x18, 0x38};
	for (unsigned it = 0; it < 600; it++) {
		struct {
			uint64_t off;
			unsigned char old[8];
		} saved[6];
		unsigned nsaved = 1 + (unsigned)(test_rand_next(&st) % 6);
		for (unsigned k = 0; k < nsaved; k++) {
			uint64_t r = test_rand_next(&st);
			const struct region *g = &reg[r % nreg];
			uint64_t len = g->len < 8 ? 8 : g->len;
			uint64_t off = g->off + (r >> 8) % len;
			if (off > exe_size - 8)
				off = exe_size - 8;
			saved[k].off = off;
			memcpy(saved[k].old, w + off, 8);
			uint64_t v = (r >> 40) & 1
			    ? values[(r >> 41) % HM_ARRAY_SIZE(values)]
			    : exe_size - (r >> 44) % 16;
			if ((r >> 50) & 1)
				w[off] = (unsigned char)(r >> 52);
			else
				memcpy(w + off, &v, (r >> 51) & 1 ? 4 : 8);
		}
		lookup_all(fd, fo, "iteration", it);
		if (test_status_current == test_status_fail) {
			printf("prof_sym: hostile: seed %llu, iteration %u\n",
			    (unsigned long long)seed, it);
			break;
		}
		for (unsigned k = nsaved; k-- > 0;)
			memcpy(w + saved[k].off, saved[k].old, 8);
	}
	/* Restored: the copy resolves again. */
	char buf[64];
	void *map;
	uintptr_t pc = map_at(fd, fo, &map);
	expect_str_eq(name_once(pc, buf, sizeof(buf)), "sym_global_fn",
	    "the copy once restored");
	munmap(map, PAGE);
	munmap(w, exe_size);
	close(fd);
	unlink(path);
TEST_END

int
main(void) {
	return test(test_own_functions, test_libc, test_unmapped,
	    test_plain_file, test_vdso, test_file_copy, test_tiny_buffer,
	    test_closed, test_no_alloc, test_hostile);
}
