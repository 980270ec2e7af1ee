"""The whole stack: start/stop/status/reset of Kafka, Mongo, the SMTP sink and Keycloak."""

from __future__ import annotations

import concurrent.futures
import shutil
from collections.abc import Iterable

from tools.devstack import procs
from tools.devstack.kafka import KafkaService
from tools.devstack.keycloak import KeycloakService
from tools.devstack.mongo import MongoService
from tools.devstack.paths import KAFKA_CONF_DIR, KAFKA_DATA, KEYCLOAK_DATA, MAIL_DIR, MONGO_DATA
from tools.devstack.service import Launch, Service
from tools.devstack.smtp import SmtpService

#: start order (slowest first so the JVM boots while the others start); stop is the reverse
SERVICES: dict[str, Service] = {
    "kafka": KafkaService(),
    "keycloak": KeycloakService(),
    "mongo": MongoService(),
    "smtp": SmtpService(),
}
ALL = tuple(SERVICES)


def _select(names: Iterable[str] | None) -> list[Service]:
    chosen = list(names or ALL)
    unknown = [n for n in chosen if n not in SERVICES]
    if unknown:
        raise procs.DevstackError(f"unknown service(s) {unknown}; expected some of {list(ALL)}")
    return [SERVICES[n] for n in ALL if n in chosen]


def _fmt(timings: dict[str, float], ready: float) -> str:
    parts = [f"{k.replace('_', ' ')} {v:.1f}s" for k, v in timings.items()]
    parts.append(f"server start {ready:.1f}s")
    total = sum(timings.values()) + ready
    return " + ".join(parts) + f" = {total:.1f}s"


def up(names: Iterable[str] | None = None) -> dict[str, float | None]:
    """Start the selected services (default: all) that are not running; wait until ready.

    Processes are launched first and then awaited together. Returns, per service, the
    total startup seconds (preparation + server start) or ``None`` if it was already up.
    A failure of one service does not stop the others; the errors are raised together.
    """
    results: dict[str, float | None] = {}
    errors: list[str] = []
    with procs.stack_lock():
        launches: list[Launch] = []
        for service in _select(names):
            try:
                launch = service.launch()
            except procs.DevstackError as exc:
                errors.append(str(exc))
                continue
            if launch is None:
                results[service.name] = None
            else:
                launches.append(launch)
        # wait for all launched servers concurrently, so each one's time is its own
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(launches))) as pool:
            futures = [
                (launch, pool.submit(launch.service.wait_ready, launch)) for launch in launches
            ]
            for launch, future in futures:
                service = launch.service
                try:
                    ready = future.result()
                except procs.DevstackError as exc:
                    errors.append(str(exc))
                    continue
                if "already_running" in launch.timings:
                    print(f"[{service.name}] already running (pid {launch.pid})")
                    results[service.name] = None
                else:
                    print(f"[{service.name}] startup: {_fmt(launch.timings, ready)}")
                    results[service.name] = sum(launch.timings.values()) + ready
    if errors:
        raise procs.DevstackError("\n\n".join(errors))
    return results


def down(names: Iterable[str] | None = None) -> None:
    """Stop the selected services (default: all), in reverse start order."""
    with procs.stack_lock():
        for service in reversed(_select(names)):
            service.stop()


def restart(names: Iterable[str] | None = None) -> dict[str, float | None]:
    """Stop then start the selected services."""
    with procs.stack_lock():
        down(names)
        return up(names)


def status(names: Iterable[str] | None = None) -> bool:
    """Print one line per service; return True when all selected ones are running and healthy."""
    ok = True
    for service in _select(names):
        state, detail = service.status()
        ok = ok and state in {"running", "foreign"}
        print(f"{service.name:8} {state:10} {detail}")
    return ok


def reset(names: Iterable[str] | None = None) -> None:
    """Stop the selected services and delete their data (Kafka topics, Mongo data, mail,
    Keycloak's database).

    Tooling caches (.cache/) are kept; the next ``up`` starts from empty data.
    """
    with procs.stack_lock():
        selected = _select(names)
        for service in reversed(selected):
            service.stop()
        for service in selected:
            if service.name == "kafka":
                shutil.rmtree(KAFKA_DATA, ignore_errors=True)
                (KAFKA_CONF_DIR / "cluster.id").unlink(missing_ok=True)
            elif service.name == "mongo":
                shutil.rmtree(MONGO_DATA, ignore_errors=True)
            elif service.name == "keycloak":
                # the next start imports the realm files into a new database
                shutil.rmtree(KEYCLOAK_DATA, ignore_errors=True)
            elif service.name == "smtp":
                if MAIL_DIR.exists():
                    for path in MAIL_DIR.iterdir():
                        if path.is_file():
                            path.unlink(missing_ok=True)
            print(f"[{service.name}] data reset")
