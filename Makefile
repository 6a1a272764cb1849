# iovpath — build, test, demo.
#
#   make                 build everything into build/: iovpath (CLI), iovpathd (host),
#                        iovpath-vm (a VM adapter), iovpath-bench, tests
#   make test            install missing deps (as root), build, run the whole suite
#   make demo            install missing deps (as root), build, run the demo
#   make test SANITIZE=1 the same under AddressSanitizer + UBSan (objects in build/san/)
#   make fuzz            build the libFuzzer targets (clang) into build/fuzz/
#   make format          apply .clang-format
#   FUZZ_SECONDS=N       seconds per fuzz target in `make test` (default 30)

CC      ?= cc
CLANG   ?= clang
SANITIZE ?= 0
FUZZ_SECONDS ?= 30

ifeq ($(SANITIZE),1)
BUILD   := build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT     := -O1
else
BUILD   := build
SANFLAGS :=
OPT     := -O2
endif

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS  += -std=gnu11 $(OPT) -g $(WARN) -D_GNU_SOURCE -Isrc $(SANFLAGS) -MMD -MP
LDFLAGS += $(SANFLAGS)
LDLIBS  += -lpcap -lpthread -lmnl $(JANSSON_LIBS)

LIB_SRCS   := $(filter-out src/cli/%,$(wildcard src/*/*.c))
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_SRCS   := src/cli/iovpath.c $(wildcard src/cli/cli_*.c)
CLI_OBJS   := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
BINS       := $(BUILD)/iovpath $(BUILD)/iovpathd $(BUILD)/iovpath-vm $(BUILD)/iovpath-bench
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_OBJS := $(BENCH_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_SRCS  := $(wildcard tests/test_*.c)
TESTS      := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TEST_HELPERS := $(filter-out tests/test_%,$(wildcard tests/*.c))
TEST_HELPER_OBJS := $(TEST_HELPERS:%.c=$(BUILD)/obj/%.o)
FUZZ_SRCS  := $(wildcard fuzz/fuzz_*.c)
FUZZERS    := $(FUZZ_SRCS:fuzz/%.c=build/fuzz/%)

JANSSON_LIBS   := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
CRITERION_LIBS := $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion)

.PHONY: all deps test demo fuzz format clean
all: $(BINS) $(TESTS)

deps:
	@bash scripts/deps.sh

$(BUILD)/libiovpath.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/iovpath: $(CLI_OBJS) $(BUILD)/libiovpath.a
	$(CC) $(LDFLAGS) -o $@ $^ $(JANSSON_LIBS) $(LDLIBS)

$(BUILD)/iovpathd: $(BUILD)/obj/src/cli/iovpathd.o $(BUILD)/libiovpath.a
	$(CC) $(LDFLAGS) -o $@ $^ $(JANSSON_LIBS) $(LDLIBS)

$(BUILD)/iovpath-vm: $(BUILD)/obj/src/cli/iovpath_vm.o $(BUILD)/libiovpath.a
	$(CC) $(LDFLAGS) -o $@ $^ $(JANSSON_LIBS) $(LDLIBS)

$(BUILD)/iovpath-bench: $(BENCH_OBJS) $(BUILD)/libiovpath.a
	$(CC) $(LDFLAGS) -o $@ $^ $(JANSSON_LIBS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_HELPER_OBJS) $(BUILD)/libiovpath.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(CRITERION_LIBS) $(JANSSON_LIBS) $(LDLIBS)

# libFuzzer targets: clang. The library is compiled once with coverage and the
# sanitizers (build/fuzz/obj), each target links it.
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=gnu11 -O1 -g -D_GNU_SOURCE -Isrc $(FUZZ_SAN) -DIOVPATH_FUZZING -MMD -MP
FUZZ_OBJS   := $(LIB_SRCS:%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/libiovpath-fuzz.a: $(FUZZ_OBJS)
	$(AR) rcs $@ $^

build/fuzz/%: fuzz/%.c build/fuzz/libiovpath-fuzz.a
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build/fuzz/libiovpath-fuzz.a $(LDLIBS)

fuzz: $(FUZZERS)

test: deps
	@$(MAKE) --no-print-directory all SANITIZE=$(SANITIZE)
	@$(if $(filter 1,$(SANITIZE)),,$(MAKE) --no-print-directory fuzz)
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/run-tests.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@bash scripts/demo.sh

format:
	clang-format -i $(wildcard src/*/*.[ch] bench/*.[ch] tests/*.[ch] fuzz/*.[ch])

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
