"""``make bench``: run every service benchmark, measure each service's memory under load,
and write ``bench/report.md`` with each figure beside its same-run baseline and ratio.

Each ``bench/<name>_bench.py`` prints its figures and writes ``bench/out/<name>.json``.
The accepted JSON shapes are ``{"figures": [{"name", "value", "unit", "baseline_name",
"baseline", "ratio", "goal"}...], "notes": "..."}`` or any flat mapping of names to values.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
REPORT = ROOT / "bench" / "report.md"
ORDER = ["identity", "linking", "notifier", "scheduler", "webhooks", "web", "memory"]


def run(script: Path) -> tuple[int, float]:
    """Run one benchmark script; return its exit code and duration."""
    started = time.monotonic()
    print(f"\n=== {script.name}", flush=True)
    code = subprocess.call([sys.executable, str(script)], cwd=ROOT)
    return code, time.monotonic() - started


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value) if value is not None else ""


def section(name: str, data: dict[str, Any]) -> list[str]:
    """The report section of one benchmark's JSON."""
    lines = [f"## {name}", ""]
    figures = data.get("figures")
    if isinstance(figures, list) and figures:
        lines += [
            "| figure | value | baseline (same run) | baseline value | ratio | goal |",
            "|---|---|---|---|---|---|",
        ]
        for f in figures:
            unit = f" {f['unit']}" if f.get("unit") else ""
            lines.append(
                f"| {f.get('name', '')} | {_fmt(f.get('value'))}{unit} | {f.get('baseline_name', '')} "
                f"| {_fmt(f.get('baseline'))} | {_fmt(f.get('ratio'))} | {f.get('goal', '')} |"
            )
    else:
        lines += ["| figure | value |", "|---|---|"]
        for key, value in data.items():
            if key not in ("notes", "command"):
                lines.append(
                    f"| {key} | {_fmt(value) if not isinstance(value, dict | list) else json.dumps(value)} |"
                )
    if data.get("notes"):
        lines += ["", str(data["notes"])]
    lines += [
        "",
        f"Reproduce: `{data.get('command', f'.venv/bin/python bench/{name}_bench.py')}`",
        "",
    ]
    return lines


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    scripts = sorted(
        ROOT.glob("bench/*_bench.py"),
        key=lambda p: (
            ORDER.index(p.stem.removesuffix("_bench"))
            if p.stem.removesuffix("_bench") in ORDER
            else 99
        ),
    )
    results: dict[str, tuple[int, float]] = {}
    for script in scripts:
        results[script.stem.removesuffix("_bench")] = run(script)
    lines = [
        "# Benchmark report",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({platform.processor() or platform.machine()}, {_cpus()} cores), Python {platform.python_version()}.",
        "Every figure stands beside a baseline measured in the same run on the same machine; "
        "ratios, not absolute numbers, are what to compare between machines. "
        "Reproduce everything with `make bench`.",
        "",
        "| benchmark | exit | seconds |",
        "|---|---|---|",
    ]
    for name, (code, secs) in results.items():
        lines.append(f"| {name} | {code} | {secs:.0f} |")
    lines.append("")
    for name in results:
        path = OUT / f"{name}.json"
        if path.exists():
            lines += section(name, json.loads(path.read_text()))
        else:
            lines += [
                f"## {name}",
                "",
                "No figures written (the benchmark failed; see its output).",
                "",
            ]
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"\nwrote {REPORT}")
    return 0 if all(code == 0 for code, _ in results.values()) else 1


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
