"""``make k8s-check``: render every kustomize target and check it, offline.

Steps, for ``deploy/k8s/base`` and every ``deploy/k8s/overlays/*``:

1. render with kustomize;
2. validate every manifest against its schema (built-in kinds: Kubernetes OpenAPI via
   ``kubernetes-validate``; Strimzi and MongoDB resources: their vendored CRDs);
3. house rules (rules.py): hardening of every Deployment; for overlays, the Kafka topics
   and ACLs agree with ``shared.contracts.topics`` and each service's MongoDB user is
   confined to its database; for every overlay but ``local``, production rules
   (replication 3 / min.insync 2, ENVIRONMENT=production, no test clock);
4. alerts (alerts.py): promtool checks and unit-tests the rendered PrometheusRule; every
   alert links to a runbook section; the alerts and dashboard query exported metrics;
5. lint overlays with kube-score (its default checks, a few optional ones on; the
   exclusions are listed below with their reasons);

plus: the generated KafkaTopic/KafkaUser files are up to date with the catalog.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.k8s_check import alerts, generate, rules, schemas
from tools.k8s_check.catalog import REPO_ROOT, Catalog, load_catalog

#: Oldest Kubernetes the manifests support, and the newest schema set available.
KUBERNETES_VERSIONS = ["1.31", "1.37"]
BIN_DIR = REPO_ROOT / ".cache" / "bin"
DEV_OVERLAYS = {"local"}

#: kube-score: default checks plus these optional ones.
KUBE_SCORE_OPTIONAL = [
    "container-seccomp-profile",
    "container-ports-check",
    "container-memory-requests-equal-limits",
]
#: kube-score checks switched off per overlay, and why (also in tools/k8s_check/README.md).
KUBE_SCORE_IGNORED: dict[str, dict[str, str]] = {
    "local": {
        "container-image-pull-policy": "the dev image is side-loaded into the cluster "
        "(kind load), so it cannot be pulled: IfNotPresent on purpose",
        "horizontalpodautoscaler-replicas": "one replica per service on a laptop",
        "deployment-replicas": "one collector replica on a laptop",
    },
    "openshift": {
        "container-security-context-user-group-id": "OpenShift's restricted-v2 SCC gives "
        "each pod a uid and gid from the namespace's range (above 1000000000) at "
        "admission; a fixed one in the manifest would be refused",
    },
}
#: Overlays for OpenShift (named openshift*): the restricted-v2 SCC rules apply.
OPENSHIFT_PREFIX = "openshift"


@dataclass
class Report:
    """Findings per step, printed at the end."""

    findings: dict[str, list[str]] = field(default_factory=dict)
    manifests: int = 0

    def add(self, step: str, items: list[str]) -> None:
        """Record the findings of one step (none means it passed)."""
        self.findings.setdefault(step, []).extend(items)

    @property
    def failed(self) -> bool:
        """Whether any step found something."""
        return any(self.findings.values())


def tool(name: str) -> str:
    """Path of ``kustomize``, ``kube-score`` or ``promtool``: $KUSTOMIZE/$KUBE_SCORE/
    $PROMTOOL or .cache/bin."""
    env = os.environ.get(name.upper().replace("-", "_"))
    path = Path(env) if env else BIN_DIR / name
    if not path.is_file():
        raise SystemExit(
            f"{name} not found at {path}: run `make k8s-check-install` once "
            "(builds it from the Go module proxy into .cache/bin)"
        )
    return str(path)


def targets(deploy_dir: Path) -> dict[str, Path]:
    """Every kustomize target to check: the base and each overlay."""
    k8s = deploy_dir / "k8s"
    found = {"base": k8s / "base"}
    overlays = k8s / "overlays"
    if overlays.is_dir():
        for d in sorted(overlays.iterdir()):
            if (d / "kustomization.yaml").is_file():
                found[d.name] = d
    return found


#: Renders by the hash of their inputs (a process checking several copies of a tree, as
#: the check's own tests do, renders an unchanged target once).
_RENDERED: dict[str, tuple[str, list[dict[str, Any]] | str]] = {}


def _inputs_digest(path: Path) -> str:
    """Hash of every file a target can read: its own folder, and for an overlay the base
    and the components (kustomize reads nothing outside deploy/k8s here)."""
    k8s = path.parent.parent if path.parent.name == "overlays" else path.parent
    folders = [path] if path.name == "base" else [path, k8s / "base", k8s / "components"]
    # Not the absolute path: a copy of the tree elsewhere renders the same.
    digest = hashlib.sha256(str(path.relative_to(k8s)).encode())
    for folder in folders:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                digest.update(str(file.relative_to(k8s)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def render(path: Path) -> tuple[str, list[dict[str, Any]] | str]:
    """``kustomize build``: the YAML text and its documents, or the error text."""
    key = _inputs_digest(path)
    if key not in _RENDERED:
        _RENDERED[key] = _render(path)
    return _RENDERED[key]


def _render(path: Path) -> tuple[str, list[dict[str, Any]] | str]:
    proc = subprocess.run(
        [tool("kustomize"), "build", str(path)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return proc.stdout, proc.stderr.strip() or f"kustomize exited {proc.returncode}"
    try:
        docs = [d for d in yaml.load_all(proc.stdout, Loader=schemas.YamlLoader) if d]
    except yaml.YAMLError as exc:
        return proc.stdout, f"kustomize output is not YAML: {exc}"
    return proc.stdout, docs


def kube_score(name: str, text: str) -> list[str]:
    """kube-score findings (CRITICAL and WARNING lines) for one rendered overlay."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    args = [
        tool("kube-score"),
        "score",
        "--output-format",
        "ci",
        "--exit-one-on-warning",
        "--kubernetes-version",
        f"v{KUBERNETES_VERSIONS[0]}",
    ]
    for test in KUBE_SCORE_OPTIONAL:
        args += ["--enable-optional-test", test]
    ignored = KUBE_SCORE_IGNORED.get(name, {})
    if name.startswith(OPENSHIFT_PREFIX):
        ignored = {**KUBE_SCORE_IGNORED[OPENSHIFT_PREFIX], **ignored}
    for test in ignored:
        args += ["--ignore-test", test]
    try:
        proc = subprocess.run([*args, f.name], capture_output=True, text=True, check=False)
    finally:
        os.unlink(f.name)
    found = [
        line for line in proc.stdout.splitlines() if line.startswith(("[CRITICAL]", "[WARNING]"))
    ]
    if proc.returncode != 0 and not found:
        found.append(f"kube-score exited {proc.returncode}: {proc.stderr.strip()[:500]}")
    return found


def check_target(
    name: str,
    text: str,
    docs: list[dict[str, Any]],
    catalog: Catalog,
    lint: bool,
    monitoring_tests: Path | None = None,
) -> dict[str, list[str]]:
    """Every step but rendering, for one target."""
    out: dict[str, list[str]] = {}
    schema_findings = []
    for doc in docs:
        meta = doc.get("metadata")
        label = f"{doc.get('kind')}/{meta.get('name') if isinstance(meta, dict) else None}"
        try:
            errors = schemas.validate(doc, KUBERNETES_VERSIONS)
        except schemas.NoSchemaError as exc:
            errors = [str(exc)]
        schema_findings += [f"{label}: {e}" for e in errors]
    out["schema"] = schema_findings

    target = rules.Target(name, docs)
    checks: list[tuple[str, Callable[[], list[str]]]] = [
        ("hardening", lambda: rules.hardening(target)),
        ("district policy", lambda: rules.district_policy(target)),
        ("routes", lambda: rules.routes(target)),
        ("otel collector", lambda: rules.otel_collector(target)),
    ]
    if name != "base":
        production = name not in DEV_OVERLAYS
        checks += [
            ("network policies", lambda: rules.deny_all_baseline(target)),
            (
                "kafka catalog",
                lambda: rules.kafka_catalog(
                    target,
                    catalog,
                    replicas=3 if production else None,
                    min_insync=2 if production else None,
                ),
            ),
            ("mongodb users", lambda: rules.mongodb_users(target, catalog.services)),
            ("external secrets", lambda: rules.external_secrets(target)),
        ]
        if name.startswith(OPENSHIFT_PREFIX):
            checks.append(("openshift", lambda: rules.openshift_restricted(target)))
        if production:
            checks += [
                ("clock control", lambda: rules.clock_control_off(target)),
                ("environment", lambda: rules.environment_is(target, "production")),
                ("mongodb tls", lambda: rules.mongodb_tls(target)),
            ]
    found: list[str] = []
    for rule, check in checks:
        try:
            found += check()
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            # A manifest too broken for the rule (schema errors say why): still a failure.
            found.append(f"rule {rule!r} could not run: {type(exc).__name__}: {exc}")
    out["rules"] = found
    if any(d.get("kind") == "PrometheusRule" for d in docs):
        findings = alerts.house_rules(docs)
        if monitoring_tests is not None:
            findings += alerts.promtool(docs, monitoring_tests, tool("promtool"))
        out["alerts"] = findings
    if lint and name != "base":
        out["kube-score"] = kube_score(name, text)
    return out


def _call(job: Callable[[], dict[str, list[str]]]) -> dict[str, list[str]]:
    return job()


def run(deploy_dir: Path, *, lint: bool = True, verbose: bool = False) -> Report:
    """Run every step; the report says what failed."""
    report = Report()
    catalog = load_catalog()
    stale = [
        f"{path.relative_to(deploy_dir.parent)} is out of date with shared/contracts/topics.py:"
        " run `python -m tools.k8s_check.generate`"
        for path, text in generate.outputs(deploy_dir, catalog).items()
        if not path.exists() or path.read_text() != text
    ]
    report.add("generated", stale)

    found = targets(deploy_dir)
    with ThreadPoolExecutor(max_workers=4) as pool:
        rendered = dict(zip(found, pool.map(render, found.values()), strict=True))
    jobs: dict[str, Callable[[], dict[str, list[str]]]] = {}
    for name, (text, result) in rendered.items():
        if isinstance(result, str):
            report.add(f"render {name}", [result])
            continue
        report.add(f"render {name}", [])
        report.manifests += len(result)
        jobs[name] = functools.partial(
            check_target,
            name,
            text,
            result,
            catalog,
            lint,
            deploy_dir / "k8s" / "components" / "monitoring" / "tests",
        )
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(jobs, pool.map(_call, jobs.values()), strict=True))
    for name, steps in results.items():
        for step, items in steps.items():
            report.add(f"{step} {name}", items)
    if verbose:
        for name, (_, result) in rendered.items():
            if not isinstance(result, str):
                print(f"{name}: {len(result)} manifests")
    return report


def main(argv: list[str] | None = None) -> int:
    """Command line: exit 0 when every step passes."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.k8s_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--deploy-dir",
        type=Path,
        default=REPO_ROOT / "deploy",
        help="the deploy/ folder to check (default: this repository's)",
    )
    parser.add_argument("--no-lint", action="store_true", help="skip kube-score")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    started = time.monotonic()
    report = run(args.deploy_dir.resolve(), lint=not args.no_lint, verbose=args.verbose)
    failures = 0
    for step, items in report.findings.items():
        status = "FAIL" if items else "ok"
        print(f"[{status}] {step}" + (f" ({len(items)})" if items else ""))
        for item in items:
            print(f"    {item}")
        failures += bool(items)
    took = time.monotonic() - started
    checked = len(report.findings)
    print(
        f"k8s-check: {checked - failures} passed, {failures} failed "
        f"({report.manifests} manifests, {took:.1f}s)"
    )
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
