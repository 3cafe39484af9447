# mcr: build, test, demo. Targets are meant to be run as root on Debian 12 (tests build namespaces).
SHELL := /bin/bash
BUN_VERSION := 1.4.5
BUN ?= $(shell command -v bun 2>/dev/null || echo /usr/local/bin/bun)
CC ?= cc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wno-unused-parameter
SHIM_SRC := $(wildcard shim/*.c shim/tools/*.c)
SHIM_HDR := $(wildcard shim/*.h shim/tools/*.h)
SHIM_SO := shim/build/libmcr_shim.so
TS_SRC := $(shell find src -name '*.ts' 2>/dev/null)
# `mcr version` names the commit it was built from (empty outside a git checkout).
COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null)

.PHONY: all deps shim build test c-tests check typecheck lint fmt demo bench clean sanitize deb \
	fuzzers fuzz

all: build

# Installs what is missing: a C toolchain, liburing, socat, iproute2, bun (from the npm registry).
deps:
	@bash scripts/deps.sh $(BUN_VERSION)

node_modules/.installed: package.json bun.lock
	$(BUN) install --frozen-lockfile
	@touch $@

shim: $(SHIM_SO)

# liburing is linked statically and only the symbols shim/mcr_shim.map names are exported, so the
# library that travels inside dist/mcr needs nothing but libc on the target host.
$(SHIM_SO): $(SHIM_SRC) $(SHIM_HDR) shim/mcr_shim.map
	@mkdir -p shim/build
	$(CC) $(CFLAGS) $(WARN) -std=gnu11 -fPIC -shared -fvisibility=hidden \
		-Wl,--version-script=shim/mcr_shim.map -Wl,-z,defs -Wl,-z,now \
		-o $@ $(filter %.c,$(SHIM_SRC)) -Wl,-Bstatic -luring -Wl,-Bdynamic

build: dist/mcr

# --disallow-code-generation-from-strings=strict: a compiled binary still reads BUN_OPTIONS from
# its environment, and with this flag Bun refuses --preload/--import/--require there (it exits
# before running them) and any debugger (BUN_INSPECT); BUN_OPTIONS cannot lower the level.
dist/mcr: $(SHIM_SO) $(TS_SRC) node_modules/.installed
	@mkdir -p dist
	$(BUN) build --compile --no-compile-autoload-bunfig --no-compile-autoload-dotenv \
		--compile-exec-argv=--disallow-code-generation-from-strings=strict \
		--define MCR_BUILD_COMMIT='"$(COMMIT)"' \
		--outfile dist/mcr src/main.ts

# The shim's own tests: one program per object, exit 0 pass / 1 fail / 77 skip.
C_TESTS := $(patsubst shim/tests/%.c,shim/build/tests/%,$(wildcard shim/tests/*.c))
c-tests: $(C_TESTS)
shim/build/tests/%: shim/tests/%.c $(SHIM_SRC) $(SHIM_HDR)
	@mkdir -p shim/build/tests
	$(CC) $(CFLAGS) $(WARN) $(SAN) -std=gnu11 -o $@ $< $(filter %.c,$(SHIM_SRC)) -luring

# The shim's tests under AddressSanitizer and UBSan.
sanitize:
	rm -rf shim/build/tests
	$(MAKE) c-tests SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
	@for t in shim/build/tests/*; do echo "== $$t"; $$t; r=$$?; [ $$r -eq 0 ] || [ $$r -eq 77 ] || exit 1; done
	rm -rf shim/build/tests

# libFuzzer harnesses of the frame parser, the input filter and the table install, built with
# clang against the shim's sources. `make test` runs each for a few seconds (scripts/test.sh);
# `make fuzz` for FUZZ_SECONDS each, the corpus growing under shim/build/fuzz/corpus/.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 180
FUZZERS := $(patsubst shim/tests/fuzz/%.c,shim/build/fuzz/%,$(wildcard shim/tests/fuzz/fuzz_*.c))
fuzzers: $(FUZZERS)
shim/build/fuzz/%: shim/tests/fuzz/%.c $(wildcard shim/tests/*.h shim/tests/fuzz/*.h) $(SHIM_SRC) $(SHIM_HDR)
	@mkdir -p shim/build/fuzz
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer $(WARN) -std=gnu11 -o $@ $< $(filter %.c,$(SHIM_SRC)) -luring

fuzz: $(FUZZERS)
	@for f in $(FUZZERS); do \
		FUZZ_CC=$(FUZZ_CC) bash shim/tests/fuzz/run.sh $(FUZZ_SECONDS) $$f; r=$$?; \
		[ $$r -eq 0 ] || [ $$r -eq 77 ] || exit 1; \
	done

# C helpers that tests use to put crafted frames on a wire.
test/tools/build/inject: test/tools/inject.c
	@mkdir -p test/tools/build
	$(CC) -O2 $(WARN) -o $@ $<

# ...and one that reads them off a wire with the TOS, TTL and VLAN tag they arrived with.
test/tools/build/capture: test/tools/capture.c
	@mkdir -p test/tools/build
	$(CC) -O2 $(WARN) -o $@ $<

# ...and one that joins two tun devices in two namespaces: a point-to-point IP link with no
# Ethernet header, as WireGuard or a VPN gives.
test/tools/build/tunpair: test/tools/tunpair.c
	@mkdir -p test/tools/build
	$(CC) -O2 $(WARN) -o $@ $<

# ...and one that turns an interface's transmit checksum offload off (ethtool -K tx off).
test/tools/build/txcsum: test/tools/txcsum.c
	@mkdir -p test/tools/build
	$(CC) -O2 $(WARN) -o $@ $<

test: deps build c-tests test/tools/build/inject test/tools/build/capture test/tools/build/tunpair \
	test/tools/build/txcsum
	@bash scripts/test.sh

typecheck: node_modules/.installed $(SHIM_SO)
	$(BUN) x tsc --noEmit -p .

check: typecheck
	$(CC) $(CFLAGS) $(WARN) -std=gnu11 -fsyntax-only $(SHIM_SRC)

C_FMT := $(wildcard shim/*.c shim/*.h shim/*/*.c shim/*/*.h shim/tests/fuzz/*.[ch] test/tools/*.c)

# Formatting (Biome for TypeScript, clang-format for C), Biome's lint rules, and the layers.
lint: node_modules/.installed
	$(BUN) x biome check .
	clang-format --dry-run --Werror $(C_FMT)
	$(BUN) scripts/layers.ts

# Rewrites the tree in the project's format.
fmt: node_modules/.installed
	$(BUN) x biome check --write .
	clang-format -i $(C_FMT)

# dist/mcr_<version>_<arch>.deb: the binary, the unit, the user, an example config, man pages,
# completions, alert rules and a dashboard (packaging/README.md).
deb: build
	BUN=$(BUN) bash packaging/deb/build.sh

demo: deps build
	@bash scripts/demo.sh

bench: deps build
	$(BUN) bench/run.ts

clean:
	rm -rf dist shim/build test/tools/build node_modules
