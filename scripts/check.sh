#!/usr/bin/env bash
# Every check CI runs: formatting, vet, staticcheck, generated code up to
# date, the test suite with the race detector (as root: real kernel audit,
# seccomp, cgroups, BPF), and a short run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:$(go env GOPATH)/bin"
# An execution count, not a duration: with a duration, Go 1.26's fuzz
# coordinator can report a bare "context deadline exceeded" failure when
# the time runs out (go.dev/issue/75804, fixed in Go 1.27).
FUZZTIME=${FUZZTIME:-50000x}

step() { printf '\n=== %s\n' "$*"; }

step gofmt
bad=$(gofmt -l $(git ls-files '*.go'))
if [[ -n "$bad" ]]; then echo "gofmt needed:"; echo "$bad"; exit 1; fi

step go vet
go vet ./...

step staticcheck
staticcheck ./...

step go generate is reproducible
go generate ./...
if ! git diff --exit-code --stat; then
	echo "go generate changed committed files: run it and commit the result"; exit 1
fi
if [[ -n "$(git status --porcelain --untracked-files=all -- '*.go' '*.md')" ]]; then
	git status --porcelain --untracked-files=all; echo "go generate created files"; exit 1
fi

step deploy/seccompwatch.service: systemd-analyze security exposure at most 2.0
if command -v systemd-analyze >/dev/null; then
	systemd-analyze security --offline=true --threshold=20 deploy/seccompwatch.service | tail -n 1
fi

step promtool: deploy/prometheus rules check and unit tests
promtool check rules deploy/prometheus/*.rules.yml
promtool test rules deploy/prometheus/tests/*.test.yml
# (promtool check metrics runs on a live scrape in the deploy/ Go tests.)

step go test -race
# -p 1: the privileged tests of several packages share one kernel audit
# subsystem (the audit pid, enabled, backlog) and must not run at once.
# -timeout 50m: the VM suite under emulation took 10-12 min on one
# machine of this kind and 23 min on another, and a guest kernel lockup
# boots it a second time (test/e2e).
go test -race -count=1 -p 1 -timeout 50m ./...

step fuzz targets, $FUZZTIME each
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "--- $pkg $target"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >/tmp/fuzz.$$ 2>&1 || { cat /tmp/fuzz.$$; rm -f /tmp/fuzz.$$; exit 1; }
	done
done
rm -f /tmp/fuzz.$$

step CLI smoke: the README\'s first command
go run ./cmd/seccompwatch suggest --replay auditstream/testdata/sample.log --root testdata/sample-root >/dev/null

echo
echo "all checks passed"
