#!/usr/bin/env bash
# Builds Herald's images with podman from the Dockerfile: localhost/herald-{web,notifier,embedded}:TAG
# (TAG defaults to "dev"). Prints the three image names, one a line.
#
#   scripts/build-images.sh            # base: NODE_IMAGE, else a local Debian trixie + Node 20
#   NODE_IMAGE=docker.io/library/node:20-bookworm-slim scripts/build-images.sh v0.1.0
#
# Where no registry is reachable (this project's CI machines) the base is made once from
# Debian's packages: debootstrap trixie (its nodejs is 20.19), npm from Debian, imported as
# localhost/herald-node:20-trixie and kept in podman's storage (about 7 minutes the first
# time). Builds after that reuse podman's layer cache: only what changed is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-dev}"
localBase=localhost/herald-node:20-trixie

command -v podman >/dev/null || {
  echo "podman is missing: scripts/setup.sh installs it (apt-get install podman buildah runc debootstrap uidmap fuse-overlayfs slirp4netns)" >&2
  exit 1
}
# crun cannot set rlimits on some kernels (these machines'); runc with fixed limits below the
# host's hard limit (20000 here) works.
if [ -z "${CONTAINERS_CONF:-}" ]; then
  export CONTAINERS_CONF="${XDG_CACHE_HOME:-$HOME/.cache}/herald/containers.conf"
  mkdir -p "$(dirname "$CONTAINERS_CONF")"
  printf '[containers]\ndefault_ulimits = ["nofile=16384:16384", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n' >"$CONTAINERS_CONF"
fi

if [ -z "${NODE_IMAGE:-}" ]; then
  NODE_IMAGE=$localBase
  if ! podman image exists "$localBase"; then
    echo "making $localBase from Debian trixie (once)" >&2
    rootfs="$(mktemp -d)"
    trap 'rm -rf "$rootfs"' EXIT
    mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
    debootstrap --variant=minbase trixie "$rootfs" "${mirror:-http://deb.debian.org/debian}" >&2
    chroot "$rootfs" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm ca-certificates >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*' >&2
    tar -C "$rootfs" -c . | podman import --quiet - "$localBase" >&2
  fi
fi

# npm inside the build reaches the registry through this machine's HTTPS proxy, whose
# certificate is in the host's CA bundle (the image's own bundle does not have it).
ca=()
[ -f /etc/ssl/certs/ca-certificates.crt ] && ca=(--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
for target in web notifier embedded; do
  podman build --quiet --network host "${ca[@]}" --build-arg "NODE_IMAGE=$NODE_IMAGE" \
    --target "$target" --tag "localhost/herald-$target:$tag" . >&2
  echo "localhost/herald-$target:$tag"
done
