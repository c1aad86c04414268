#!/usr/bin/env bash
# Everything the test suites need on a fresh machine, then the project's dependencies:
#   - redis-server (Dapr's local components), prometheus and promtool (alert rules, the
#     dashboard's queries), chromium (the website's browser tests, driven by playwright-core):
#     Debian/Ubuntu packages, installed with apt when missing;
#   - podman (and what it runs with: runc, debootstrap, ...): the images' tests build and run
#     Herald's images; scripts/build-images.sh makes their Debian base once (about 7 minutes);
#   - daprd: found or built by scripts/get-daprd.sh (about 8 minutes the first time);
#   - helm: found or built by scripts/get-helm.sh (about 4 minutes the first time);
#   - etcd, kube-apiserver and kubectl (the server-side dry run of the chart and k8s/): found
#     or built by scripts/get-kube.sh (about 1 + 10 minutes the first time), and the Dapr,
#     KEDA and prometheus-operator CRDs: Go modules downloaded by scripts/get-crds.sh;
#   - node_modules: npm ci.
# Safe to run again: what is there is kept. `npm start` needs none of the first five.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
command -v podman >/dev/null || missing+=(podman buildah runc debootstrap uidmap fuse-overlayfs slirp4netns)
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "Install ${missing[*]} with your package manager, then run this again." >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "Installing ${missing[*]} needs root (or sudo)." >&2; exit 1; }
    sudo=sudo
  fi
  echo "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The tests start Redis and Prometheus on ports of their own; the packages' services are not needed.
fi

daprd="$(scripts/get-daprd.sh)"
echo "daprd: $daprd ($("$daprd" --version))"
helm="$(scripts/get-helm.sh)"
echo "helm: $helm ($("$helm" version --short))"
kube="$(scripts/get-kube.sh)"
{ read -r etcd; read -r apiserver; read -r kubectl; } <<<"$kube"
echo "etcd: $etcd ($("$etcd" --version | head -1))"
echo "kube-apiserver: $apiserver ($("$apiserver" --version))"
echo "kubectl: $kubectl ($("$kubectl" version --client | head -1))"
crds="$(scripts/get-crds.sh)"
echo "CRDs: $(wc -l <<<"$crds") files (Dapr, KEDA, prometheus-operator)"

npm ci --no-audit --no-fund
echo "images: $(scripts/build-images.sh test | tr '\n' ' ')"
