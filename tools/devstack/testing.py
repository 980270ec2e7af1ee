"""Helpers for integration tests running against the dev stack.

Typical use in a ``conftest.py``::

    from tools.devstack import testing

    @pytest.fixture(scope="session")
    def stack() -> testing.StackInfo:
        return testing.ensure_stack()

    def test_sends_welcome_mail(stack):
        testing.clear_mail()
        ...  # trigger the notifier
        mail = testing.wait_for_mail(to="ana@example.test", subject_contains="Welcome")
        assert "verify" in mail.text

Every function is synchronous and bounded by a deadline (polling at short intervals). They are
safe to call from inside a running event loop (pytest-asyncio) but block it while they wait;
from async code prefer ``await asyncio.to_thread(testing.restart_kafka)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path

from tools.devstack import kafka, procs, stack
from tools.devstack.kafka import HEALTH_TOPIC, run_async
from tools.devstack.paths import (
    HOST,
    KAFKA_BOOTSTRAP,
    MAIL_DIR,
    MONGO_URI,
    SMTP_HTTP_PORT,
    SMTP_PORT,
)
from tools.devstack.smtp_sink import MODES, MailStore

__all__ = [
    "IsolatedKafka",
    "Mail",
    "MailTimeout",
    "StackInfo",
    "assert_no_mail",
    "clear_mail",
    "delete_kafka_topics",
    "ensure_stack",
    "list_mail",
    "reset_mongo",
    "restart_kafka",
    "restart_mongo",
    "set_smtp_mode",
    "smtp_mode",
    "start_kafka",
    "start_mongo",
    "start_smtp",
    "stop_kafka",
    "stop_mongo",
    "stop_smtp",
    "wait_for_mail",
    "wait_for_mails",
]

POLL_INTERVAL = 0.1
_PARSER = BytesParser(policy=policy.default)


class MailTimeout(AssertionError):
    """No matching mail arrived before the deadline (message lists what did arrive)."""


@dataclass(frozen=True)
class StackInfo:
    """Connection settings of the dev stack."""

    kafka_bootstrap: str = KAFKA_BOOTSTRAP
    mongo_uri: str = MONGO_URI
    #: URI with the replica-set name, for clients that want topology discovery
    mongo_rs_uri: str = f"{MONGO_URI}?replicaSet=secantus"
    smtp_host: str = HOST
    smtp_port: int = SMTP_PORT
    inbox_url: str = f"http://{HOST}:{SMTP_HTTP_PORT}"
    mail_dir: Path = MAIL_DIR


def ensure_stack(services: Iterable[str] = stack.ALL, timeout: float | None = None) -> StackInfo:
    """Start whichever of ``services`` is not running and wait until all answer real clients.

    Cheap when everything is already up (one probe per service). ``timeout`` bounds the wait
    for each started server (defaults: Kafka 120 s, Mongo 60 s, SMTP 20 s; a cold Kafka also
    resolves its jars with Maven first).
    """
    names = list(services)
    if timeout is None:
        stack.up(names)
    else:
        for name in names:
            stack.SERVICES[name].start(timeout=timeout)
    return StackInfo()


# --- mail -----------------------------------------------------------------------------------


@dataclass
class Mail:
    """One stored message, parsed."""

    id: str
    path: Path
    raw: bytes
    message: EmailMessage = field(repr=False)

    @classmethod
    def load(cls, path: Path) -> Mail:
        """Parse a ``.eml`` file written by the sink."""
        raw = path.read_bytes()
        message = _PARSER.parsebytes(raw)
        assert isinstance(message, EmailMessage)
        return cls(id=path.stem, path=path, raw=raw, message=message)

    @property
    def subject(self) -> str:
        """Decoded Subject header."""
        return str(self.message.get("Subject", ""))

    @property
    def sender(self) -> str:
        """Decoded From header."""
        return str(self.message.get("From", ""))

    @property
    def envelope_from(self) -> str:
        """SMTP MAIL FROM address."""
        return str(self.message.get("X-Devstack-Envelope-From", ""))

    @property
    def envelope_to(self) -> list[str]:
        """SMTP RCPT TO addresses (includes Bcc)."""
        value = str(self.message.get("X-Devstack-Envelope-To", ""))
        return [a.strip() for a in value.split(",") if a.strip()]

    @property
    def recipients(self) -> set[str]:
        """Lower-cased addresses from the envelope and the To/Cc headers."""
        headers = [str(v) for k in ("To", "Cc") for v in self.message.get_all(k, [])]
        found = {addr.lower() for _name, addr in getaddresses(headers) if addr}
        return found | {a.lower() for a in self.envelope_to}

    def _part(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        if part is None:
            return ""
        content = part.get_content()
        return content if isinstance(content, str) else ""

    @property
    def text(self) -> str:
        """The text/plain body ('' if none)."""
        return self._part("plain")

    @property
    def html(self) -> str:
        """The text/html body ('' if none)."""
        return self._part("html")


def _matches(mail: Mail, to: str | None, subject_contains: str | None) -> bool:
    if to is not None and to.lower() not in mail.recipients:
        return False
    return subject_contains is None or subject_contains in mail.subject


def list_mail(to: str | None = None, subject_contains: str | None = None) -> list[Mail]:
    """Stored messages (oldest first), optionally filtered by recipient / subject substring."""
    result = []
    for path in MailStore(MAIL_DIR).paths():
        try:
            mail = Mail.load(path)
        except FileNotFoundError:  # cleared concurrently
            continue
        if _matches(mail, to, subject_contains):
            result.append(mail)
    return result


def wait_for_mails(
    count: int,
    to: str | None = None,
    subject_contains: str | None = None,
    timeout: float = 10.0,
) -> list[Mail]:
    """Wait until at least ``count`` matching messages are stored; return them (oldest first).

    Raises :class:`MailTimeout` (an AssertionError) listing the stored mail on timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = list_mail(to, subject_contains)
        if len(found) >= count:
            return found
        if time.monotonic() >= deadline:
            seen = [f"{m.subject!r} -> {sorted(m.recipients)}" for m in list_mail()][-20:]
            raise MailTimeout(
                f"expected {count} mail(s) to={to!r} subject~{subject_contains!r} within "
                f"{timeout}s, found {len(found)}; stored: {seen or 'nothing'}"
            )
        time.sleep(POLL_INTERVAL)


def wait_for_mail(
    to: str | None = None, subject_contains: str | None = None, timeout: float = 10.0
) -> Mail:
    """Wait for the first (oldest) stored message matching recipient and subject substring.

    ``to`` matches case-insensitively against envelope recipients and To/Cc addresses.
    """
    return wait_for_mails(1, to, subject_contains, timeout)[0]


def assert_no_mail(
    to: str | None = None, subject_contains: str | None = None, within: float = 1.0
) -> None:
    """Fail if a matching message shows up during the next ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = list_mail(to, subject_contains)
        if found:
            raise AssertionError(f"unexpected mail: {[m.subject for m in found]}")
        if time.monotonic() >= deadline:
            return
        time.sleep(POLL_INTERVAL)


def clear_mail() -> int:
    """Delete every stored message (the mode file is kept); return how many were removed."""
    return MailStore(MAIL_DIR).clear()


def set_smtp_mode(mode: str) -> None:
    """Make the sink ``accept``, ``reject`` (550 at RCPT TO) or ``tempfail`` (451). Immediate."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    MailStore(MAIL_DIR).set_mode(mode)


@contextlib.contextmanager
def smtp_mode(mode: str) -> Iterator[None]:
    """Context manager: switch the sink to ``mode``, back to ``accept`` on exit."""
    set_smtp_mode(mode)
    try:
        yield
    finally:
        set_smtp_mode("accept")


# --- stopping / starting servers -------------------------------------------------------------


def _stop(name: str, timeout: float) -> None:
    service = stack.SERVICES[name]
    service.stop(timeout=timeout)
    if not procs.poll_until(
        lambda: not procs.port_open(HOST, service.port), timeout=timeout, interval=POLL_INTERVAL
    ):
        raise procs.DevstackError(f"[{name}] still accepting connections after stop")


def _start(name: str, timeout: float) -> None:
    stack.SERVICES[name].start(timeout=timeout)


def stop_smtp(timeout: float = 15.0) -> None:
    """Stop the SMTP sink (connections to 1025 are refused afterwards): "mail server down"."""
    _stop("smtp", timeout)


def start_smtp(timeout: float = 20.0) -> None:
    """Start the SMTP sink if needed and wait until it answers."""
    _start("smtp", timeout)


def stop_kafka(timeout: float = 60.0) -> None:
    """Stop the broker (graceful, SIGKILL after ``timeout``)."""
    _stop("kafka", timeout)


def start_kafka(timeout: float = 120.0) -> None:
    """Start the broker and wait until a test produce succeeds."""
    _start("kafka", timeout)


def restart_kafka(timeout: float = 120.0) -> None:
    """Stop and start the broker; topics and committed offsets survive (same data dir)."""
    stop_kafka(min(timeout, 60.0))
    start_kafka(timeout)


def stop_mongo(timeout: float = 30.0) -> None:
    """Stop the MongoDB-protocol server."""
    _stop("mongo", timeout)


def start_mongo(timeout: float = 60.0) -> None:
    """Start the MongoDB-protocol server and wait for ``ping``."""
    _start("mongo", timeout)


def restart_mongo(timeout: float = 60.0) -> None:
    """Stop and start the Mongo server; data persists (same data dir)."""
    stop_mongo(min(timeout, 30.0))
    start_mongo(timeout)


# --- a broker of the test's own ---------------------------------------------------------------


class IsolatedKafka:
    """A second single-node Kafka (KRaft) on free ports with its own data directory, for a
    test that stops the broker: the shared one (127.0.0.1:9092) keeps serving every other
    test. Same jars and settings as the shared broker (``tools/devstack/kafka.py``).

    ``start()`` formats the data directory the first time; ``stop()`` then ``start()``
    keeps topics and committed offsets, like :func:`restart_kafka`.
    """

    def __init__(self, workdir: Path, start_timeout: float = 120.0) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.controller_port = free_port()
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for KAFKA_BOOTSTRAP_SERVERS."""
        return f"{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        """The JVM's output (the broker's own log is ``kafka.log`` beside it)."""
        return self.workdir / "log" / "kafka.out"

    def _java(self) -> list[str]:
        return kafka._java_base(self.workdir / "log")

    def start(self, timeout: float | None = None) -> None:
        """Start the broker and wait until a test produce succeeds."""
        if self._proc is not None and self._proc.poll() is None:
            return
        kafka.resolve_jars()
        data = self.workdir / "data"
        props = self.workdir / "server.properties"
        (self.workdir / "log").mkdir(parents=True, exist_ok=True)
        props.write_text(kafka.server_properties(self.port, self.controller_port, data))
        if not (data / "meta.properties").exists():
            data.mkdir(parents=True, exist_ok=True)
            storage_tool = [*self._java(), "kafka.tools.StorageTool", "format", "--standalone"]
            formatted = subprocess.run(
                [*storage_tool, "-t", kafka._new_cluster_id(), "-c", str(props)],
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            if formatted.returncode != 0:
                raise procs.DevstackError(f"isolated Kafka: format failed: {formatted.stderr}")
        with self.log_path.open("ab") as out:
            self._proc = subprocess.Popen(
                [*self._java(), "kafka.Kafka", str(props)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + (timeout or self.start_timeout)
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise procs.DevstackError(
                    f"isolated Kafka exited ({self._proc.returncode}): "
                    f"{procs.log_tail(self.log_path)}"
                )
            try:
                kafka.probe(self.bootstrap, timeout=5.0)
                return
            except Exception as exc:
                last = f"{type(exc).__name__}: {exc}"
                time.sleep(0.5)
        self.stop()
        raise procs.DevstackError(f"isolated Kafka not ready: {last}")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker (SIGTERM, SIGKILL after ``timeout``); its port refuses after."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        procs.poll_until(lambda: not procs.port_open(HOST, self.port), timeout=10)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --- data reset without restarts -------------------------------------------------------------


def reset_mongo(
    uri: str = MONGO_URI, keep: Iterable[str] = ("admin", "config", "local")
) -> list[str]:
    """Drop every database except ``keep``; return the dropped names."""
    from pymongo import MongoClient

    client: MongoClient[dict[str, object]] = MongoClient(
        uri, directConnection=True, serverSelectionTimeoutMS=5000
    )
    try:
        keep_set = set(keep)
        dropped = [n for n in client.list_database_names() if n not in keep_set]
        for name in dropped:
            client.drop_database(name)
        return dropped
    finally:
        client.close()


def delete_kafka_topics(prefix: str = "", timeout: float = 30.0) -> list[str]:
    """Delete topics whose name starts with ``prefix`` (never internal or health-check ones).

    With the empty prefix every user topic goes. Deletion is asynchronous in Kafka: recreating
    a topic of the same name right away can fail with TOPIC_ALREADY_EXISTS for a moment, so
    this waits until the deleted names disappear from the metadata.
    """

    async def run() -> list[str]:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA_BOOTSTRAP)
        await admin.start()
        try:
            names = [
                t
                for t in await admin.list_topics()
                if t.startswith(prefix) and not t.startswith("__") and t != HEALTH_TOPIC
            ]
            if names:
                await admin.delete_topics(names)
            deadline = time.monotonic() + timeout
            while names and time.monotonic() < deadline:
                if not set(names) & set(await admin.list_topics()):
                    break
                await asyncio.sleep(POLL_INTERVAL)
            return names
        finally:
            await admin.close()

    return run_async(run, timeout + 10)
