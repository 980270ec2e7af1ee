"""House rules on rendered manifests: hardening, catalog consistency, clock control.

Each rule takes every document of one rendered target (an overlay, or the base) and
returns human-readable findings; an empty list means the rule holds.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shared.runtime.limits import DEPENDENCY_WAIT_SECONDS
from tools.k8s_check.catalog import EVENT_PARTITIONS, SIS_GROUP_PREFIX, SIS_USER, Catalog

Doc = dict[str, Any]

#: Service -> HTTP port (contract §7).
SERVICE_PORTS = {
    "identity": 8001,
    "linking": 8002,
    "notifier": 8003,
    "scheduler": 8004,
    "webhooks": 8005,
    "web": 8080,
}
#: Services with no MongoDB and no Kafka: their start-up waits for neither.
STATELESS_SERVICES = {"web"}
#: Values pydantic reads as false; anything else in SCHEDULER_CLOCK_CONTROL turns it on.
FALSE_VALUES = {"", "0", "false", "f", "no", "n", "off"}
READ_OPS = {"Read", "All"}
WRITE_OPS = {"Write", "All"}


@dataclass(frozen=True)
class Target:
    """One rendered kustomize target."""

    name: str  # "base", "local", "production", ...
    docs: list[Doc]

    def of_kind(self, kind: str) -> list[Doc]:
        """Documents of ``kind``."""
        return [d for d in self.docs if d.get("kind") == kind]

    def named(self, kind: str, name: str) -> Doc | None:
        """The ``kind`` named ``name`` (ConfigMaps also by generator prefix)."""
        for doc in self.of_kind(kind):
            actual = doc["metadata"]["name"]
            if actual == name or (kind == "ConfigMap" and _base_name(actual) == name):
                return doc
        return None


def _base_name(name: str) -> str:
    """``portal-config-22h76fcddb`` -> ``portal-config`` (kustomize's hash suffix)."""
    head, _, tail = name.rpartition("-")
    return head if head and len(tail) == 10 and tail.isalnum() else name


def _label(doc: Doc, key: str) -> str | None:
    return (doc.get("metadata", {}).get("labels") or {}).get(key)


def _pod(doc: Doc) -> Doc:
    return doc["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def _selects(selector: Doc | None, labels: dict[str, str]) -> bool:
    if not selector:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


# --- hardening ----------------------------------------------------------------------


def hardening(target: Target) -> list[str]:
    """Every portal Deployment hardened the same way (style.md habit 8, contract §6)."""
    findings: list[str] = []
    for dep in target.of_kind("Deployment"):
        if _label(dep, "app.kubernetes.io/part-of") != "guardian-portal":
            continue
        name = dep["metadata"]["name"]
        where = f"Deployment/{name}"
        pod = _pod(dep)
        labels = dep["spec"]["template"]["metadata"].get("labels") or {}
        sa_name = pod.get("serviceAccountName")
        sa = target.named("ServiceAccount", sa_name or "")
        if sa_name != name or sa is None:
            findings.append(f"{where}: needs its own ServiceAccount named {name!r}")
        elif sa.get("automountServiceAccountToken") is not False:
            findings.append(f"ServiceAccount/{name}: automountServiceAccountToken must be false")
        if pod.get("automountServiceAccountToken") is not False:
            findings.append(f"{where}: automountServiceAccountToken must be false")
        psc = pod.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True:
            findings.append(f"{where}: pod securityContext.runAsNonRoot must be true")
        if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            findings.append(f"{where}: pod seccompProfile must be RuntimeDefault")
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        for c in pod.get("containers", []):
            cw = f"{where} container {c['name']}"
            sc = c.get("securityContext") or {}
            if sc.get("readOnlyRootFilesystem") is not True:
                findings.append(f"{cw}: readOnlyRootFilesystem must be true")
            if sc.get("allowPrivilegeEscalation") is not False:
                findings.append(f"{cw}: allowPrivilegeEscalation must be false")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                findings.append(f"{cw}: capabilities must drop ALL")
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(part) or {}):
                        findings.append(f"{cw}: resources.{part}.{r} missing")
            tmp = [
                m
                for m in c.get("volumeMounts") or []
                if m.get("mountPath") == "/tmp"  # noqa: S108 - checking, not using, /tmp
            ]
            if not tmp or "emptyDir" not in volumes.get(tmp[0]["name"], {}):
                findings.append(f"{cw}: /tmp must be an emptyDir (read-only root filesystem)")
        if labels.get("app.kubernetes.io/component") in ("api", "worker"):
            findings += _service_rules(target, dep)
    return findings


def _http_get(probe: Doc | None) -> str | None:
    return ((probe or {}).get("httpGet") or {}).get("path")


def _service_rules(target: Target, dep: Doc) -> list[str]:
    """What a Deployment of one of the four services must have."""
    name = dep["metadata"]["name"]
    where = f"Deployment/{name}"
    findings: list[str] = []
    pod = _pod(dep)
    c = pod["containers"][0]
    port = SERVICE_PORTS.get(name)
    if port is None:
        return [f"{where}: not one of the services {sorted(SERVICE_PORTS)}"]
    if c.get("args") != ["serve", name]:
        findings.append(f"{where}: args must be ['serve', {name!r}] (entrypoint `portal`)")
    env = {e["name"]: e for e in c.get("env") or []}
    if (env.get("HTTP_PORT") or {}).get("value") != str(port):
        findings.append(f"{where}: HTTP_PORT must be {port}")
    if port not in [p.get("containerPort") for p in c.get("ports") or []]:
        findings.append(f"{where}: containerPort {port} missing")
    if _http_get(c.get("livenessProbe")) != "/healthz":
        findings.append(f"{where}: livenessProbe must GET /healthz")
    if _http_get(c.get("readinessProbe")) != "/readyz":
        findings.append(f"{where}: readinessProbe must GET /readyz")
    startup = c.get("startupProbe")
    if not startup:
        findings.append(f"{where}: startupProbe missing")
    elif name not in STATELESS_SERVICES:
        budget = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
        needed = 2 * DEPENDENCY_WAIT_SECONDS  # MongoDB, then Kafka
        if budget <= needed:
            findings.append(
                f"{where}: startupProbe allows {budget} s, start-up may wait {needed:.0f} s "
                "for MongoDB and Kafka (shared/runtime/service.py): killed in a loop "
                "during an outage"
            )
    if not (c.get("lifecycle") or {}).get("preStop"):
        findings.append(f"{where}: preStop hook missing (graceful shutdown)")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if not isinstance(grace, int) or grace < 30:
        findings.append(f"{where}: terminationGracePeriodSeconds must be at least 30")
    refs = {
        _base_name((e.get("configMapRef") or {}).get("name", "")) for e in c.get("envFrom") or []
    }
    if "portal-config" not in refs:
        findings.append(f"{where}: envFrom must include the portal-config ConfigMap")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    if not any(
        _selects(s["spec"].get("selector") and {"matchLabels": s["spec"]["selector"]}, labels)
        for s in target.of_kind("Service")
    ):
        findings.append(f"{where}: no Service selects its pods")
    hpas = [
        h
        for h in target.of_kind("HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"].get("name") == name
    ]
    scaled = [
        o for o in target.of_kind("ScaledObject") if o["spec"]["scaleTargetRef"].get("name") == name
    ]
    if not hpas and not scaled:
        findings.append(f"{where}: no HorizontalPodAutoscaler or KEDA ScaledObject targets it")
    elif hpas and scaled:
        findings.append(
            f"{where}: both a HorizontalPodAutoscaler and a KEDA ScaledObject (which makes "
            "its own HPA) target it: they would fight over the replica count"
        )
    for obj in scaled:
        top = obj["spec"].get("maxReplicaCount", 100)
        if top > EVENT_PARTITIONS:
            findings.append(
                f"ScaledObject/{obj['metadata']['name']}: maxReplicaCount {top} exceeds the "
                f"{EVENT_PARTITIONS} partitions of a topic"
            )
    if not any(
        _selects(p["spec"].get("selector"), labels) for p in target.of_kind("PodDisruptionBudget")
    ):
        findings.append(f"{where}: no PodDisruptionBudget selects its pods")
    return findings


def deny_all_baseline(target: Target) -> list[str]:
    """A deny-all NetworkPolicy (both directions, no rule) selects every portal pod."""
    deny_all = [
        np
        for np in target.of_kind("NetworkPolicy")
        if set(np["spec"].get("policyTypes") or []) >= {"Ingress", "Egress"}
        and not np["spec"].get("ingress")
        and not np["spec"].get("egress")
    ]
    findings = []
    for dep in target.of_kind("Deployment"):
        if _label(dep, "app.kubernetes.io/part-of") != "guardian-portal":
            continue
        labels = dep["spec"]["template"]["metadata"].get("labels") or {}
        if not any(_selects(np["spec"].get("podSelector"), labels) for np in deny_all):
            findings.append(
                f"Deployment/{dep['metadata']['name']}: no deny-all NetworkPolicy selects its "
                "pods (include components/network-policies)"
            )
    return findings


def district_policy(target: Target) -> list[str]:
    """The district-policy ConfigMap passes the services' own policy validation."""
    cm = target.named("ConfigMap", "district-policy")
    if cm is None:
        return ["ConfigMap/district-policy: missing (DISTRICT_POLICY_FILE)"]
    files = cm.get("data") or {}
    if "district-policy.yaml" not in files:
        return ["ConfigMap/district-policy: no key district-policy.yaml"]
    try:
        from shared.runtime.policy import PolicyError, load_policy
    except ImportError:  # the services' policy model is not there: nothing to check with
        return []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "district-policy.yaml"
        path.write_text(files["district-policy.yaml"], encoding="utf-8")
        try:
            load_policy(path)
        except PolicyError as exc:
            return [
                f"ConfigMap/district-policy: {str(exc).replace(str(path), 'district-policy.yaml')}"
            ]
    return []


# --- clock control -------------------------------------------------------------------


def clock_control_off(target: Target) -> list[str]:
    """SCHEDULER_CLOCK_CONTROL is absent or false everywhere in ``target``."""
    findings = []
    for cm in target.of_kind("ConfigMap"):
        value = (cm.get("data") or {}).get("SCHEDULER_CLOCK_CONTROL")
        if value is not None and str(value).strip().lower() not in FALSE_VALUES:
            findings.append(
                f"ConfigMap/{cm['metadata']['name']}: SCHEDULER_CLOCK_CONTROL={value!r} "
                f"enables the test clock in {target.name}"
            )
    for kind in ("Deployment", "StatefulSet", "Job", "CronJob", "Pod"):
        for doc in target.of_kind(kind):
            spec = doc.get("spec", {})
            if kind == "CronJob":
                spec = spec.get("jobTemplate", {}).get("spec", {})
            pod = spec if kind == "Pod" else spec.get("template", {}).get("spec", {})
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                for e in c.get("env") or []:
                    if e.get("name") != "SCHEDULER_CLOCK_CONTROL":
                        continue
                    if (
                        "valueFrom" in e
                        or str(e.get("value", "")).strip().lower() not in FALSE_VALUES
                    ):
                        findings.append(
                            f"{kind}/{doc['metadata']['name']}: SCHEDULER_CLOCK_CONTROL must "
                            f"not be enabled in {target.name}"
                        )
    return findings


def environment_is(target: Target, expected: str) -> list[str]:
    """The shared ConfigMap says ENVIRONMENT=<expected>."""
    cm = target.named("ConfigMap", "portal-config")
    value = ((cm or {}).get("data") or {}).get("ENVIRONMENT")
    if value != expected:
        return [f"ConfigMap/portal-config: ENVIRONMENT is {value!r}, expected {expected!r}"]
    return []


# --- Kafka catalog -------------------------------------------------------------------


def _acls(user: Doc) -> list[Doc]:
    return [
        a
        for a in ((user.get("spec") or {}).get("authorization") or {}).get("acls") or []
        if a.get("type", "allow") == "allow"
    ]


def _matches(acl: Doc, resource_type: str, name: str) -> bool:
    res = acl["resource"]
    if res.get("type") != resource_type:
        return False
    pattern = res.get("patternType", "literal")
    rname = res.get("name", "")
    if pattern == "prefix":
        return name.startswith(rname)
    return rname in (name, "*")


def _granted(user: Doc, resource_type: str, name: str, ops: set[str]) -> bool:
    return any(
        _matches(a, resource_type, name) and ops & set(a.get("operations") or [])
        for a in _acls(user)
    )


def _literal_topics(user: Doc, ops: set[str]) -> set[str]:
    return {
        a["resource"]["name"]
        for a in _acls(user)
        if a["resource"].get("type") == "topic"
        and a["resource"].get("patternType", "literal") == "literal"
        and ops & set(a.get("operations") or [])
    }


def _broad_topic_grants(user: Doc, ops: set[str]) -> list[str]:
    return [
        f"{a['resource'].get('patternType', 'literal')}:{a['resource'].get('name')}"
        for a in _acls(user)
        if a["resource"].get("type") == "topic"
        and ops & set(a.get("operations") or [])
        and (a["resource"].get("patternType") == "prefix" or a["resource"].get("name") == "*")
    ]


def kafka_catalog(
    target: Target, catalog: Catalog, *, replicas: int | None, min_insync: int | None
) -> list[str]:
    """KafkaTopics and KafkaUsers agree with the topic catalog."""
    findings: list[str] = []
    kafkas = [k["metadata"]["name"] for k in target.of_kind("Kafka")]
    if len(kafkas) != 1:
        return [f"expected exactly one Kafka cluster, found {kafkas}"]
    cluster = kafkas[0]
    # The services read and write `<KAFKA_TOPIC_PREFIX><Topic>` and consume in group
    # `<KAFKA_TOPIC_PREFIX><service>`: the topics and ACLs must carry the same prefix
    # (components/kafka-topic-prefix puts it everywhere).
    cm = target.named("ConfigMap", "portal-config")
    prefix = str(((cm or {}).get("data") or {}).get("KAFKA_TOPIC_PREFIX") or "")
    catalog = catalog.prefixed(prefix)
    for obj in target.of_kind("ScaledObject"):
        owner = obj["spec"]["scaleTargetRef"].get("name")
        for trigger in obj["spec"].get("triggers") or []:
            group = (trigger.get("metadata") or {}).get("consumerGroup")
            if trigger.get("type") == "kafka" and group != f"{prefix}{owner}":
                findings.append(
                    f"ScaledObject/{obj['metadata']['name']}: consumerGroup {group!r}, the "
                    f"service consumes in {prefix + str(owner)!r} (KAFKA_TOPIC_PREFIX)"
                )
    for doc in (
        target.of_kind("KafkaTopic") + target.of_kind("KafkaUser") + target.of_kind("KafkaNodePool")
    ):
        if _label(doc, "strimzi.io/cluster") != cluster:
            findings.append(
                f"{doc['kind']}/{doc['metadata']['name']}: label strimzi.io/cluster must be "
                f"{cluster!r}"
            )

    # Topics: exactly the catalog and its DLQs.
    topics: dict[str, Doc] = {}
    for doc in target.of_kind("KafkaTopic"):
        name = doc["spec"].get("topicName") or doc["metadata"]["name"]
        if name in topics:
            findings.append(f"KafkaTopic {name}: defined twice")
        topics[name] = doc
    expected = catalog.all_topics()
    for name in expected:
        if name not in topics:
            findings.append(f"KafkaTopic {name}: missing (catalog topic without a KafkaTopic)")
    for name in sorted(set(topics) - set(expected)):
        findings.append(f"KafkaTopic {name}: not in the catalog (shared/contracts/topics.py)")
    for name, doc in topics.items():
        spec = doc["spec"]
        if replicas is not None and spec.get("replicas") != replicas:
            findings.append(
                f"KafkaTopic {name}: replicas {spec.get('replicas')}, expected {replicas}"
            )
        isr = (spec.get("config") or {}).get("min.insync.replicas")
        if min_insync is not None and isr is not None and int(isr) != min_insync:
            findings.append(f"KafkaTopic {name}: min.insync.replicas {isr}, expected {min_insync}")
    if replicas is not None:
        config = target.of_kind("Kafka")[0]["spec"]["kafka"].get("config") or {}
        for key, want in (
            ("default.replication.factor", replicas),
            ("min.insync.replicas", min_insync),
        ):
            if config.get(key) != want:
                findings.append(f"Kafka/{cluster}: {key} is {config.get(key)}, expected {want}")

    # Users: one per service, plus the SIS; nothing else.
    users = {u["metadata"]["name"]: u for u in target.of_kind("KafkaUser")}
    allowed = set(catalog.services) | {SIS_USER}
    for name in sorted(set(users) - allowed):
        findings.append(f"KafkaUser/{name}: not a service of the catalog nor the SIS user")
    for name, user in users.items():
        auth = ((user.get("spec") or {}).get("authentication") or {}).get("type")
        if auth != "scram-sha-512":
            findings.append(f"KafkaUser/{name}: authentication must be scram-sha-512, not {auth}")
        if ((user.get("spec") or {}).get("authorization") or {}).get("type") != "simple":
            findings.append(f"KafkaUser/{name}: authorization must be `simple` ACLs")

    for service in catalog.services:
        found = users.get(service)
        if found is None:
            findings.append(f"KafkaUser/{service}: missing (service of the catalog)")
            continue
        user = found
        consumed = set(catalog.consumed_by(service))
        read = _literal_topics(user, READ_OPS)
        if read != consumed:
            if consumed - read:
                findings.append(
                    f"KafkaUser/{service}: cannot read {sorted(consumed - read)} it consumes"
                )
            if read - consumed:
                findings.append(
                    f"KafkaUser/{service}: may read {sorted(read - consumed)} it does not consume"
                )
        for grant in _broad_topic_grants(user, READ_OPS | WRITE_OPS):
            findings.append(f"KafkaUser/{service}: broad topic ACL {grant} (name topics literally)")
        writes = set(catalog.produced_by(service)) | {catalog.dlq(t) for t in consumed}
        written = _literal_topics(user, WRITE_OPS)
        if written != writes:
            if writes - written:
                findings.append(f"KafkaUser/{service}: cannot write {sorted(writes - written)}")
            if written - writes:
                findings.append(
                    f"KafkaUser/{service}: may write {sorted(written - writes)} it does not produce"
                )
        group = f"{prefix}{service}"
        if consumed and not _granted(user, "group", group, READ_OPS):
            findings.append(f"KafkaUser/{service}: no Read ACL on its consumer group {group!r}")
        for acl in _acls(user):
            res = acl["resource"]
            if res.get("type") == "group" and (
                res.get("name") != group or res.get("patternType", "literal") != "literal"
            ):
                findings.append(
                    f"KafkaUser/{service}: group ACL {res.get('name')!r} "
                    f"({res.get('patternType', 'literal')}) beyond its own group"
                )

    # Secret-bearing topics: the notifier reads them; nobody reads their dead letters.
    for secret in sorted(catalog.secret_topics):
        for name, user in users.items():
            if name != "notifier" and _granted(user, "topic", secret, READ_OPS):
                findings.append(f"KafkaUser/{name}: may read secret-bearing topic {secret}")
            if _granted(user, "topic", catalog.dlq(secret), READ_OPS):
                findings.append(
                    f"KafkaUser/{name}: may read {catalog.dlq(secret)} (secret-bearing)"
                )
        if "notifier" in users and not _granted(users["notifier"], "topic", secret, READ_OPS):
            findings.append(f"KafkaUser/notifier: cannot read {secret}")

    # The SIS: reads exactly the public link topics, in groups sis-*, writes nothing.
    sis = users.get(SIS_USER)
    if sis is None:
        findings.append(f"KafkaUser/{SIS_USER}: missing (SIS integration user)")
    else:
        read = {t for t in catalog.all_topics() if _granted(sis, "topic", t, READ_OPS)}
        if read != set(catalog.sis_topics):
            findings.append(
                f"KafkaUser/{SIS_USER}: reads {sorted(read)}, must read exactly "
                f"{sorted(catalog.sis_topics)}"
            )
        for grant in _broad_topic_grants(sis, READ_OPS | WRITE_OPS):
            findings.append(f"KafkaUser/{SIS_USER}: broad topic ACL {grant}")
        if _literal_topics(sis, WRITE_OPS | {"Create", "Delete", "Alter", "AlterConfigs"}):
            findings.append(f"KafkaUser/{SIS_USER}: must not write or alter any topic")
        groups = [a["resource"] for a in _acls(sis) if a["resource"].get("type") == "group"]
        if groups != [{"type": "group", "name": SIS_GROUP_PREFIX, "patternType": "prefix"}]:
            findings.append(
                f"KafkaUser/{SIS_USER}: group ACLs must be exactly prefix {SIS_GROUP_PREFIX!r}"
            )
        if any(a["resource"].get("type") in ("cluster", "transactionalId") for a in _acls(sis)):
            findings.append(f"KafkaUser/{SIS_USER}: no cluster or transactionalId ACLs")

    # Each service connects as its own KafkaUser.
    for dep in target.of_kind("Deployment"):
        name = dep["metadata"]["name"]
        if name not in catalog.services:
            continue
        env = {e["name"]: e for e in _pod(dep)["containers"][0].get("env") or []}
        if (env.get("KAFKA_SASL_USERNAME") or {}).get("value") != name:
            findings.append(f"Deployment/{name}: KAFKA_SASL_USERNAME must be {name!r}")
        ref = ((env.get("KAFKA_SASL_PASSWORD") or {}).get("valueFrom") or {}).get(
            "secretKeyRef"
        ) or {}
        if ref.get("name") != name:
            findings.append(
                f"Deployment/{name}: KAFKA_SASL_PASSWORD must come from Secret {name!r}"
            )
    return findings


def mongodb_users(target: Target, services: Iterable[str]) -> list[str]:
    """Each service's MONGODB_URI is a user allowed only on the service's database."""
    findings: list[str] = []
    clusters = target.of_kind("MongoDBCommunity")
    if not clusters:
        return findings
    users = {
        u.get("connectionStringSecretName"): u for c in clusters for u in c["spec"].get("users", [])
    }
    for dep in target.of_kind("Deployment"):
        name = dep["metadata"]["name"]
        if name not in services:
            continue
        env = {e["name"]: e for e in _pod(dep)["containers"][0].get("env") or []}
        ref = ((env.get("MONGODB_URI") or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        user = users.get(ref.get("name"))
        if user is None:
            findings.append(
                f"Deployment/{name}: MONGODB_URI Secret {ref.get('name')!r} is no "
                "MongoDBCommunity user's connectionStringSecretName"
            )
            continue
        dbs = {r.get("db") for r in user.get("roles", [])}
        if dbs != {name}:
            findings.append(
                f"MongoDB user {user['name']}: roles on {sorted(dbs)}, only {name!r} allowed"
            )
    return findings


#: Paths never routed from a Gateway: operations endpoints and API documents.
OPS_PATHS = ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/asyncapi")
#: Path prefixes of the staff and district-admin APIs: never on a public Gateway.
STAFF_PATHS = ("/v1/staff", "/v1/schools", "/v1/link-requests", "/v1/roster")
#: Services clients may reach through a Gateway (the others have no client API).
ROUTABLE = {"identity", "linking", "web"}
#: The Gateway the internet reaches (components/gateway).
PUBLIC_GATEWAY = "portal-public"


def _matched_prefixes(match: Doc) -> tuple[str, str, str | None]:
    path = match.get("path") or {"type": "PathPrefix", "value": "/"}
    return path.get("type", "PathPrefix"), path.get("value", "/"), match.get("method")


def routes(target: Target) -> list[str]:
    """HTTPRoutes: only identity, linking and the web front end behind a Gateway, on their
    Service ports; nothing of the operations endpoints; on the public Gateway, none of the
    staff API and no revocation (POST /v1/links/{id}/revoke is staff-only)."""
    found: list[str] = []
    services = {d["metadata"]["name"]: d for d in target.of_kind("Service")}
    for route in target.of_kind("HTTPRoute"):
        name = route["metadata"]["name"]
        spec = route.get("spec") or {}
        public = any(p.get("name") == PUBLIC_GATEWAY for p in spec.get("parentRefs") or [])
        for i, rule in enumerate(spec.get("rules") or []):
            where = f"HTTPRoute/{name} rule {i}"
            for ref in rule.get("backendRefs") or []:
                backend = ref.get("name")
                if ref.get("kind", "Service") != "Service" or backend not in ROUTABLE:
                    found.append(f"{where}: routes to {backend!r}, which has no client API")
                    continue
                svc = services.get(backend)
                if svc is None and backend != "web":  # the web front end is not shipped yet
                    found.append(f"{where}: no Service {backend!r}")
                elif svc is not None:
                    ports = {p.get("port") for p in svc["spec"].get("ports") or []}
                    if ref.get("port") not in ports:
                        found.append(f"{where}: Service {backend} has no port {ref.get('port')}")
            for match in rule.get("matches") or [{}]:
                kind, value, method = _matched_prefixes(match)
                if kind not in ("Exact", "PathPrefix"):
                    found.append(f"{where}: {kind} path match (use Exact or PathPrefix)")
                    continue
                if ref_names := {r.get("name") for r in rule.get("backendRefs") or []}:
                    if ref_names <= {"web"} and value == "/":
                        continue  # the front end's pages: the services are not behind it
                for ops in OPS_PATHS:
                    if _overlaps(kind, value, ops):
                        found.append(f"{where}: {value} exposes {ops}")
                if not public:
                    continue
                for staff in STAFF_PATHS:
                    if _overlaps(kind, value, staff):
                        found.append(f"{where}: public route {value} reaches staff API {staff}")
                if (
                    kind == "PathPrefix"
                    and _overlaps(kind, value, "/v1/links/x/revoke")
                    and method in (None, "POST")
                ):
                    found.append(f"{where}: public route {value} reaches POST .../revoke (staff)")
    return found


def _overlaps(kind: str, value: str, path: str) -> bool:
    """Whether a match of ``kind``/``value`` takes requests for ``path`` or below it."""
    if kind == "Exact":
        return value == path or value.startswith(path.rstrip("/") + "/")
    prefix = value.rstrip("/")
    return (
        path == prefix
        or path.startswith(prefix + "/")
        or prefix.startswith(path.rstrip("/") + "/")
        or prefix == ""
    )


def _referenced_secrets(target: Target) -> dict[str, str]:
    """Secret name -> who needs it: the Deployments' env, envFrom and volumes (optional
    references aside) and the MongoDB users' passwords."""
    needed: dict[str, str] = {}
    for dep in target.of_kind("Deployment"):
        who = f"Deployment/{dep['metadata']['name']}"
        pod = _pod(dep)
        for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
            for src in c.get("envFrom") or []:
                ref = src.get("secretRef")
                if ref and not ref.get("optional"):
                    needed.setdefault(ref["name"], who)
            for env in c.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    needed.setdefault(ref["name"], who)
        for vol in pod.get("volumes") or []:
            ref = vol.get("secret")
            if ref and not ref.get("optional"):
                needed.setdefault(ref["secretName"], who)
    for mdb in target.of_kind("MongoDBCommunity"):
        for user in mdb["spec"].get("users") or []:
            ref = user.get("passwordSecretRef") or {}
            if ref.get("name"):
                needed.setdefault(ref["name"], f"MongoDBCommunity/{mdb['metadata']['name']}")
    return needed


def _operator_secrets(target: Target) -> set[str]:
    """Secrets the Strimzi and MongoDB operators and cert-manager write themselves."""
    written = {f"{k['metadata']['name']}-cluster-ca-cert" for k in target.of_kind("Kafka")}
    written |= {c["spec"]["secretName"] for c in target.of_kind("Certificate")}
    written |= {u["metadata"]["name"] for u in target.of_kind("KafkaUser")}
    for mdb in target.of_kind("MongoDBCommunity"):
        for user in mdb["spec"].get("users") or []:
            if user.get("connectionStringSecretName"):
                written.add(user["connectionStringSecretName"])
    return written


def external_secrets(target: Target) -> list[str]:
    """With components/external-secrets, every Secret the portal needs comes from an
    ExternalSecret or an operator: nothing is left to create by hand."""
    produced = {
        ((es.get("spec") or {}).get("target") or {}).get("name") or es["metadata"]["name"]
        for es in target.of_kind("ExternalSecret")
    }
    if not produced:
        return []
    written = _operator_secrets(target)
    return [
        f"Secret {name} (needed by {who}): neither an operator nor an ExternalSecret writes it"
        for name, who in sorted(_referenced_secrets(target).items())
        if name not in produced and name not in written
    ]


def mongodb_tls(target: Target) -> list[str]:
    """Production: TLS required on the replica set, and every service trusts its CA."""
    found: list[str] = []
    for mdb in target.of_kind("MongoDBCommunity"):
        tls = (mdb["spec"].get("security") or {}).get("tls") or {}
        if not tls.get("enabled") or tls.get("optional"):
            found.append(
                f"MongoDBCommunity/{mdb['metadata']['name']}: TLS must be enabled and "
                "required in production (components/mongodb-tls)"
            )
        elif target.of_kind("Deployment"):
            for dep in target.of_kind("Deployment"):
                if dep["metadata"]["name"] not in SERVICE_PORTS:
                    continue
                env = {e["name"] for e in _pod(dep)["containers"][0].get("env") or []}
                if "MONGODB_TLS_CA_FILE" not in env:
                    found.append(
                        f"Deployment/{dep['metadata']['name']}: MONGODB_TLS_CA_FILE unset "
                        "while MongoDB requires TLS"
                    )
    return found


# --- OpenShift ------------------------------------------------------------------------

#: Volume types OpenShift's restricted-v2 SCC admits.
RESTRICTED_V2_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
#: Fields restricted-v2 assigns itself from the namespace's ranges: a pod asking for its
#: own value outside them is refused, so the portal sets none.
SCC_ASSIGNED = ("runAsUser", "runAsGroup", "fsGroup", "supplementalGroups")


def _pod_templates(target: Target) -> list[tuple[str, Doc]]:
    found: list[tuple[str, Doc]] = []
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"):
        for doc in target.of_kind(kind):
            spec = doc.get("spec") or {}
            if kind == "CronJob":
                spec = (spec.get("jobTemplate") or {}).get("spec") or {}
            found.append(
                (f"{kind}/{doc['metadata']['name']}", (spec.get("template") or {}).get("spec", {}))
            )
    return found


def openshift_restricted(target: Target) -> list[str]:
    """Every pod template of the target is admitted by OpenShift's restricted-v2 SCC: no
    fixed uid, gid, fsGroup or supplemental groups (the SCC assigns them), non-root, no
    privilege escalation, capabilities dropped (NET_BIND_SERVICE at most added), no host
    namespaces, RuntimeDefault seccomp, admitted volume types only."""
    found: list[str] = []
    for where, pod in _pod_templates(target):
        psc = pod.get("securityContext") or {}
        for key in SCC_ASSIGNED:
            if key in psc:
                found.append(f"{where}: pod securityContext.{key} set (restricted-v2 assigns it)")
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(key):
                found.append(f"{where}: {key} (refused by restricted-v2)")
        for vol in pod.get("volumes") or []:
            kinds = set(vol) - {"name"}
            if not kinds <= RESTRICTED_V2_VOLUMES:
                found.append(f"{where}: volume {vol['name']} of type {sorted(kinds)} refused")
        seccomp = (psc.get("seccompProfile") or {}).get("type", "RuntimeDefault")
        if seccomp != "RuntimeDefault":
            found.append(f"{where}: seccompProfile {seccomp} (restricted-v2: RuntimeDefault)")
        for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
            cw = f"{where} container {c['name']}"
            sc = c.get("securityContext") or {}
            for key in ("runAsUser", "runAsGroup"):
                if key in sc:
                    found.append(f"{cw}: securityContext.{key} set (restricted-v2 assigns it)")
            if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
                found.append(f"{cw}: runAsNonRoot must be true")
            if sc.get("allowPrivilegeEscalation") is not False or sc.get("privileged"):
                found.append(f"{cw}: privilege escalation must be off")
            caps = sc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                found.append(f"{cw}: capabilities must drop ALL")
            if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
                found.append(f"{cw}: adds capabilities {caps.get('add')}")
    return found


# --- OpenTelemetry Collector ------------------------------------------------------------

_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")


def otel_collector(target: Target) -> list[str]:
    """The collector's configuration holds together: every component a pipeline names is
    configured, and every ``${env:NAME}`` it reads (components/otel-export's endpoint) is
    set, non-empty, in the collector's environment."""
    cm = target.named("ConfigMap", "otel-collector-config")
    dep = target.named("Deployment", "otel-collector")
    if cm is None or dep is None:
        return []
    text = str((cm.get("data") or {}).get("config.yaml", ""))
    try:
        config = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        return [f"ConfigMap/otel-collector-config: config.yaml is not YAML: {exc}"]
    found: list[str] = []
    service = config.get("service") or {}
    for name, pipeline in (service.get("pipelines") or {}).items():
        for section in ("receivers", "processors", "exporters"):
            for component in (pipeline or {}).get(section) or []:
                if component not in (config.get(section) or {}):
                    found.append(
                        f"ConfigMap/otel-collector-config: pipeline {name} uses {section[:-1]} "
                        f"{component!r}, which is not configured"
                    )
    for extension in service.get("extensions") or []:
        if extension not in (config.get("extensions") or {}):
            found.append(f"ConfigMap/otel-collector-config: extension {extension!r} not configured")
    container = _pod(dep)["containers"][0]
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        ref = (src.get("configMapRef") or {}).get("name")
        source = target.named("ConfigMap", _base_name(ref or "")) if ref else None
        for key, value in ((source or {}).get("data") or {}).items():
            env[key] = str(value)
    for item in container.get("env") or []:
        env[item["name"]] = str(item.get("value", "<from a reference>"))
    for name in sorted(set(_ENV_REF.findall(text))):
        if not env.get(name, "").strip() and f"${{env:{name}:-" not in text:
            found.append(
                f"Deployment/otel-collector: ${{env:{name}}} of the collector's configuration "
                "is not set (components/otel-export: the overlay's otel-export ConfigMap)"
            )
    return found
