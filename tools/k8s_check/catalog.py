"""The topic catalog as the deployment sees it, and how each topic is provisioned.

The catalog itself (topic names, producers, consumer groups, secret-bearing and SIS
topics) is owned by ``shared.contracts.topics``; this module only reads it. What is
decided here is the deployment side: partitions and retention per topic class, and the
Kafka users that are not services (the SIS and the operators' ``portal-ops``).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

#: The KafkaUser an SIS integration uses and the consumer-group prefix it may use.
SIS_USER = "sis"
SIS_GROUP_PREFIX = "sis-"
#: The operators' user: inspects lag, reads and replays non-secret dead letters.
OPS_USER = "portal-ops"
OPS_GROUP_PREFIX = "portal-ops-"

DAY_MS = 24 * 60 * 60 * 1000
HOUR_MS = 60 * 60 * 1000


@dataclass(frozen=True)
class Catalog:
    """Topic names and who produces and consumes them (unprefixed names)."""

    topics: tuple[str, ...]
    dlq_suffix: str
    producers: dict[str, str]
    consumers: dict[str, frozenset[str]]
    secret_topics: frozenset[str]
    sis_topics: frozenset[str]

    def dlq(self, topic: str) -> str:
        """The dead-letter topic of ``topic``."""
        return f"{topic}{self.dlq_suffix}"

    def all_topics(self) -> list[str]:
        """Every topic and its DLQ."""
        names: list[str] = []
        for topic in self.topics:
            names += [topic, self.dlq(topic)]
        return names

    @property
    def services(self) -> list[str]:
        """Every service that produces or consumes."""
        return sorted(set(self.producers.values()) | set(self.consumers))

    def prefixed(self, prefix: str) -> Catalog:
        """The same catalog with every topic name behind ``prefix`` (KAFKA_TOPIC_PREFIX)."""
        if not prefix:
            return self

        def p(topic: str) -> str:
            return f"{prefix}{topic}"

        return Catalog(
            topics=tuple(p(t) for t in self.topics),
            dlq_suffix=self.dlq_suffix,
            producers={p(t): svc for t, svc in self.producers.items()},
            consumers={svc: frozenset(p(t) for t in ts) for svc, ts in self.consumers.items()},
            secret_topics=frozenset(p(t) for t in self.secret_topics),
            sis_topics=frozenset(p(t) for t in self.sis_topics),
        )

    def produced_by(self, service: str) -> list[str]:
        """Topics ``service`` publishes, in catalog order."""
        return [t for t in self.topics if self.producers.get(t) == service]

    def consumed_by(self, service: str) -> list[str]:
        """Topics ``service`` consumes, in catalog order."""
        wanted = self.consumers.get(service, frozenset())
        return [t for t in self.topics if t in wanted]


def load_catalog(repo_root: Path = REPO_ROOT) -> Catalog:
    """Import ``shared.contracts.topics`` from ``repo_root`` and return its catalog."""
    root = str(repo_root)
    if root not in sys.path:
        sys.path.insert(0, root)
    from shared.contracts import topics as t

    return Catalog(
        topics=tuple(str(topic) for topic in t.Topic),
        dlq_suffix=t.DLQ_SUFFIX,
        producers={str(k): v for k, v in t.PRODUCERS.items()},
        consumers={svc: frozenset(str(x) for x in ts) for svc, ts in t.CONSUMERS.items()},
        secret_topics=frozenset(str(x) for x in t.SECRET_TOPICS),
        sis_topics=frozenset(str(x) for x in t.SIS_TOPICS),
    )


@dataclass(frozen=True)
class TopicClass:
    """How a group of topics is provisioned, and why."""

    partitions: int
    retention_ms: int
    segment_ms: int | None
    why: str


# Partitions: 12 on every event topic. Partitions cap the parallelism of one consumer
# group (HorizontalPodAutoscaler maxReplicas stay <= 12); 12 splits evenly over 1, 2, 3,
# 4, 6 and 12 consumers and over 3 brokers; and adding partitions later re-maps keys,
# breaking per-key ordering across the change, so the headroom is bought up front. A
# large district (300k guardian accounts, ~30k registrations a day at the start of the
# school year) peaks at tens of events per second, far below one partition's capacity:
# partitions here are about consumer parallelism, not throughput. 17 topics x 12 x RF 3
# is ~600 partition replicas, light for 3 brokers.
EVENT_PARTITIONS = 12
# Dead letters are rare and read only by operators: one partition per broker.
DLQ_PARTITIONS = 3

SECRET = TopicClass(
    EVENT_PARTITIONS,
    1 * DAY_MS,
    1 * HOUR_MS,
    "carries a single-use token (verification 24 h, reset 1 h): kept 1 day, the token "
    "lifetime, so a notifier outage up to that long still mails every guardian, and "
    "hourly segments let expired tokens actually leave the disk",
)
SIS = TopicClass(
    EVENT_PARTITIONS,
    30 * DAY_MS,
    None,
    "read by the district SIS, a consumer outside this deployment: 30 days lets it "
    "recover from a long outage (winter break) or re-read to reconcile without an export",
)
INTERNAL = TopicClass(
    EVENT_PARTITIONS,
    7 * DAY_MS,
    None,
    "internal between services: 7 days covers a consumer down over a long weekend plus "
    "time to diagnose; after that the state lives in the owning service's database",
)
SECRET_DLQ = TopicClass(
    DLQ_PARTITIONS,
    1 * DAY_MS,
    1 * HOUR_MS,
    "dead letters holding a token: never replayed (the token expires; the guardian asks "
    "for a new email), so kept only as long as the token lives",
)
DLQ = TopicClass(
    DLQ_PARTITIONS,
    30 * DAY_MS,
    None,
    "dead letters: 30 days for operators to diagnose, fix and replay (runbook.md)",
)


def topic_class(catalog: Catalog, topic: str, *, dlq: bool) -> TopicClass:
    """The provisioning class of ``topic`` (or of its DLQ)."""
    if topic in catalog.secret_topics:
        return SECRET_DLQ if dlq else SECRET
    if dlq:
        return DLQ
    return SIS if topic in catalog.sis_topics else INTERNAL


def resource_name(topic_name: str) -> str:
    """Kubernetes name of a KafkaTopic: ``LinkApproved.DLQ`` -> ``link-approved-dlq``.

    Kubernetes names are lower-case DNS names, so the exact topic name travels in
    ``spec.topicName``.
    """
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", topic_name).lower()
    return re.sub(r"[^a-z0-9-]+", "-", name).strip("-")
