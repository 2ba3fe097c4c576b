# cinder — top-level, non-recursive GNU make.
#
#   make                  build ./cinder (a link to build/<config>/cinder)
#   make run [MODEL=path|OWNER/REPO:QUANT] [CONFIG_FILE=file.json]
#                         install missing packages, build, and serve MODEL (default: a small instruct model from
#                         Hugging Face) with OpenAI's API on 127.0.0.1:8080
#   make test             install missing packages, build, run unit and end-to-end tests
#   make unit             run the C unit tests (cmocka) only
#   make SANITIZER=address|undefined|thread unit
#                         the same unit tests in a sanitizer build (objects in build/<sanitizer>/)
#   make SANITIZER=thread tsan
#                         ThreadSanitizer over the scheduler's unit tests and the server end to end
#   make fuzz [FUZZ_TIME=s] [FUZZ_TARGETS="model tokenizer request http template grammar toolparse"]
#                         libFuzzer targets (clang, ASan+UBSan) for FUZZ_TIME seconds each; make fuzz-short: 12 s each
#   make bench MODEL=path prompt-processing and generation speed (like llama-bench pp512/tg128)
#   make bench-grammar    grammar mask time per token on the Qwen3 vocabulary (tests/bench/bench_grammar.c)
#   make bench-serve [MODEL=path] [LLAMA_SERVER=path] [CTX=n] [ISA=avx2]
#                         serving benchmark of ./cinder serve at concurrency 1, 4, 16 (optionally vs llama-server)
#   make debug            unoptimised build with symbols (build/debug/)
#   make format           clang-format every C file
#   make install [PREFIX=/usr/local] [DESTDIR=]
#                         install the binary and its man page (make uninstall removes them)
#   make docker           build the container image cinder:latest (docker/Dockerfile)
#   make test-container [ENGINE=podman|docker]
#                         build the image and run the k8s pod template (podman kube play) and compose.yaml with it
#                         (tests/container/check.sh; needs a container engine, not part of make test)
#   make clean            remove build/ and ./cinder

SHELL := /bin/bash
.DEFAULT_GOAL := all

SANITIZER ?=
DEBUG ?=
SHARED ?= $(abspath ../shared)

PKGS := libcjson libmicrohttpd libuv libpcre2-8 openblas libcurl sqlite3
CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif

ifneq ($(SANITIZER),)
  CONFIG := $(SANITIZER)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=$(SANITIZER)
  ifeq ($(SANITIZER),undefined)
    OPT += -fno-sanitize-recover=undefined
  endif
  LDSAN := -fsanitize=$(SANITIZER)
else ifneq ($(DEBUG),)
  CONFIG := debug
  OPT := -O0 -g
  LDSAN :=
else
  CONFIG := release
  OPT := -O2 -g
  LDSAN :=
endif

BUILD := build/$(CONFIG)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CPPFLAGS := -D_GNU_SOURCE -I. -Icommon -Iengine -Iapi -Iserver -Iconfig -Ihub -Icli
CFLAGS := -std=c11 $(OPT) -Wall -Wextra -Wshadow -Wno-unused-parameter -pthread -MMD -MP
LDLIBS = $(PKG_LIBS) -lm -pthread

# Files named *_avx2.c / *_avx512.c hold SIMD kernels compiled for those instruction sets; the code that calls
# them checks the CPU at run time, so the binary still runs on a baseline x86-64 machine.
AVX2_FLAGS := -mavx2 -mfma -mf16c
AVX512_FLAGS := $(AVX2_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni

# Everything but main() goes into the library, so unit tests can link any module (cli/ helpers included).
LIB_SRCS := $(sort $(wildcard common/*.c engine/*.c engine/*/*.c api/*.c api/*/*.c server/*.c config/*.c hub/*.c) \
              $(filter-out cli/main.c,$(wildcard cli/*.c)))
CLI_SRCS := cli/main.c
TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c))

LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
LIBCINDER := $(BUILD)/libcinder.a

# The web playground served at GET / (server/playground/index.html) is compiled in: a generated C file holds the
# page's bytes and the Content-Security-Policy that admits its inline script and style by hash.
PLAYGROUND_SRC := server/playground/index.html
LIB_OBJS += $(BUILD)/gen/playground.o

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(PREFIX)/bin
MAN1DIR := $(PREFIX)/share/man/man1
DOCKER ?= docker
IMAGE ?= cinder:latest

# Build the binary and point ./cinder at it.
all: deps $(BUILD)/cinder
	@ln -sfn $(BUILD)/cinder cinder

# Install the Debian packages the build and tests need, when some are missing (needs root and apt-get).
deps:
	@./scripts/deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) $(if $(findstring _avx512,$<),$(AVX512_FLAGS),$(if $(findstring _avx2,$<),$(AVX2_FLAGS))) -c $< -o $@

# The playground page as C (bash, od, awk, sha256sum, base64: nothing beyond build-essential's base system).
$(BUILD)/gen/playground.c: $(PLAYGROUND_SRC) scripts/embed_playground.sh
	@mkdir -p $(dir $@)
	./scripts/embed_playground.sh $(PLAYGROUND_SRC) $@

$(BUILD)/gen/playground.o: $(BUILD)/gen/playground.c server/playground.h
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIBCINDER): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cinder: $(CLI_OBJS) $(LIBCINDER)
	$(CC) $(CFLAGS) $(LDSAN) -o $@ $(CLI_OBJS) $(LIBCINDER) $(LDLIBS)

# Unit tests: one cmocka binary per tests/unit/test_<module>.c, linked against the library.
$(BUILD)/tests/%: tests/unit/%.c $(LIBCINDER)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -DTEST_SHARED_DIR='"$(SHARED)"' -DTEST_REPO_DIR='"$(CURDIR)"' \
	  -DTEST_DATA_DIR='"$(abspath tests/data)"' $(LDSAN) -o $@ $< $(LIBCINDER) $(LDLIBS) -lcmocka

# Run every unit test binary; print each one's cmocka report and a closing "N passed, N failed" line.
unit: deps synth-models $(TEST_BINS) $(BUILD)/cinder
	@./scripts/run-unit.sh $(TEST_BINS)

# The synthetic models of tests/archs/models.tsv (one per architecture and type, random weights, seeded) in
# build/synth/, for the architecture checks against llama.cpp's reference answers.
synth-models: deps
	@SHARED=$(SHARED) ./scripts/synth-models.sh

# End-to-end tests against the real binary (tests/e2e/test_*.sh), with ../shared's models and references.
e2e: deps all
	@SHARED=$(SHARED) ./scripts/run-e2e.sh

# The README's test command: unit tests, the unit tests again under AddressSanitizer and UndefinedBehavior-
# Sanitizer, then the end-to-end tests; closes with one "tests: N passed, N failed" line over all of them.
test: deps
	@SHARED=$(SHARED) ./scripts/run-tests.sh

# ThreadSanitizer over what runs threads (make SANITIZER=thread tsan, part of `make test`): the scheduler's and
# the forward pass's unit tests, then the server end to end (tests/e2e/test_batching.sh: 16 streams at once, and
# tests/e2e/test_numeric.sh) on build/thread/cinder; any race report fails it. See scripts/run-tsan.sh.
TSAN_TESTS := test_engine test_api_stream test_model
tsan: deps $(TSAN_TESTS:%=$(BUILD)/tests/%) $(BUILD)/cinder
	@test "$(SANITIZER)" = thread || { echo "usage: make SANITIZER=thread tsan"; exit 2; }
	@SHARED=$(SHARED) BIN=$(BUILD)/cinder ./scripts/run-tsan.sh $(TSAN_TESTS:%=$(BUILD)/tests/%)

# Speed benchmark: prompt processing (pp512) and generation (tg128) tokens/s.
bench: all
	@test -n "$(MODEL)" || { echo "usage: make bench MODEL=path/to/model.gguf [THREADS=n]"; exit 2; }
	./cinder bench -m "$(MODEL)" $(if $(THREADS),-t $(THREADS))

# Build, then serve MODEL over HTTP with OpenAI's API. MODEL is a GGUF path or a Hugging Face reference (pulled
# into the cache on first use); without MODEL (and CONFIG_FILE) it is DEFAULT_MODEL, a small instruct model
# (config/config.h's CONFIG_DEFAULT_MODEL). CONFIG_FILE=file.json serves a configuration file (its models, unless
# MODEL is given too); PORT, HOST, ARGS optional.
DEFAULT_MODEL := bartowski/SmolLM2-360M-Instruct-GGUF:Q8_0
run:
	@$(MAKE) --no-print-directory all
	./cinder serve $(if $(CONFIG_FILE),--config "$(CONFIG_FILE)") $(if $(MODEL),-m "$(MODEL)",$(if $(CONFIG_FILE),,-m "$(DEFAULT_MODEL)")) $(if $(PORT),--port $(PORT)) $(if $(HOST),--host $(HOST)) $(ARGS)

# Benchmark programs: one binary per tests/bench/<name>.c, linked against the library.
$(BUILD)/bench/%: tests/bench/%.c $(LIBCINDER)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) $(LDSAN) -o $@ $< $(LIBCINDER) $(LDLIBS)

# Grammar masks: time per token of the cached mask, the uncached trie walk and the one-token fast path, during
# random walks of a 9-property JSON schema on the 151,936-token Qwen3 vocabulary. ARGS: see bench_grammar.c.
bench-grammar: deps $(BUILD)/bench/bench_grammar
	$(BUILD)/bench/bench_grammar -v $(SHARED)/models/vocab/ggml-vocab-qwen3.gguf $(ARGS)

# Serving benchmark: ./cinder serve on a free port with MODEL (default: a synthetic SmolLM-135M Q8_0 made in
# bench-models/), driven by `cinder bench-serve` at concurrency 1, 4 and 16; LLAMA_SERVER=path/to/llama-server
# runs the same sweep against llama.cpp's server and prints the ratios. See scripts/bench-serve.sh.
bench-serve: all
	@SHARED=$(SHARED) MODEL="$(MODEL)" LLAMA_SERVER="$(LLAMA_SERVER)" THREADS="$(THREADS)" CTX="$(CTX)" ISA="$(ISA)" ./scripts/bench-serve.sh

SOAK_CLIENTS ?= 64
SOAK_SECONDS ?= 60
# Soak test (not part of `make test`): SOAK_CLIENTS concurrent streams for SOAK_SECONDS against ./cinder serve on
# 127.0.0.1 with stories260K, a fifth of them disconnecting at random; requests by outcome and RSS over time
# (scripts/soak.sh, scripts/soak.py). Exits non-zero on a failed request or RSS growth.
soak: all
	@SHARED=$(SHARED) THREADS="$(THREADS)" ./scripts/soak.sh $(SOAK_CLIENTS) $(SOAK_SECONDS)

# ---- fuzzing (libFuzzer, clang, ASan + UBSan) ----
# Targets in tests/fuzz/fuzz_<name>.c: model (GGUF loader + a forward pass), tokenizer, request (JSON reader and
# parameter validation), http (api_handle + engine events), template (the Jinja engine), grammar (JSON Schema ->
# grammar, the regex subset, walks that must validate), toolparse (the tool-call output parser: chunked parses
# must equal whole ones). Each links against the
# library compiled by clang with -fsanitize=fuzzer-no-link,address,undefined (objects in build/fuzz/obj/).
# `make fuzz` runs each for FUZZ_TIME seconds (FUZZ_TARGETS="model http" picks some); `make fuzz-short` (part of
# `make test`) runs each for FUZZ_SHORT seconds. Both replay tests/fuzz/corpus/<name>/ (seeds and every crash
# found so far) first; new corpus entries go to build/fuzz/work/<name>/, crashes to build/fuzz/crash-<name>-*.
FUZZ_TIME ?= 120
FUZZ_SHORT ?= 12
FUZZ_TARGETS ?= model tokenizer request http template grammar toolparse
FUZZ_CC ?= clang
FUZZ_DIR := build/fuzz
FUZZ_SAN := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
# api/resp_store.c hashes API keys with hub/sha256.c
FUZZ_LIB_SRCS := $(sort $(wildcard common/*.c engine/*.c engine/*/*.c api/*.c api/*/*.c) hub/sha256.c)
FUZZ_OBJS := $(FUZZ_LIB_SRCS:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 $(FUZZ_SAN) -fsanitize=fuzzer-no-link -pthread -MMD -MP $(PKG_CFLAGS) $(if $(findstring _avx512,$<),$(AVX512_FLAGS),$(if $(findstring _avx2,$<),$(AVX2_FLAGS))) -c $< -o $@

$(FUZZ_DIR)/libcinder.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DIR)/libcinder.a
	$(FUZZ_CC) $(CPPFLAGS) -Itests/fuzz -Itests/unit -std=c11 $(FUZZ_SAN) -fsanitize=fuzzer -pthread $(PKG_CFLAGS) \
	  -DTEST_SHARED_DIR='"$(SHARED)"' -MMD -MP $< $(FUZZ_DIR)/libcinder.a $(LDLIBS) -o $@

# Build the fuzz targets (scripts/deps.sh installs clang and libFuzzer's runtime when missing).
fuzz-build: deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

# Run every fuzz target for FUZZ_TIME seconds; closes with "fuzz: N passed, N failed" (a target passes when
# nothing crashed, leaked, hung or broke a sanitizer).
fuzz: fuzz-build
	@SHARED=$(SHARED) ./scripts/fuzz.sh $(FUZZ_TIME) $(FUZZ_TARGETS)

# The same, FUZZ_SHORT seconds each: the corpus replay plus a short search, for `make test`.
fuzz-short: fuzz-build
	@SHARED=$(SHARED) ./scripts/fuzz.sh $(FUZZ_SHORT) $(FUZZ_TARGETS)

# The template target alone (as before `make fuzz` had several targets).
fuzz-template:
	@$(MAKE) --no-print-directory fuzz FUZZ_TARGETS=template

# The grammar target alone: JSON Schema -> grammar and the regex subset; compiles must succeed or fail with a
# message, and a byte-level walk of a compiled schema must end in JSON that validates (tests/unit/schema_check.h).
fuzz-grammar:
	@$(MAKE) --no-print-directory fuzz FUZZ_TARGETS=grammar

debug:
	@$(MAKE) --no-print-directory DEBUG=1 all

format:
	clang-format -i $(LIB_SRCS) $(CLI_SRCS) $(TEST_SRCS) $(wildcard common/*.h engine/*.h engine/*/*.h api/*.h api/*/*.h server/*.h config/*.h hub/*.h cli/*.h)

clean:
	rm -rf build cinder

# Install the release binary and the man page under $(DESTDIR)$(PREFIX) (bin/cinder, share/man/man1/cinder.1).
install: all
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MAN1DIR)"
	install -m 0755 $(BUILD)/cinder "$(DESTDIR)$(BINDIR)/cinder"
	install -m 0644 docs/cinder.1 "$(DESTDIR)$(MAN1DIR)/cinder.1"

# Remove what `make install` put there (with the same PREFIX and DESTDIR).
uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/cinder" "$(DESTDIR)$(MAN1DIR)/cinder.1"

# Build the container image (docker/Dockerfile, context: this directory). IMAGE=name:tag, DOCKER=podman work too.
docker:
	$(DOCKER) build -f docker/Dockerfile -t $(IMAGE) .

# Build the image and run docker/k8s's pod template and docker/compose.yaml with a container engine.
test-container:
	bash tests/container/check.sh $(SHARED)

.PHONY: all deps unit synth-models e2e test bench bench-grammar bench-serve soak run debug format clean install \
        uninstall docker fuzz-template fuzz-grammar test-container fuzz fuzz-build fuzz-short tsan
.SECONDARY:

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(TEST_BINS:=.d) $(FUZZ_OBJS:.o=.d) $(FUZZ_BINS:=.d)
