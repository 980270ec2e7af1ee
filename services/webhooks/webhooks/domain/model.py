"""Endpoints, deliveries and the rules around them (no I/O).

An **endpoint** is one HTTPS URL a district registered for one SIS, with the event types
it receives and its signing secrets (the newest first; an older one stays valid for an
overlap after a rotation).

A **delivery** is one event for one endpoint::

    pending ──attempt ok──▶ delivered
       │  ▲                      │
       │  └─attempt failed,      │ operator replay
       │    retries left         ▼
       └──no retry left──▶ failed ──operator replay──▶ pending

Deliveries of one endpoint and one key (``link_id`` or ``account_id``) go out in the
order the events happened (``event_time`` = ``ce_time``, then the consumption order
``seq``): a delivery waits while an earlier one of its queue is still pending. (Each
event type is its own topic, so consumption order alone would not be the order of
events across topics.) Its id is ``<endpoint id>:<ce_id>``, so a redelivered event never
makes a second delivery; ``webhook-id`` is the ``ce_id``, identical on every attempt and
replay, so the receiver deduplicates on it.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from shared.contracts.envelope import Envelope

#: Default back-off between attempts (seconds): fast at first, then hours, for ≈ 4 days
#: (the Standard Webhooks guidance, stretched so an SIS down over a long weekend loses
#: nothing).
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (
    5,
    30,
    120,
    600,
    1800,
    3600,
    7200,
    14400,
    28800,
    43200,
    86400,
    86400,
    86400,
)
#: Attempt log entries kept per delivery (the oldest are dropped).
LOG_LIMIT = 50


class Status(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class SigningSecret:
    secret: str
    created_at: datetime
    #: After a rotation the previous secret stays valid until then.
    expires_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class Endpoint:
    id: str
    sis: str
    url: str
    event_types: frozenset[str]
    secrets: tuple[SigningSecret, ...]
    created_at: datetime
    enabled: bool = True
    description: str = ""

    def receives(self, event_type: str) -> bool:
        return self.enabled and event_type in self.event_types

    def signing_secrets(self, now: datetime) -> list[str]:
        """Every secret to sign with now (newest first)."""
        return [s.secret for s in self.secrets if s.active(now)]

    def rotated(self, new_secret: str, now: datetime, overlap: timedelta) -> Endpoint:
        """The endpoint signing with ``new_secret``; older secrets expire after ``overlap``."""
        kept = tuple(
            replace(s, expires_at=min(s.expires_at or now + overlap, now + overlap))
            for s in self.secrets
            if s.active(now)
        )
        return replace(self, secrets=(SigningSecret(new_secret, now), *kept))

    def previous_secrets_retired(self) -> Endpoint:
        """Only the newest secret signs from now on: the receiver has switched to it, so
        the overlap of a rotation ends early."""
        newest = max(self.secrets, key=lambda s: s.created_at)
        return replace(self, secrets=(newest,))


@dataclass(frozen=True)
class Attempt:
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Delivery:
    id: str
    endpoint_id: str
    ce_id: str
    event_type: str
    key: str
    event_time: datetime
    seq: int
    body: str
    status: Status
    created_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    log: tuple[Attempt, ...] = field(default_factory=tuple)
    delivered_at: datetime | None = None

    @staticmethod
    def delivery_id(endpoint_id: str, ce_id: str) -> str:
        return f"{endpoint_id}:{ce_id}"


@dataclass(frozen=True)
class RetrySchedule:
    """Delays after each failed attempt; none left means the delivery failed."""

    delays: Sequence[float] = DEFAULT_RETRY_SCHEDULE

    def next_delay(self, failed_attempts: int) -> float | None:
        """Seconds before the next attempt after ``failed_attempts`` failures, or None."""
        if failed_attempts - 1 < len(self.delays):
            return float(self.delays[failed_attempts - 1])
        return None

    @property
    def total_seconds(self) -> float:
        return float(sum(self.delays))


def structured_event(envelope: Envelope) -> dict[str, Any]:
    """The CloudEvents 1.0 structured-mode JSON of an event (the webhook body)."""
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": envelope.id,
        "source": envelope.source,
        "type": envelope.type,
        "time": envelope.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "subject": envelope.subject,
        "datacontenttype": "application/json",
    }
    if envelope.dataschema:
        body["dataschema"] = envelope.dataschema
    if envelope.trace_headers.get("traceparent"):
        # CloudEvents distributed-tracing extension.
        body["traceparent"] = envelope.trace_headers["traceparent"]
    body["data"] = json.loads(envelope.event.model_dump_json())
    return body


# --- URL policy ---------------------------------------------------------------------

Resolver = Callable[[str, int], Iterable[str]]


class UrlRefused(ValueError):
    """A webhook URL the district's configuration does not allow."""


def check_url(
    url: str,
    *,
    require_https: bool,
    allowed_networks: Sequence[str],
    resolve: Resolver,
) -> list[str]:
    """Why ``url`` may not receive webhooks (empty when it may).

    - ``https://`` only when ``require_https`` (always in production);
    - no credentials in the URL;
    - every address the host resolves to must be public, unless it falls in a network
      the district allowed (``WEBHOOKS_ALLOWED_NETWORKS``): loopback, private,
      link-local (cloud metadata), multicast and reserved addresses are refused.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ["the URL cannot be parsed"]
    problems: list[str] = []
    if parts.scheme not in ("https", "http"):
        return ["the URL must start with https://"]
    if parts.scheme == "http" and require_https:
        problems.append("http:// is refused: webhooks are delivered over https:// only")
    if not parts.hostname:
        return [*problems, "the URL has no host"]
    if parts.username or parts.password:
        problems.append("credentials in the URL are refused (the signature authenticates)")
    networks = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]
    try:
        addresses = list(resolve(parts.hostname, port or (443 if parts.scheme == "https" else 80)))
    except OSError:
        return [*problems, f"the host {parts.hostname!r} does not resolve"]
    if not addresses:
        problems.append(f"the host {parts.hostname!r} does not resolve")
    for text in addresses:
        address = ipaddress.ip_address(text)
        if any(address in n for n in networks):
            continue
        if not address.is_global or address.is_multicast:
            problems.append(
                f"{parts.hostname} resolves to {address}, a non-public address the district "
                "did not allow (WEBHOOKS_ALLOWED_NETWORKS)"
            )
    return problems
