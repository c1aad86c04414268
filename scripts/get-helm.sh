#!/usr/bin/env bash
# Prints the path of a helm binary, building it first if there is none.
#
# Looks, in order, at: $HELM; `helm` on PATH; the build cache
# ~/.cache/herald/helm-$HELM_VERSION/helm. If none exists, builds helm from the Go module
# helm.sh/helm/v3@$HELM_VERSION into that cache (about 3 minutes on 2 cores) and reuses it from
# then on. Progress goes to stderr; only the path goes to stdout.
set -euo pipefail
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
cache="${HERALD_CACHE_DIR:-$HOME/.cache/herald}/helm-$HELM_VERSION"

if [ -n "${HELM:-}" ]; then
  [ -x "$HELM" ] || { echo "HELM=$HELM is not an executable file" >&2; exit 1; }
  echo "$HELM"; exit 0
fi
if command -v helm >/dev/null 2>&1; then command -v helm; exit 0; fi
if [ -x "$cache/helm" ]; then echo "$cache/helm"; exit 0; fi

command -v go >/dev/null 2>&1 || {
  echo "No helm found and no Go toolchain to build one. Install helm (https://helm.sh/docs/intro/install/) or set HELM=/path/to/helm." >&2
  exit 1
}
echo "Building helm $HELM_VERSION from the Go module into $cache (first time only, ~3 min)..." >&2
start=$(date +%s)
# As helm's Makefile does: the Kubernetes version helm assumes without a cluster (`helm
# template`, `helm lint`, and the charts' kubeVersion check) is its client-go's minor version.
# Without these flags it would be v1.20.
gomod=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[ -n "$gomod" ] || { echo "go could not download helm.sh/helm/v3@$HELM_VERSION" >&2; exit 1; }
k8s_minor=$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod")
[ -n "$k8s_minor" ] || { echo "no k8s.io/client-go version in $gomod" >&2; exit 1; }
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags="$ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done
mkdir -p "$cache/bin.partial"
CGO_ENABLED=0 GOBIN="$cache/bin.partial" GOFLAGS=-mod=mod \
  go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
mv "$cache/bin.partial/helm" "$cache/helm"
rmdir "$cache/bin.partial"
echo "helm $HELM_VERSION built in $(( $(date +%s) - start ))s" >&2
echo "$cache/helm"
