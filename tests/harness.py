"""Runs the four services as real processes against the local stack for integration
tests, each test run isolated by a database prefix and a Kafka topic prefix.

Used through the fixtures of ``tests/conftest.py``; the stack (Kafka, the MongoDB
protocol server, the SMTP sink) is started by ``python -m tools.devstack up``.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

# Re-exported: the suites use the process runner through the harness.
from tools.processes import (
    PYTHON as PYTHON,
)
from tools.processes import (
    ROOT as ROOT,
)
from tools.processes import (
    ServiceProcess as ServiceProcess,
)
from tools.processes import (
    async_wait_until as async_wait_until,
)
from tools.processes import (
    create_topics as create_topics,
)
from tools.processes import (
    wait_ready as wait_ready,
)
from tools.processes import (
    wait_until as wait_until,
)

#: Run directories (logs, spans) created by this test session.
RUN_DIRS: list[Path] = []
BASE_PORTS = {
    "identity": 18001,
    "linking": 18002,
    "notifier": 18003,
    "scheduler": 18004,
    "webhooks": 18005,
    "web": 18080,
}
#: Services a test portal does not start unless a test asks for them (new_portal(names)).
OPT_IN_SERVICES = frozenset({"webhooks", "web"})


@dataclass
class Portal:
    """The whole system under test: stack prefixes, the four services, helpers."""

    run_id: str
    topic_prefix: str
    db_prefix: str
    run_dir: Path
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    port_offset: int = 0

    @property
    def public_url(self) -> str:
        """Where the email links point (PORTAL_PUBLIC_URL): the run's web front end,
        whether or not it is started (the browser tests add it to the running portal)."""
        return f"http://127.0.0.1:{BASE_PORTS['web'] + self.port_offset}"

    @property
    def traces_file(self) -> Path:
        return self.run_dir / "spans.jsonl"

    def url(self, service: str) -> str:
        return self.services[service].url

    def env_for(self, service: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "ENVIRONMENT": "test",
                "HTTP_PORT": str(BASE_PORTS[service] + self.port_offset),
                "KAFKA_TOPIC_PREFIX": self.topic_prefix,
                "MONGODB_DATABASE_PREFIX": self.db_prefix,
                "OTEL_TRACES_FILE": str(self.traces_file),
                "OTEL_SERVICE_NAME": service,
                "PORTAL_PUBLIC_URL": self.public_url,
                "SCHEDULER_CLOCK_CONTROL": "true",
                # As behind the ingress: each simulated guardian has its own address
                # (X-Forwarded-For), so the per-address sign-in limit is per guardian.
                "IDENTITY_TRUSTED_PROXY_HOPS": "1",
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
                # Retry fast in tests; production defaults are slower.
                "NOTIFIER_RETRY_BASE_SECONDS": "0.5",
            }
        )
        if service == "web":
            env["WEB_IDENTITY_URL"] = self.url("identity")
            env["WEB_LINKING_URL"] = self.url("linking")
            # suites import rosters of their own schools one after the other
            env["WEB_SCHOOLS_REFRESH_SECONDS"] = "0"
        if service == "linking" and "identity" in self.services:
            # as deployed: linking fetches identity's signing keys from its JWKS
            env["IDENTITY_JWKS_URL"] = f"{self.url('identity')}/.well-known/jwks.json"
        env.update(extra or {})
        return env

    def add(self, service: str, extra_env: dict[str, str] | None = None) -> ServiceProcess:
        proc = ServiceProcess(
            service,
            BASE_PORTS[service] + self.port_offset,
            self.env_for(service, extra_env),
            self.run_dir / f"{service}.log",
        )
        self.services[service] = proc
        return proc

    def log_files(self) -> list[Path]:
        return sorted(self.run_dir.glob("*.log"))

    def spans(self) -> list[dict[str, Any]]:
        if not self.traces_file.exists():
            return []
        return [json.loads(line) for line in self.traces_file.read_text().splitlines() if line]

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


def new_portal(names: Iterable[str] | None = None, *, port_offset: int = 0) -> Portal:
    """A fresh isolated portal (not started); ``port_offset`` lets several run at once.

    ``PORTAL_PORT_OFFSET`` shifts every port of a test session, so that two sessions on
    one machine do not collide.
    """
    port_offset += int(os.environ.get("PORTAL_PORT_OFFSET", "0"))
    run_id = uuid.uuid4().hex[:8]
    run_dir = ROOT / "var" / "test-runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    RUN_DIRS.append(run_dir)
    portal = Portal(run_id, f"t{run_id}.", f"t{run_id}_", run_dir, port_offset=port_offset)
    chosen = (
        list(names) if names is not None else [n for n in BASE_PORTS if n not in OPT_IN_SERVICES]
    )
    for name in chosen:
        portal.add(name)
    return portal


def start_portal(portal: Portal) -> Portal:
    """Create the run's topics and start its services; wait until all are ready."""
    create_topics(portal.topic_prefix)
    for svc in portal.services.values():
        svc.start(wait=False)
    try:
        for svc in portal.services.values():
            svc.wait_ready()
    except BaseException:
        stop_portal(portal)
        raise
    return portal


def stop_portal(portal: Portal) -> None:
    """Stop every service of ``portal`` gracefully."""
    for svc in portal.services.values():
        svc.stop()


def advance_clock(portal: Portal, seconds: float) -> dict[str, Any]:
    """Move the scheduler's clock forward (needs SCHEDULER_CLOCK_CONTROL=true)."""
    response = httpx.post(
        f"{portal.url('scheduler')}/v1/admin/clock", json={"advance_seconds": seconds}, timeout=10
    )
    response.raise_for_status()
    return dict(response.json())


def read_clock(portal: Portal) -> tuple[datetime, timedelta]:
    """The scheduler's current time and how far its clock is ahead of the wall clock."""
    response = httpx.get(f"{portal.url('scheduler')}/v1/admin/clock", timeout=10)
    response.raise_for_status()
    body = response.json()
    return datetime.fromisoformat(body["now"]), timedelta(seconds=body["offset_seconds"])


def advance_clock_to(portal: Portal, moment: datetime) -> dict[str, Any]:
    """Move the scheduler's clock forward to ``moment`` (on its timeline)."""
    now, _ = read_clock(portal)
    return advance_clock(portal, max(0.0, (moment - now).total_seconds()))


def ensure_stack() -> None:
    """Start the local stack if it is not running (idempotent)."""
    subprocess.run([PYTHON, "-m", "tools.devstack", "up"], cwd=ROOT, check=True)
