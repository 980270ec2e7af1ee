"""The one process runner: how ``make run``, the tests and the benchmarks start, watch and
stop a service (``portal serve NAME``) and the catalog's topics.

``tools/run_services.py`` keeps ``make run``'s services in the background between
commands (pid files); ``tests/harness.py`` starts an isolated portal per test session;
the benchmarks start the service they measure. All three go through this module.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def serve_command(name: str) -> list[str]:
    """The command line of one service process."""
    return [PYTHON, "-m", "shared.runtime.cli", "serve", name]


def create_topics(prefix: str | None = None, *, env: dict[str, str] | None = None) -> None:
    """Create the catalog's topics under ``prefix`` (default: ``env``'s
    ``KAFKA_TOPIC_PREFIX``)."""
    run_env = dict(env if env is not None else os.environ)
    if prefix is not None:
        run_env["KAFKA_TOPIC_PREFIX"] = prefix
    subprocess.run(
        [PYTHON, "-m", "shared.runtime.cli", "topics", "create"],
        cwd=ROOT,
        check=True,
        env=run_env,
        stdout=subprocess.DEVNULL,
    )


def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}: {last!r}")


async def async_wait_until(
    predicate: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> Any:
    """Async :func:`wait_until`; ``predicate`` may be sync or return an awaitable."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}: {last!r}")


def is_ready(url: str) -> bool:
    """``/readyz`` answers 200."""
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(
    proc: subprocess.Popen[bytes],
    url: str,
    *,
    name: str,
    log_path: Path | None = None,
    timeout: float = 90.0,
) -> None:
    """Wait until the service at ``url`` answers ``/readyz`` 200; fail fast if ``proc``
    exits (with the tail of its log)."""

    def ready() -> bool:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path else ""
            raise AssertionError(f"{name} exited ({proc.returncode}):\n{tail}")
        return is_ready(url)

    wait_until(ready, timeout=timeout, interval=0.25, what=f"{name} ready")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process ``pid`` used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def terminate(pid: int, *, alive: Callable[[], bool], timeout: float = 30.0) -> None:
    """SIGTERM, wait up to ``timeout`` while ``alive()``, then SIGKILL."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive():
        os.kill(pid, signal.SIGKILL)


@dataclass
class ServiceProcess:
    """One service process (``portal serve NAME``) with its log file.

    ``detached`` puts it in a session of its own, so that it outlives the command that
    started it (``make run``).
    """

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    detached: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True, timeout: float = 90.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                serve_command(self.name),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.detached,
            )
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 90.0) -> None:
        assert self.proc is not None, "start first"
        wait_ready(self.proc, self.url, name=self.name, log_path=self.log_path, timeout=timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop (SIGTERM), then kill."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL: no cleanup at all (crash simulation)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cpu_seconds(self) -> float:
        """CPU time the process used so far (0 before it starts)."""
        return cpu_seconds(self.proc.pid) if self.proc is not None else 0.0
