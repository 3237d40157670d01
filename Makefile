# schedworker: OpenEMR scheduling worker.
#
#   make            build the worker and the tools
#   make test       build everything and run every test (installs deps if missing)
#   make demo       start the embedded stack, run a sample conversation
#   make bench      benchmarks (prints a table)
#   make SANITIZE=1 test   the same suite under ASan+UBSan
#
# Every src/*.c except main.c goes into build/libsched.a; each tools/NAME/
# directory with .c files becomes build/NAME; each tests/unit/test_X.c
# becomes build/tests/test_X.  New files need no Makefile edit.

CC      ?= cc
BUILD   ?= build
PKGS    := rdkafka libcurl jansson hiredis openssl libmicrohttpd
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

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all build-all deps test unit demo bench fuzz format format-check clean check-deps
all: $(WORKER) $(TOOLS)

# V=1 shows the full commands.
Q := $(if $(V),,@)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC    $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

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

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# Debian packages the build, the tests and the demo need.
DEB_PKGS := build-essential pkg-config librdkafka-dev libcurl4-openssl-dev \
            libjansson-dev libhiredis-dev libcmocka-dev libmicrohttpd-dev \
            libssl-dev redis-server kcat python3 python3-jsonschema python3-confluent-kafka \
            python3-redis python3-yaml python3-cryptography docker-compose curl openssl \
            tzdata clang clang-format procps
deps:
	tools/install-deps $(DEB_PKGS)

check-deps:
	@tools/install-deps --check $(DEB_PKGS) || $(MAKE) deps

# The packages first, then the build on every core, then the tests.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
build-all: check-deps
	$(MAKE) -j$(JOBS) all $(UNIT_BINS)

unit: build-all
	BUILD=$(BUILD) TEST_FILTER=none tests/run-all $(UNIT_BINS)

test: build-all
	BUILD=$(BUILD) tests/run-all $(UNIT_BINS)

demo: check-deps
	$(MAKE) -j$(JOBS) all
	BUILD=$(BUILD) tools/demo

bench: build-all
	BUILD=$(BUILD) tools/bench

FORMAT_SRC = $(wildcard src/*.c include/*.h tools/*/*.c tools/*/*.h tests/unit/*.c)
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
.SECONDARY:
