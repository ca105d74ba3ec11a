/*
 * prof_sym.h: names for code addresses, for the profiler's leak report.
 *
 * The report is written at exit from inside the allocator, so nothing here
 * allocates (no malloc, no stdio, no opendir, no dladdr), takes a lock or
 * needs the allocator to be in any particular state: the memory it uses
 * is mapped with mmap, the text it writes is formatted by hm_snprintf().
 * Any failure (an unreadable or stripped object, a malformed ELF file, no
 * memory) costs precision, not correctness: the answer falls back to the
 * object and offset, then to the bare address.
 *
 * A context holds one snapshot of /proc/self/maps and the last few ELF
 * objects looked into (mapped read-only, whole), so that the many
 * addresses of one report read each object once.  A lookup scans the
 * object's symbol table from end to end (no index is built: a report
 * names a few thousand addresses).  The caller owns the context and uses
 * it from one thread at a time; it may live on the stack (about 500
 * bytes).
 */
#ifndef HM_PROF_SYM_H
#define HM_PROF_SYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Objects kept open at once: the program, libc, and a few libraries. */
#define SYM_NOBJS 4

/* One ELF object looked into (the fields are the context's business). */
typedef struct sym_obj_s {
	const char *path;  /* key: the mapping's path, in the maps text;
			    * NULL: slot unused */
	uint64_t inode;    /* key too: a path can name two deleted files */
	const unsigned char *image;  /* the ELF image; NULL: unreadable */
	size_t size;       /* bytes at image, all validated against */
	bool mapped;       /* image is our mapping of the file ([vdso]:
			    * the live image, not ours to unmap) */
	uint64_t phoff;    /* program headers: offset, count, stride */
	size_t phnum;
	size_t phentsize;
	uint64_t shoff;    /* section headers: offset, count, stride */
	size_t shnum;
	size_t shentsize;
	uint64_t symoff;   /* symbol table (.symtab, else .dynsym) */
	size_t nsyms;
	size_t symentsize;
	uint64_t stroff;   /* its string table */
	size_t strsize;
	uint64_t used;     /* tick of the last lookup, for eviction */
} sym_obj_t;

typedef struct hm_sym_s {
	char *maps;           /* /proc/self/maps text, lines NUL-split */
	size_t maps_mapsize;  /* bytes mapped at maps */
	struct sym_map_s *ents;  /* its parsed lines, by address */
	size_t nents;
	size_t ents_mapsize;  /* bytes mapped at ents */
	uint64_t tick;        /* lookups so far */
	sym_obj_t objs[SYM_NOBJS];
} hm_sym_t;

/*
 * Takes the snapshot of the process's mappings.  False on failure; the
 * context can still be used then, and names every address by its value.
 * Mappings made later (a library loaded afterwards) are not seen.
 */
bool hm_sym_open(hm_sym_t *s);

/*
 * Writes into buf (len > 0: always NUL-terminated, truncated to fit) the
 * name of the code at pc and returns buf:
 *   "name+0x1f"        the function that holds pc ("name" at its start);
 *   "libfoo.so+0x1234" an object with no symbol for pc (its ELF address,
 *                      which addr2line takes; the file offset when the
 *                      file could not be read or no segment holds pc);
 *   "0x7f..."          pc in no mapping of a file.
 * Bytes outside printable ASCII are written as '?'.  For a return
 * address, pass the address less one: a call that ends a function returns
 * past its end.
 */
const char *hm_sym_name(hm_sym_t *s, uintptr_t pc, char *buf, size_t len);

/* Unmaps everything the context holds; it may be opened again. */
void hm_sym_close(hm_sym_t *s);

#endif /* HM_PROF_SYM_H */
