#!/usr/bin/env bash
# Prints the paths of the CustomResourceDefinitions the chart's objects need, one per line,
# taken from the projects' own Go modules (downloaded into the Go module cache by `go mod
# download`, nothing is built):
#   - Dapr (github.com/dapr/dapr@$DAPR_VERSION, charts/dapr/crds): Component, Configuration,
#     Resiliency, Subscription;
#   - KEDA (github.com/kedacore/keda/v2@$KEDA_VERSION, config/crd/bases): ScaledObject,
#     TriggerAuthentication;
#   - prometheus-operator (github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION,
#     example/prometheus-operator-crd): ServiceMonitor, PodMonitor, PrometheusRule.
# test/support/kube.ts applies them to the test's kube-apiserver. Progress goes to stderr.
set -euo pipefail
DAPR_VERSION="${DAPR_VERSION:-v1.18.2}"
KEDA_VERSION="${KEDA_VERSION:-v2.21.0}"
PROMETHEUS_OPERATOR_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"

command -v go >/dev/null 2>&1 || { echo "The CRDs are read from Go modules: install Go." >&2; exit 1; }

module_dir() {
  local dir
  dir=$(GOFLAGS=-mod=mod go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] && [ -d "$dir" ] || { echo "go could not download $1" >&2; exit 1; }
  echo "$dir"
}

dapr=$(module_dir "github.com/dapr/dapr@$DAPR_VERSION")/charts/dapr/crds
keda=$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")/config/crd/bases
prom=$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")/example/prometheus-operator-crd
for f in \
  "$dapr/components.yaml" "$dapr/configuration.yaml" "$dapr/resiliency.yaml" "$dapr/subscription.yaml" \
  "$keda/keda.sh_scaledobjects.yaml" "$keda/keda.sh_triggerauthentications.yaml" \
  "$prom/monitoring.coreos.com_servicemonitors.yaml" "$prom/monitoring.coreos.com_podmonitors.yaml" \
  "$prom/monitoring.coreos.com_prometheusrules.yaml"; do
  [ -f "$f" ] || { echo "no CRD file $f" >&2; exit 1; }
  echo "$f"
done
