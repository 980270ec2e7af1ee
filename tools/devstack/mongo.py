"""MongoDB wire-protocol server (SecantusDB) on 127.0.0.1:27017, single-node replica set.

Two interchangeable backends over the same WiredTiger data directory ``var/mongo-data``:

* ``rust``: ``secantusd-rs`` from the crate ``secantus-mdb``, installed into
  ``.cache/secantus-rs`` by ``python -m tools.devstack build-rust-mongo`` (a ~5 minute
  compile, never done implicitly unless ``DEVSTACK_BUILD_RUST_MONGO=1``);
* ``python``: ``python -m secantus`` from the ``secantusdb`` package in the venv.

``DEVSTACK_MONGO_BACKEND=auto|rust|python`` picks one; ``auto`` (default) prefers the Rust
binary when it is present and runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from tools.devstack import procs
from tools.devstack.paths import (
    HOST,
    LOG_DIR,
    MONGO_CONF_DIR,
    MONGO_DATA,
    MONGO_PORT,
    MONGO_URI,
    ROOT,
    RUN_DIR,
    RUST_MONGO_BIN,
    RUST_MONGO_ROOT,
    env_flag,
)
from tools.devstack.service import Service

#: crates.io version of ``secantus-mdb`` that ``build-rust-mongo`` installs. It declares
#: rust-version 1.98; it builds and passes our checks with 1.95 under --ignore-rust-version.
RUST_MONGO_VERSION = "0.5.3-beta.196"
RUST_BUILD_TIMEOUT = 20 * 60
#: replica-set name both backends advertise in ``hello`` (pymongo needs it for
#: transactions and change streams)
REPLICA_SET = "secantus"
_BACKEND_FILE = RUN_DIR / "mongo.backend"


def rust_binary_version() -> str | None:
    """``secantusd-rs --version`` output, or None if the binary is missing or broken."""
    if not RUST_MONGO_BIN.exists():
        return None
    try:
        result = subprocess.run(
            [str(RUST_MONGO_BIN), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    lines = result.stdout.strip().splitlines()
    return lines[0] if lines else "secantusd-rs"


def build_rust_mongo(force: bool = False) -> float | None:
    """``cargo install secantus-mdb`` into ``.cache/secantus-rs``; returns build seconds.

    Returns ``None`` when the pinned version is already installed (and not ``force``).
    """
    current = rust_binary_version()
    if current and RUST_MONGO_VERSION in current and not force:
        print(f"[mongo] {current} already installed at {RUST_MONGO_BIN}")
        return None
    cargo = shutil.which("cargo")
    if cargo is None:
        raise procs.DevstackError("[mongo] `cargo` not found on PATH; install Rust (rustup)")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / "rust-mongo-build.log"
    argv = [
        cargo,
        "install",
        f"secantus-mdb@{RUST_MONGO_VERSION}",
        "--root",
        str(RUST_MONGO_ROOT),
        "--locked",
        "--ignore-rust-version",
        "--force",
    ]
    print(
        f"[mongo] building secantus-mdb {RUST_MONGO_VERSION} with cargo (several minutes on "
        f"2 cores; log: {log_path}) ...",
        flush=True,
    )
    started = time.monotonic()
    with log_path.open("wb") as log:
        try:
            result = subprocess.run(
                argv,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=RUST_BUILD_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise procs.DevstackError(
                f"[mongo] cargo install timed out after {RUST_BUILD_TIMEOUT}s; see {log_path}"
            ) from exc
    if result.returncode != 0:
        raise procs.DevstackError(
            f"[mongo] cargo install failed (exit {result.returncode}); the Python server "
            f"keeps being used. See {log_path}\n{procs.log_tail(log_path)}"
        )
    elapsed = time.monotonic() - started
    print(f"[mongo] built {rust_binary_version()} in {elapsed:.0f}s")
    return elapsed


def choose_backend() -> str:
    """``rust`` or ``python`` according to ``DEVSTACK_MONGO_BACKEND`` and the cache."""
    wanted = os.environ.get("DEVSTACK_MONGO_BACKEND", "auto").strip().lower() or "auto"
    if wanted not in {"auto", "rust", "python"}:
        raise procs.DevstackError(
            f"DEVSTACK_MONGO_BACKEND={wanted!r}: expected auto, rust or python"
        )
    if wanted == "python":
        return "python"
    if rust_binary_version() is not None:
        return "rust"
    if wanted == "rust":
        raise procs.DevstackError(
            "[mongo] DEVSTACK_MONGO_BACKEND=rust but no working "
            f"{RUST_MONGO_BIN}; run `python -m tools.devstack build-rust-mongo`"
        )
    return "python"


def running_backend() -> str | None:
    """Backend recorded when the running server was started."""
    try:
        return _BACKEND_FILE.read_text().strip() or None
    except OSError:
        return None


def probe(uri: str = MONGO_URI, timeout: float = 3.0) -> str:
    """Readiness with pymongo: ``ping`` plus a check that ``hello`` advertises a replica set."""
    from pymongo import MongoClient

    ms = max(200, int(timeout * 1000))
    client: MongoClient[dict[str, object]] = MongoClient(
        uri,
        directConnection=True,
        serverSelectionTimeoutMS=ms,
        connectTimeoutMS=ms,
        socketTimeoutMS=ms,
    )
    try:
        client.admin.command("ping")
        hello = client.admin.command("hello")
        version = client.admin.command("buildInfo").get("version", "?")
    finally:
        client.close()
    set_name = hello.get("setName")
    if not set_name:
        raise RuntimeError("server answers but does not advertise a replica set")
    return f"wire version {hello.get('maxWireVersion')}, reports {version}, replica set {set_name}"


class MongoService(Service):
    """SecantusDB managed by the devstack (Rust binary preferred when built)."""

    name = "mongo"
    marker = "secantus"
    port = MONGO_PORT
    start_timeout = 60.0
    stop_timeout = 30.0

    def __init__(self) -> None:
        self._backend: str | None = None

    def prepare(self) -> dict[str, float]:
        """Optionally build the Rust server (``DEVSTACK_BUILD_RUST_MONGO=1``), pick a backend."""
        timings: dict[str, float] = {}
        if env_flag("DEVSTACK_BUILD_RUST_MONGO") and rust_binary_version() is None:
            built = build_rust_mongo()
            if built is not None:
                timings["rust_build"] = built
        self._backend = choose_backend()
        MONGO_DATA.mkdir(parents=True, exist_ok=True)
        MONGO_CONF_DIR.mkdir(parents=True, exist_ok=True)
        # an explicit (empty) config file disables auto-discovery of ./secantusd.toml,
        # ~/.secantus/secantusd.toml and /etc/secantus/secantusd.toml
        config = MONGO_CONF_DIR / "secantusd.toml"
        if not config.exists():
            config.write_text("# devstack: every setting is passed as a flag by mongo.py\n")
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        _BACKEND_FILE.write_text(self._backend + "\n")
        return timings

    def command(self) -> list[str]:
        """Command line of the chosen backend."""
        backend = self._backend or choose_backend()
        common = [
            "--config",
            str(MONGO_CONF_DIR / "secantusd.toml"),
            "--host",
            HOST,
            "--port",
            str(MONGO_PORT),
            "--storage-path",
            str(MONGO_DATA),
            "--log-level",
            "INFO",
            "--cache-size",
            "256M",
        ]
        if backend == "rust":
            return [str(RUST_MONGO_BIN), *common, "--log-file-max", "32MB"]
        return [sys.executable, "-m", "secantus", *common]

    def probe(self, timeout: float) -> str:
        """pymongo ping + replica-set advertisement."""
        return probe(MONGO_URI, timeout)

    def describe(self) -> str:
        """URI and backend."""
        backend = running_backend() if self.pid() else None
        return f"{MONGO_URI} ({backend or choose_backend()} backend)"
