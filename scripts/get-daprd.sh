#!/usr/bin/env bash
# Prints the path of a daprd binary, building it first if there is none.
#
# Looks, in order, at: $DAPRD; `daprd` on PATH; ~/.dapr/bin/daprd (what `dapr init` installs);
# the build cache ~/.cache/herald/daprd-$DAPR_VERSION/daprd. If none exists, builds daprd from
# the Go module github.com/dapr/dapr@$DAPR_VERSION into that cache (about 8 minutes on 2 cores)
# and reuses it from then on. Progress goes to stderr; only the path goes to stdout.
#
# v1.18.2 is pinned: v1.18.3 does not build from the Go module proxy reachable here (its
# durabletask-go and pulsar dependencies are not served).
set -euo pipefail
DAPR_VERSION="${DAPR_VERSION:-v1.18.2}"
cache="${HERALD_CACHE_DIR:-$HOME/.cache/herald}/daprd-$DAPR_VERSION"

if [ -n "${DAPRD:-}" ]; then
  [ -x "$DAPRD" ] || { echo "DAPRD=$DAPRD is not an executable file" >&2; exit 1; }
  echo "$DAPRD"; exit 0
fi
if command -v daprd >/dev/null 2>&1; then command -v daprd; exit 0; fi
if [ -x "$HOME/.dapr/bin/daprd" ]; then echo "$HOME/.dapr/bin/daprd"; exit 0; fi
if [ -x "$cache/daprd" ]; then echo "$cache/daprd"; exit 0; fi

command -v go >/dev/null 2>&1 || {
  echo "No daprd found and no Go toolchain to build one. Install the Dapr CLI and run 'dapr init', or set DAPRD=/path/to/daprd." >&2
  exit 1
}
echo "Building daprd $DAPR_VERSION from the Go module into $cache (first time only, ~8 min)..." >&2
start=$(date +%s)
export GOFLAGS=-mod=mod
dir=$(go mod download -json "github.com/dapr/dapr@$DAPR_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] || { echo "go could not download github.com/dapr/dapr@$DAPR_VERSION" >&2; exit 1; }
mkdir -p "$cache"
# Build inside the module's own directory so its go.mod (with its replace directives) applies.
# The build tag registers the stable components; without it daprd has none.
(cd "$dir" && CGO_ENABLED=0 go build -trimpath -tags stablecomponents \
  -ldflags "-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=${DAPR_VERSION#v} -X github.com/dapr/dapr/pkg/buildinfo.gitversion=$DAPR_VERSION" \
  -o "$cache/daprd.partial" ./cmd/daprd) >&2
mv "$cache/daprd.partial" "$cache/daprd"
echo "daprd $DAPR_VERSION built in $(( $(date +%s) - start ))s" >&2
echo "$cache/daprd"
