"""The SIS kit on the real broker: the outbox relay produces exactly the checked-in test
vectors, and the Java (kafka-clients + CloudEvents Kafka binding) and Python example
consumers read them, deduplicate by ce_id and commit after processing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shared.contracts.topics import SIS_TOPICS
from shared.contracts.vectors import SAMPLES, TRACEPARENT_PATTERN, load_vectors
from tests.harness import ROOT, create_topics
from tests.kafka_tools import TopicWatcher

JAVA_DIR = ROOT / "examples" / "sis-consumer-java"
JAR = JAVA_DIR / "target" / "sis-consumer.jar"
PYTHON_EXAMPLE = ROOT / "docs" / "operations" / "scripts" / "sis_consumer_example.py"
SIS_TYPES = sorted(str(t) for t in SIS_TOPICS)
#: The topics the example consumers read: every public topic (the link decisions that
#: grant or end access, and the contact changes of approved links).
EXAMPLE_TYPES = [
    "LinkApproved",
    "LinkDenied",
    "LinkRevoked",
    "LinkWithdrawn",
    "LinkExpired",
    "GuardianContactUpdated",
]


@dataclass
class Run:
    prefix: str
    database: str
    work: Path
    #: Records relayed so far: (sample name, ce_id).
    relayed: list[tuple[str, str]] = field(default_factory=list)

    def for_examples(self) -> list[tuple[str, str]]:
        """The relayed records on the topics the example consumers read."""
        types = {s.name: s.event.event_type() for s in SAMPLES}
        return [(name, ce_id) for name, ce_id in self.relayed if types[name] in EXAMPLE_TYPES]

    def relay(self, items: list[dict[str, str]]) -> None:
        by_name = {s.name: s for s in SAMPLES}
        self.relayed += [
            (i["sample"], i.get("event_id", by_name[i["sample"]].event_id)) for i in items
        ]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.integration.vector_relay",
                self.database,
                self.prefix,
                json.dumps(items),
            ],
            cwd=ROOT,
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,
        )


@pytest.fixture(scope="module")
def run(stack: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    run_id = uuid.uuid4().hex[:8]
    prefix = f"t{run_id}."
    create_topics(prefix)
    r = Run(prefix, f"t{run_id}_sisvectors", tmp_path_factory.mktemp("sis"))
    # Every sample once, in order, then the first one again with the same ce_id (what a
    # redelivery after a relay crash looks like to a consumer).
    r.relay([{"sample": s.name} for s in SAMPLES] + [{"sample": SAMPLES[0].name}])
    yield r


async def _records(run: Run, count: int) -> list[Any]:
    topics = [run.prefix + t for t in SIS_TYPES]
    async with TopicWatcher(topics) as watcher:
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while len(watcher.records) < count and loop.time() < deadline:
            await asyncio.sleep(0.1)
        return list(watcher.records)


async def test_the_real_relay_produces_exactly_the_test_vectors(run: Run) -> None:
    records = await _records(run, len(SAMPLES) + 1)
    assert len(records) == len(SAMPLES) + 1
    by_id: dict[str, list[Any]] = {}
    for record in records:
        by_id.setdefault(dict(record.headers)["ce_id"].decode(), []).append(record)
    for _, _, vector in load_vectors():
        ce_id = dict(vector["headers"])["ce_id"]
        for record in by_id[ce_id]:
            assert record.topic == run.prefix + vector["topic"]
            assert record.key.decode() == vector["key"]
            assert record.value.decode() == vector["value"]
            produced = [(k, v.decode()) for k, v in record.headers]
            expected = [tuple(h) for h in vector["headers"]]
            # Identical headers, in order; only the trace id is new on every production.
            assert [k for k, _ in produced] == [k for k, _ in expected]
            for (name, got), (_, want) in zip(produced, expected, strict=True):
                if name == "traceparent":
                    assert re.match(TRACEPARENT_PATTERN, got)
                else:
                    assert got == want, name


def _contact(guardian: dict[str, Any]) -> dict[str, Any]:
    """The contact summary the examples print, written out from a vector's data."""
    address = guardian["address"]
    street = ", ".join(p for p in (address["street"], address["apt"]) if p)
    emergency = next(p for p in guardian["phones"] if p["kind"] == guardian["emergency_phone"])
    return {
        "emergency": emergency["e164"],
        "sms": [p["e164"] for p in guardian["phones"] if p["sms"] is True],
        "address": f"{street}, {address['city']}, {address['state']} {address['zip']}",
        "secondary_email": guardian["secondary_email"],
    }


def _expected_outputs(run: Run, order: list[str]) -> dict[str, dict[str, str]]:
    """What the example prints for each distinct event relayed so far, given the order in
    which it applied them (ce_ids): the three events of one link (approved, contact
    change, revoked) are on three topics, read in any order."""
    vectors = {v["name"]: v for _, _, v in load_vectors()}
    out: dict[str, dict[str, Any]] = {}
    ended: set[str] = set()
    held: dict[str, tuple[datetime, dict[str, Any]]] = {}  # link → (ce_time, contact)
    events = {ce_id: vectors[name] for name, ce_id in run.for_examples()}
    for ce_id in sorted(events, key=order.index):
        vector = events[ce_id]
        data, headers = vector["data"], dict(vector["headers"])
        link = data["link_id"]
        line: dict[str, Any] = {
            "ce_id": ce_id,
            "ce_type": headers["ce_type"],
            "key": vector["key"],
            "link_id": link,
        }
        at = datetime.fromisoformat(headers["ce_time"])
        newer = link not in held or at > held[link][0]
        if headers["ce_type"] in ("LinkApproved", "GuardianContactUpdated") and link in ended:
            line["action"] = "ignore_ended"
        elif headers["ce_type"] == "LinkApproved":
            line |= {
                "action": "grant",
                "guardian_email": data["guardian"]["email"],
                "student_id": data["student"]["student_id"],
                "school_id": data["student"]["school_id"],
                "contact": _contact(data["guardian"]) if newer else held[link][1],
            }
            if newer:
                held[link] = (at, _contact(data["guardian"]))
        elif headers["ce_type"] == "GuardianContactUpdated":
            assert newer  # the samples' contact change is later than their approval
            line |= {
                "action": "update_contact",
                "contact": _contact(data["guardian"]),
                "changed": data["changed"],
            }
            held[link] = (at, _contact(data["guardian"]))
        elif headers["ce_type"] == "LinkRevoked":
            line |= {"action": "remove", "student_id": data["student_id"]}
            ended.add(link)
        else:
            line |= {"action": "close"}
            ended.add(link)
        out[ce_id] = line
    return out


def _consume(
    command: list[str], run: Run, group: str, applied: Path, records: int
) -> list[dict[str, Any]]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "KAFKA_TOPIC_PREFIX": run.prefix,
        "SIS_GROUP": group,
        "SIS_APPLIED_FILE": str(applied),
        "SIS_EXIT_AFTER_RECORDS": str(records),
    }
    done = subprocess.run(command, env=env, capture_output=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return [json.loads(line) for line in done.stdout.decode().splitlines() if line.startswith("{")]


def _check_consumer(command: list[str], run: Run, name: str) -> None:
    group = f"sis-{name}-{uuid.uuid4().hex[:6]}"
    applied = run.work / f"{group}.applied"
    lines = _consume(command, run, group, applied, len(run.for_examples()))
    applied_lines = [line for line in lines if line["action"] != "duplicate"]
    order = [line["ce_id"] for line in applied_lines]
    # Different topics, no order between them: what the SIS does depends on the order it
    # read them in (an ended link stays ended; the newer contact block is kept).
    expected = _expected_outputs(run, order)
    by_name = {s.name: s.event_id for s in SAMPLES}
    contact_line = next(
        line for line in applied_lines if line["ce_id"] == by_name["phone-and-sms-consent"]
    )
    if order.index(by_name["revoked"]) > order.index(by_name["phone-and-sms-consent"]):
        # Read before the revocation: the new mobile with its SMS consent reached the SIS.
        assert contact_line["action"] == "update_contact"
        assert contact_line["contact"]["sms"] == ["+19045550142"]
    # Every event applied once, with what the SIS needs; the redelivered one skipped
    # (only when it came after the first copy: a duplicate is recognised by its ce_id).
    assert {line["ce_id"]: line for line in applied_lines} == expected
    assert len(applied_lines) == len(expected)
    assert lines.count({"action": "duplicate", "ce_id": SAMPLES[0].event_id}) == 1
    # Offsets were committed after processing: a restart in the same group reads only
    # what is new (one more event), nothing it already applied.
    new_id = str(uuid.uuid4())
    run.relay([{"sample": "denied", "event_id": new_id}])
    again = _consume(command, run, group, applied, 1)
    assert [line["ce_id"] for line in again] == [new_id]
    assert again[0]["action"] == "close"


@pytest.fixture(scope="module")
def java_jar() -> Path:
    """Build the Java example once (Maven Central; cached in ~/.m2); rebuilt only when its
    sources or POM are newer than the jar."""
    sources = [JAVA_DIR / "pom.xml", *JAVA_DIR.glob("src/**/*.java")]
    if not JAR.exists() or max(p.stat().st_mtime for p in sources) > JAR.stat().st_mtime:
        mvn = shutil.which("mvn")
        assert mvn, "Maven (mvn) is needed to build examples/sis-consumer-java"
        built = subprocess.run(
            [mvn, "-B", "-q", "package"], cwd=JAVA_DIR, capture_output=True, timeout=900
        )
        assert built.returncode == 0, built.stdout.decode()[-3000:]
    return JAR


def test_java_consumer_example(run: Run, java_jar: Path) -> None:
    java = shutil.which("java")
    assert java, "a Java 17 runtime is needed for examples/sis-consumer-java"
    _check_consumer([java, "-jar", str(java_jar)], run, "java")


def test_python_consumer_example(run: Run) -> None:
    _check_consumer([sys.executable, str(PYTHON_EXAMPLE)], run, "python")


def test_java_webhook_verifier_accepts_the_portals_signatures(java_jar: Path) -> None:
    """The Java verification shown in the integrator's guide agrees with the signer of
    the webhooks service (two secrets during a rotation; tampering refused)."""
    import time

    from webhooks.domain.signing import new_secret, signature_header

    java = shutil.which("java")
    assert java
    old, new = new_secret(), new_secret()
    body = json.dumps({"specversion": "1.0", "id": "e-1", "data": {"é": 1}}).encode()
    ts = str(int(time.time()))
    signatures = signature_header([new, old], "e-1", int(ts), body)

    def verdict(secret: str, payload: bytes, msg_id: str = "e-1") -> str:
        done = subprocess.run(
            [
                java,
                "-cp",
                str(java_jar),
                "org.guardianportal.sis.WebhookVerifier",
                secret,
                msg_id,
                ts,
                signatures,
            ],
            input=payload,
            capture_output=True,
            timeout=60,
            check=True,
        )
        return done.stdout.decode().strip()

    assert verdict(old, body) == "valid"
    assert verdict(new, body) == "valid"
    assert verdict(new, body + b" ") == "invalid"
    assert verdict(new, body, msg_id="e-2") == "invalid"
    assert verdict(new_secret(), body) == "invalid"


def test_python_example_keeps_the_newest_contact_across_restarts(tmp_path: Path) -> None:
    """The Python example's rules without a broker: a contact change read before its
    link's approval is kept (the approval's older block does not replace it), an older
    change is ignored, an ended link takes no contact, and all of it survives a restart
    (the state file is read again)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sis_consumer_example", PYTHON_EXAMPLE)
    assert spec and spec.loader
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    vectors = {v["name"]: v for _, _, v in load_vectors()}
    approval, change = vectors["approved-in-person"], vectors["phone-and-sms-consent"]
    link = approval["key"]
    path = tmp_path / "applied.txt"

    def apply(vector: dict[str, Any], ce_id: str, ce_time: str, state: Any) -> dict[str, Any]:
        headers = dict(vector["headers"])
        return dict(
            example.apply_to_sis(
                headers["ce_type"], ce_id, ce_time, vector["key"], vector["data"], state
            )
        )

    state = example.SisState(path)
    newer = apply(change, "c1", "2026-11-30T18:20:41.503Z", state)
    assert newer["action"] == "update_contact"
    assert newer["contact"] == _contact(change["data"]["guardian"])
    assert newer["changed"] == ["phones", "secondary_email"]
    granted = apply(approval, "a1", "2026-11-24T14:05:09.12Z", state)
    assert granted["action"] == "grant"
    # The approval came later but is older: the SIS keeps the new mobile and SMS consent.
    assert granted["contact"] == newer["contact"] != _contact(approval["data"]["guardian"])

    restarted = example.SisState(path)
    assert restarted.applied("c1") and restarted.applied("a1")
    assert restarted.contact(link)[1] == newer["contact"]
    older = apply(change, "c0", "2026-11-29T00:00:00Z", restarted)
    assert older["action"] == "ignore_older_contact"
    assert restarted.contact(link)[1] == newer["contact"]
    removed = apply(vectors["revoked"], "r1", "2026-12-01T16:45:30Z", restarted)
    assert removed["action"] == "remove"
    assert apply(change, "c2", "2026-12-02T00:00:00Z", restarted)["action"] == "ignore_ended"
    assert example.SisState(path).ended(link)
