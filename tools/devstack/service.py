"""Generic start/stop/status logic shared by the dev-stack servers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tools.devstack import procs
from tools.devstack.paths import HOST, LOG_DIR, ROOT


@dataclass
class Launch:
    """A server process that was just spawned and is not yet known to be ready."""

    service: Service
    pid: int
    spawned_at: float
    timings: dict[str, float] = field(default_factory=dict)


class Service:
    """One managed server. Subclasses fill in the command line, preparation and probe."""

    #: short name used for pid/log files and CLI sub-commands (``kafka``, ``mongo``, ``smtp``)
    name: str = ""
    #: substring of the process command line, to tell our process from a recycled pid
    marker: str = ""
    #: the port that tells whether a server (ours or a foreign one) is there
    port: int = 0
    start_timeout: float = 60.0
    stop_timeout: float = 30.0

    @property
    def log_path(self) -> Path:
        """File that receives the server's stdout/stderr."""
        return LOG_DIR / f"{self.name}.log"

    # --- to override -----------------------------------------------------------------------
    def prepare(self) -> dict[str, float]:
        """Fetch/build/format whatever the server needs; return timings of the slow steps."""
        return {}

    def command(self) -> list[str]:
        """argv of the server process."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """Extra environment variables for the server process."""
        return {}

    def probe(self, timeout: float) -> str:
        """Check the server with a real client; return a short description or raise."""
        raise NotImplementedError

    def describe(self) -> str:
        """One-line description of the connection endpoint(s)."""
        return f"{HOST}:{self.port}"

    @property
    def main_log(self) -> Path:
        """The log to point people at in messages."""
        return self.log_path

    def diagnostics(self) -> str:
        """Text to append to startup errors (tail of the log by default)."""
        return f"--- last lines of {self.log_path} ---\n{procs.log_tail(self.log_path)}"

    # --- generic behaviour -------------------------------------------------------------------
    def pid(self) -> int | None:
        """pid of our running server process, if any (stale pid files are cleaned up)."""
        return procs.running_pid(self.name, self.marker)

    def memory(self) -> str:
        """Resident memory of our server (its whole process group), e.g. ``rss 412 MiB``."""
        pid = self.pid()
        if pid is None:
            return "rss ?"
        return f"rss {procs.group_rss(pid) / 2**20:.0f} MiB"

    def healthy(self, timeout: float = 3.0) -> str | None:
        """Probe result, or ``None`` when the probe fails."""
        try:
            return self.probe(timeout)
        except Exception:
            return None

    def launch(self) -> Launch | None:
        """Start the server unless it is already up. Returns ``None`` when nothing was started.

        Raises :class:`procs.DevstackError` if the port is taken by something that is not a
        healthy server of this kind.
        """
        pid = self.pid()
        if pid is not None:
            # ours and alive: either ready, or still starting (e.g. another `up` in parallel)
            return Launch(self, pid, time.monotonic(), {"already_running": 1.0})
        if procs.port_open(HOST, self.port):
            if self.healthy() is not None:
                print(
                    f"[{self.name}] already served on {HOST}:{self.port} by a process "
                    "not started by the devstack; leaving it alone"
                )
                return None
            raise procs.DevstackError(
                f"[{self.name}] port {HOST}:{self.port} is in use by another process that does "
                f"not answer like a {self.name} server; free the port (e.g. `ss -ltnp | grep "
                f":{self.port}`) and retry"
            )
        timings = self.prepare()
        pid = procs.spawn(
            self.name, self.command(), log_path=self.log_path, cwd=ROOT, env=self.env()
        )
        return Launch(self, pid, time.monotonic(), timings)

    def wait_ready(self, launch: Launch, timeout: float | None = None) -> float:
        """Poll the probe until the server answers; returns seconds since spawn.

        On timeout or early exit the process is stopped and a :class:`procs.DevstackError`
        pointing at the log is raised.
        """
        limit = self.start_timeout if timeout is None else timeout
        deadline = launch.spawned_at + limit
        last_error = "no answer yet"
        while True:
            if not procs.pid_alive(launch.pid):
                procs.terminate(self.name, self.marker, timeout=5)
                raise procs.DevstackError(
                    f"[{self.name}] server process {launch.pid} exited during startup; "
                    f"see {self.main_log}\n{self.diagnostics()}"
                )
            remaining = deadline - time.monotonic()
            try:
                detail = self.probe(max(1.0, min(5.0, remaining)))
            except Exception as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                elapsed = time.monotonic() - launch.spawned_at
                if "already_running" not in launch.timings:
                    print(
                        f"[{self.name}] ready in {elapsed:.1f}s (pid {launch.pid}, "
                        f"{self.memory()}): {detail}"
                    )
                return elapsed
            if time.monotonic() >= deadline:
                procs.terminate(self.name, self.marker, timeout=self.stop_timeout)
                raise procs.DevstackError(
                    f"[{self.name}] not ready after {limit:.0f}s "
                    f"(last probe: {last_error}); stopped it. See {self.main_log}\n"
                    f"{self.diagnostics()}"
                )
            time.sleep(0.25)

    def start(self, timeout: float | None = None) -> float | None:
        """Start (if needed) and wait until ready. Returns startup seconds, None if it was up.

        ``timeout`` overrides :attr:`start_timeout` (seconds from spawn to ready).
        """
        with procs.stack_lock():
            launch = self.launch()
            if launch is None:
                return None
            elapsed = self.wait_ready(launch, timeout)
            if "already_running" in launch.timings:
                print(f"[{self.name}] already running (pid {launch.pid})")
                return None
            return elapsed

    def stop(self, timeout: float | None = None) -> bool:
        """Stop our server process if running. Returns whether something was stopped.

        ``timeout`` overrides :attr:`stop_timeout` (grace period before SIGKILL).
        """
        with procs.stack_lock():
            started = time.monotonic()
            grace = self.stop_timeout if timeout is None else timeout
            pid = procs.terminate(self.name, self.marker, timeout=grace)
            if pid is None:
                if procs.port_open(HOST, self.port):
                    print(
                        f"[{self.name}] not started by the devstack, but {HOST}:{self.port} "
                        "is served by another process; not touching it"
                    )
                else:
                    print(f"[{self.name}] not running")
                return False
            # make sure the port is really released before returning
            procs.poll_until(lambda: not procs.port_open(HOST, self.port), timeout=10)
            print(f"[{self.name}] stopped (pid {pid}) in {time.monotonic() - started:.1f}s")
            return True

    def status(self) -> tuple[str, str]:
        """(state, detail) where state is running / unhealthy / foreign / stopped."""
        pid = self.pid()
        detail = self.healthy()
        if pid is not None:
            if detail is not None:
                return "running", f"pid {pid}, {self.memory()}, {self.describe()}, {detail}"
            return "unhealthy", f"pid {pid} alive but probe fails; see {self.main_log}"
        if detail is not None:
            return "foreign", f"served by a process not started by the devstack: {detail}"
        return "stopped", self.describe()
