# seccompwatch — the two commands a newcomer needs are in README.md:
#   go run ./cmd/seccompwatch suggest --replay auditstream/testdata/sample.log --root testdata/sample-root
#   make test      (as root, or as a user who may sudo: it asks for root only when not root)

GO ?= go

# Root for apt and the privileged tests (real audit netlink, seccomp,
# cgroups, BPF): sudo only when not root already, since a minimal Debian's
# root shell has no sudo. PATH is passed on so that sudo finds go.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo env "PATH=$(PATH)")

# Where `make docs` writes the man page and shell completions (not
# committed: the man page carries the version).
DOCS ?= build

.PHONY: test setup check build docs deb bench-replay bench-storm

# test: install the test dependencies (idempotent), then run every check.
test: setup check

setup:
	$(SUDO) ./scripts/setup.sh

check:
	$(SUDO) ./scripts/check.sh

# build: the program, stamped with what `seccompwatch version`,
# seccompwatch_build_info and every drop-in header report. VERSION is the
# tag (git describe) or empty, then Go's module version is used; a package
# build sets it (make build VERSION=0.2.0). BUILD_DATE follows
# SOURCE_DATE_EPOCH for reproducible builds.
BIN ?= bin/seccompwatch
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
BRANCH ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)
MODIFIED ?= $(shell git rev-parse HEAD >/dev/null 2>&1 && { git diff --quiet HEAD -- 2>/dev/null || echo true; })
BUILD_DATE ?= $(shell date -u -d "@$${SOURCE_DATE_EPOCH:-$$(date +%s)}" +%Y-%m-%dT%H:%M:%SZ)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildDate=$(BUILD_DATE) \
	-X github.com/seccompwatch/seccompwatch/internal/buildinfo.modified=$(MODIFIED)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/seccompwatch

# docs: the man page (gzipped) and bash/zsh completions, generated from the
# program's own --help, for a package build to install.
docs: build
	./scripts/gen-docs.sh $(BIN) $(DOCS)

# deb: the Debian package in dist/ (nfpm, pinned in go.mod as a tool):
# the program as `make build` stamps it, static, and `make docs`' files.
deb:
	./scripts/deb.sh dist

bench-replay:
	./bench/replay.sh

bench-storm:
	./bench/storm.sh
