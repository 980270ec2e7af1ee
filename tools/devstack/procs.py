"""Background process management: pid files, liveness, spawning, stopping, polling helpers."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from tools.devstack.paths import LOG_DIR, RUN_DIR

#: Popen objects of children spawned by *this* process, so they can be reaped (no zombies
#: lingering as "alive" pids when testing.py starts/stops servers inside a pytest process).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}

_LOCK_STATE = threading.local()
_THREAD_LOCK = threading.RLock()


class DevstackError(RuntimeError):
    """A dev-stack operation failed; the message says what and where to look."""


def pid_file(name: str) -> Path:
    """Path of the pid file of service ``name``."""
    return RUN_DIR / f"{name}.pid"


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(pid, None)


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # state is the field right after "(comm)"; comm may contain spaces or parentheses
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in {"Z", "X"}


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline")
            .read_bytes()
            .replace(b"\0", b" ")
            .decode("utf-8", "replace")
        )
    except OSError:
        return ""


def running_pid(name: str, marker: str) -> int | None:
    """Return the pid of service ``name`` if its pid file points at a live matching process.

    A stale pid file (process gone, or the pid recycled by an unrelated process whose command
    line lacks ``marker``) is removed and ``None`` is returned.
    """
    path = pid_file(name)
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    if pid_alive(pid) and marker in _cmdline(pid):
        return pid
    with contextlib.suppress(OSError):
        path.unlink()
    return None


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> int:
    """Start ``argv`` detached (own session) with stdout/stderr appended to ``log_path``.

    Writes the pid file atomically and returns the pid.
    """
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with log_path.open("ab") as log:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        log.write(f"\n===== devstack: starting {name} at {stamp} =====\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    tmp = pid_file(name).with_suffix(".pid.tmp")
    tmp.write_text(f"{proc.pid}\n")
    tmp.replace(pid_file(name))
    return proc.pid


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def terminate(name: str, marker: str, *, timeout: float) -> int | None:
    """Stop service ``name``: SIGTERM its process group, wait up to ``timeout``, then SIGKILL.

    Returns the pid that was stopped, or ``None`` when it was not running. The pid file is
    removed in every case.
    """
    pid = running_pid(name, marker)
    if pid is None:
        return None
    _signal_group(pid, signal.SIGTERM)
    if not poll_until(lambda: not pid_alive(pid), timeout=timeout, interval=0.1):
        _signal_group(pid, signal.SIGKILL)
        poll_until(lambda: not pid_alive(pid), timeout=10, interval=0.1)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)
    with contextlib.suppress(OSError):
        pid_file(name).unlink()
    return pid


def poll_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.2) -> bool:
    """Call ``predicate`` every ``interval`` seconds until it returns True or ``timeout`` passes.

    Returns whether the predicate became true. Exceptions from the predicate count as False.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return True
        except Exception:  # noqa: S110 - a failing probe just means "not yet"
            pass
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(interval, remaining))


def group_rss(pid: int) -> int:
    """Resident memory, in bytes, of every process in ``pid``'s process group (a server
    spawned by :func:`spawn` leads its own group: a launcher script and its JVM count
    together)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_path.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        # fields[0] is the state (3rd field of stat): pgrp is the 5th, rss the 24th
        if len(fields) > 21 and fields[2] == str(pid):
            total += int(fields[21]) * page
    return total


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 25) -> str:
    """Last ``lines`` lines of ``path`` written since the latest start ('' when missing)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    # only what the latest run wrote (spawn() writes a header line before each start)
    marker = data.rfind("===== devstack: starting ")
    if marker > 0:
        data = data[marker:]
    return "\n".join(data.splitlines()[-lines:])


@contextlib.contextmanager
def stack_lock() -> Iterator[None]:
    """Serialize dev-stack operations across processes (flock) and threads; re-entrant."""
    with _THREAD_LOCK:
        depth = getattr(_LOCK_STATE, "depth", 0)
        if depth:
            _LOCK_STATE.depth = depth + 1
            try:
                yield
            finally:
                _LOCK_STATE.depth -= 1
            return
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        with (RUN_DIR / "devstack.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            _LOCK_STATE.depth = 1
            try:
                yield
            finally:
                _LOCK_STATE.depth = 0
                fcntl.flock(fh, fcntl.LOCK_UN)
