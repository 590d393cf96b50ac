#!/usr/bin/env bash
# Builds FerretDB 1.24.2 (the MongoDB-wire test server) into $GOBIN or ~/go/bin, once.
# `go install ...@v1.24.2` alone builds a binary that panics at start: the module as
# published lacks build/version/version.txt, so we build from a copy that has it.
set -euo pipefail
version=v1.24.2
bindir="${GOBIN:-$(go env GOPATH)/bin}"
target="$bindir/ferretdb"
if [ -x "$target" ] && "$target" --version 2>/dev/null | grep -q "${version}"; then
  echo "ferretdb $version already at $target"
  exit 0
fi
export GOFLAGS=-mod=mod
go mod download -x "github.com/FerretDB/FerretDB@$version" >/dev/null 2>&1 || go mod download "github.com/FerretDB/FerretDB@$version"
src=$(go mod download -json "github.com/FerretDB/FerretDB@$version" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$src/." "$work/"
chmod -R u+w "$work"
echo "$version" > "$work/build/version/version.txt"
echo "unknown" > "$work/build/version/commit.txt"
echo "unknown" > "$work/build/version/branch.txt"
echo "sdl-test" > "$work/build/version/package.txt"
mkdir -p "$bindir"
(cd "$work" && go build -trimpath -o "$target" ./cmd/ferretdb)
"$target" --version | head -3
