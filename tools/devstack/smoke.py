"""End-to-end checks of a running stack with real clients (``python -m tools.devstack smoke``).

* Kafka: create a topic, produce one message and consume it back in a consumer group (aiokafka).
* Mongo: insert/find, a committed and an aborted transaction, a unique-index violation and a
  change stream (pymongo, replica-set URI); documents are left in ``devstack_smoke`` so a
  restart can show persistence (``--check-persisted``).
* SMTP: send with smtplib, read back through the HTTP API.
* Keycloak: sign a staff user in (authorization code + PKCE) and verify the token with the
  realm's JWKS.
"""

from __future__ import annotations

import json
import smtplib
import threading
import time
import urllib.request
import uuid
from email.message import EmailMessage

from tools.devstack.kafka import _quiet_aiokafka, run_async
from tools.devstack.paths import HOST, KAFKA_BOOTSTRAP, MONGO_URI, SMTP_PORT
from tools.devstack.smtp import INBOX_URL

SMOKE_DB = "devstack_smoke"


async def _kafka_roundtrip() -> str:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"devstack-smoke-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA_BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
        producer = AIOKafkaProducer(bootstrap_servers=KAFKA_BOOTSTRAP, acks="all")
        await producer.start()
        try:
            meta = await producer.send_and_wait(topic, b"hello", key=b"k1")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=KAFKA_BOOTSTRAP,
            group_id=f"{topic}-group",
            auto_offset_reset="earliest",
        )
        started = time.monotonic()
        await consumer.start()
        try:
            msg = await consumer.getone()
            await consumer.commit()
        finally:
            await consumer.stop()
        assert msg.value == b"hello" and msg.key == b"k1", msg
        return (
            f"produced to {topic}[{meta.partition}]@{meta.offset}, consumed in group "
            f"after {time.monotonic() - started:.1f}s"
        )
    finally:
        await admin.delete_topics([topic])
        await admin.close()


def check_kafka() -> str:
    """Produce and consume one message through a consumer group."""
    with _quiet_aiokafka():
        return run_async(_kafka_roundtrip, 90)


def check_mongo() -> str:
    """Insert/find, transactions, unique index and a change stream."""
    from pymongo import MongoClient
    from pymongo.errors import DuplicateKeyError

    client: MongoClient[dict[str, object]] = MongoClient(
        f"{MONGO_URI}?replicaSet=secantus", serverSelectionTimeoutMS=5000
    )
    try:
        db = client[SMOKE_DB]
        users = db["users"]
        users.create_index("email", unique=True)
        marker = uuid.uuid4().hex
        users.insert_one({"email": f"{marker}@example.test", "run": marker})
        assert users.find_one({"run": marker}) is not None
        try:
            users.insert_one({"email": f"{marker}@example.test"})
        except DuplicateKeyError:
            pass
        else:
            raise AssertionError("unique index not enforced")
        events: list[str] = []
        ready = threading.Event()

        def watch() -> None:
            with db["ledger"].watch(max_await_time_ms=200) as stream:
                ready.set()
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and len(events) < 2:
                    change = stream.try_next()
                    if change is not None:
                        events.append(str(change["operationType"]))

        watcher = threading.Thread(target=watch)
        watcher.start()
        ready.wait(5)
        with client.start_session() as session:
            session.with_transaction(
                lambda s: (
                    db["ledger"].insert_one({"run": marker, "n": 1}, session=s),
                    db["ledger"].insert_one({"run": marker, "n": 2}, session=s),
                )
            )
        with client.start_session() as session:
            session.start_transaction()
            db["ledger"].insert_one({"run": marker, "n": 99}, session=session)
            session.abort_transaction()
        committed = db["ledger"].count_documents({"run": marker})
        assert committed == 2, committed
        watcher.join(15)
        assert events == ["insert", "insert"], events
        total = users.count_documents({})
        return (
            f"insert/find ok, txn committed 2 + aborted 1 ok, unique index ok, change stream "
            f"{events}; {SMOKE_DB}.users now holds {total} doc(s)"
        )
    finally:
        client.close()


def check_mongo_persisted() -> int:
    """Number of documents left in ``devstack_smoke.users`` by earlier runs."""
    from pymongo import MongoClient

    client: MongoClient[dict[str, object]] = MongoClient(MONGO_URI, serverSelectionTimeoutMS=5000)
    try:
        return client[SMOKE_DB]["users"].count_documents({})
    finally:
        client.close()


def check_smtp() -> str:
    """Send a message with smtplib and find it through the HTTP API."""
    token = uuid.uuid4().hex
    msg = EmailMessage()
    msg["From"] = "portal@example.test"
    msg["To"] = "guardian@example.test"
    msg["Subject"] = f"devstack smoke {token}"
    msg.set_content("Hello from the devstack smoke test.\n")
    with smtplib.SMTP(HOST, SMTP_PORT, timeout=10) as client:
        client.send_message(msg)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with urllib.request.urlopen(  # noqa: S310 - fixed local URL
            f"{INBOX_URL}/api/messages", timeout=5
        ) as response:
            items = json.loads(response.read())
        found = [m for m in items if token in m["subject"]]
        if found:
            with urllib.request.urlopen(  # noqa: S310 - fixed local URL
                f"{INBOX_URL}/api/messages/{found[0]['id']}", timeout=5
            ) as response:
                raw = response.read()
            assert b"Hello from the devstack smoke test." in raw
            return f"sent and read back {found[0]['id']} via {INBOX_URL}/api/messages"
        time.sleep(0.1)
    raise AssertionError("mail not visible through the HTTP API")


def check_keycloak() -> str:
    """Sign school A's secretary in through the login page (code + PKCE) and read the
    token's claims; the discovery document's JWKS holds the token's key."""
    import jwt

    from tools.devstack import keycloak

    token = keycloak.sign_in("secretary.a")["access_token"]
    jwks = jwt.PyJWKClient(keycloak.discovery()["jwks_uri"])
    claims = jwt.decode(
        token,
        jwks.get_signing_key_from_jwt(token).key,
        algorithms=["RS256"],
        audience=keycloak.CONSOLE_CLIENT_ID,
    )
    assert claims["schools"] == [keycloak.SCHOOL_A], claims
    return f"secretary.a signed in: iss {claims['iss']}, schools {claims['schools']}"


def run_all() -> bool:
    """Run every check, print results, return True when all passed."""
    ok = True
    for name, check in (
        ("kafka", check_kafka),
        ("mongo", check_mongo),
        ("smtp", check_smtp),
        ("keycloak", check_keycloak),
    ):
        started = time.monotonic()
        try:
            detail = check()
        except Exception as exc:
            ok = False
            print(f"[smoke] {name}: FAILED {type(exc).__name__}: {exc}")
        else:
            print(f"[smoke] {name}: ok in {time.monotonic() - started:.1f}s: {detail}")
    return ok
