# bale — build, test and demo.
#
#   make deps    install the Debian packages bale and its tests need (only the missing ones)
#   make build   release build (.build/release/bale)
#   make debug   debug build (.build/debug/bale)
#   make test    deps, then every test target; TEST_FILTER=RegEx narrows it (swift test --filter);
#                under CI=true also a short fuzz pass (FUZZ_CI_SECONDS per target)
#   make fuzz    deps, then each libFuzzer target (Fuzz/) for FUZZ_SECONDS (default 30) from seeds of
#                testdata/; FUZZ_TARGETS narrows it; crash inputs land in .build-fuzz/crashes/
#   make demo    deps, release build, then testdata/demo.sh on a temporary store
#   make bench   deps, release build, then testdata/bench.sh: bale next to umoci, skopeo, pigz, gzip, tar
#   make man     check that man/bale.1 renders without warnings
#   make install release build, then the binary, the man page and bash, zsh and fish completions
#                under PREFIX (default /usr/local; DESTDIR for staging; BALE_BIN installs that binary
#                instead of building)
#   make clean   remove build products

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

SWIFT ?= swift
TEST_FILTER ?=

# Build-time libraries (the system-library targets), and what the interop tests run: the peers
# and python3 for testdata/gen/mkimage.py, qemu-user to run bale on older CPU models; for the registry
# tests curl, openssl (test CAs), apache2-utils (htpasswd), podman and containerd (ctr).
DEB_PACKAGES := libarchive-dev zlib1g-dev liblzma-dev libisal-dev pkg-config pigz python3 time bc libarchive-tools \
                skopeo umoci docker-registry oci-image-tool docker.io qemu-user \
                curl openssl apache2-utils podman containerd

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: deps build debug test fuzz demo bench man install clean

PREFIX ?= /usr/local
DESTDIR ?=
BALE_BIN ?=

deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  status=$$(dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null || true); \
	  [ "$$status" = "install ok installed" ] || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build:
	$(SWIFT) build -c release

debug:
	$(SWIFT) build

# The interop and CLI tests run the built executable; BALE_BIN tells them where it is. CI's short fuzz
# pass comes first, so that the test runner's summary stays the last thing printed.
test: deps
	$(SWIFT) build --build-tests
	$(if $(filter true,$(CI)),$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_CI_SECONDS))
	BALE_BIN="$$($(SWIFT) build --show-bin-path)/bale" \
	  $(SWIFT) test --skip-build $(if $(TEST_FILTER),--filter '$(TEST_FILTER)')

# libFuzzer needs its flags on every Swift module it instruments, and its driver cannot link without
# them, so the driver is a package of its own (Fuzz/Package.swift) in a scratch path of its own.
FUZZ_SECONDS ?= 30
FUZZ_CI_SECONDS ?= 6
FUZZ_TARGETS ?= reference digest manifest index config docker-manifest change tar load auth-challenge link sync-list
FUZZ_SCRATCH := .build-fuzz

fuzz: deps
	$(SWIFT) build -c debug --package-path Fuzz --scratch-path $(FUZZ_SCRATCH) --product BaleFuzz \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
	rm -rf $(FUZZ_SCRATCH)/crashes $(FUZZ_SCRATCH)/logs
	python3 Fuzz/make-seeds.py $(FUZZ_SCRATCH)/corpus >/dev/null
	bash Fuzz/run.sh $(FUZZ_SCRATCH) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

demo: deps build
	bash testdata/demo.sh "$$($(SWIFT) build -c release --show-bin-path)/bale"

bench: deps build
	bash testdata/bench.sh "$$($(SWIFT) build -c release --show-bin-path)/bale" bench-work

# groff reports every warning on stderr (-ww enables them all); any output there fails the target.
man:
	@warnings=$$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z man/bale.1 2>&1); \
	if [ -n "$$warnings" ]; then echo "$$warnings" >&2; exit 1; fi; \
	echo "man/bale.1: renders without warnings"

# Each file goes where its program looks without configuration: bash-completion's completions/,
# zsh's site-functions (on the default fpath), fish's vendor_completions.d. The completion scripts are
# argument-parser's own, generated from the installed binary, so they always match its commands.
install: $(if $(BALE_BIN),,build)
	@bin="$(if $(BALE_BIN),$(BALE_BIN),$$($(SWIFT) build -c release --show-bin-path)/bale)"; \
	dest="$(DESTDIR)$(PREFIX)"; \
	install -d "$$dest/bin" "$$dest/share/man/man1" "$$dest/share/bash-completion/completions" \
	  "$$dest/share/zsh/site-functions" "$$dest/share/fish/vendor_completions.d"; \
	install -m 755 "$$bin" "$$dest/bin/bale"; \
	install -m 644 man/bale.1 "$$dest/share/man/man1/bale.1"; \
	"$$bin" --generate-completion-script bash > "$$dest/share/bash-completion/completions/bale"; \
	"$$bin" --generate-completion-script zsh > "$$dest/share/zsh/site-functions/_bale"; \
	"$$bin" --generate-completion-script fish > "$$dest/share/fish/vendor_completions.d/bale.fish"; \
	echo "installed bale, its man page and completions under $$dest"

clean:
	rm -rf .build $(FUZZ_SCRATCH)
