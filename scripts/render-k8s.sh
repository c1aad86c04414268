#!/usr/bin/env bash
# Renders the Helm chart helm/herald into plain manifests: k8s/local (Redis, values-local.yaml)
# and k8s/azure (Azure Storage, values-azure.yaml), one file per object kind and service, for
# `kubectl apply -n herald -R -f k8s/local`. `npm run k8s:render` runs it; a test checks that
# the checked-in k8s/ equals a fresh render.
#
# Usage: scripts/render-k8s.sh [OUT_DIR]   (default: k8s; with no argument it also copies
# dashboards/herald.json and alerts/herald.rules.yml into the chart, which can only read its
# own files)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/k8s}"
helm="$("$root/scripts/get-helm.sh")"
chart="$root/helm/herald"

if [ $# -eq 0 ]; then
  cp "$root/dashboards/herald.json" "$chart/files/herald.json"
  cp "$root/alerts/herald.rules.yml" "$chart/files/herald.rules.yml"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for set in local azure; do
  "$helm" template herald "$chart" --namespace herald -f "$chart/values-$set.yaml" --output-dir "$tmp/$set" >/dev/null
  rm -rf "${out:?}/$set"
  mkdir -p "$out/$set"
  cp -R "$tmp/$set/herald/templates/." "$out/$set/"
done
echo "rendered $out/local and $out/azure from helm/herald" >&2
