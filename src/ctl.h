/*
 * ctl.h: the mallctl namespace (jemalloc's interface for reading and
 * setting allocator state by name).  Names are matched against a table of
 * patterns where "#" stands for a numeric index ("arena.#.purge"); a MIB
 * holds the pattern's index first and the numeric components at their
 * positions, so a program can rewrite an index in a MIB as with jemalloc.
 * Calls are serialised by the ctl lock.
 */
#ifndef HM_CTL_H
#define HM_CTL_H

#include <stddef.h>

#include "util.h"

bool hm_ctl_boot(void);
void hm_ctl_prefork(void);
void hm_ctl_postfork_parent(void);
void hm_ctl_postfork_child(void);

#endif /* HM_CTL_H */
