# bench/bench.mk: the benchmark suite, included by the Makefile.
#
#   make bench         every workload under hmalloc, glibc, jemalloc,
#                      mimalloc and tcmalloc; writes bench/results/latest.md
#                      (BENCH_RUNS=3 runs each, BENCH_ONLY=a,b for a subset,
#                      BENCH_SCALE=1 multiplies the work)
#   make bench-instr   callgrind instructions per malloc+free pair, every
#                      allocator; writes bench/results/instr.md
#   make bench-progs   build the workload programs only
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
	false_sharing mixed realloc_growth large_churn fragmentation \
	pair instr_random runone
BENCH_CXX_PROGS := cxx_map
BENCH_PROGS := $(addprefix $(BENCH_BIN)/,$(BENCH_C_PROGS) $(BENCH_CXX_PROGS))

.PHONY: bench bench-instr bench-progs

$(BENCH_BIN)/%: bench/%.c bench/bench.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lpthread

$(BENCH_BIN)/%: bench/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(BENCH_CXXFLAGS) -o $@ $< -lpthread

bench-progs: $(BENCH_PROGS)

BENCH_ARGS = --bin $(BENCH_BIN) --lib $(abspath $(SO_REAL)) \
	--results bench/results

bench: lib bench-progs
	$(BENCH_PYTHON) bench/run.py $(BENCH_ARGS) --runs $(BENCH_RUNS) \
		--only "$(BENCH_ONLY)" --scale $(BENCH_SCALE)

bench-instr: lib bench-progs
	$(BENCH_PYTHON) bench/instr.py $(BENCH_ARGS)
