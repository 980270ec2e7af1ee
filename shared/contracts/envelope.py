"""CloudEvents 1.0 in Kafka binary mode: the one encode/decode path every service uses.

Headers: ``ce_id``, ``ce_source``, ``ce_type``, ``ce_specversion``, ``ce_time``,
``ce_subject``, ``ce_dataschema`` (schema name and version), ``content-type:
application/json`` and the W3C ``traceparent``/``tracestate`` of the producing span.
The value is the event data as JSON; the key is ``account_id`` or ``link_id``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from shared.contracts.events import Event, event_class

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
SCHEMA_URN = "urn:guardian-portal:schema:{type}:v{version}"

Headers = list[tuple[str, bytes]]


class EnvelopeError(ValueError):
    """A Kafka message that is not a valid CloudEvent of the catalog (a poison message)."""


@dataclass(frozen=True)
class Envelope:
    """A decoded (or about to be encoded) CloudEvent."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str
    event: Event
    dataschema: str = ""
    trace_headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KafkaRecord:
    """What goes on the wire: key, value and headers (topic chosen by the caller)."""

    key: bytes
    value: bytes
    headers: Headers


def new_event_id() -> str:
    """A fresh CloudEvents id."""
    return str(uuid.uuid4())


def encode(
    event: Event,
    *,
    source: str,
    event_id: str | None = None,
    time: datetime | None = None,
    trace_headers: Mapping[str, str] | None = None,
) -> KafkaRecord:
    """Encode ``event`` as a binary-mode CloudEvent Kafka record."""
    ce_time = (time or datetime.now(UTC)).astimezone(UTC)
    headers: Headers = [
        ("ce_id", (event_id or new_event_id()).encode()),
        ("ce_source", source.encode()),
        ("ce_type", event.event_type().encode()),
        ("ce_specversion", SPECVERSION.encode()),
        ("ce_time", ce_time.isoformat().replace("+00:00", "Z").encode()),
        ("ce_subject", event.subject().encode()),
        (
            "ce_dataschema",
            SCHEMA_URN.format(type=event.event_type(), version=event.version).encode(),
        ),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    for name, header in (trace_headers or {}).items():
        if name in ("traceparent", "tracestate") and header:
            headers.append((name, header.encode()))
    value = event.model_dump_json().encode()
    return KafkaRecord(key=event.key().encode(), value=value, headers=headers)


def headers_to_dict(
    headers: Iterable[tuple[str, bytes | str]] | Mapping[str, object],
) -> dict[str, str]:
    """Normalise Kafka headers (list of pairs or mapping, bytes or str) to ``str -> str``."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, raw in items:
        if isinstance(raw, bytes | bytearray):
            try:
                out[name] = bytes(raw).decode()
            except UnicodeDecodeError as exc:
                raise EnvelopeError(f"header {name!r} is not UTF-8") from exc
        else:
            out[name] = str(raw)
    return out


def decode(
    headers: Iterable[tuple[str, bytes | str]] | Mapping[str, object], value: bytes | None
) -> Envelope:
    """Decode a binary-mode CloudEvent; raise :class:`EnvelopeError` if it is not one."""
    h = headers_to_dict(headers)
    missing = [n for n in ("ce_id", "ce_source", "ce_type", "ce_specversion") if not h.get(n)]
    if missing:
        raise EnvelopeError(f"missing CloudEvents headers: {', '.join(missing)}")
    if h["ce_specversion"] != SPECVERSION:
        raise EnvelopeError(f"unsupported ce_specversion {h['ce_specversion']!r}")
    content_type = h.get("content-type", CONTENT_TYPE).split(";")[0].strip()
    if content_type != CONTENT_TYPE:
        raise EnvelopeError(f"unsupported content-type {content_type!r}")
    try:
        cls = event_class(h["ce_type"])
    except KeyError:
        raise EnvelopeError(f"unknown ce_type {h['ce_type']!r}") from None
    if value is None:
        raise EnvelopeError("empty message value")
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError(
            f"value is not JSON: {exc.msg if hasattr(exc, 'msg') else exc}"
        ) from exc
    try:
        event = cls.model_validate(data)
    except ValidationError as exc:
        # Only field locations and error types: never the input values (may be secrets).
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['type']}" for e in exc.errors()
        )
        raise EnvelopeError(f"invalid {cls.event_type()} data: {problems}") from None
    try:
        time = datetime.fromisoformat(h.get("ce_time", "").replace("Z", "+00:00"))
    except ValueError:
        raise EnvelopeError("ce_time is not an RFC 3339 timestamp") from None
    return Envelope(
        id=h["ce_id"],
        source=h["ce_source"],
        type=h["ce_type"],
        time=time,
        subject=h.get("ce_subject", ""),
        event=event,
        dataschema=h.get("ce_dataschema", ""),
        trace_headers={k: h[k] for k in ("traceparent", "tracestate") if k in h},
    )
