/*
 * ctl.h: the mallctl namespace (jemalloc's interface for reading and
 * setting allocator state by name).  Names are leaves of a table of
 * patterns where "#" stands for a numeric index ("arena.#.purge") and
 * "opt.*" for any option; a MIB is the name's path in the tree the
 * patterns make (a rank among siblings, or the number), so a program can
 * rewrite an index in a MIB as with jemalloc.  Calls are serialised by the
 * ctl lock.
 */
#ifndef HM_CTL_H
#define HM_CTL_H

#include <stddef.h>

#include "util.h"

bool hm_ctl_boot(void);
void hm_ctl_prefork(void);
void hm_ctl_postfork_parent(void);
void hm_ctl_postfork_child(void);

/* The counters of the arenas destroyed so far (MALLCTL_ARENAS_DESTROYED),
 * NULL while none was; the ctl lock is held. */
struct arena_stats_s;
const struct arena_stats_s *hm_ctl_stats_destroyed(void);

/*
 * What some names need from the layers above ctl, handed in by the entry
 * points (mallocx.c) with each call, since ctl may not call up: the
 * engine's batch allocation (experimental.batch_alloc), with mallocx's
 * flags.
 */
typedef struct ctl_env_s {
	size_t (*batch_alloc)(void **ptrs, size_t num, size_t size, int flags);
} ctl_env_t;

/* mallctl, mallctlnametomib, mallctlbymib and malloc_stats_print, for
 * their entry points, which initialise the allocator first. */
int hm_ctl_byname(const ctl_env_t *env, const char *name, void *oldp,
    size_t *oldlenp, void *newp, size_t newlen);
int hm_ctl_nametomib(const char *name, size_t *mibp, size_t *miblenp);
int hm_ctl_bymib(const ctl_env_t *env, const size_t *mib, size_t miblen,
    void *oldp, size_t *oldlenp, void *newp, size_t newlen);
void hm_ctl_stats_print(void (*write_cb)(void *, const char *),
    void *cbopaque, const char *opts);

#endif /* HM_CTL_H */
