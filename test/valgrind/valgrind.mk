# hmalloc with Valgrind client requests (HM_VALGRIND, src/vg.h), and the
# memcheck test that make check runs on it.  Included by the Makefile.
VG_BUILD := build/valgrind
EXTRA_TEST_DEPS += valgrind-build
EXTRA_TEST_BINS += test/valgrind/memcheck.sh

.PHONY: valgrind-build
valgrind-build:
	@$(MAKE) --no-print-directory BUILD=$(VG_BUILD) \
		VARIANT_CFLAGS=-DHM_VALGRIND lib
	@mkdir -p $(VG_BUILD)/test
	$(CC) -std=gnu11 -O1 -g -Wall -Wextra $(NOBUILTIN) \
		-o $(VG_BUILD)/test/vgprog test/valgrind/vgprog.c \
		-L$(VG_BUILD)/lib -lhmalloc -Wl,-rpath,$(abspath $(VG_BUILD)/lib)
