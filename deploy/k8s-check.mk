# `make k8s-check`: offline validation of deploy/k8s (tools/k8s_check/README.md).
# Included by the top-level Makefile (`include deploy/k8s-check.mk`); also usable alone:
#   make -f deploy/k8s-check.mk k8s-check
K8S_CHECK_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
K8S_CHECK_PYTHON ?= $(K8S_CHECK_ROOT)/.venv/bin/python

.PHONY: k8s-check k8s-check-install k8s-check-test k8s-generate

## Render every overlay, validate schemas (Kubernetes + vendored CRDs), house
## rules, topic catalog and ACLs, alerts (promtool), kube-score.
k8s-check: k8s-check-install
	cd $(K8S_CHECK_ROOT) && $(K8S_CHECK_PYTHON) -m tools.k8s_check

## Build kustomize, kube-score and promtool into .cache/bin (first run only; needs the Go proxy).
k8s-check-install:
	@PYTHON=$(K8S_CHECK_PYTHON) $(K8S_CHECK_ROOT)/tools/k8s_check/install.sh

## The check's own tests: the real tree passes, deliberately broken copies fail.
k8s-check-test: k8s-check-install
	cd $(K8S_CHECK_ROOT) && $(K8S_CHECK_PYTHON) -m pytest -q -p no:cacheprovider tools/k8s_check/tests

## Rewrite the KafkaTopic/KafkaUser manifests after a change of shared/contracts/topics.py.
k8s-generate:
	cd $(K8S_CHECK_ROOT) && $(K8S_CHECK_PYTHON) -m tools.k8s_check.generate
