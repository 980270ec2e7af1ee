# syntax=docker/dockerfile:1
#
# One image for all four services (identity, linking, notifier, scheduler).
#
# Why one image: the services share one Python project, one dependency set (pyproject
# `dependencies`) and one console command; they differ only in which composition root
# runs. One image means one build, one vulnerability scan, one digest to pin and
# promote, and no chance that two services run different copies of shared/ (contracts,
# envelope, outbox). Each Deployment chooses its service by argument:
#
#   docker run IMAGE serve identity        (ENTRYPOINT is `portal`; k8s: args [serve, identity])
#
# The same image runs the operator commands (`portal topics create`, `portal roster
# import FILE.zip`, `portal staff-token ...`).
#
# Base image: pinned by tag. The digest could not be resolved on the machine this was
# written on (no registry access); the release build should pin it by digest:
#   docker buildx imagetools inspect python:3.11.11-slim-bookworm   # -> sha256:...
#   docker build --build-arg PYTHON_IMAGE=python:3.11.11-slim-bookworm@sha256:<digest> .
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# ---- builder: a virtualenv with the dependencies and the project wheel ----------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/portal
WORKDIR /src

# Dependencies first, from the lock file alone (every version pinned, every file checked
# against its hash: an image built next month gets the same packages); this layer is
# rebuilt only when the lock changes. (All of them ship manylinux wheels; no compiler.)
COPY requirements.lock ./
RUN /opt/portal/bin/pip install --require-hashes --only-binary=:all: -r requirements.lock

# Then the project itself, built as a wheel and installed without touching the deps.
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
RUN /opt/portal/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && /opt/portal/bin/pip install --no-deps /tmp/wheels/*.whl \
 # Fail the build, not the rollout, if a service's composition root cannot import or
 # the wheel lacks its data files (pyproject [tool.setuptools.package-data]).
 && /opt/portal/bin/python -c "import shared.runtime.cli, identity.app, linking.app, notifier.app, scheduler.app, webhooks.app, web.app" \
 && /opt/portal/bin/python -c "import importlib.resources as r; need = {'shared.runtime': 'policies/duval.yaml', 'notifier': 'templates', 'web': 'static/uswds/css/uswds.min.css'}; missing = [p + '/' + f for p, f in need.items() if not r.files(p).joinpath(f).exists()]; assert not missing, 'package data missing from the wheel: %s' % missing" \
 # Byte-compile now: the root filesystem is read-only at run time.
 && /opt/portal/bin/python -m compileall -q /opt/portal/lib \
 # The runtime needs no installer.
 && /opt/portal/bin/python -m pip uninstall -y -q pip setuptools

# ---- runtime: the virtualenv on a clean base, as uid 10001 -----------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="guardian-portal" \
      org.opencontainers.image.description="Guardian portal registration and student linking: identity, linking, notifier, scheduler" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed, non-root uid/gid above 10000 (the Deployments' runAsUser/runAsGroup), no
# home, no shell.
RUN groupadd --system --gid 10001 portal \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin portal

COPY --from=builder /opt/portal /opt/portal

# HTTP_HOST: inside a container the service listens on all interfaces (code default:
# 127.0.0.1). Everything else is configuration, set by the Deployment, not the image.
ENV PATH="/opt/portal/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HTTP_HOST=0.0.0.0

# Numeric, so Kubernetes can verify runAsNonRoot.
USER 10001:10001
WORKDIR /tmp

# identity 8001, linking 8002, notifier 8003, scheduler 8004, webhooks 8005, web 8080
# (HTTP_PORT overrides).
EXPOSE 8001 8002 8003 8004 8005 8080

ENTRYPOINT ["portal"]
CMD ["--help"]
