# Local dev/test stack: Kafka 4.x (KRaft, 127.0.0.1:9092), SecantusDB (MongoDB protocol,
# 127.0.0.1:27017), SMTP sink (127.0.0.1:1025, inbox http://127.0.0.1:8025), Keycloak
# (127.0.0.1:8380, the staff OpenID provider).
# Included by the main Makefile:   include tools/devstack/stack.mk
# Tooling is cached in .cache/, data/logs/pid files live in var/ (both git-ignored).
# Full command set: .venv/bin/python -m tools.devstack --help

# interpreter of the project venv, and the main Makefile's target that creates/updates it
DEVSTACK_PY ?= .venv/bin/python
DEVSTACK_VENV_TARGET ?= venv

.PHONY: stack-up stack-down stack-status stack-restart stack-reset stack-smoke

stack-up: $(DEVSTACK_VENV_TARGET)
	$(DEVSTACK_PY) -m tools.devstack up

stack-down:
	@if [ -x $(DEVSTACK_PY) ]; then $(DEVSTACK_PY) -m tools.devstack down; fi

stack-status: $(DEVSTACK_VENV_TARGET)
	$(DEVSTACK_PY) -m tools.devstack status

stack-restart: $(DEVSTACK_VENV_TARGET)
	$(DEVSTACK_PY) -m tools.devstack restart

# stops the servers and deletes their data (topics, Mongo data, stored mail); caches stay
stack-reset: $(DEVSTACK_VENV_TARGET)
	$(DEVSTACK_PY) -m tools.devstack reset

stack-smoke: $(DEVSTACK_VENV_TARGET)
	$(DEVSTACK_PY) -m tools.devstack smoke
