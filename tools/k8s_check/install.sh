#!/usr/bin/env bash
# One-time install of the binaries `make k8s-check` runs, into .cache/bin (git-ignored).
# Needs the Go toolchain and the Go module proxy the first time only; afterwards
# k8s-check runs offline. Idempotent: a pinned version already built is kept.
#
# - kustomize renders the overlays (sigs.k8s.io/kustomize/kustomize/v5). v5.8.2 is the
#   newest release that builds with Go 1.26 (v5.8.3 requires Go 1.27).
# - kube-score lints them for Kubernetes best practices (github.com/zegl/kube-score).
# - promtool checks and tests the alerting rules (github.com/prometheus/prometheus).
#   kube-linter (golang.stackrox.io/kube-linter) would be the other choice, but its
#   module host is not served by the Go module proxy these machines may use.
set -euo pipefail

KUSTOMIZE_VERSION=v5.8.2
KUBE_SCORE_VERSION=v1.20.0
# promtool checks and unit-tests the alerts of components/monitoring. Prometheus's Go
# module versions are v0.<major><minor>.<patch> (v0.316.0 = Prometheus 3.16.0).
PROMTOOL_VERSION=v0.316.0

root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$root/.cache/bin"
python="${PYTHON:-$root/.venv/bin/python}"
mkdir -p "$bin"

go_install() {  # name module version [go build flags...]
  local name="$1" module="$2" version="$3"
  shift 3
  if [[ -x "$bin/$name" && -f "$bin/.$name-$version" ]]; then
    return 0
  fi
  if ! command -v go >/dev/null; then
    echo "k8s-check-install: Go is needed once to build $name ($module@$version)" >&2
    exit 1
  fi
  echo "k8s-check-install: building $name $version from the Go module proxy"
  GOBIN="$bin" GOTOOLCHAIN=local GOFLAGS=-mod=mod go install "$@" "$module@$version"
  rm -f "$bin/.$name-"*
  touch "$bin/.$name-$version"
}

go_install kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"
go_install kube-score github.com/zegl/kube-score/cmd/kube-score "$KUBE_SCORE_VERSION"
# Without the service-discovery plugins (build tag remove_all_sd: no cloud SDKs, no
# Kubernetes client), which `check rules` and `test rules` do not use; that divides the
# build by several.
go_install promtool github.com/prometheus/prometheus/cmd/promtool "$PROMTOOL_VERSION" -tags remove_all_sd

# The Python side (offline Kubernetes schemas, JSON Schema, YAML) comes from the
# project's dev dependencies.
if ! "$python" -c "import kubernetes_validate, jsonschema, referencing, yaml" 2>/dev/null; then
  echo "k8s-check-install: $python lacks kubernetes-validate/jsonschema/pyyaml:" \
       "install the project's dev dependencies (pip install -e '.[dev]')" >&2
  exit 1
fi
