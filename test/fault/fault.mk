# test/fault/fault.mk: the fault-injection suite (test/fault/fault.c), in
# `make check`.  Its program links hmalloc's objects built apart, in
# $(BUILD)/fault, with the flags of the build that includes this file
# (so check-ubsan builds it with UBSan) and two more: -DHM_PREFIXED, so
# that the program's own stdio keeps glibc's malloc, and -DHM_FAULT_INJECT,
# the system-call counter of os.c.
#
#   make check-fault   build it and run it alone

ifeq ($(filter -DHM_FAULT_INJECT,$(VARIANT_CFLAGS)),)

FAULT_BUILD := $(BUILD)/fault
FAULT_BIN := $(FAULT_BUILD)/test/fault/fault
EXTRA_TEST_BINS += $(FAULT_BIN)
EXTRA_TEST_DEPS += fault-build

.PHONY: fault-build check-fault
fault-build:
	@$(MAKE) --no-print-directory BUILD=$(FAULT_BUILD) OPT="$(OPT)" \
		VARIANT_CFLAGS="$(VARIANT_CFLAGS) -DHM_PREFIXED -DHM_FAULT_INJECT" \
		$(FAULT_BIN)

check-fault: fault-build
	@$(TEST_ENV) tools/dev/runtests.sh $(FAULT_BIN)

else

# Inside that build: the program links the objects, as unit tests do.
$(BUILD)/test/fault/%: test/fault/%.c $(LIB_OBJS) $(HARNESS_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -o $@ $< $(HARNESS_OBJ) $(LIB_OBJS) $(LDLIBS_ALL)

endif
