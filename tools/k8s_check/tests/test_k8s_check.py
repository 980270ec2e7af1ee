"""k8s-check passes on the real tree and fails on deliberately broken copies of it."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.k8s_check import check

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="session", autouse=True)
def _tools_installed() -> None:
    """kustomize, kube-score and promtool in .cache/bin (built once from the Go module
    proxy)."""
    proc = subprocess.run(
        [str(ROOT / "tools" / "k8s_check" / "install.sh")],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHON": sys.executable},
    )
    if proc.returncode != 0:
        pytest.fail(f"k8s-check-install failed:\n{proc.stdout}\n{proc.stderr}")


@dataclass
class Outcome:
    """What ``python -m tools.k8s_check`` would exit with and print."""

    returncode: int
    stdout: str


def run_check(deploy_dir: Path, *, lint: bool = True) -> Outcome:
    """The check of ``deploy_dir``, run in this process: the schemas, CRDs and validators
    are loaded once for the whole session instead of once per case (a subprocess each
    made the suite several times slower)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = check.main(["--deploy-dir", str(deploy_dir), *([] if lint else ["--no-lint"])])
    return Outcome(code, out.getvalue())


def test_real_tree_passes() -> None:
    proc = run_check(DEPLOY)
    assert proc.returncode == 0, proc.stdout
    assert "0 failed" in proc.stdout


def test_command_line() -> None:
    """The module runs as a command (what `make k8s-check` calls); --no-lint skips
    kube-score."""
    proc = subprocess.run(
        [sys.executable, "-m", "tools.k8s_check", "--no-lint"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "kube-score" not in proc.stdout


def _edit(relative: str, old: str, new: str) -> Callable[[Path], None]:
    def mutate(deploy: Path) -> None:
        path = deploy / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {relative}: update this test"
        path.write_text(text.replace(old, new, 1))

    return mutate


def _drop_topic(deploy: Path) -> None:
    path = deploy / "k8s/components/kafka/topics.yaml"
    docs = path.read_text().split("\n---\n")
    kept = [d for d in docs if "topicName: LinkApproved\n" not in d]
    assert len(kept) == len(docs) - 1
    path.write_text("\n---\n".join(kept))


def _sis_reads_secret(deploy: Path) -> None:
    path = deploy / "k8s/components/kafka/users.yaml"
    text = path.read_text()
    marker = "  name: sis\n"
    head, tail = text.split(marker)
    acl = (
        "      - resource:\n          type: topic\n          name: PasswordResetRequested\n"
        "          patternType: literal\n        operations: [Read]\n"
    )
    tail = tail.replace("    acls:\n", "    acls:\n" + acl, 1)
    path.write_text(head + marker + tail)


BROKEN: dict[str, tuple[Callable[[Path], None], str]] = {
    # A typo in a built-in kind: strict Kubernetes schema.
    "deployment-unknown-field": (
        _edit("k8s/base/identity.yaml", "          readinessProbe:", "          readinesProbe:"),
        r"\[FAIL\] schema base[^\n]*\n[^\n]*readinesProbe' was unexpected",
    ),
    "deployment-bad-type": (
        _edit(
            "k8s/base/linking.yaml",
            "      terminationGracePeriodSeconds: 60",
            "      terminationGracePeriodSeconds: soon",
        ),
        r"terminationGracePeriodSeconds: 'soon' is not of type 'integer'",
    ),
    # A typo in a Strimzi custom resource: its CRD schema.
    "kafka-node-pool-bad-field": (
        _edit("k8s/components/kafka/kafka.yaml", "  roles: [broker]", "  role: [broker]"),
        r"KafkaNodePool/broker: .*'role' was unexpected",
    ),
    "mongodb-bad-enum": (
        _edit("k8s/components/mongodb/mongodb.yaml", "  type: ReplicaSet", "  type: Replicaset"),
        r"MongoDBCommunity/portal-mongodb: spec.type: 'Replicaset' is not one of",
    ),
    # Catalog consistency.
    "missing-kafka-topic": (_drop_topic, r"KafkaTopic LinkApproved: missing"),
    "sis-reads-secret-topic": (
        _sis_reads_secret,
        r"KafkaUser/sis: may read secret-bearing topic PasswordResetRequested",
    ),
    # KAFKA_TOPIC_PREFIX: the topics and ACLs carry the services' prefix.
    "topic-prefix-missing-from-acls": (
        _edit(
            "k8s/components/kafka-topic-prefix/kustomization.yaml",
            "        fieldPaths: [spec.authorization.acls.*.resource.name]\n",
            "        fieldPaths: [spec.authorization.acls.0.resource.name]\n",
        ),
        r"KafkaUser/identity: cannot read \['district1\.InactivityTimeout'\]",
    ),
    "topic-prefix-without-prefixed-topics": (
        _edit(
            "k8s/overlays/local/kustomization.yaml",
            "      - LOG_LEVEL=DEBUG\n",
            "      - LOG_LEVEL=DEBUG\n      - KAFKA_TOPIC_PREFIX=other.\n",
        ),
        r"KafkaTopic other\.LinkApproved: missing",
    ),
    "topic-prefix-not-on-keda-group": (
        _edit(
            "k8s/components/kafka-topic-prefix/kustomization.yaml",
            "      - select: {kind: ScaledObject}\n",
            "      - select: {kind: ScaledObject, name: none}\n",
        ),
        r"ScaledObject/notifier: consumerGroup 'notifier', the service consumes in "
        r"'district1\.notifier'",
    ),
    # OpenShift: restricted-v2 assigns the uid, gid and fsGroup itself.
    "openshift-fixed-fs-group": (
        _edit(
            "k8s/components/openshift/kustomization.yaml",
            "      - {op: remove, path: /spec/template/spec/securityContext/fsGroup}\n",
            "",
        ),
        # (only the OpenShift rules look for it: production sets fsGroup on purpose)
        r"Deployment/identity: pod securityContext.fsGroup set \(restricted-v2 assigns it\)",
    ),
    # Traces: the collector's export endpoint is set by the overlay.
    "otel-export-endpoint-unset": (
        _edit(
            "k8s/overlays/production/config/otel-export.env",
            "OTLP_TRACES_ENDPOINT=tempo-distributor.observability.svc:4317",
            "OTLP_TRACES_ENDPOINT=",
        ),
        r"Deployment/otel-collector: \$\{env:OTLP_TRACES_ENDPOINT\} of the collector's "
        r"configuration is not set",
    ),
    # The district policy must pass the services' own validation.
    "district-policy-unknown-key": (
        _edit("k8s/base/district-policy.yaml", "  min_length: 8", "  min_lenght: 8"),
        r"ConfigMap/district-policy: .*invalid",
    ),
    # Production never enables the scheduler's test clock.
    "production-clock-control": (
        _edit(
            "k8s/overlays/production/config/portal.env",
            "LOG_LEVEL=INFO",
            "LOG_LEVEL=INFO\nSCHEDULER_CLOCK_CONTROL=true",
        ),
        r"SCHEDULER_CLOCK_CONTROL='true' enables the test clock in production",
    ),
    # Hardening and lint.
    "writable-root-filesystem": (
        _edit(
            "k8s/base/scheduler.yaml",
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
        ),
        r"Deployment/scheduler container scheduler: readOnlyRootFilesystem must be true",
    ),
    "startup-shorter-than-dependency-wait": (
        _edit(
            "k8s/base/notifier.yaml",
            "            failureThreshold: 54",
            "            failureThreshold: 30",
        ),
        r"Deployment/notifier: startupProbe allows 150 s, start-up may wait 240 s",
    ),
    "missing-network-policy": (
        _edit("k8s/components/network-policies/kustomization.yaml", "  - deny-all.yaml\n", ""),
        r"Deployment/identity: no deny-all NetworkPolicy selects its pods",
    ),
    # Traffic: Gateway API routes against their CRD, and the staff API stays internal.
    "httproute-bad-field": (
        _edit(
            "k8s/components/gateway/routes-internal.yaml",
            "        request: 300s",
            "        requests: 300s",
        ),
        r"HTTPRoute/portal-roster-upload: .*'requests' was unexpected",
    ),
    "public-route-to-staff-api": (
        _edit(
            "k8s/components/gateway/routes-public.yaml",
            "        - path: {type: PathPrefix, value: /v1/security-questions}\n",
            "        - path: {type: PathPrefix, value: /v1/security-questions}\n"
            "        - path: {type: PathPrefix, value: /v1/staff}\n",
        ),
        r"HTTPRoute/portal-guardian-api rule 0: public route /v1/staff reaches staff API",
    ),
    "public-route-to-revoke": (
        _edit(
            "k8s/components/gateway/routes-public.yaml",
            "          method: DELETE\n",
            "",
        ),
        r"public route /v1/links/ reaches POST \.\.\./revoke",
    ),
    "route-to-metrics": (
        _edit(
            "k8s/components/gateway/routes-internal.yaml",
            "        - path: {type: PathPrefix, value: /v1/staff}",
            "        - path: {type: PathPrefix, value: /metrics}",
        ),
        r"HTTPRoute/portal-staff rule 0: /metrics exposes /metrics",
    ),
    # Monitoring: the alerts' unit tests, runbook links and metric names.
    "alert-threshold-changed": (
        _edit(
            "k8s/components/monitoring/prometheusrule.yaml",
            "max by (namespace) (scheduler_timers_overdue_seconds) > 300",
            "max by (namespace) (scheduler_timers_overdue_seconds) > 600",
        ),
        r"(?s)promtool test rules failed:.*alertname: PortalTimersOverdue",
    ),
    "alert-runbook-section-missing": (
        _edit(
            "k8s/components/monitoring/prometheusrule.yaml",
            "runbook.md#outbox-backlog",
            "runbook.md#outbox",
        ),
        r"PortalOutboxBacklog: runbook_url .* does not name a section",
    ),
    "dashboard-unknown-metric": (
        _edit(
            "k8s/components/monitoring/dashboards/guardian-portal.json",
            "portal_outbox_oldest_pending_seconds",
            "portal_outbox_oldest_seconds",
        ),
        r"dashboard guardian-portal-dashboard/guardian-portal.json: "
        r"portal_outbox_oldest_seconds is not exported",
    ),
    "servicemonitor-bad-field": (
        _edit(
            "k8s/components/monitoring/servicemonitor.yaml",
            "      interval: 30s",
            "      every: 30s",
        ),
        r"ServiceMonitor/guardian-portal: .*'every' was unexpected",
    ),
    # Secrets: with the ExternalSecrets component nothing is left to create by hand.
    "external-secret-missing": (
        _edit(
            "k8s/components/external-secrets/kustomization.yaml",
            "  - service-secrets.yaml\n",
            "",
        ),
        r"Secret identity-secrets \(needed by Deployment/identity\): neither an operator",
    ),
    # KEDA: a ScaledObject replaces the HPA, never both; within the partition count.
    "keda-and-hpa-on-one-deployment": (
        _edit(
            "k8s/components/keda/kustomization.yaml",
            "      name: notifier|scheduler|webhooks\n    patch: |-\n      $patch: delete",
            "      name: scheduler|webhooks\n    patch: |-\n      $patch: delete",
        ),
        r"Deployment/notifier: both a HorizontalPodAutoscaler and a KEDA ScaledObject",
    ),
    "keda-more-replicas-than-partitions": (
        _edit(
            "k8s/overlays/production/sizing.yaml", "  maxReplicaCount: 6", "  maxReplicaCount: 20"
        ),
        r"ScaledObject/scheduler: maxReplicaCount 20 exceeds the 12 partitions",
    ),
    # Production: TLS to MongoDB.
    "production-mongodb-without-tls": (
        _edit(
            "k8s/overlays/production/kustomization.yaml",
            "  - ../../components/mongodb-tls\n",
            "",
        ),
        r"MongoDBCommunity/portal-mongodb: TLS must be enabled and required in production",
    ),
    # A kustomization that does not render.
    "render-error": (
        _edit(
            "k8s/overlays/production/kustomization.yaml",
            "  - path: sizing.yaml",
            "  - path: no-such-file.yaml",
        ),
        r"render production",
    ),
}


#: Cases that must break a copy alone: the others are applied together to one copy (one
#: render of each target instead of one per case), each asserting its own finding.
ALONE = {"render-error"}


@pytest.fixture(scope="module")
def broken_together(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """One copy carrying every mutation but those of :data:`ALONE`, checked once."""
    copy = tmp_path_factory.mktemp("broken") / "deploy"
    shutil.copytree(DEPLOY, copy)
    for case in sorted(set(BROKEN) - ALONE):
        BROKEN[case][0](copy)
    # No case here is about kube-score's findings (the real tree runs it): skip it.
    return run_check(copy, lint=False)


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_copy_fails(case: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    mutate, expected = BROKEN[case]
    if case in ALONE:
        copy = tmp_path / "deploy"
        shutil.copytree(DEPLOY, copy)
        mutate(copy)
        proc = run_check(copy, lint=False)
    else:
        proc = request.getfixturevalue("broken_together")
    assert proc.returncode == 1, proc.stdout
    assert re.search(expected, proc.stdout), proc.stdout
    # No rule gave up on a manifest broken by another case (that would hide findings).
    assert "could not run" not in proc.stdout, proc.stdout


def test_topic_prefix_reaches_topics_acls_groups_and_services() -> None:
    """overlays/shared-kafka: the one value of kafka-topic-prefix.yaml is in front of every
    topic, ACL, KEDA consumer group and the services' KAFKA_TOPIC_PREFIX; the SIS keeps
    its own `sis-` groups; the value itself is not applied to the cluster."""
    _, docs = check.render(DEPLOY / "k8s" / "overlays" / "shared-kafka")
    assert not isinstance(docs, str), docs
    kinds: dict[str, list[dict[str, object]]] = {}
    for doc in docs:
        kinds.setdefault(str(doc["kind"]), []).append(doc)
    topics = {t["spec"]["topicName"] for t in kinds["KafkaTopic"]}  # type: ignore[index]
    assert "district1.LinkApproved" in topics and "district1.LinkApproved.DLQ" in topics
    assert all(str(t).startswith("district1.") for t in topics)
    config = next(
        c for c in kinds["ConfigMap"] if str(c["metadata"]["name"]).startswith("portal-config")
    )  # type: ignore[index]
    assert config["data"]["KAFKA_TOPIC_PREFIX"] == "district1."  # type: ignore[index]
    users = {u["metadata"]["name"]: u for u in kinds["KafkaUser"]}  # type: ignore[index]
    names = [a["resource"]["name"] for a in users["notifier"]["spec"]["authorization"]["acls"]]  # type: ignore[index]
    assert "district1.notifier" in names and all(n.startswith("district1.") for n in names)
    sis = [a["resource"] for a in users["sis"]["spec"]["authorization"]["acls"]]  # type: ignore[index]
    assert {r["name"] for r in sis if r["type"] == "group"} == {"sis-"}
    assert all(r["name"].startswith("district1.") for r in sis if r["type"] == "topic")
    groups = {
        o["spec"]["triggers"][0]["metadata"]["consumerGroup"]  # type: ignore[index]
        for o in kinds["ScaledObject"]
    }
    assert groups == {"district1.notifier", "district1.scheduler", "district1.webhooks"}
    assert not [c for c in kinds["ConfigMap"] if c["metadata"]["name"] == "kafka-topic-prefix"]  # type: ignore[index]
