# bench/bench.mk: the benchmark suite, included by the Makefile.
#
#   make bench         every workload under hmalloc, glibc, jemalloc,
#                      mimalloc and tcmalloc; writes bench/results/latest.md
#                      (BENCH_RUNS=3 runs each, BENCH_ONLY=a,b for a subset,
#                      BENCH_SCALE=1 multiplies the work)
#   make bench-instr   callgrind instructions per malloc+free pair, every
#                      allocator; writes bench/results/instr.md
#   make bench-rss     resident memory over time (bursts and idle periods)
#                      under every allocator and jemalloc with a background
#                      thread; writes bench/results/rss.md and, in
#                      bench/results/rss/, a JSON file and a chart (PNG,
#                      SVG) per workload.  One run each, about 5 minutes;
#                      BENCH_ARGS="--runs 3" for medians of 3
#   make bench-safety  what the safety features cost: every workload under
#                      hmalloc only, default build against a build without
#                      free's fast-path checks (-DHM_UNCHECKED, built into
#                      build/unchecked) and with each secure-mode option;
#                      writes bench/results/safety.md; 15 to 25 minutes;
#                      BENCH_ARGS="--runs 5 --runs-options 3" to change the
#                      runs, BENCH_ONLY and BENCH_SCALE as for bench
#   make bench-san     what sampled guarded allocations cost: every
#                      workload under hmalloc as built (on, 2^24), with
#                      san_guard:false and with lg_san_guard_sample:16;
#                      writes bench/results/san.md; BENCH_ARGS="--runs 3"
#                      to change the runs
#   make bench-trace   what recording a trace costs (opt.trace): every
#                      workload under hmalloc with and without trace:true,
#                      and the trace's bytes per call; writes
#                      bench/results/trace.md; BENCH_ARGS="--runs 3"
#   make bench-prof    what the heap profiler costs: instructions per
#                      malloc+free pair with profiling off, built from the
#                      profiler's commit (PROF_COMMIT) against the commit
#                      before (PROF_BASE), both extracted from git into
#                      build/prof-trees; and every workload under hmalloc
#                      with prof:true and prof:true,lg_prof_sample:16
#                      against the default; writes bench/results/prof.md;
#                      about 8 minutes;
#                      BENCH_ARGS="--runs 5 --runs-options 3" to change
#                      the runs, BENCH_ONLY and BENCH_SCALE as for bench
#   make bench-progs   build the workload programs only
#
# BENCH_ARGS: more options for the runner (run.py, instr.py, rss.py; see
# their --help), e.g. BENCH_ARGS="--runs 3 --only server,frag" for rss.py.
#
# The programs call plain malloc/free and link no allocator: the one under
# test comes by LD_PRELOAD.  -fno-builtin keeps the compiler from eliding
# or merging malloc/free pairs.

BENCH_BIN := $(BUILD)/bench
BENCH_RUNS ?= 3
BENCH_ONLY ?=
BENCH_SCALE ?= 1
BENCH_PYTHON ?= python3
BENCH_CFLAGS := -std=gnu11 -O2 -g -fno-builtin -D_GNU_SOURCE -Wall -Wextra \
	-pthread
BENCH_CXXFLAGS := -std=c++17 -O2 -g -fno-builtin -Wall -Wextra -pthread

BENCH_C_PROGS := st_fixed st_random larson prodcons threads_churn \
	false_sharing mixed realloc_growth large_churn huge_churn fragmentation \
	pair instr_random instr_pool runone thread_random glibc_thread rptest \
	xmalloc_test malloc_large espresso_like
BENCH_CXX_PROGS := cxx_map
BENCH_PROGS := $(addprefix $(BENCH_BIN)/,$(BENCH_C_PROGS) $(BENCH_CXX_PROGS))

.PHONY: bench bench-instr bench-progs bench-prof bench-rss bench-safety bench-san \
	bench-trace

$(BENCH_BIN)/%: bench/%.c bench/bench.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lpthread

$(BENCH_BIN)/%: bench/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(BENCH_CXXFLAGS) -o $@ $< -lpthread

BENCH_RSS_PROGS := $(addprefix $(BENCH_BIN)/rss/,server frag prodcons)

$(BENCH_BIN)/rss/%: bench/rss/%.c bench/rss/rss.h bench/bench.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lpthread

bench-progs: $(BENCH_PROGS)

BENCH_DIRS = --bin $(BENCH_BIN) --lib $(abspath $(SO_REAL)) \
	--results bench/results
BENCH_ARGS ?=

bench: lib bench-progs
	$(BENCH_PYTHON) bench/run.py $(BENCH_DIRS) --runs $(BENCH_RUNS) \
		--only "$(BENCH_ONLY)" --scale $(BENCH_SCALE) $(BENCH_ARGS)

bench-instr: lib bench-progs
	$(BENCH_PYTHON) bench/instr.py $(BENCH_DIRS) $(BENCH_ARGS)

bench-rss: lib $(BENCH_RSS_PROGS)
	$(BENCH_PYTHON) bench/rss.py $(BENCH_DIRS) $(BENCH_ARGS)

# The unchecked build is a variant of its own; make rebuilds it when the
# sources change.
BENCH_UNCHECKED := build/unchecked/lib/libhmalloc.so.$(VERSION)

bench-safety: lib bench-progs
	$(MAKE) BUILD=build/unchecked VARIANT_CFLAGS=-DHM_UNCHECKED lib
	$(BENCH_PYTHON) bench/safety.py $(BENCH_DIRS) \
		--lib-unchecked $(BENCH_UNCHECKED) --only "$(BENCH_ONLY)" \
		--scale $(BENCH_SCALE) $(BENCH_ARGS)

# The profiler's commit and the one before it come out of git with git
# archive, which leaves the working tree, the index and the refs alone;
# each is extracted once, into build/prof-trees/<commit>, and built there
# by its own make (BUILD=build: this make's variant directory is not its
# business).
PROF_COMMIT ?= 15c846e
PROF_BASE ?= $(PROF_COMMIT)^
BENCH_PROF_TREES := build/prof-trees
# The library built from commit $(1) (a shell word).
bench_prof_lib = $(BENCH_PROF_TREES)/$$(git rev-parse "$(1)^{commit}")/lib/libhmalloc.so
bench_prof_rev = "$(1) = $$(git rev-parse --short "$(1)^{commit}")"

bench-trace: all bench-progs
	$(BENCH_PYTHON) bench/trace.py $(BENCH_DIRS) --only "$(BENCH_ONLY)" \
		--scale $(BENCH_SCALE) $(BENCH_ARGS)

bench-san: lib bench-progs
	$(BENCH_PYTHON) bench/san.py $(BENCH_DIRS) --only "$(BENCH_ONLY)" \
		--scale $(BENCH_SCALE) $(BENCH_ARGS)

bench-prof: lib bench-progs
	@for r in "$(PROF_BASE)" "$(PROF_COMMIT)"; do \
		c=$$(git rev-parse --verify -q "$$r^{commit}") || \
			{ echo "bench-prof: $$r is no commit" >&2; exit 1; }; \
		d=$(BENCH_PROF_TREES)/$$c; \
		if [ ! -f $$d/.extracted ]; then \
			echo "bench-prof: extracting $$r into $$d"; \
			rm -rf $$d && mkdir -p $$d && \
			git archive $$c | tar -x -C $$d && \
			touch $$d/.extracted || exit 1; \
		fi; \
		$(MAKE) -C $$d BUILD=build lib || exit 1; \
	done
	$(BENCH_PYTHON) bench/prof.py $(BENCH_DIRS) \
		--lib-before $(call bench_prof_lib,$(PROF_BASE)) \
		--before $(call bench_prof_rev,$(PROF_BASE)) \
		--lib-profiler $(call bench_prof_lib,$(PROF_COMMIT)) \
		--profiler $(call bench_prof_rev,$(PROF_COMMIT)) \
		--only "$(BENCH_ONLY)" --scale $(BENCH_SCALE) $(BENCH_ARGS)

# test/programs/bench_suite.sh runs the programs as tests.
check-default: bench-progs
