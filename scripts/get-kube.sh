#!/usr/bin/env bash
# Prints the paths of etcd, kube-apiserver and a matching kubectl (one per line, in that
# order), building them first if there are none. With one argument (etcd, kube-apiserver or
# kubectl) prints only that path.
#
# Looks, in order, at: $ETCD / $KUBE_APISERVER / $KUBECTL; etcd and kube-apiserver on PATH;
# the build caches ~/.cache/herald/etcd-$ETCD_VERSION/etcd and
# ~/.cache/herald/kube-$KUBE_VERSION/{kube-apiserver,kubectl}. If none exists, builds them
# from the Go modules (etcd: go.etcd.io/etcd/server/v3, about 1 minute on 2 cores;
# kube-apiserver and kubectl: k8s.io/kubernetes in one `go build`, about 10 minutes) and
# reuses them from then on. A kubectl on PATH is not used: it would rarely match the server.
# Progress goes to stderr; only the paths go to stdout.
set -euo pipefail
ETCD_VERSION="${ETCD_VERSION:-v3.7.3}"
KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
root="${HERALD_CACHE_DIR:-$HOME/.cache/herald}"
etcd_cache="$root/etcd-$ETCD_VERSION"
kube_cache="$root/kube-$KUBE_VERSION"

need_go() {
  command -v go >/dev/null 2>&1 || {
    echo "No $1 found and no Go toolchain to build one. Install Go, or set $2=/path/to/$1." >&2
    exit 1
  }
}

# Copies a module out of the module cache into $2 (writable), printing nothing.
copy_module() {
  local dir
  dir=$(GOFLAGS=-mod=mod go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || { echo "go could not download $1" >&2; exit 1; }
  rm -rf "$2"; mkdir -p "$(dirname "$2")"
  cp -r "$dir" "$2"
  chmod -R u+w "$2"
}

# Deletes `replace` directives (block or single-line) from a go.mod.
drop_replaces() {
  sed -i -e '/^replace[[:space:]]*(/,/^)/d' -e '/^replace[[:space:]]/d' "$1"
}

build_etcd() {
  need_go etcd ETCD
  echo "Building etcd $ETCD_VERSION from go.etcd.io/etcd/server/v3 into $etcd_cache (first time only, ~1 min)..." >&2
  local start src
  start=$(date +%s)
  src="$etcd_cache/src"
  copy_module "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "$src"
  # The module's go.mod points its sibling modules at ../api, ../pkg, ...: use the published ones.
  drop_replaces "$src/go.mod"
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$etcd_cache/etcd.partial" .) >&2
  mv "$etcd_cache/etcd.partial" "$etcd_cache/etcd"
  rm -rf "$src"
  echo "etcd $ETCD_VERSION built in $(( $(date +%s) - start ))s" >&2
}

build_kube() {
  need_go kube-apiserver KUBE_APISERVER
  echo "Building kube-apiserver and kubectl $KUBE_VERSION from k8s.io/kubernetes into $kube_cache (first time only, ~10 min)..." >&2
  local start src minor staging
  start=$(date +%s)
  src="$kube_cache/src"
  copy_module "k8s.io/kubernetes@$KUBE_VERSION" "$src"
  rm -rf "$src/vendor" "$src"/go.work*
  # k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go, ...) as
  # v0.0.0 and replaces them with ./staging/src/...: use the published v0.<minor>.<patch> instead.
  drop_replaces "$src/go.mod"
  staging="v0.${KUBE_VERSION#v1.}"
  sed -i -E "s#^([[:space:]]*k8s\.io/[A-Za-z0-9._/-]+) v0\.0\.0\$#\1 $staging#; s#^([[:space:]]*k8s\.io/[A-Za-z0-9._/-]+) v0\.0\.0 // indirect\$#\1 $staging // indirect#" "$src/go.mod"
  minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  local ldflags="-s -w"
  ldflags="$ldflags -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
  ldflags="$ldflags -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
  ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  mkdir -p "$kube_cache/bin.partial"
  # One invocation for both: they share most packages, so the second costs little.
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" \
    -o "$kube_cache/bin.partial/" ./cmd/kube-apiserver ./cmd/kubectl) >&2
  mv "$kube_cache/bin.partial/kube-apiserver" "$kube_cache/kube-apiserver"
  mv "$kube_cache/bin.partial/kubectl" "$kube_cache/kubectl"
  rmdir "$kube_cache/bin.partial"
  rm -rf "$src"
  echo "kube-apiserver and kubectl $KUBE_VERSION built in $(( $(date +%s) - start ))s" >&2
}

find_etcd() {
  if [ -n "${ETCD:-}" ]; then
    [ -x "$ETCD" ] || { echo "ETCD=$ETCD is not an executable file" >&2; exit 1; }
    echo "$ETCD"; return
  fi
  if command -v etcd >/dev/null 2>&1; then command -v etcd; return; fi
  [ -x "$etcd_cache/etcd" ] || build_etcd
  echo "$etcd_cache/etcd"
}

find_apiserver() {
  if [ -n "${KUBE_APISERVER:-}" ]; then
    [ -x "$KUBE_APISERVER" ] || { echo "KUBE_APISERVER=$KUBE_APISERVER is not an executable file" >&2; exit 1; }
    echo "$KUBE_APISERVER"; return
  fi
  if command -v kube-apiserver >/dev/null 2>&1; then command -v kube-apiserver; return; fi
  [ -x "$kube_cache/kube-apiserver" ] || build_kube
  echo "$kube_cache/kube-apiserver"
}

find_kubectl() {
  if [ -n "${KUBECTL:-}" ]; then
    [ -x "$KUBECTL" ] || { echo "KUBECTL=$KUBECTL is not an executable file" >&2; exit 1; }
    echo "$KUBECTL"; return
  fi
  [ -x "$kube_cache/kubectl" ] || build_kube
  echo "$kube_cache/kubectl"
}

case "${1:-all}" in
  etcd) find_etcd ;;
  kube-apiserver) find_apiserver ;;
  kubectl) find_kubectl ;;
  all) find_etcd; find_apiserver; find_kubectl ;;
  *) echo "usage: $0 [etcd|kube-apiserver|kubectl]" >&2; exit 2 ;;
esac
