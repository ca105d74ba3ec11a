/*
 * The operation interpreter of the fuzzer (interp.c), shared by the
 * libFuzzer target (libfuzzer.c) and the replay driver (replay.c).  Both
 * link a prefixed build (hm_malloc, ...), so the program keeps the C
 * library's malloc for itself.
 */
#ifndef HMFUZZ_INTERP_H
#define HMFUZZ_INTERP_H

#include <stddef.h>
#include <stdint.h>

/* Operation kinds, as counted in hmfuzz_stats. */
enum {
	FZ_MALLOC,
	FZ_CALLOC,
	FZ_REALLOC,
	FZ_FREE,
	FZ_SDALLOCX,
	FZ_ALIGNED,
	FZ_USABLE,
	FZ_MALLOCX,
	FZ_RALLOCX,
	FZ_XALLOCX,
	FZ_MALLCTL,
	FZ_THREAD,
	FZ_ARENA,
	FZ_TCACHE,
	FZ_FAIL,
	FZ_CHECK,
	FZ_NKINDS
};

extern const char *const hmfuzz_kind_names[FZ_NKINDS];

/* Operations run so far, by kind (skipped ones, on an empty slot, not). */
extern uint64_t hmfuzz_stats[FZ_NKINDS];

/* Named in failure messages: the replay driver's current file. */
extern const char *hmfuzz_input_name;

/* Non-zero: each operation is printed to stderr before it runs. */
extern int hmfuzz_trace;

/*
 * Runs one input as a sequence of operations, checking every result
 * against the shadow model; frees everything before returning, so inputs
 * are independent.  Returns the number of operations run.  A mismatch
 * prints what differed and aborts.  Always called from the same thread.
 */
size_t hmfuzz_run(const uint8_t *data, size_t size);

#endif /* HMFUZZ_INTERP_H */
