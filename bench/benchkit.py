"""What every benchmark shares: its own isolated service process (started through
``tools.processes``, the runner ``make run`` and the tests use), cleanup of its run, and
one way to print and record a figure beside its same-run baseline."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tools.* when a benchmark runs as a script

from tools.processes import ServiceProcess, create_topics  # noqa: E402

MONGO = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017")


def log(message: str) -> None:
    print(message, flush=True)


class BenchService(ServiceProcess):
    """A service process of the benchmark's own: database and topic prefixes of its run
    (``b<run>_`` and ``b<run>.``), warnings only in its log (``var/bench/``)."""

    def __init__(self, name: str, run: str, port: int, extra_env: dict[str, str] | None = None):
        self.run = run
        self.prefix = f"b{run}."
        self.db_prefix = f"b{run}_"
        env = {
            **os.environ,
            "ENVIRONMENT": "test",
            "HTTP_PORT": str(port),
            "KAFKA_TOPIC_PREFIX": self.prefix,
            "MONGODB_DATABASE_PREFIX": self.db_prefix,
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        super().__init__(name, port, env, ROOT / "var" / "bench" / f"{name}-{run}.log")

    def start(self, *, wait: bool = True, timeout: float = 90.0, topics: bool = True) -> None:
        """Create the run's topics (unless another process of the run did), then start."""
        if topics:
            create_topics(env=self.env)
        super().start(wait=wait, timeout=timeout)

    def cleanup(self) -> None:
        """Drop the run's databases and topics (best effort: a benchmark's figures stand
        even if the broker or the database is slow to forget them)."""
        try:
            from pymongo import MongoClient

            from tools.devstack.testing import delete_kafka_topics

            client: MongoClient[dict[str, Any]] = MongoClient(MONGO)
            with client as mongo:
                for name in mongo.list_database_names():
                    if name.startswith(self.db_prefix):
                        mongo.drop_database(name)
            delete_kafka_topics(self.prefix)
        except Exception as exc:  # cleanup is best effort
            log(f"  (cleanup of run {self.run} incomplete: {type(exc).__name__})")


def figure(
    name: str, value: float, unit: str, baseline_name: str, baseline: float, goal: str
) -> dict[str, Any]:
    """Print one figure beside its baseline and their ratio; the record for the report."""
    ratio = value / baseline if baseline else None
    shown = f"{ratio:.3f}" if ratio is not None else "n/a"
    log(
        f"  {name:<44} {value:>10.1f} {unit:<7} | {baseline_name:<40} {baseline:>10.1f} "
        f"| ratio {shown} ({goal})"
    )
    return {
        "name": name,
        "value": round(value, 2),
        "unit": unit,
        "baseline_name": baseline_name,
        "baseline": round(baseline, 2),
        "ratio": round(ratio, 3) if ratio is not None else None,
        "goal": goal,
    }
