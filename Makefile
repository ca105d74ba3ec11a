# hmalloc: build, test, install.
#
#   make              lib/libhmalloc.so, lib/libhmalloc.a, bin/hmalloc.sh,
#                     bin/hmreplay
#   make check        the sanitizer builds' quick suites, then every test
#                     on the default build (one summary line last)
#   make check-ubsan  the whole suite in a UBSan + debug build
#   make check-asan   unit tests + short stress, ASan, prefixed (hm_*) build
#   make check-tsan   unit tests + short stress, TSan, prefixed (hm_*) build
#   make demo         run a real program on hmalloc and print its statistics
#   make install PREFIX=/usr/local
#
# A variant build lives in its own directory: BUILD=build/NAME with its own
# VARIANT_CFLAGS; the default build's libraries go to lib/.

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
CXX ?= c++
BUILD ?= build
OPT ?= -O2
VARIANT_CFLAGS ?=
VARIANT_LDFLAGS ?=

ABI_MAJOR := 1
VERSION := $(shell sed -n 's/^\#define HMALLOC_VERSION "\(.*\)"/\1/p' include/hmalloc.h)

ifeq ($(BUILD),build)
LIBDIR := lib
else
LIBDIR := $(BUILD)/lib
endif

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# The allocator must not let the compiler turn its own code into calls to
# malloc/calloc/free (e.g. malloc+memset into calloc).
NOBUILTIN := -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc \
	-fno-builtin-free -fno-builtin-posix_memalign -fno-builtin-aligned_alloc
CFLAGS_LIB := -std=c11 $(OPT) -g -fPIC -fvisibility=hidden \
	-ftls-model=initial-exec -D_GNU_SOURCE -Iinclude -Isrc $(NOBUILTIN) \
	$(WARN) $(VARIANT_CFLAGS) $(CFLAGS)
CFLAGS_TEST := -std=gnu11 -O1 -g -D_GNU_SOURCE -Iinclude -Isrc -Itest/harness \
	-Wall -Wextra $(NOBUILTIN) $(VARIANT_CFLAGS) $(CFLAGS)
CXXFLAGS_TEST := -std=c++17 -O1 -g -Iinclude -Wall -Wextra $(VARIANT_CFLAGS)
LDLIBS_ALL := -lpthread

LIB_SRCS := $(wildcard src/*.c)
LIB_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIB_DEPS := $(LIB_OBJS:.o=.d)

SO_NAME := libhmalloc.so.$(ABI_MAJOR)
SO_REAL := $(LIBDIR)/libhmalloc.so.$(VERSION)
SO_LINKS := $(LIBDIR)/$(SO_NAME) $(LIBDIR)/libhmalloc.so
STATIC := $(LIBDIR)/libhmalloc.a

HARNESS_OBJ := $(BUILD)/test/harness/test.o
UNIT_SRCS := $(wildcard test/unit/*.c)
INTEG_SRCS := $(wildcard test/integration/*.c)
STRESS_SRCS := $(wildcard test/stress/*.c)
CORRUPT_SRCS := $(wildcard test/corrupt/*.c)
CXX_TEST_SRCS := $(wildcard test/programs/*.cc)
UNIT_BINS := $(patsubst test/%.c,$(BUILD)/test/%,$(UNIT_SRCS))
INTEG_BINS := $(patsubst test/%.c,$(BUILD)/test/%,$(INTEG_SRCS))
STRESS_BINS := $(patsubst test/%.c,$(BUILD)/test/%,$(STRESS_SRCS))
CORRUPT_BINS := $(patsubst test/%.c,$(BUILD)/test/%,$(CORRUPT_SRCS))
CXX_TEST_BINS := $(patsubst test/%.cc,$(BUILD)/test/%,$(CXX_TEST_SRCS))
SCRIPT_TESTS := $(sort $(wildcard test/integration/*.sh test/programs/*.sh))

# Suites with builds of their own (fault injection, fuzzing) add their
# test programs to EXTRA_TEST_BINS and their targets to EXTRA_TEST_DEPS.
EXTRA_TEST_BINS :=
EXTRA_TEST_DEPS :=
-include test/fault/fault.mk test/fuzz/fuzz.mk test/valgrind/valgrind.mk

.DEFAULT_GOAL := all

.PHONY: all lib check check-default check-quick check-unit check-ubsan check-asan check-tsan \
	check-sanitizers check-full demo install uninstall clean tests bench

all: lib bin/hmalloc.sh bin/hmreplay

lib: $(SO_LINKS) $(STATIC)

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) -MMD -MP -c $< -o $@

$(SO_REAL): $(LIB_OBJS) src/hmalloc.map
	@mkdir -p $(dir $@)
	$(CC) -shared -o $@ $(LIB_OBJS) -Wl,-soname,$(SO_NAME) \
		-Wl,--version-script=src/hmalloc.map -Wl,-z,now -Wl,-z,relro \
		-static-libgcc \
		$(VARIANT_CFLAGS) $(VARIANT_LDFLAGS) $(LDLIBS_ALL)

$(SO_LINKS): $(SO_REAL)
	ln -sf $(notdir $(SO_REAL)) $@

# The static library hides internals behind one relocatable object, so a
# static program sees only the public names.
$(STATIC): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -r -nostdlib -o $(BUILD)/obj/hmalloc-all.o $(LIB_OBJS)
	objcopy --localize-hidden $(BUILD)/obj/hmalloc-all.o
	rm -f $@
	ar rcs $@ $(BUILD)/obj/hmalloc-all.o

bin/hmalloc.sh: tools/hmalloc.sh.in include/hmalloc.h
	@mkdir -p bin
	sed -e 's|@LIBDIR@|$(abspath lib)|' -e 's|@VERSION@|$(VERSION)|' $< > $@
	chmod +x $@

# hmreplay (docs/trace.md): plain libc, no allocator linked in, so that
# LD_PRELOAD chooses the one it measures; one build for every variant.
HMREPLAY_SRCS := $(wildcard tools/hmreplay/*.c)
bin/hmreplay: $(HMREPLAY_SRCS) tools/hmreplay/hmreplay.h
	@mkdir -p bin
	$(CC) -std=c11 $(OPT) -g -D_GNU_SOURCE $(WARN) $(CFLAGS) -o $@ \
		$(HMREPLAY_SRCS) -lpthread -ldl

# Tests.
$(HARNESS_OBJ): test/harness/test.c test/harness/test.h include/hmalloc.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -c $< -o $@

# Unit tests link the library's objects and may call internals.
$(BUILD)/test/unit/%: test/unit/%.c $(wildcard test/unit/*.h) $(LIB_OBJS) \
		$(HARNESS_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -o $@ $< $(HARNESS_OBJ) $(LIB_OBJS) $(LDLIBS_ALL)

# Integration and stress tests use the built shared library.
$(BUILD)/test/integration/%: test/integration/%.c $(wildcard test/integration/*.h) \
		$(SO_LINKS) $(HARNESS_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -o $@ $< $(HARNESS_OBJ) -L$(LIBDIR) -lhmalloc \
		-Wl,-rpath,$(abspath $(LIBDIR)) $(LDLIBS_ALL)

$(BUILD)/test/corrupt/%: test/corrupt/%.c test/corrupt/corrupt.h $(SO_LINKS) $(HARNESS_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -o $@ $< $(HARNESS_OBJ) -L$(LIBDIR) -lhmalloc \
		-Wl,-rpath,$(abspath $(LIBDIR)) $(LDLIBS_ALL)

$(BUILD)/test/stress/%: test/stress/%.c $(wildcard test/stress/*.h) $(SO_LINKS) \
		$(HARNESS_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -o $@ $< $(HARNESS_OBJ) -L$(LIBDIR) -lhmalloc \
		-Wl,-rpath,$(abspath $(LIBDIR)) $(LDLIBS_ALL)

# C++ test programs are run by their scripts, preloaded or linked.
$(BUILD)/test/programs/%: test/programs/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_TEST) -o $@ $< -lpthread

tests: lib bin/hmalloc.sh bin/hmreplay $(UNIT_BINS) $(INTEG_BINS) $(CORRUPT_BINS) \
	$(STRESS_BINS) $(CXX_TEST_BINS)

TEST_ENV = HM_LIB=$(abspath $(LIBDIR))/libhmalloc.so HM_BUILD=$(abspath $(BUILD)) \
	HM_LOGDIR=$(BUILD)/test-logs HM_VARIANT_CFLAGS="$(VARIANT_CFLAGS)"

# The quicker tests run again under other options, as jemalloc crosses
# its builds with configurations.
# (Under prof:true the unit tests skip: they look at where blocks land,
# and sampled blocks land elsewhere at random.)
CROSS_CONFS := tcache:false narenas:1 dirty_decay_ms:0 dirty_decay_ms:-1,junk:true \
	secure:true prof:true,lg_prof_sample:12 \
	lg_san_guard_sample:0,san_guard_interval_ms:0
# (Not the RSS and exhaustion tests: their figures depend on the options.)
CROSS_TESTS = $(UNIT_BINS) $(filter-out %/memory_returned %/thread_exit \
	%/rlimit,$(INTEG_BINS))

# make check: the sanitizer builds first (UBSan + debug: unit, integration
# and misuse tests; ASan and TSan, prefixed: unit and short stress tests),
# then the whole suite on the default build, crossed with options.  The
# last line counts every run (HM_TALLY).
TALLY := $(abspath $(BUILD))/check.tally
check:
	@mkdir -p $(BUILD)
	@rm -f $(TALLY)
	@tools/dev/tally-run.sh $(TALLY) ubsan $(MAKE) --no-print-directory \
		BUILD=build/ubsan OPT=-O1 VARIANT_CFLAGS="$(UBSAN_CFLAGS)" \
		HM_TALLY=$(TALLY) check-quick
	@tools/dev/tally-run.sh $(TALLY) asan $(MAKE) --no-print-directory \
		BUILD=build/asan OPT=-O1 HM_SAN_CHECK=1 \
		VARIANT_CFLAGS="$(ASAN_CFLAGS)" HM_TALLY=$(TALLY) san-check
	@tools/dev/tally-run.sh $(TALLY) tsan $(MAKE) --no-print-directory \
		BUILD=build/tsan OPT=-O1 HM_SAN_CHECK=1 \
		VARIANT_CFLAGS="$(TSAN_CFLAGS)" HM_TALLY=$(TALLY) san-check
	@$(MAKE) --no-print-directory HM_TALLY=$(TALLY) check-default

check-default: tests $(EXTRA_TEST_DEPS)
	@$(TEST_ENV) HM_CROSS_CONFS="$(CROSS_CONFS)" tools/dev/runtests.sh \
		$(UNIT_BINS) $(INTEG_BINS) $(CORRUPT_BINS) $(STRESS_BINS) \
		$(SCRIPT_TESTS) $(EXTRA_TEST_BINS) --cross $(CROSS_TESTS)

# (As the crossed runs, without the tests whose RSS bounds assume the
# default build.)
check-quick: tests
	@$(TEST_ENV) tools/dev/runtests.sh $(CROSS_TESTS) $(CORRUPT_BINS)

check-unit: tests
	@$(TEST_ENV) tools/dev/runtests.sh $(UNIT_BINS)

# The UBSan build is also the debug build: internal assertions and the
# lock-order check are on.
UBSAN_CFLAGS := -DHM_DEBUG -fsanitize=undefined -fno-sanitize-recover=undefined
ASAN_CFLAGS := -DHM_PREFIXED -fsanitize=address -fno-omit-frame-pointer
TSAN_CFLAGS := -DHM_PREFIXED -fsanitize=thread
check-ubsan:
	$(MAKE) BUILD=build/ubsan OPT=-O1 VARIANT_CFLAGS="$(UBSAN_CFLAGS)" \
		check-default

SAN_TESTS = $(UNIT_BINS) $(STRESS_BINS)
check-asan:
	$(MAKE) BUILD=build/asan OPT=-O1 HM_SAN_CHECK=1 \
		VARIANT_CFLAGS="$(ASAN_CFLAGS)" san-check
check-tsan:
	$(MAKE) BUILD=build/tsan OPT=-O1 HM_SAN_CHECK=1 \
		VARIANT_CFLAGS="$(TSAN_CFLAGS)" san-check
san-check: $(UNIT_BINS) $(STRESS_BINS)
	@$(TEST_ENV) HM_STRESS_SHORT=1 tools/dev/runtests.sh $(SAN_TESTS)

check-sanitizers: check-ubsan check-asan check-tsan

demo: all
	@tools/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
		$(DESTDIR)$(PREFIX)/include/jemalloc \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/share/man/man3
	install -m 755 $(SO_REAL) $(DESTDIR)$(PREFIX)/lib/
	ln -sf $(notdir $(SO_REAL)) $(DESTDIR)$(PREFIX)/lib/$(SO_NAME)
	ln -sf $(notdir $(SO_REAL)) $(DESTDIR)$(PREFIX)/lib/libhmalloc.so
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/hmalloc.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/jemalloc/jemalloc.h $(DESTDIR)$(PREFIX)/include/jemalloc/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
		tools/hmalloc.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/hmalloc.pc
	sed -e 's|@LIBDIR@|$(PREFIX)/lib|' -e 's|@VERSION@|$(VERSION)|' \
		tools/hmalloc.sh.in > $(DESTDIR)$(PREFIX)/bin/hmalloc.sh
	chmod 755 $(DESTDIR)$(PREFIX)/bin/hmalloc.sh
	install -m 755 bin/hmreplay $(DESTDIR)$(PREFIX)/bin/
	install -m 644 docs/hmalloc.3 $(DESTDIR)$(PREFIX)/share/man/man3/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libhmalloc.* \
		$(DESTDIR)$(PREFIX)/include/hmalloc.h \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig/hmalloc.pc \
		$(DESTDIR)$(PREFIX)/bin/hmalloc.sh \
		$(DESTDIR)$(PREFIX)/bin/hmreplay \
		$(DESTDIR)$(PREFIX)/share/man/man3/hmalloc.3
# jemalloc.h only if it is ours: a real jemalloc's may live there.
	if grep -qs HMALLOC_JEMALLOC_H $(DESTDIR)$(PREFIX)/include/jemalloc/jemalloc.h; \
	then rm -f $(DESTDIR)$(PREFIX)/include/jemalloc/jemalloc.h; fi
	rmdir $(DESTDIR)$(PREFIX)/include/jemalloc 2>/dev/null || true

clean:
	rm -rf build lib bin

-include $(LIB_DEPS)
include bench/bench.mk
