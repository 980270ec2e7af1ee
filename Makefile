# Guardian portal: one command to run it all locally, one to pass every test.
#   make run    start Kafka, the MongoDB-protocol server, the SMTP sink, Keycloak and the services
#   make stop   stop all of it
#   make test   start what tests need, run every test (browser tests included), stop it
#   make bench  benchmarks → bench/report.md (not part of make test)
#   make faults the long fault-tolerance round
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Build SecantusDB's Rust server (≈4 min once, cached in .cache/secantus-rs): several times
# faster than its Python server. Set to 0 to use the Python server instead.
export DEVSTACK_BUILD_RUST_MONGO ?= 1

.PHONY: chromium browser run stop test unit contract integration faults bench lint lock topics schemas asyncapi openapi vectors clean-data help

help:
	@sed -n '1,8p' Makefile

# Every dependency from the lock file, each checked against its hashes, then the project
# itself without resolving anything (reproducible: `make lock` is the only thing that
# moves a version).
$(VENV)/.installed: pyproject.toml requirements-dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes -r requirements-dev.lock
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

venv: $(VENV)/.installed

include tools/devstack/stack.mk
-include deploy/k8s-check.mk

topics: venv
	$(PY) -m shared.runtime.cli topics create

run: venv stack-up topics
	$(PY) -m tools.run_services up

stop: venv
	-$(PY) -m tools.run_services down
	$(MAKE) --no-print-directory stack-down

schemas: venv
	$(PY) -m shared.runtime.cli schemas export

asyncapi: venv
	$(PY) -m shared.runtime.cli asyncapi export

# The HTTP APIs' OpenAPI documents → shared/contracts/openapi/ (checked by tests/contract).
openapi: venv
	$(PY) -m shared.runtime.cli openapi export

# Sample SIS records (shared/contracts/vectors/); then `make asyncapi` (its examples).
vectors: venv
	$(PY) -m shared.runtime.cli vectors export

# mypy: the code (shared, services, tools); the tests are not type-checked yet.
MYPY := $(PY) -m mypy shared services tools --exclude '/tests/'

lint: venv
	$(PY) -m ruff check .
	$(MYPY)

# Unit and contract tests need nothing running.
unit: venv
	$(PY) -m pytest -q shared services tools

contract: venv
	$(PY) -m pytest -q tests/contract

# Debian's chromium for the browser tests (tests/browser), installed when missing.
# Playwright drives it through executable_path: `playwright install` is never run.
chromium:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; \
	  else sudo apt-get install -y -q chromium; fi; }

# The whole suite: lint, types, unit, contract, k8s manifests, integration and browser
# tests on the real stack. The stack is stopped afterwards whatever the outcome; the exit
# code is pytest's.
test: venv chromium
	$(PY) -m ruff check .
	$(MYPY)
	$(MAKE) --no-print-directory k8s-check
	$(PY) -m tools.devstack up
	-$(PY) -m tools.devstack prune
	set +e; PORTAL_STACK_MANAGED=1 $(PY) -m pytest -q -p no:cacheprovider \
	  shared services tests tools; rc=$$?; \
	$(PY) -m tools.devstack down; \
	if [ $$rc -eq 5 ]; then echo "no test ran"; exit 1; fi; exit $$rc

# The browser tests alone (the stack must be up: make run, or tools.devstack up).
browser: venv chromium
	PORTAL_STACK_MANAGED=1 $(PY) -m pytest -q -p no:cacheprovider tests/browser

faults: venv
	$(PY) -m tools.devstack up
	-$(PY) -m tools.devstack prune
	set +e; PORTAL_STACK_MANAGED=1 PORTAL_FAULTS=long $(PY) -m pytest -q tests/integration/faults; \
	rc=$$?; $(PY) -m tools.devstack down; exit $$rc

bench: venv
	$(PY) -m tools.devstack up
	-$(PY) -m tools.devstack prune
	set +e; $(PY) bench/run_all.py; rc=$$?; $(PY) -m tools.devstack down; exit $$rc

# Re-resolve the lock files after a change of pyproject.toml's dependencies (needs PyPI):
# requirements-dev.lock (everything, for make and CI) and requirements.lock (runtime only,
# for the image), the same versions in both, with hashes, for Python 3.11 on any platform.
UV_VERSION := 0.13.9
lock:
	@test -x .cache/uv/bin/uv || $(PYTHON) -m pip install -q --target .cache/uv uv==$(UV_VERSION)
	.cache/uv/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	  --generate-hashes --no-header -o requirements-dev.lock
	.cache/uv/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
	  --generate-hashes --no-header -c requirements-dev.lock -o requirements.lock

clean-data: stop
	rm -rf var/mongo-data var/kafka-data var/mail var/test-runs var/log
