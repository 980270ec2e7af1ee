"""AsyncAPI 3.0 documents generated from the contracts: the public document for SIS
consumers (``asyncapi/sis.json``) and one document per service.

Everything comes from one place so that the documents say what is really on the wire:

- the CloudEvents binary-mode headers that :func:`shared.contracts.envelope.encode` writes
  (``ce_*``, ``content-type``, ``traceparent``/``tracestate``), as one message trait;
  ``ce_type`` and ``ce_dataschema`` are constants of each message;
- the Kafka key (``link_id`` or ``account_id``) as the message binding's ``key``;
- one message per event *version* whose schema file is checked in (``schemas/``), its
  payload the checked-in JSON Schema (``$defs`` moved to ``components/schemas``);
- examples from the checked-in test vectors (``vectors/``);
- the servers: the production listener the SIS connects to (TLS + SCRAM-SHA-512, as the
  Strimzi ``external`` listener in ``deploy/k8s/overlays/production`` defines it), the
  in-cluster ``tls`` listener, and the local development broker.

Channel ids are the topic names, identical in every document; operation ids say the
action (``receiveLinkApproved``, ``sendLinkApproved``, ``deadLetterLinkApproved``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from shared.contracts.envelope import CONTENT_TYPE, SCHEMA_URN, SPECVERSION
from shared.contracts.events import EVENT_TYPES
from shared.contracts.schemas import SCHEMA_DIR
from shared.contracts.topics import DLQ_SUFFIX, PRODUCERS, SIS_TOPICS, Topic
from shared.contracts.vectors import TRACEPARENT_PATTERN, VECTOR_DIR, load_vectors

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING = "0.5.0"
DOCUMENT_VERSION = "1.1.0"
TRAIT = "cloudEventsKafkaBinary"
DLQ_TRAIT = "deadLetter"
SIS_GROUP_PREFIX = "sis-"

#: The production listener an SIS outside the cluster connects to (the Strimzi
#: ``external`` listener of deploy/k8s/overlays/production), and the in-cluster one.
EXTERNAL_LISTENER = {"name": "external", "port": 9094, "tls": True, "sasl": "scram-sha-512"}
INTERNAL_LISTENER = {
    "name": "tls",
    "host": "portal-kafka-kafka-bootstrap.guardian-portal.svc",
    "port": 9093,
    "tls": True,
    "sasl": "scram-sha-512",
}


def cloudevents_trait() -> dict[str, Any]:
    """The headers every event carries (CloudEvents 1.0 Kafka binary mode + trace)."""
    uuid_pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    return {
        "name": "CloudEvents Kafka binary mode",
        "summary": "CloudEvents 1.0 attributes as Kafka headers (UTF-8 strings), the "
        "value is the event data as JSON.",
        "headers": {
            "type": "object",
            "required": [
                "ce_id",
                "ce_source",
                "ce_type",
                "ce_specversion",
                "ce_time",
                "ce_subject",
                "ce_dataschema",
                "content-type",
            ],
            "properties": {
                "ce_id": {
                    "type": "string",
                    "pattern": uuid_pattern,
                    "description": "Unique id of the event (a UUID). A redelivered event "
                    "keeps its id: deduplicate on it.",
                },
                "ce_source": {
                    "type": "string",
                    "enum": sorted(set(PRODUCERS.values())),
                    "description": "The portal service that produced the event.",
                },
                "ce_type": {
                    "type": "string",
                    "description": "The event type: the topic name without any prefix.",
                },
                "ce_specversion": {"type": "string", "const": SPECVERSION},
                "ce_time": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When the event happened (RFC 3339, UTC, suffix Z).",
                },
                "ce_subject": {
                    "type": "string",
                    "description": "The aggregate the event is about: the same value as "
                    "the Kafka key (link_id or account_id).",
                },
                "ce_dataschema": {
                    "type": "string",
                    "description": "URN of the value's JSON Schema and version: "
                    + SCHEMA_URN.format(type="<ce_type>", version="<N>")
                    + " (the schema's $id).",
                },
                "content-type": {"type": "string", "const": CONTENT_TYPE},
                "traceparent": {
                    "type": "string",
                    "pattern": TRACEPARENT_PATTERN,
                    "description": "W3C Trace Context of the span that published the "
                    "event (trace-flags 03: sampled, random trace id). The portal's "
                    "services send it with every event; quote it when reporting a problem.",
                },
                "tracestate": {
                    "type": "string",
                    "description": "W3C tracestate; sent only when the request that "
                    "caused the event carried one.",
                },
            },
        },
    }


def dead_letter_trait() -> dict[str, Any]:
    """The headers a consumer adds when it dead-letters a message (shared/runtime/consumer)."""
    text = {"type": "string"}
    return {
        "name": "Dead-lettered message",
        "summary": "The original record (headers, key, value) plus why it failed.",
        "headers": {
            "type": "object",
            "required": [
                "dlq_reason",
                "dlq_kind",
                "dlq_consumer_group",
                "dlq_original_topic",
                "dlq_original_partition",
                "dlq_original_offset",
                "dlq_failed_at",
            ],
            "properties": {
                "dlq_reason": text,
                "dlq_kind": {"type": "string", "enum": ["invalid_message", "handler_error"]},
                "dlq_consumer_group": text,
                "dlq_original_topic": text,
                "dlq_original_partition": text,
                "dlq_original_offset": text,
                "dlq_failed_at": {"type": "string", "format": "date-time"},
                "dlq_exception": text,
            },
        },
    }


def security_schemes() -> dict[str, Any]:
    return {
        "scramSha512": {
            "type": "scramSha512",
            "description": "SASL SCRAM-SHA-512 over TLS (Kafka security.protocol=SASL_SSL). "
            "Trust the cluster CA the district hands out (not a public CA). The SIS user "
            "is `sis`; its consumer group ids must start with `sis-`.",
        }
    }


def servers(*, external: bool) -> dict[str, Any]:
    """Production listener(s) with their security, plus the local development broker."""
    scram = [{"$ref": "#/components/securitySchemes/scramSha512"}]
    out: dict[str, Any] = {}
    if external:
        out["production"] = {
            "host": "{bootstrap}:" + str(EXTERNAL_LISTENER["port"]),
            "protocol": "kafka-secure",
            "title": "District cluster, external listener",
            "description": "The Strimzi `external` listener (type loadbalancer, TLS, "
            "SCRAM-SHA-512) of the district's production deployment. The district gives "
            "the bootstrap host, the cluster CA certificate and the `sis` password.",
            "variables": {
                "bootstrap": {
                    "description": "The load balancer's host name, from `kubectl get kafka "
                    'portal-kafka -o jsonpath=\'{.status.listeners[?(@.name=="external")]'
                    ".bootstrapServers}'`."
                }
            },
            "security": scram,
        }
    out["in-cluster"] = {
        "host": f"{INTERNAL_LISTENER['host']}:{INTERNAL_LISTENER['port']}",
        "protocol": "kafka-secure",
        "title": "District cluster, internal listener",
        "description": "The Strimzi `tls` listener (TLS, SCRAM-SHA-512), reachable from "
        "pods the district's network policy admits.",
        "security": scram,
    }
    out["development"] = {
        "host": "127.0.0.1:9092",
        "protocol": "kafka",
        "title": "Local development broker",
        "description": "The single plaintext broker of `make run` (no authentication).",
    }
    return out


def _rewrite_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/"):
                out[k] = f"#/components/schemas/{prefix}.{v.split('/')[-1]}"
            else:
                out[k] = _rewrite_refs(v, prefix)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, prefix) for v in node]
    return node


def schema_versions(event_type: str, directory: Path = SCHEMA_DIR) -> list[int]:
    """The versions of ``event_type`` whose schema is checked in, oldest first."""
    return sorted(int(p.name.split(".v")[1][:-5]) for p in directory.glob(f"{event_type}.v*.json"))


def payload_schemas(event_type: str, version: int) -> dict[str, dict[str, Any]]:
    """The checked-in schema of one event version as ``components/schemas`` entries."""
    schema = json.loads((SCHEMA_DIR / f"{event_type}.v{version}.json").read_text("utf-8"))
    name = f"{event_type}.v{version}"
    defs = schema.pop("$defs", {})
    schema.pop("$schema", None)
    schema["x-dataschema"] = schema.pop("$id")
    out = {name: _rewrite_refs(schema, name)}
    for def_name, node in defs.items():
        out[f"{name}.{def_name}"] = _rewrite_refs(node, name)
    return out


def _examples(event_type: str, version: int, vector_dir: Path) -> list[dict[str, Any]]:
    return [
        {
            "name": vector["name"],
            "summary": f"{vector['summary']} Key: {vector['key']}",
            "headers": dict(vector["headers"]),
            "payload": vector["data"],
        }
        for etype, ver, vector in load_vectors(vector_dir)
        if etype == event_type and ver == version
    ]


def _message(event_type: str, version: int, *, vector_dir: Path, dlq: bool) -> dict[str, Any]:
    cls = EVENT_TYPES[event_type]
    name = f"{event_type}.v{version}"
    doc = (cls.__doc__ or "").strip() if cls.__doc__ != cls.__mro__[1].__doc__ else ""
    traits = [{"$ref": f"#/components/messageTraits/{TRAIT}"}]
    if dlq:
        traits.append({"$ref": f"#/components/messageTraits/{DLQ_TRAIT}"})
    message: dict[str, Any] = {
        "name": name + (".deadLettered" if dlq else ""),
        "title": f"{event_type} (version {version})" + (", dead-lettered" if dlq else ""),
        "contentType": CONTENT_TYPE,
        "traits": traits,
        "headers": {
            "type": "object",
            "properties": {
                "ce_type": {"type": "string", "const": event_type},
                "ce_dataschema": {
                    "type": "string",
                    "const": SCHEMA_URN.format(type=event_type, version=version),
                },
            },
        },
        "payload": {"$ref": f"#/components/schemas/{name}"},
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": f"The event's `{cls.key_field}` (UTF-8): every event "
                    f"of one {cls.key_field.removesuffix('_id')} has the same key, so goes "
                    "to the same partition, in order.",
                },
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }
    if event_type in EVENT_MEANINGS:
        message["summary"] = EVENT_MEANINGS[event_type]
    if doc:
        message["description"] = " ".join(doc.split())
    if not dlq:
        examples = _examples(event_type, version, vector_dir)
        if examples:
            message["examples"] = examples
    return message


def build_document(
    *,
    doc_id: str,
    title: str,
    description: str,
    receive: Mapping[Topic, str] | None = None,
    send: Iterable[Topic] = (),
    dead_letter: Iterable[Topic] = (),
    group: dict[str, Any] | None = None,
    external: bool = False,
    vector_dir: Path = VECTOR_DIR,
) -> dict[str, Any]:
    """An AsyncAPI 3 document for the given operations on catalog topics."""
    receive = receive or {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    server_names = (
        ["production", "in-cluster", "development"]
        if external
        else [
            "in-cluster",
            "development",
        ]
    )
    server_refs = [{"$ref": f"#/servers/{s}"} for s in server_names]

    def channel(topic: Topic, *, dlq: bool) -> str:
        event_type = str(topic)
        channel_id = event_type + (DLQ_SUFFIX if dlq else "")
        if channel_id in channels:
            return channel_id
        refs = {}
        for version in schema_versions(event_type):
            msg_id = f"{event_type}.v{version}" + (".deadLettered" if dlq else "")
            messages[msg_id] = _message(event_type, version, vector_dir=vector_dir, dlq=dlq)
            schemas.update(payload_schemas(event_type, version))
            refs[msg_id] = {"$ref": f"#/components/messages/{msg_id}"}
        producer = PRODUCERS[topic]
        channels[channel_id] = {
            "address": channel_id,
            "title": channel_id,
            "description": (
                f"Records of {event_type} that a consumer could not process, with the "
                "reason in the dlq_* headers (one dead-letter topic per topic, shared by "
                "its consumer groups)."
                if dlq
                else f"{event_type} events, published by the {producer} service. A district "
                "sharing a cluster may put a prefix before every topic name "
                "(KAFKA_TOPIC_PREFIX)."
            ),
            "messages": refs,
            "servers": server_refs,
            "bindings": {"kafka": {"topic": channel_id, "bindingVersion": KAFKA_BINDING}},
        }
        return channel_id

    def operation(op_id: str, action: str, channel_id: str, summary: str) -> None:
        op: dict[str, Any] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{m}"}
                for m in channels[channel_id]["messages"]
            ],
            "summary": summary,
        }
        if action == "receive" and group is not None:
            op["bindings"] = {"kafka": {"groupId": group, "bindingVersion": KAFKA_BINDING}}
        operations[op_id] = op

    for topic in sorted(send):
        operation(f"send{topic}", "send", channel(topic, dlq=False), f"Publish {topic}.")
    for topic in sorted(receive):
        operation(f"receive{topic}", "receive", channel(topic, dlq=False), receive[topic])
    for topic in sorted(dead_letter):
        operation(
            f"deadLetter{topic}",
            "send",
            channel(topic, dlq=True),
            f"Dead-letter a {topic} record that could not be processed.",
        )

    traits = {TRAIT: cloudevents_trait()}
    if any(channel_id.endswith(DLQ_SUFFIX) for channel_id in channels):
        traits[DLQ_TRAIT] = dead_letter_trait()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": doc_id,
        "info": {"title": title, "version": DOCUMENT_VERSION, "description": description},
        "defaultContentType": CONTENT_TYPE,
        "servers": servers(external=external),
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "messageTraits": traits,
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": security_schemes(),
        },
    }


SIS_DESCRIPTION = """\
The public link events of the guardian portal, for Student Information Systems (SIS).

Every record is a CloudEvents 1.0 event in Kafka binary mode: the attributes are headers
(see the `cloudEventsKafkaBinary` trait), the value is the event data as UTF-8 JSON, the
key is the `link_id` (`account_id` for account-level events). Delivery is at least once:
deduplicate on `ce_id`. Events of one key are in order; there is no order across keys.
Within a version the portal only adds optional fields: ignore fields you do not know. A
breaking change is a new version (a new message here, a new `ce_dataschema`) published
beside the old one.

Connect to the `production` server with SASL SCRAM-SHA-512 over TLS as the user `sis`
(the district gives the bootstrap host, the cluster CA and the password), in a consumer
group whose id starts with `sis-`. The Kafka ACLs let that user read these topics and no
others. The integrator's guide is docs/operations/sis-integration.md.
"""


def sis_document(vector_dir: Path = VECTOR_DIR) -> dict[str, Any]:
    """The one public document for SIS consumers: the topics the `sis` user may read."""
    return build_document(
        doc_id="urn:guardian-portal:asyncapi:sis",
        title="Guardian portal: link events for the SIS",
        description=SIS_DESCRIPTION,
        receive={t: _SIS_SUMMARIES.get(t, f"Consume {t}.") for t in SIS_TOPICS},
        group={
            "type": "string",
            "pattern": f"^{SIS_GROUP_PREFIX}",
            "description": "The ACLs admit only consumer groups named sis-*.",
        },
        external=True,
        vector_dir=vector_dir,
    )


#: What each public event means for the guardian's portal access (message summaries).
EVENT_MEANINGS: dict[str, str] = {
    "LinkApproved": "The school approved the guardian for the student: grant portal access.",
    "LinkDenied": "The school denied the request: no access; close any pending record.",
    "LinkRevoked": "An approved link was revoked: remove the guardian's access to the student.",
    "LinkWithdrawn": "A pending request was withdrawn (by the guardian, or the account was "
    "deleted): no access; close any pending record.",
    "LinkExpired": "A pending in-person request passed its deadline unapproved: no access; "
    "close any pending record.",
    "GuardianContactUpdated": "The guardian of an approved link changed contact details or "
    "consents (phones, SMS consent, emergency phone, address, secondary email, name, "
    "language): replace the guardian's contact block; access is unchanged.",
}

_SIS_SUMMARIES: dict[Topic, str] = {
    Topic.LINK_APPROVED: "Grant the guardian portal access to the student.",
    Topic.LINK_DENIED: "A request was denied: nothing to grant; close any pending record.",
    Topic.LINK_REVOKED: "Remove the guardian's access to the student.",
    Topic.LINK_WITHDRAWN: "A pending request was withdrawn: close any pending record.",
    Topic.LINK_EXPIRED: "A pending request expired unapproved: close any pending record.",
    Topic.GUARDIAN_CONTACT_UPDATED: "Replace a linked guardian's contact block (phones, "
    "SMS consent, address, ...).",
}


def service_document(
    service: str, *, title: str, description: str, consumed: Mapping[Topic, str]
) -> dict[str, Any]:
    """A service's document: what it publishes, consumes and dead-letters."""
    return build_document(
        doc_id=f"urn:guardian-portal:asyncapi:{service}",
        title=title,
        description=description,
        send=[t for t, p in PRODUCERS.items() if p == service],
        receive=consumed,
        dead_letter=list(consumed),
        group={"type": "string", "const": service},
    )


def render(doc: dict[str, Any]) -> str:
    """Stable text form of a document."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
