"""The image build is checked without a Docker daemon: hadolint (from the dev
dependencies) finds nothing in the Dockerfile, and the build installs its dependencies
from the lock file only, verified by hash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HADOLINT = Path(sys.executable).parent / "hadolint"


def test_hadolint_finds_nothing() -> None:
    assert HADOLINT.is_file(), f"{HADOLINT} missing: install the dev dependencies (make venv)"
    proc = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "style", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_image_installs_from_the_lock_only() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY requirements.lock ./" in dockerfile
    assert "pip install --require-hashes --only-binary=:all: -r requirements.lock" in dockerfile
    # The project itself adds nothing: its wheel is installed without dependencies.
    assert "pip install --no-deps /tmp/wheels/*.whl" in dockerfile
    assert "!requirements.lock" in (ROOT / ".dockerignore").read_text().splitlines()
