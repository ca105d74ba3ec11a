/*
 * prof_sym.c: see prof_sym.h.
 *
 * The mapping that holds an address names the ELF file, and the mapping's
 * file offset turns the address into the file's own (link-time) address:
 * the PT_LOAD segment that covers the file offset says which address the
 * linker gave those bytes.  This needs neither the load base nor the file
 * type (ET_EXEC and ET_DYN alike), and holds for objects whose first
 * segment is not at address 0.
 *
 * Files are read through their own read-only private mapping, not the
 * process's copy: the whole file, section headers and .symtab included,
 * which the loader does not map.  Every offset, count and size read from a
 * file is checked against the file's length before use, and every header
 * is copied out with memcpy (a hostile file need not align them), so a
 * truncated or malformed file yields no symbol, never a fault.  (A file
 * truncated while mapped here would still raise SIGBUS; the report runs
 * at exit, on files in use by the process.)
 *
 * mmap and munmap are called here directly rather than through os.c: these
 * are mappings of files, outside the allocator's accounting, and os.c's
 * fault injection should not make the report lose its names.
 */
#include "prof_sym.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* One line of /proc/self/maps. */
typedef struct sym_map_s {
	uintptr_t start;
	uintptr_t end;
	uint64_t offset;   /* file offset of start */
	uint64_t inode;
	const char *path;  /* "" for anonymous memory; NUL-terminated */
} sym_map_t;

/* /proc/self/maps is read into a buffer doubled until the text fits; past
 * this the process is not one whose report could be read anyway. */
#define SYM_MAPS_MIN ((size_t)64 << 10)
#define SYM_MAPS_MAX ((size_t)256 << 20)

#define DELETED_SUFFIX " (deleted)"

static void *
sym_mmap_anon(size_t size) {
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* [off, off + len) lies within size bytes, without overflow. */
static bool
sym_range_ok(size_t size, uint64_t off, uint64_t len) {
	return off <= size && len <= size - off;
}

/* count entries of stride bytes at off lie within size bytes. */
static bool
sym_table_ok(size_t size, uint64_t off, uint64_t count, uint64_t stride) {
	if (stride == 0 || count > size / stride)
		return count == 0 && off <= size;
	return sym_range_ok(size, off, count * stride);
}

/* Parses a hexadecimal number at *p, moving *p past it; false if none. */
static bool
sym_parse_hex(const char **p, uint64_t *v) {
	const char *q = *p;
	uint64_t x = 0;
	for (;; q++) {
		unsigned d;
		if (*q >= '0' && *q <= '9')
			d = (unsigned)(*q - '0');
		else if (*q >= 'a' && *q <= 'f')
			d = (unsigned)(*q - 'a' + 10);
		else if (*q >= 'A' && *q <= 'F')
			d = (unsigned)(*q - 'A' + 10);
		else
			break;
		if (x >> 60)
			return false;
		x = x << 4 | d;
	}
	if (q == *p)
		return false;
	*v = x;
	*p = q;
	return true;
}

static bool
sym_parse_dec(const char **p, uint64_t *v) {
	const char *q = *p;
	uint64_t x = 0;
	for (; *q >= '0' && *q <= '9'; q++) {
		if (x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(*q - '0');
	}
	if (q == *p)
		return false;
	*v = x;
	*p = q;
	return true;
}

static const char *
sym_skip_field(const char *p) {
	while (*p == ' ')
		p++;
	while (*p != ' ' && *p != '\0')
		p++;
	while (*p == ' ')
		p++;
	return p;
}

/*
 * "start-end perms offset dev inode   path": the path runs to the end of
 * the line (it may hold spaces), and is absent for anonymous memory.
 */
static bool
sym_parse_line(const char *line, sym_map_t *m) {
	const char *p = line;
	uint64_t start, end, offset, inode;
	if (!sym_parse_hex(&p, &start) || *p++ != '-'
	    || !sym_parse_hex(&p, &end) || *p != ' ' || start >= end
	    || end > UINTPTR_MAX)
		return false;
	p = sym_skip_field(p);  /* perms */
	if (!sym_parse_hex(&p, &offset))
		return false;
	p = sym_skip_field(p);  /* dev */
	if (!sym_parse_dec(&p, &inode))
		return false;
	while (*p == ' ')
		p++;
	m->start = (uintptr_t)start;
	m->end = (uintptr_t)end;
	m->offset = offset;
	m->inode = inode;
	m->path = p;
	return true;
}

/* Reads the whole of path into a mapping of ours; NULL on failure. */
static char *
sym_read_text(const char *path, size_t *mapsize) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t size = SYM_MAPS_MIN, len = 0;
	char *buf = sym_mmap_anon(size);
	while (buf != NULL) {
		/* One byte kept for the terminating NUL. */
		if (len + 1 == size) {
			void *nbuf = size >= SYM_MAPS_MAX ? MAP_FAILED
			    : mremap(buf, size, 2 * size, MREMAP_MAYMOVE);
			if (nbuf == MAP_FAILED) {
				munmap(buf, size);
				buf = NULL;
				break;
			}
			buf = nbuf;
			size *= 2;
		}
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			munmap(buf, size);
			buf = NULL;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	if (buf != NULL) {
		buf[len] = '\0';
		*mapsize = size;
	}
	return buf;
}

bool
hm_sym_open(hm_sym_t *s) {
	memset(s, 0, sizeof(*s));
	size_t mapsize;
	char *text = sym_read_text("/proc/self/maps", &mapsize);
	if (text == NULL)
		return false;
	size_t nlines = 1;
	for (const char *p = text; *p != '\0'; p++)
		nlines += *p == '\n';
	size_t ents_mapsize = PAGE_CEILING(nlines * sizeof(sym_map_t));
	sym_map_t *ents = sym_mmap_anon(ents_mapsize);
	if (ents == NULL) {
		munmap(text, mapsize);
		return false;
	}
	size_t n = 0;
	for (char *line = text; *line != '\0';) {
		char *nl = strchr(line, '\n');
		char *next = nl != NULL ? nl + 1 : line + strlen(line);
		if (nl != NULL)
			*nl = '\0';
		/*
		 * The kernel lists mappings by address; a line out of order
		 * (the mappings changed while the text was read) is dropped,
		 * so that the table can be searched by halves.
		 */
		sym_map_t m;
		if (sym_parse_line(line, &m)
		    && (n == 0 || m.start >= ents[n - 1].end))
			ents[n++] = m;
		line = next;
	}
	s->maps = text;
	s->maps_mapsize = mapsize;
	s->ents = ents;
	s->nents = n;
	s->ents_mapsize = ents_mapsize;
	return true;
}

static const sym_map_t *
sym_find_map(const hm_sym_t *s, uintptr_t pc) {
	size_t lo = 0, hi = s->nents;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const sym_map_t *m = &s->ents[mid];
		if (pc < m->start)
			hi = mid;
		else if (pc >= m->end)
			lo = mid + 1;
		else
			return m;
	}
	return NULL;
}

static bool
sym_has_suffix(const char *str, const char *suffix) {
	size_t n = strlen(str), k = strlen(suffix);
	return n >= k && memcmp(str + n - k, suffix, k) == 0;
}

static bool
sym_is_vdso(const char *path) {
	return strcmp(path, "[vdso]") == 0;
}

/* The ELF program and section headers and the symbol table of o->image:
 * false if it is not an ELF64 file for this machine's byte order or its
 * headers do not fit in the file. */
static bool
sym_elf_parse(sym_obj_t *o) {
	const unsigned char *img = o->image;
	size_t size = o->size;
	Elf64_Ehdr eh;
	if (size < sizeof(eh))
		return false;
	memcpy(&eh, img, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0
	    || eh.e_ident[EI_CLASS] != ELFCLASS64)
		return false;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return false;
#else
	if (eh.e_ident[EI_DATA] != ELFDATA2MSB)
		return false;
#endif
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		return false;

	/* Section headers; the first one holds the counts that overflow
	 * the ELF header's 16-bit fields. */
	size_t shentsize = eh.e_shentsize;
	uint64_t shnum = eh.e_shnum;
	Elf64_Shdr sh0;
	bool have_sh0 = eh.e_shoff != 0 && shentsize >= sizeof(Elf64_Shdr)
	    && sym_range_ok(size, eh.e_shoff, sizeof(sh0));
	if (have_sh0) {
		memcpy(&sh0, img + eh.e_shoff, sizeof(sh0));
		if (shnum == 0)
			shnum = sh0.sh_size;
	} else {
		shnum = 0;
	}
	if (!sym_table_ok(size, eh.e_shoff, shnum, shentsize))
		shnum = 0;

	uint64_t phnum = eh.e_phnum;
	if (phnum == PN_XNUM)
		phnum = have_sh0 ? sh0.sh_info : 0;
	if (eh.e_phentsize < sizeof(Elf64_Phdr)
	    || !sym_table_ok(size, eh.e_phoff, phnum, eh.e_phentsize))
		return false;
	o->phoff = eh.e_phoff;
	o->phnum = (size_t)phnum;
	o->phentsize = eh.e_phentsize;
	o->shoff = eh.e_shoff;
	o->shnum = (size_t)shnum;
	o->shentsize = shentsize;

	/* .symtab has every function, static ones too; .dynsym, all a
	 * stripped object keeps, only the exported ones. */
	static const Elf64_Word types[] = {SHT_SYMTAB, SHT_DYNSYM};
	for (size_t t = 0; t < HM_ARRAY_SIZE(types); t++) {
		for (uint64_t i = 0; i < shnum; i++) {
			Elf64_Shdr sh, strsh;
			memcpy(&sh, img + eh.e_shoff + i * shentsize,
			    sizeof(sh));
			if (sh.sh_type != types[t])
				continue;
			size_t entsize = sh.sh_entsize != 0 ? sh.sh_entsize
			    : sizeof(Elf64_Sym);
			if (entsize < sizeof(Elf64_Sym)
			    || !sym_range_ok(size, sh.sh_offset, sh.sh_size)
			    || sh.sh_link >= shnum)
				continue;
			memcpy(&strsh, img + eh.e_shoff
			    + (uint64_t)sh.sh_link * shentsize, sizeof(strsh));
			if (strsh.sh_type != SHT_STRTAB || !sym_range_ok(size,
			    strsh.sh_offset, strsh.sh_size))
				continue;
			o->symoff = sh.sh_offset;
			o->nsyms = (size_t)(sh.sh_size / entsize);
			o->symentsize = entsize;
			o->stroff = strsh.sh_offset;
			o->strsize = (size_t)strsh.sh_size;
			return true;
		}
	}
	/* Headers but no symbols: still good for object+offset. */
	return true;
}

/*
 * The object's own address of the byte at file offset fo, through the
 * loadable segment that holds it: the one whose file bytes hold it, else
 * the one whose zero-filled tail (.bss on the page after .data) does.
 */
static bool
sym_elf_vaddr(const sym_obj_t *o, uint64_t fo, uint64_t *vaddr) {
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < o->phnum; i++) {
			Elf64_Phdr ph;
			memcpy(&ph, o->image + o->phoff + i * o->phentsize,
			    sizeof(ph));
			uint64_t len = pass == 0 ? ph.p_filesz : ph.p_memsz;
			if (ph.p_type == PT_LOAD && fo >= ph.p_offset
			    && fo - ph.p_offset < len) {
				*vaddr = ph.p_vaddr + (fo - ph.p_offset);
				return true;
			}
		}
	}
	return false;
}

/* Preference among aliases of one address (write, __write). */
static int
sym_bind_rank(unsigned char info) {
	switch (ELF64_ST_BIND(info)) {
	case STB_GLOBAL:
		return 2;
	case STB_WEAK:
		return 1;
	default:
		return 0;
	}
}

static size_t
sym_underscores(const char *name) {
	size_t n = 0;
	while (name[n] == '_')
		n++;
	return n;
}

/*
 * Whether symbol a names the address better than b: the later start (the
 * inner of nested ones), then, among aliases, the name the program most
 * likely called (printf, not _IO_printf), then the global one.
 */
static bool
sym_better(const Elf64_Sym *a, const Elf64_Sym *b, const char *strs) {
	if (a->st_value != b->st_value)
		return a->st_value > b->st_value;
	size_t ua = sym_underscores(strs + a->st_name);
	size_t ub = sym_underscores(strs + b->st_name);
	if (ua != ub)
		return ua < ub;
	return sym_bind_rank(a->st_info) > sym_bind_rank(b->st_info);
}

/* Index of the allocated section that holds vaddr; 0 (SHN_UNDEF) if
 * none. */
static size_t
sym_elf_section(const sym_obj_t *o, uint64_t vaddr) {
	for (size_t i = 1; i < o->shnum; i++) {
		Elf64_Shdr sh;
		memcpy(&sh, o->image + o->shoff + i * o->shentsize, sizeof(sh));
		if ((sh.sh_flags & SHF_ALLOC) && vaddr >= sh.sh_addr
		    && vaddr - sh.sh_addr < sh.sh_size)
			return i;
	}
	return SHN_UNDEF;
}

/*
 * The function symbol that holds vaddr: the innermost one whose extent
 * holds it, else the nearest one before it with no size (assembly
 * labels), in the same section, unless a sized function ends between the
 * two.  Its name (NUL-terminated within the string table) or NULL; *off:
 * vaddr less its start.
 */
static const char *
sym_elf_lookup(const sym_obj_t *o, uint64_t vaddr, uint64_t *off) {
	const unsigned char *syms = o->image + o->symoff;
	const char *strs = (const char *)o->image + o->stroff;
	Elf64_Sym in = {0}, near = {0};
	bool have_in = false, have_near = false;
	uint64_t sized_end = 0;  /* of the sized functions ending before */
	/* Where a label with no size ends is not known: at the latest with
	 * its section (else _fini, the last label of .fini, would name
	 * everything up to the next symbol). */
	size_t sec = sym_elf_section(o, vaddr);
	/* Entry 0 is the undefined symbol. */
	for (size_t i = 1; i < o->nsyms; i++) {
		Elf64_Sym sym;
		memcpy(&sym, syms + i * o->symentsize, sizeof(sym));
		unsigned type = ELF64_ST_TYPE(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC)
		    || sym.st_shndx == SHN_UNDEF || sym.st_value > vaddr
		    || sym.st_name == 0 || sym.st_name >= o->strsize)
			continue;
		if (sym.st_size != 0 && vaddr - sym.st_value >= sym.st_size) {
			/* (No overflow: the end is at most vaddr.) */
			if (sym.st_value + sym.st_size > sized_end)
				sized_end = sym.st_value + sym.st_size;
			continue;
		}
		if (sym.st_size == 0 && (sec == SHN_UNDEF
		    || sym.st_shndx != sec))
			continue;
		/* A name that runs off the table is no name. */
		if (strs[sym.st_name] == '\0' || memchr(strs + sym.st_name,
		    '\0', o->strsize - sym.st_name) == NULL)
			continue;
		Elf64_Sym *best = sym.st_size != 0 ? &in : &near;
		bool *have = sym.st_size != 0 ? &have_in : &have_near;
		if (!*have || sym_better(&sym, best, strs)) {
			*best = sym;
			*have = true;
		}
	}
	const Elf64_Sym *best = have_in ? &in
	    : have_near && near.st_value >= sized_end ? &near
	    : NULL;
	if (best == NULL)
		return NULL;
	*off = vaddr - best->st_value;
	return strs + best->st_name;
}

static void
sym_obj_unload(sym_obj_t *o) {
	if (o->mapped)
		munmap((void *)o->image, o->size);
	memset(o, 0, sizeof(*o));
}

/*
 * Maps the file behind m, whole and read-only: by its path, or for a file
 * deleted since it was mapped, by /proc/self/map_files (the kernel's link
 * to the very file mapped, readable by the process itself since Linux
 * 4.3).  Only a regular file: opening a device or a FIFO can block or
 * have effects.
 */
static bool
sym_obj_map_file(sym_obj_t *o, const sym_map_t *m) {
	char pathbuf[64];
	const char *path = m->path;
	if (sym_has_suffix(path, DELETED_SUFFIX)) {
		hm_snprintf(pathbuf, sizeof(pathbuf),
		    "/proc/self/map_files/%lx-%lx", (unsigned long)m->start,
		    (unsigned long)m->end);
		path = pathbuf;
	}
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return false;
	void *p = MAP_FAILED;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
	    && st.st_size >= (off_t)sizeof(Elf64_Ehdr)
	    && (uint64_t)st.st_size <= SIZE_MAX)
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd,
		    0);
	close(fd);
	if (p == MAP_FAILED)
		return false;
	o->image = p;
	o->size = (size_t)st.st_size;
	o->mapped = true;
	return true;
}

static void
sym_obj_load(sym_obj_t *o, const sym_map_t *m) {
	o->path = m->path;
	o->inode = m->inode;
	bool ok;
	if (sym_is_vdso(m->path)) {
		/* The kernel's image, mapped whole and readable. */
		o->image = (const unsigned char *)m->start;
		o->size = m->end - m->start;
		ok = true;
	} else {
		ok = sym_obj_map_file(o, m);
	}
	if (ok && !sym_elf_parse(o))
		ok = false;
	if (!ok) {
		/* Kept, imageless, so the object is not tried again. */
		if (o->mapped)
			munmap((void *)o->image, o->size);
		o->image = NULL;
		o->size = 0;
		o->mapped = false;
	}
}

/* The cached object behind m, loading it in place of the least recently
 * used one if need be. */
static sym_obj_t *
sym_obj_get(hm_sym_t *s, const sym_map_t *m) {
	sym_obj_t *victim = &s->objs[0];
	s->tick++;
	for (size_t i = 0; i < SYM_NOBJS; i++) {
		sym_obj_t *o = &s->objs[i];
		if (o->path != NULL && o->inode == m->inode
		    && (o->path == m->path || strcmp(o->path, m->path) == 0)) {
			o->used = s->tick;
			return o;
		}
		if (o->used < victim->used)
			victim = o;
	}
	sym_obj_unload(victim);
	sym_obj_load(victim, m);
	victim->used = s->tick;
	return victim;
}

/*
 * Symbol and file names come from files the process did not necessarily
 * write: a control byte would reach the terminal the report goes to.
 */
static const char *
sym_printable(char *buf) {
	for (char *p = buf; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c >= 0x7f)
			*p = '?';
	}
	return buf;
}

const char *
hm_sym_name(hm_sym_t *s, uintptr_t pc, char *buf, size_t len) {
	if (len == 0)
		return buf;
	/* Files have absolute paths; the rest ("", "[heap]", "[anon:x]",
	 * "anon_inode:x") is memory of no file, but for the vDSO. */
	const sym_map_t *m = sym_find_map(s, pc);
	if (m == NULL || (m->path[0] != '/' && !sym_is_vdso(m->path))) {
		hm_snprintf(buf, len, "0x%lx", (unsigned long)pc);
		return buf;
	}
	uint64_t fo = m->offset + (pc - m->start);
	uint64_t addr = fo;
	const sym_obj_t *o = sym_obj_get(s, m);
	if (o->image != NULL && sym_elf_vaddr(o, fo, &addr)) {
		uint64_t off;
		const char *name = sym_elf_lookup(o, addr, &off);
		if (name != NULL) {
			if (off == 0)
				hm_snprintf(buf, len, "%s", name);
			else
				hm_snprintf(buf, len, "%s+0x%lx", name,
				    (unsigned long)off);
			return sym_printable(buf);
		}
	}
	/* The object's file name, without directory or deletion mark. */
	const char *base = strrchr(m->path, '/');
	base = base != NULL ? base + 1 : m->path;
	size_t n = strlen(base);
	if (sym_has_suffix(base, DELETED_SUFFIX))
		n -= strlen(DELETED_SUFFIX);
	hm_snprintf(buf, len, "%.*s+0x%lx", (int)n, base,
	    (unsigned long)addr);
	return sym_printable(buf);
}

void
hm_sym_close(hm_sym_t *s) {
	for (size_t i = 0; i < SYM_NOBJS; i++)
		sym_obj_unload(&s->objs[i]);
	if (s->ents != NULL)
		munmap(s->ents, s->ents_mapsize);
	if (s->maps != NULL)
		munmap(s->maps, s->maps_mapsize);
	memset(s, 0, sizeof(*s));
}
