# The fuzzer (test/fuzz): an interpreter of allocation calls (interp.c)
# checked against a shadow model, on a prefixed (hm_*) build of hmalloc,
# so the program keeps the C library's malloc (or the sanitizer's).
#
#   make check        replays the seed corpus (test/fuzz/corpus) with
#                     $(FUZZ_REPLAY), built by $(CC) in the variant's flags,
#                     and again as replay_san, guarding every block it can
#   make fuzz         builds the libFuzzer target with clang and runs it for
#                     FUZZ_SECONDS (default 60): new inputs go to
#                     $(FUZZ_DIR)/corpus, failing ones to $(FUZZ_DIR)/artifacts;
#                     FUZZ_CONF sets MALLOC_CONF (e.g. narenas:1), FUZZ_ARGS
#                     adds libFuzzer flags (e.g. -jobs=2, -seed=1)
#   make fuzz-build   builds the libFuzzer target only
#   make fuzz-corpus  regenerates the seed corpus (test/fuzz/gen_corpus.py)
#
# A failing input replays with `$(FUZZ_REPLAY) FILE` (HMFUZZ_TRACE=1 prints
# each operation) or `$(FUZZ_DIR)/hmfuzz FILE`.

FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_MAX_LEN ?= 4096
FUZZ_ARGS ?=
FUZZ_CONF ?=

FUZZ_SRC := test/fuzz
FUZZ_SEEDS := $(FUZZ_SRC)/corpus
FUZZ_HDRS := $(FUZZ_SRC)/interp.h include/hmalloc.h

# Replay driver: its own prefixed objects; HM_DEBUG for the internal
# assertions.  Under check-ubsan it inherits the UBSan flags.
FUZZ_REPLAY_DIR := $(BUILD)/fuzz-replay
FUZZ_REPLAY_OBJS := $(patsubst src/%.c,$(FUZZ_REPLAY_DIR)/obj/%.o,$(LIB_SRCS))
FUZZ_REPLAY := $(FUZZ_REPLAY_DIR)/test/fuzz/replay
FUZZ_REPLAY_CFLAGS := $(CFLAGS_LIB) -DHM_PREFIXED -DHM_DEBUG

$(FUZZ_REPLAY_DIR)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(FUZZ_REPLAY_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_REPLAY): $(FUZZ_SRC)/replay.c $(FUZZ_SRC)/interp.c $(FUZZ_HDRS) \
		$(FUZZ_REPLAY_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -DHM_PREFIXED \
		-DHMFUZZ_CORPUS='"$(abspath $(FUZZ_SEEDS))"' -o $@ \
		$(FUZZ_SRC)/replay.c $(FUZZ_SRC)/interp.c $(FUZZ_REPLAY_OBJS) \
		$(LDLIBS_ALL)

# The corpus again with every block guarded that can be (replay_san.env).
FUZZ_REPLAY_SAN := $(FUZZ_REPLAY)_san
$(FUZZ_REPLAY_SAN): $(FUZZ_REPLAY)
	ln -sf $(notdir $<) $@

EXTRA_TEST_BINS += $(FUZZ_REPLAY) $(FUZZ_REPLAY_SAN)
EXTRA_TEST_DEPS += $(FUZZ_REPLAY) $(FUZZ_REPLAY_SAN)

# libFuzzer target: clang, coverage on hmalloc's code and the
# interpreter's, ASan and UBSan.  Nothing `make check` needs.
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_OBJS := $(patsubst src/%.c,$(FUZZ_DIR)/obj/%.o,$(LIB_SRCS))
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -O1 -g -fvisibility=hidden \
	-ftls-model=initial-exec -D_GNU_SOURCE -Iinclude -Isrc $(NOBUILTIN) \
	$(WARN) -DHM_PREFIXED -DHM_DEBUG $(FUZZ_SAN)

# Says clearly what is missing when clang or its libFuzzer runtime is.
$(FUZZ_DIR)/probe.ok:
	@mkdir -p $(dir $@)
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { echo "make fuzz:" \
		"$(FUZZ_CC) not found: the fuzzer needs clang and its" \
		"libFuzzer runtime (libclang-rt-<major>-dev)" >&2; exit 1; }
	@printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
		'{ (void)d; (void)n; return 0; }' > $(FUZZ_DIR)/probe.c
	@$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $(FUZZ_DIR)/probe \
		$(FUZZ_DIR)/probe.c >$(FUZZ_DIR)/probe.log 2>&1 || { \
		cat $(FUZZ_DIR)/probe.log >&2; echo "make fuzz: $(FUZZ_CC)" \
		"cannot link libFuzzer (-fsanitize=fuzzer): install" \
		"libclang-rt-$$($(FUZZ_CC) -dumpversion | cut -d. -f1)-dev" \
		>&2; \
		exit 1; }
	@touch $@

$(FUZZ_DIR)/obj/%.o: src/%.c | $(FUZZ_DIR)/probe.ok
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

# The interpreter without comparison tracing: its comparisons are of
# hmalloc's answers, not of input bytes.
$(FUZZ_DIR)/interp.o: $(FUZZ_SRC)/interp.c $(FUZZ_HDRS) | $(FUZZ_DIR)/probe.ok
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
		-fno-sanitize-coverage=trace-cmp -c $< -o $@

$(FUZZ_DIR)/hmfuzz: $(FUZZ_SRC)/libfuzzer.c $(FUZZ_HDRS) $(FUZZ_DIR)/interp.o \
		$(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ \
		$(FUZZ_SRC)/libfuzzer.c $(FUZZ_DIR)/interp.o $(FUZZ_OBJS) \
		$(LDLIBS_ALL)

.PHONY: fuzz fuzz-build fuzz-corpus

fuzz-build: $(FUZZ_DIR)/hmfuzz

fuzz: $(FUZZ_DIR)/hmfuzz
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/artifacts
	$(if $(FUZZ_CONF),MALLOC_CONF="$(FUZZ_CONF)") $(FUZZ_DIR)/hmfuzz \
		-max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) \
		-timeout=60 -rss_limit_mb=4096 -detect_leaks=0 \
		-print_final_stats=1 \
		-artifact_prefix=$(abspath $(FUZZ_DIR)/artifacts)/ \
		$(FUZZ_ARGS) \
		$(FUZZ_DIR)/corpus $(FUZZ_SEEDS)

fuzz-corpus:
	python3 $(FUZZ_SRC)/gen_corpus.py $(FUZZ_SEEDS)

-include $(FUZZ_REPLAY_OBJS:.o=.d) $(FUZZ_OBJS:.o=.d)
