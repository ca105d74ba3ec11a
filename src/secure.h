/*
 * secure.h: hardening beyond the checks every build makes (secure:true
 * turns on all of them; each has its own option too):
 *
 *   slab_random  regions are taken from a slab in random order, so the
 *                address of the next block cannot be predicted from the
 *                last one (heap grooming for overflows gets harder).
 *   zero_free    a freed block is zeroed at once, so its contents do not
 *                outlive it; with the quarantine, a block that is no
 *                longer zero when it leaves was written after its free.
 *   canary       a Small block's last word holds a secret value derived
 *                from its address, checked when it is freed: a write
 *                past the end of the block (a linear overflow) is caught
 *                there.  The word is not the program's: usable sizes
 *                are one word less.
 *   guard        an inaccessible page after every huge block (at most
 *                GUARD_HUGE_MAX of them at once), after one Large block
 *                in GUARD_LARGE_EVERY (at most GUARD_LARGE_MAX at once),
 *                and on both sides of metadata mappings: an overrun
 *                faults at once.
 *   quarantine   freed blocks (Small and Large) wait in a FIFO of that
 *                many bytes before they can be reused, so a dangling
 *                pointer does not at once alias a new object; a second
 *                free of a block waiting there is a double free.
 *
 * Freeing through the quarantine or zeroing happens on free's slow path:
 * these options turn the thread caches off, as junk does, so the fast
 * path pays nothing for them when they are off.
 */
#ifndef HM_SECURE_H
#define HM_SECURE_H

#include <stdint.h>
#include <string.h>

#include "util.h"

HM_EXTERN bool opt_secure;
HM_EXTERN bool opt_slab_random;
HM_EXTERN bool opt_zero_free;
HM_EXTERN bool opt_canary;
HM_EXTERN bool opt_guard;
HM_EXTERN size_t opt_quarantine;
/* Debug fills: junk ("false", "true", "alloc", "free") fills new blocks
 * with JUNK_ALLOC_BYTE and freed ones with JUNK_FREE_BYTE; zero clears
 * every new block.  hm_junk_alloc and hm_junk_free are derived at boot. */
HM_EXTERN unsigned opt_junk;
HM_EXTERN const char *const hm_junk_names[4];
HM_EXTERN bool opt_zero;
HM_EXTERN bool hm_junk_alloc;
HM_EXTERN bool hm_junk_free;
#define JUNK_ALLOC_BYTE 0xa5
#define JUNK_FREE_BYTE 0x5a

/* The process secret (random, odd), set first thing at boot: tags that
 * mark freed blocks are addresses encoded with it, so a program cannot
 * forge one. */
HM_EXTERN uintptr_t hm_secret;

/* Derived at boot: a freed block goes through hm_secure_free(). */
HM_EXTERN bool hm_secure_free_hook;

#define CANARY_SIZE sizeof(uint64_t)
/* CANARY_SIZE with canaries on, else 0: what a Small block's canary takes
 * from the program's bytes (set at boot). */
HM_EXTERN size_t hm_canary_size;
/* Guarded huge blocks at most: a guard splits a mapping, and Linux allows
 * vm.max_map_count mappings (65530 by default) in all. */
#define GUARD_HUGE_MAX 8192
/* A guarded Large block splits its chunk's mapping in three: a sample of
 * them, and a bound.  With the huge ones and the metadata's, hmalloc's
 * guards then stay under 2 * (8192 + 8192) + a few hundred mappings. */
#define GUARD_LARGE_EVERY 16
#define GUARD_LARGE_MAX 8192

/* The canary of the block at p. */
static inline uint64_t
secure_canary(const void *p) {
	uint64_t x = ((uintptr_t)p ^ hm_secret) * 0xd6e8feb86659fd93ULL;
	return x ^ (x >> 32);
}

/* secure:true or false given: sets the options it implies to match. */
void hm_secure_conf(void);

/* The secret, and the quarantine if on; after hm_conf_init(). */
bool hm_secure_boot(void);

/*
 * Takes over a freed block of usize bytes (Small or Large, validated by
 * the caller and by hm_secure_check_parked()): zeroes it (zero_free) and
 * parks it in the quarantine.  Returns true if it parked it; false if the
 * caller frees it now.  Blocks leaving the quarantine are checked and
 * freed with free_fn, outside its lock: a parked block written after its
 * free aborts.
 */
bool hm_secure_free(void *ptr, size_t usize, void (*free_fn)(void *ptr));

/* Aborts with "double free" if ptr (a Small or Large block being freed)
 * is parked in the quarantine; first, before anything reads the block. */
void hm_secure_check_parked(void *ptr);

/* Frees every parked block; thread.tcache.flush and arena resets call
 * it, so that statistics and arenas see every free. */
void hm_quarantine_drain(void);

/* A random 64-bit value from *state (xorshift64*), seeded from the
 * process secret when *state is 0. */
uint64_t hm_secure_random(uint64_t *state);

void hm_secure_prefork(void);
void hm_secure_postfork_parent(void);
void hm_secure_postfork_child(void);

#endif /* HM_SECURE_H */
