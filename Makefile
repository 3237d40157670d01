# schedworker: OpenEMR scheduling worker.
#
#   make            build the worker and the tools
#   make test       build everything and run every test (installs deps if missing),
#                   the integration suite also against OpenEMR 7.0.3
#                   (tests/profile-matrix), the date-sensitive ones also at
#                   one date of tests/date-matrix
#   make test-dates the date-sensitive tests at every date of the matrix (before
#                   every release)
#   make demo       start the embedded stack, run a sample conversation
#   make bench      benchmarks (prints a table)
#   make bench-calls  the call-mix benchmark (what a caller hears)
#   make soak       long property and chaos runs (prints their figures)
#   make SANITIZE=1 test   the same suite under ASan+UBSan
#
# Every src/*.c except main.c goes into build/libsched.a; each tools/NAME/
# directory with .c files becomes build/NAME; each tests/unit/test_X.c
# becomes build/tests/test_X.  New files need no Makefile edit.

CC      ?= cc
BUILD   ?= build
PKGS    := rdkafka libcurl jansson hiredis openssl libmicrohttpd libsystemd
WARN    := -Wall -Wextra -Wstrict-prototypes -Wwrite-strings -Wshadow \
           -Wno-missing-field-initializers -Werror
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -pthread -MMD -MP $(WARN) -Iinclude \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
BUILD   := build-san
endif

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libsched.a
WORKER   := $(BUILD)/schedworker

TOOL_DIRS := $(patsubst %/,%,$(dir $(wildcard tools/*/*.c)))
TOOLS     := $(sort $(foreach d,$(TOOL_DIRS),$(BUILD)/$(notdir $(d))))

# Fuzz harnesses tests/fuzz/fuzz_NAME.c: under libFuzzer (make fuzz, clang,
# in build-fuzz/) and as plain replay programs (tests/fuzz/driver.c) that
# make test runs over the corpus and the regression inputs.
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES  := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/fuzz-replay/fuzz_%)

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# In-memory fakes of the store and the EHR (tests/unit/fake_*.c), linked
# into every unit test.
FAKE_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/unit/fake_*.c))

.PHONY: all build-all deps test test-dates unit demo bench bench-calls fuzz soak format format-check clean check-deps
all: $(WORKER) $(TOOLS)

# V=1 shows the full commands.
Q := $(if $(V),,@)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC    $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# The version: git describe where this is a git checkout (SW_VERSION=...
# overrides, as the Dockerfile does), else "unknown".  Only version.c sees
# it, and is rebuilt when the string changes.
SW_VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
$(BUILD)/src/version.o: CFLAGS += -DSW_VERSION='"$(SW_VERSION)"'
$(BUILD)/src/version.o: $(BUILD)/version.stamp
$(BUILD)/version.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(SW_VERSION)' | cmp -s - $@ || echo '$(SW_VERSION)' >$@
.PHONY: FORCE
FORCE:

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(WORKER): $(BUILD)/src/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Each tools/NAME/*.c links into one program build/NAME, against the library.
define TOOL_RULE
$(BUILD)/$(notdir $(1)): $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(1)/*.c)) $(LIB)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach d,$(sort $(TOOL_DIRS)),$(eval $(call TOOL_RULE,$(d))))

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(FAKE_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/fuzz-replay/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/driver.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="command config"]: each harness
# under libFuzzer with ASan+UBSan for FUZZ_SECONDS; new corpus entries go
# to build-fuzz/corpus/NAME, crashing inputs to tests/fuzz/regressions/NAME/
# (keep them: make test replays them).
FUZZ_BUILD   := build-fuzz
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer -std=c11 -D_GNU_SOURCE -pthread -Iinclude \
                -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
                $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_LIB     := $(FUZZ_BUILD)/libsched.a
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  FUZZCC $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_LIB): $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_LIB)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

.SECONDARY: $(FUZZ_SRC:%.c=$(FUZZ_BUILD)/%.o) $(FUZZ_SRC:%.c=$(BUILD)/%.o) $(BUILD)/tests/fuzz/driver.o \
            $(FAKE_OBJ)

fuzz: $(FUZZ_BINS)
	@set -e; for n in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$n tests/fuzz/regressions/$$n; \
	    seeds=tests/fuzz/corpus/$$n; \
	    [ $$n = command ] && seeds="$$seeds tests/data/valid tests/data/invalid"; \
	    echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	    if ASAN_OPTIONS=detect_leaks=1 $(FUZZ_BUILD)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) \
	        -print_final_stats=1 -artifact_prefix=tests/fuzz/regressions/$$n/ \
	        $(FUZZ_BUILD)/corpus/$$n $$seeds >$(FUZZ_BUILD)/fuzz_$$n.log 2>&1; then \
	        grep -E '^stat::number_of_executed_units|^Done' $(FUZZ_BUILD)/fuzz_$$n.log; \
	    else \
	        tail -n 40 $(FUZZ_BUILD)/fuzz_$$n.log; \
	        echo "fuzz: $$n FAILED; the input is in tests/fuzz/regressions/$$n/"; exit 1; \
	    fi; \
	done

# Debian packages the build, the tests and the demo need.
DEB_PKGS := build-essential pkg-config librdkafka-dev libcurl4-openssl-dev \
            libjansson-dev libhiredis-dev libcmocka-dev libmicrohttpd-dev \
            libssl-dev redis-server kcat python3 python3-jsonschema python3-confluent-kafka \
            python3-redis python3-yaml python3-cryptography python3-hypothesis docker-compose curl openssl \
            tzdata clang clang-format procps libclang-rt-14-dev faketime libtcmalloc-minimal4 \
            libsystemd-dev prometheus nodejs php-cli openjdk-17-jre-headless maven
# Then the JavaScript test tools (the CloudEvents SDK, the AsyncAPI parser):
# npm ci from tests/js/package-lock.json into tests/js/node_modules, once
# (npm comes with some nodejs builds; only where it is missing is Debian's
# npm installed); and Apache Kafka's jars (tools/stack up --kafka apache),
# once, from Maven Central into a cache outside the tree
# (tools/kafka-apache/fetch).  make test needs no network after that.
NPM_STAMP := tests/js/node_modules/.package-lock.json
deps:
	tools/install-deps $(DEB_PKGS)
	command -v npm >/dev/null || tools/install-deps npm
	npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
	tools/kafka-apache/fetch >/dev/null

check-deps:
	@tools/install-deps --check $(DEB_PKGS) && [ -f $(NPM_STAMP) ] && \
	    tools/kafka-apache/fetch --check >/dev/null || $(MAKE) deps

# Under libfaketime (the date matrix), C11 timed waits on the real clock.
FAKETIME_SHIM := $(BUILD)/libfaketime-c11.so
$(FAKETIME_SHIM): tests/lib/faketime_c11.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O2 -std=c11 -Wall -Wextra -Werror -o $@ $< -ldl

# The packages first, then the build on every core, then the tests.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
build-all: check-deps
	$(MAKE) -j$(JOBS) all $(UNIT_BINS) $(FUZZ_REPLAY) $(FAKETIME_SHIM)

unit: build-all
	BUILD=$(BUILD) TEST_FILTER=none tests/run-all $(UNIT_BINS)

# make test: everything, then the date-sensitive tests at TEST_DATE (none
# under SANITIZE=1: ASan must come first in a process, libfaketime too).
TEST_DATE ?= $(if $(filter 1,$(SANITIZE)),,spring-dst-friday)
test: build-all
	BUILD=$(BUILD) TEST_DATES=$(TEST_DATE) TEST_PROFILES=all tests/run-all $(UNIT_BINS)

test-dates: build-all
	BUILD=$(BUILD) TEST_DATES=all TEST_ONLY_DATES=1 tests/run-all $(UNIT_BINS)

demo: check-deps
	$(MAKE) -j$(JOBS) all
	BUILD=$(BUILD) tools/demo

bench: build-all
	BUILD=$(BUILD) tools/bench

# simulated phone calls against the simulator under the 10 req/s budget (~3 min)
bench-calls: build-all
	BUILD=$(BUILD) tools/bench-calls

# make soak [SOAK_EXAMPLES=300] [SOAK_SECONDS=300] [PROPS_SEED=N]: the
# property tests with many more generated sequences (a random seed,
# printed, unless PROPS_SEED is given), then the second chaos run for
# longer; each prints its figures.  Not part of make test.
SOAK_EXAMPLES ?= 300
SOAK_SECONDS  ?= 300
soak: build-all
	BUILD=$(BUILD) PROPS_EXAMPLES=$(SOAK_EXAMPLES) PROPS_SEED=$${PROPS_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')} \
	    tests/property/test_booking_props.py
	BUILD=$(BUILD) CHAOS2_SECONDS=$(SOAK_SECONDS) tests/reliability/test_chaos_pauses.py

FORMAT_SRC = $(wildcard src/*.c include/*.h tools/*/*.c tools/*/*.h tests/unit/*.c tests/fuzz/*.c)
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
.SECONDARY:
