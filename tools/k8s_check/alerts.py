"""The alerts and dashboard of components/monitoring, checked offline.

- ``promtool check rules`` on the rendered PrometheusRule's groups, then ``promtool test
  rules`` with the component's unit tests (``tests/*.test.yaml``: recorded series in,
  expected alerts out). The free-prose ``description`` annotation is dropped from the
  rules under test (labels, ``summary`` and ``runbook_url`` are compared exactly). A
  passing run is remembered in ``.cache/k8s-check`` by the hash of its inputs, so the
  same rules and tests are not re-run (overlays sharing them, the check's own tests).
- house rules: every alert has a severity, a summary and a ``runbook_url`` whose
  section exists in docs/operations/runbook.md; every portal metric the alerts and the
  dashboard query is one the code exports.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tools.k8s_check.catalog import REPO_ROOT

RUNBOOK = REPO_ROOT / "docs" / "operations" / "runbook.md"
CACHE = REPO_ROOT / ".cache" / "k8s-check"
SEVERITIES = {"warning", "critical"}
#: Metric prefixes the portal's own code exports (the others come from exporters).
OWN_PREFIXES = ("portal_", "http_server_", "notifier_", "scheduler_", "webhooks_")
_METRIC = re.compile(r"\b((?:portal|http_server|notifier|scheduler|webhooks)_[a-z0-9_]+)")
_DEFINED = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"")

Doc = dict[str, Any]


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_anchors(path: Path = RUNBOOK) -> set[str]:
    """Anchors of every heading of the runbook (not of ``#`` lines in code blocks)."""
    anchors, fenced = set(), False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"^#{1,6} ", line):
            anchors.add(_slug(line.lstrip("#")))
    return anchors


def exported_metrics(
    roots: tuple[Path, ...] = (REPO_ROOT / "shared", REPO_ROOT / "services"),
) -> set[str]:
    """Every series name the portal's Python code exports (prometheus_client naming:
    counters get ``_total``, histograms ``_bucket``/``_count``/``_sum``)."""
    names: set[str] = set()
    for root in roots:
        for path in root.rglob("*.py"):
            if "tests" in path.parts:
                continue
            for kind, name in _DEFINED.findall(path.read_text()):
                if kind == "Counter":
                    names.add(name.removesuffix("_total") + "_total")
                elif kind in ("Histogram", "Summary"):
                    names.update(name + s for s in ("_bucket", "_count", "_sum", ""))
                else:
                    names.add(name)
    return names


def _dashboards(docs: list[Doc]) -> dict[str, Doc]:
    found = {}
    for doc in docs:
        labels = (doc.get("metadata") or {}).get("labels") or {}
        if doc.get("kind") == "ConfigMap" and labels.get("grafana_dashboard") == "1":
            for key, text in (doc.get("data") or {}).items():
                found[f"{doc['metadata']['name']}/{key}"] = json.loads(text)
    return found


def _exprs(value: Any) -> list[str]:
    """Every ``expr`` string inside a dashboard."""
    if isinstance(value, dict):
        out = [value["expr"]] if isinstance(value.get("expr"), str) else []
        return out + [e for v in value.values() for e in _exprs(v)]
    if isinstance(value, list):
        return [e for v in value for e in _exprs(v)]
    return []


def house_rules(docs: list[Doc]) -> list[str]:
    """Severity, summary and runbook section of every alert; known metric names."""
    found: list[str] = []
    anchors = runbook_anchors()
    known = exported_metrics()
    queries: list[tuple[str, str]] = []
    for rule_doc in (d for d in docs if d.get("kind") == "PrometheusRule"):
        name = rule_doc["metadata"]["name"]
        for group in rule_doc.get("spec", {}).get("groups") or []:
            for rule in group.get("rules") or []:
                alert = rule.get("alert")
                where = f"PrometheusRule/{name} {alert or rule.get('record')}"
                queries.append((where, str(rule.get("expr", ""))))
                if not alert:
                    continue
                labels = rule.get("labels") or {}
                notes = rule.get("annotations") or {}
                if labels.get("severity") not in SEVERITIES:
                    found.append(f"{where}: severity must be one of {sorted(SEVERITIES)}")
                if not notes.get("summary"):
                    found.append(f"{where}: no summary annotation")
                url = notes.get("runbook_url", "")
                anchor = url.partition("#")[2]
                if not url.split("#")[0].endswith("/runbook.md") or anchor not in anchors:
                    found.append(
                        f"{where}: runbook_url {url!r} does not name a section of "
                        "docs/operations/runbook.md"
                    )
    for board, dashboard in _dashboards(docs).items():
        queries += [(f"dashboard {board}", e) for e in _exprs(dashboard)]
    for where, expr in queries:
        for metric in sorted(set(_METRIC.findall(expr))):
            if metric not in known:
                found.append(f"{where}: {metric} is not exported by the portal's code")
    return found


def _rules_text(docs: list[Doc], *, for_tests: bool) -> str | None:
    groups = [
        g
        for d in docs
        if d.get("kind") == "PrometheusRule"
        for g in (d.get("spec") or {}).get("groups") or []
    ]
    if not groups:
        return None
    if for_tests:
        groups = json.loads(json.dumps(groups))
        for group in groups:
            for rule in group.get("rules") or []:
                (rule.get("annotations") or {}).pop("description", None)
    return yaml.safe_dump({"groups": groups}, sort_keys=False)


def promtool(docs: list[Doc], tests_dir: Path, promtool_bin: str) -> list[str]:
    """``promtool check rules`` and ``promtool test rules`` (cached when they passed)."""
    full = _rules_text(docs, for_tests=False)
    if full is None:
        return []
    tested = _rules_text(docs, for_tests=True) or ""
    tests = sorted(tests_dir.glob("*.test.yaml")) if tests_dir.is_dir() else []
    if not tests:
        return [f"no promtool tests (*.test.yaml) in {tests_dir}"]
    binary = Path(promtool_bin).stat()
    key = hashlib.sha256(f"{promtool_bin}:{binary.st_size}:{binary.st_mtime_ns}".encode())
    key.update(full.encode())
    key.update(tested.encode())
    for t in tests:
        key.update(t.read_bytes())
    stamp = CACHE / f"promtool-{key.hexdigest()[:32]}.ok"
    if stamp.exists():
        return []
    with tempfile.TemporaryDirectory(prefix="k8s-check-alerts-") as tmp:
        work = Path(tmp)
        (work / "all.rules.yaml").write_text(full)
        (work / "alerts.rules.yaml").write_text(tested)
        for t in tests:
            shutil.copy(t, work / t.name)
        found = []
        for args in (
            ["check", "rules", "all.rules.yaml"],
            ["test", "rules", *[t.name for t in tests]],
        ):
            proc = subprocess.run(
                [promtool_bin, *args], cwd=work, capture_output=True, text=True, check=False
            )
            if proc.returncode != 0:
                output = (proc.stdout + proc.stderr).strip()
                found.append(f"promtool {' '.join(args[:2])} failed:\n" + output[-4000:])
    if not found:
        CACHE.mkdir(parents=True, exist_ok=True)
        stamp.touch()
    return found
