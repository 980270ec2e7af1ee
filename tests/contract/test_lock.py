"""The lock files agree with pyproject.toml: every declared pin is locked at that
version, every locked package carries hashes, and the runtime lock (the image) is the
development lock (make, CI) restricted to the runtime dependencies, at the same versions.
After a change of pyproject.toml's dependencies: `make lock`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._\-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.M)


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(path: Path) -> dict[str, str]:
    text = path.read_text()
    pins = {norm(n): v for n, v in PIN.findall(text)}
    # Each requirement block: "name==version \" then its --hash lines.
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    unhashed = [b.split("==")[0] for b in blocks if "==" in b and "--hash=sha256:" not in b]
    assert not unhashed, f"{path.name}: no hashes for {unhashed}"
    return pins


def declared(extra: str | None = None) -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    if extra:
        reqs += project["optional-dependencies"][extra]
    out = {}
    for req in reqs:
        match = PIN.match(req)
        assert match, f"pyproject.toml: {req!r} is not pinned with =="
        out[norm(match.group(1))] = match.group(2)
    return out


def test_dev_lock_pins_every_declared_dependency() -> None:
    lock = locked(ROOT / "requirements-dev.lock")
    wrong = {n: (v, lock.get(n)) for n, v in declared("dev").items() if lock.get(n) != v}
    assert not wrong, f"pyproject vs requirements-dev.lock (run `make lock`): {wrong}"


def test_runtime_lock_is_the_dev_lock_restricted_to_runtime() -> None:
    runtime = locked(ROOT / "requirements.lock")
    dev = locked(ROOT / "requirements-dev.lock")
    wrong = {n: v for n, v in declared().items() if runtime.get(n) != v}
    assert not wrong, f"pyproject vs requirements.lock (run `make lock`): {wrong}"
    differ = {n: (v, dev.get(n)) for n, v in runtime.items() if dev.get(n) != v}
    assert not differ, f"runtime and dev locks disagree: {differ}"
    # No test or lint tool in the image.
    assert not {"pytest", "ruff", "mypy"} & set(runtime)
