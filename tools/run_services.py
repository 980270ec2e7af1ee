"""Start, stop and show the services and the web front end for ``make run`` / ``make stop``.

Each service runs as ``portal serve NAME`` (``tools.processes``) in the background with its log in
``var/log/NAME.log`` and its pid in ``var/run/NAME.pid``; ``up`` waits until every
``/readyz`` answers 200 and prints where everything is.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from pathlib import Path

from tools.processes import ServiceProcess, is_ready, terminate

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var"
SERVICES = {
    "identity": 8001,
    "linking": 8002,
    "notifier": 8003,
    "scheduler": 8004,
    "webhooks": 8005,
    "web": 8080,
}


def _pid(name: str) -> int | None:
    path = VAR / "run" / f"{name}.pid"
    try:
        pid = int(path.read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        path.unlink(missing_ok=True)
        return None


def _running(name: str) -> bool:
    return _pid(name) is not None


def up(timeout: float = 120.0) -> int:
    """Start every service that is not running and wait until all are ready."""
    (VAR / "run").mkdir(parents=True, exist_ok=True)
    (VAR / "log").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("SCHEDULER_CLOCK_CONTROL", "true")
    env.setdefault("OTEL_TRACES_FILE", str(VAR / "log" / "spans.jsonl"))
    # as deployed: linking fetches identity's guardian-token keys from its JWKS
    env.setdefault(
        "IDENTITY_JWKS_URL", f"http://127.0.0.1:{SERVICES['identity']}/.well-known/jwks.json"
    )
    # the links in our emails open the web front end's pages
    env.setdefault("PORTAL_PUBLIC_URL", f"http://localhost:{SERVICES['web']}")
    for name, port in SERVICES.items():
        if _pid(name):
            continue
        service = ServiceProcess(
            name,
            port,
            {**env, "OTEL_SERVICE_NAME": name},
            VAR / "log" / f"{name}.log",
            detached=True,
        )
        service.start(wait=False)
        assert service.proc is not None
        (VAR / "run" / f"{name}.pid").write_text(str(service.proc.pid))
    deadline = time.monotonic() + timeout
    pending = dict(SERVICES)
    while pending and time.monotonic() < deadline:
        for name, port in list(pending.items()):
            if not _pid(name):
                print(f"{name} exited; see var/log/{name}.log", file=sys.stderr)
                return 1
            if is_ready(f"http://127.0.0.1:{port}"):
                del pending[name]
        time.sleep(0.5)
    if pending:
        print(
            f"not ready after {timeout:.0f}s: {', '.join(pending)} (see var/log/)", file=sys.stderr
        )
        return 1
    print_summary()
    return 0


def down() -> int:
    """Stop every service gracefully (SIGTERM, then SIGKILL after 30 s)."""
    for name in SERVICES:
        pid = _pid(name)
        if not pid:
            continue
        terminate(pid, alive=functools.partial(_running, name))
        (VAR / "run" / f"{name}.pid").unlink(missing_ok=True)
        print(f"stopped {name}")
    return 0


def print_summary() -> None:
    """Where everything is."""
    print(
        """
Guardian portal is running:
  identity   http://127.0.0.1:8001   API docs http://127.0.0.1:8001/docs   OpenAPI /openapi.json
  linking    http://127.0.0.1:8002   API docs http://127.0.0.1:8002/docs   OpenAPI /openapi.json
  notifier   http://127.0.0.1:8003   templates http://127.0.0.1:8003/v1/templates/verification?locale=es
  scheduler  http://127.0.0.1:8004   clock    http://127.0.0.1:8004/v1/admin/clock
  webhooks   http://127.0.0.1:8005   log      portal webhooks deliveries · endpoints: portal webhooks endpoint add
  web        http://127.0.0.1:8080   the guardian portal: sign in, register, my account
  staff      http://127.0.0.1:8080/staff   the school staff console (sign in as secretary.a /
             dev-secretary-a at the local Keycloak http://127.0.0.1:8380; tools/devstack/README.md)
  AsyncAPI   http://127.0.0.1:800N/docs/asyncapi (each service)  · checked in: shared/contracts/asyncapi/
  health     /healthz  /readyz  /metrics on every service
  mail inbox http://127.0.0.1:8025 (every email the notifier sends; files in var/mail/)
  Kafka      127.0.0.1:9092        MongoDB protocol 127.0.0.1:27017      SMTP 127.0.0.1:1025
  logs       var/log/<service>.log   spans var/log/spans.jsonl
  staff token: .venv/bin/portal staff-token --school 0123
Stop everything with: make stop"""
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    args = parser.parse_args()
    if args.action == "up":
        return up()
    if args.action == "down":
        return down()
    for name, port in SERVICES.items():
        print(f"{name:10} {'running' if _pid(name) else 'stopped'}  :{port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
