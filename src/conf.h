/*
 * conf.h: options.  Read once at start-up from, in order, each overriding
 * the one before:
 *   1. the malloc_conf global a program defines (a weak reference: see
 *      hmalloc(3) for when the dynamic linker lets hmalloc see it);
 *   2. the name the symbolic link /etc/malloc.conf points to;
 *   3. the MALLOC_CONF environment variable;
 *   4. the HMALLOC_CONF environment variable (for hmalloc-only keys where
 *      another jemalloc in the process also reads MALLOC_CONF).
 * Environment variables are ignored in setuid/setgid programs
 * (secure_getenv).  Syntax: key:value[,key:value...].  A bad pair prints
 * `<hmalloc>: Invalid conf pair: key:value` and is skipped, or aborts with
 * abort_conf:true.  Nothing here allocates.
 *
 * Each option has one name: conf key narenas = mallctl opt.narenas =
 * variable opt_narenas (defined by the module that uses it).
 */
#ifndef HM_CONF_H
#define HM_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#ifndef HM_CONF_FILE
#  define HM_CONF_FILE "/etc/malloc.conf"
#endif

typedef enum {
	CONF_BOOL,      /* bool */
	CONF_UNSIGNED,  /* unsigned, within [min, max] */
	CONF_SSIZE,     /* ssize_t, within [min, max] */
	CONF_SIZE,      /* size_t, within [min, max] */
	CONF_ENUM,      /* unsigned index into names[] */
	CONF_STRING,    /* char[OPT_STRING_MAX] */
	CONF_SLAB_SIZES, /* the same, in opt.slab_sizes's syntax (sc.h) */
} conf_type_t;


typedef struct conf_opt_s {
	const char *name;
	conf_type_t type;
	void *ptr;
	int64_t min, max;
	const char *const *names; /* CONF_ENUM */
	unsigned nnames;
} conf_opt_t;

HM_EXTERN const conf_opt_t hm_conf_opts[];
HM_EXTERN const unsigned hm_conf_nopts;

/* Options owned by conf.c. */
HM_EXTERN bool opt_abort;
HM_EXTERN bool opt_abort_conf;
HM_EXTERN bool opt_confirm_conf;
/* operator new never fails: a failure it cannot satisfy aborts (cxx.c). */
HM_EXTERN bool opt_experimental_infallible_new;
HM_EXTERN bool opt_stats_print;
HM_EXTERN char opt_stats_print_opts[OPT_STRING_MAX];
/* realloc(ptr, 0), as jemalloc 5.3's opt.zero_realloc: free ptr and
 * return NULL (glibc's answer), an allocation of size 0, or abort. */
typedef enum {
	ZERO_REALLOC_FREE,
	ZERO_REALLOC_ALLOC,
	ZERO_REALLOC_ABORT,
} zero_realloc_t;
HM_EXTERN unsigned opt_zero_realloc; /* a zero_realloc_t */
HM_EXTERN const char *const hm_zero_realloc_names[3];

/* Derived from opt_junk and opt_zero: one test on the allocation path. */

/* Reads every source (start-up step 1). */
void hm_conf_init(void);

/* Parses one conf string (source names it in confirm_conf output);
 * returns the number of invalid pairs. */
unsigned hm_conf_parse(const char *s, const char *source);

/* Reads the target of the symbolic link at path into buf; false if there
 * is none. */
bool hm_conf_read_link(const char *path, char *buf, size_t size);

/* Looks up an option by name (len bytes), NULL if unknown. */
const conf_opt_t *hm_conf_find(const char *name, size_t len);

#endif /* HM_CONF_H */
