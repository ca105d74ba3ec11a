/*
 * The libFuzzer target: each input is run by the interpreter (interp.c)
 * against a prefixed build of hmalloc compiled with the same coverage and
 * sanitizer flags, so libFuzzer's own allocations stay with the sanitizer
 * while hmalloc's code is instrumented.  Built and run by `make fuzz`.
 */
#include "interp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	hmfuzz_run(data, size);
	return 0;
}
