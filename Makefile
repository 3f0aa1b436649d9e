# seccompwatch — the two commands a newcomer needs are in README.md:
#   go run ./cmd/seccompwatch suggest --replay auditstream/testdata/sample.log --root testdata/sample-root
#   sudo make test

GO ?= go

.PHONY: test setup check build bench-replay bench-storm

# test: install the test dependencies (idempotent), then run every check.
test: setup check

setup:
	./scripts/setup.sh

check:
	./scripts/check.sh

build:
	$(GO) build -o bin/seccompwatch ./cmd/seccompwatch

bench-replay:
	./bench/replay.sh

bench-storm:
	./bench/storm.sh
