#!/usr/bin/env bash
# Builds the .deb into OUTDIR (default dist/) with nfpm, pinned in go.mod as
# a tool: the program as `make build` stamps it (static: CGO_ENABLED=0),
# the unit, the sysusers.d user, /etc/default/seccompwatch, and the man
# page and shell completions of scripts/gen-docs.sh. VERSION is the tag
# (git describe) when there is one, else 0.1.0~git<commit date>.<commit>.
set -euo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${1:-dist}
if [[ -z "${VERSION:-}" ]]; then
	VERSION=$(git describe --tags 2>/dev/null | sed 's/^v//') || true
fi
if [[ -z "${VERSION:-}" ]]; then
	if rev=$(git rev-parse --short=12 HEAD 2>/dev/null); then
		VERSION="0.1.0~git$(git show -s --format=%cd --date=format:%Y%m%d HEAD).$rev"
	else
		VERSION=0.1.0
	fi
fi
export VERSION DEB_ARCH=${DEB_ARCH:-$(go env GOARCH)}
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
CGO_ENABLED=0 GOARCH=$DEB_ARCH GOFLAGS="${GOFLAGS:-} -trimpath" make -s build BIN="$STAGE/seccompwatch" VERSION="$VERSION"
./scripts/gen-docs.sh "$STAGE/seccompwatch" "$STAGE/docs" >/dev/null
go build -o "$STAGE/nfpm" github.com/goreleaser/nfpm/v2/cmd/nfpm
cp -r deploy README.md "$STAGE/"
mkdir -p "$OUTDIR"
out=$(realpath "$OUTDIR")
(cd "$STAGE" && ./nfpm package --config deploy/deb/nfpm.yaml --packager deb --target "$out/")
