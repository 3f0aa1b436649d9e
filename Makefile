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

.PHONY: test setup check build docs bench-replay bench-storm

# test: install the test dependencies (idempotent), then run every check.
test: setup check

setup:
	$(SUDO) ./scripts/setup.sh

check:
	$(SUDO) ./scripts/check.sh

build:
	$(GO) build -o bin/seccompwatch ./cmd/seccompwatch

# docs: the man page (gzipped) and bash/zsh completions, generated from the
# program's own --help, for a package build to install.
docs: build
	./scripts/gen-docs.sh bin/seccompwatch $(DOCS)

bench-replay:
	./bench/replay.sh

bench-storm:
	./bench/storm.sh
