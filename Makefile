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
#   make bench MODEL=path prompt-processing and generation speed (like llama-bench pp512/tg128)
#   make bench-serve [MODEL=path] [LLAMA_SERVER=path]
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

PKGS := libcjson libmicrohttpd libuv libpcre2-8 openblas libcurl
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
LIB_SRCS := $(sort $(wildcard common/*.c engine/*.c engine/*/*.c api/*.c server/*.c config/*.c hub/*.c) \
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
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -DTEST_SHARED_DIR='"$(SHARED)"' -DTEST_DATA_DIR='"$(abspath tests/data)"' $(LDSAN) -o $@ $< $(LIBCINDER) $(LDLIBS) -lcmocka

# Run every unit test binary; print each one's cmocka report and a closing "N passed, N failed" line.
unit: deps $(TEST_BINS) $(BUILD)/cinder
	@./scripts/run-unit.sh $(TEST_BINS)

# End-to-end tests against the real binary (tests/e2e/test_*.sh), with ../shared's models and references.
e2e: deps all
	@SHARED=$(SHARED) ./scripts/run-e2e.sh

# The README's test command: unit tests, the unit tests again under AddressSanitizer and UndefinedBehavior-
# Sanitizer, then the end-to-end tests; closes with one "tests: N passed, N failed" line over all of them.
test: deps
	@SHARED=$(SHARED) ./scripts/run-tests.sh

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

# Serving benchmark: ./cinder serve on a free port with MODEL (default: a synthetic SmolLM-135M Q8_0 made in
# bench-models/), driven by `cinder bench-serve` at concurrency 1, 4 and 16; LLAMA_SERVER=path/to/llama-server
# runs the same sweep against llama.cpp's server and prints the ratios. See scripts/bench-serve.sh.
bench-serve: all
	@SHARED=$(SHARED) MODEL="$(MODEL)" LLAMA_SERVER="$(LLAMA_SERVER)" THREADS="$(THREADS)" ./scripts/bench-serve.sh

FUZZ_TIME ?= 300
# libFuzzer run of the template engine under ASan+UBSan (clang); FUZZ_TIME seconds, crashes saved in build/fuzz/.
fuzz-template:
	@command -v clang >/dev/null && dpkg-query -W libclang-rt-14-dev >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev; }
	@mkdir -p build/fuzz/corpus
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE \
	  -I. -Icommon -Iengine $(shell pkg-config --cflags libcjson) tests/fuzz/fuzz_template.c \
	  $(wildcard engine/template/*.c) common/err.c $(shell pkg-config --libs libcjson) -lm -o build/fuzz/fuzz_template
	build/fuzz/fuzz_template build/fuzz/corpus $(SHARED)/templates/jinja -dict=tests/fuzz/template.dict \
	  -max_total_time=$(FUZZ_TIME) -max_len=16384 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=build/fuzz/

debug:
	@$(MAKE) --no-print-directory DEBUG=1 all

format:
	clang-format -i $(LIB_SRCS) $(CLI_SRCS) $(TEST_SRCS) $(wildcard common/*.h engine/*.h engine/*/*.h api/*.h server/*.h config/*.h hub/*.h cli/*.h)

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

.PHONY: all deps unit e2e test bench bench-serve run debug format clean install uninstall docker fuzz-template \
        test-container
.SECONDARY:

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(TEST_BINS:=.d)
