"""SMTP sink for development and tests: accepts mail on 127.0.0.1:1025 and stores ``.eml`` files.

Run as its own process::

    python -m tools.devstack.smtp_sink --host 127.0.0.1 --port 1025 --http-port 8025 \
        --maildir var/mail

Storage
    every accepted message becomes ``<maildir>/<UTC timestamp>-<uuid hex>.eml`` (written to a
    hidden temp file, then renamed, so readers never see half a message). The file is the
    message as received, preceded by two trace headers with the SMTP envelope:
    ``X-Devstack-Envelope-From`` and ``X-Devstack-Envelope-To`` (comma separated; includes Bcc
    recipients). The message id used by the HTTP API is the file name without ``.eml``.

Failure modes for tests
    the sink reads ``<maildir>/.mode`` on every transaction (no restart needed). Content
    ``accept`` (default, also when the file is missing), ``reject`` (every RCPT TO answered
    with a permanent ``550 5.7.1``), ``tempfail`` (``451 4.3.0``) or ``slow-ack`` (the
    message is stored at once, the ``250`` follows ``SLOW_ACK_SECONDS`` later: a client
    killed in between has delivered a mail it never heard about). The default when the
    file is absent comes from ``--mode`` / ``DEVSTACK_SMTP_MODE``. Refusals happen at RCPT
    TO, so clients see ``SMTPRecipientsRefused`` carrying the code. AUTH (PLAIN/LOGIN) is
    offered and accepts any credentials (never logged); there is no TLS/STARTTLS.

HTTP inbox (read-only) on ``--http-port``
    ``GET /`` HTML index; ``GET /api/messages`` JSON list, newest first, of
    ``{id, from, to, subject, date, envelope_from, received, size}``;
    ``GET /api/messages/<id>`` the raw stored message (``text/plain; charset=utf-8``);
    ``GET /api/health`` ``{"status": "ok", "mode": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import html
import json
import logging
import os
import re
import signal
import threading
import uuid
from email import policy
from email.parser import BytesParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

log = logging.getLogger("devstack.smtp_sink")

MODES = ("accept", "reject", "tempfail", "slow-ack")
SLOW_ACK_SECONDS = 5.0
MODE_FILE_NAME = ".mode"
REJECT_REPLY = "550 5.7.1 Rejected by devstack SMTP sink (mode=reject)"
TEMPFAIL_REPLY = "451 4.3.0 Temporarily unavailable: devstack SMTP sink (mode=tempfail)"
_ID_RE = re.compile(r"^[0-9A-Za-z._-]{1,200}$")
_HEADER_PARSER = BytesParser(policy=policy.default)


def _env_default_mode() -> str:
    mode = os.environ.get("DEVSTACK_SMTP_MODE", "accept").strip().lower()
    return mode if mode in MODES else "accept"


class MailStore:
    """A directory of ``.eml`` files: atomic writes, listing, lookup and mode control."""

    def __init__(self, directory: Path, default_mode: str = "accept") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        if default_mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {default_mode!r}")
        self.default_mode = default_mode

    @property
    def mode_file(self) -> Path:
        """Path of the control file holding accept / reject / tempfail."""
        return self.directory / MODE_FILE_NAME

    def mode(self) -> str:
        """Current mode: the control file's content if valid, else the default mode."""
        try:
            text = self.mode_file.read_text().strip().lower()
        except OSError:
            return self.default_mode
        if text in MODES:
            return text
        log.warning("ignoring invalid mode %r in %s", text, self.mode_file)
        return self.default_mode

    def set_mode(self, mode: str) -> None:
        """Atomically write the control file."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        tmp = self.directory / f".mode.{uuid.uuid4().hex}.tmp"
        tmp.write_text(mode + "\n")
        tmp.replace(self.mode_file)

    def save(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> str:
        """Store one message atomically; return its id (file name without ``.eml``)."""
        now = dt.datetime.now(dt.UTC)
        message_id = f"{now:%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex}"
        trace = (
            f"X-Devstack-Envelope-From: {_one_line(mail_from)}\r\n"
            f"X-Devstack-Envelope-To: {_one_line(', '.join(rcpt_tos))}\r\n"
        ).encode()
        tmp = self.directory / f".{message_id}.tmp"
        with tmp.open("wb") as fh:
            fh.write(trace)
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.directory / f"{message_id}.eml")
        return message_id

    def paths(self) -> list[Path]:
        """Stored message files, oldest first (names sort chronologically)."""
        return sorted(p for p in self.directory.glob("*.eml") if not p.name.startswith("."))

    def path_for(self, message_id: str) -> Path | None:
        """File of message ``message_id`` (None for unknown or malformed ids)."""
        if not _ID_RE.match(message_id) or message_id.startswith("."):
            return None
        path = self.directory / f"{message_id}.eml"
        return path if path.is_file() else None

    def raw(self, message_id: str) -> bytes | None:
        """Raw bytes of a stored message."""
        path = self.path_for(message_id)
        if path is None:
            return None
        try:
            return path.read_bytes()
        except FileNotFoundError:  # deleted between the check and the read
            return None

    def summaries(self) -> list[dict[str, Any]]:
        """JSON-ready summaries of all messages, newest first."""
        result = []
        for path in reversed(self.paths()):
            try:
                result.append(summarize(path))
            except FileNotFoundError:
                continue
        return result

    def clear(self) -> int:
        """Delete all stored messages (not the mode file); return how many were removed."""
        count = 0
        for path in self.paths():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                count += 1
        return count


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def _addresses(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def summarize(path: Path) -> dict[str, Any]:
    """Parse the headers of a stored ``.eml`` file into the API's summary dict."""
    data = path.read_bytes()
    msg = _HEADER_PARSER.parsebytes(data, headersonly=True)

    def header(name: str) -> str:
        try:
            value = msg.get(name)
        except Exception:  # malformed header: fall back to the raw value
            value = msg.get_all(name, [""])[0] if hasattr(msg, "get_all") else ""
        return str(value) if value is not None else ""

    envelope_to = _addresses(header("X-Devstack-Envelope-To"))
    header_to = _addresses(header("To")) + _addresses(header("Cc"))
    stamp = path.stem.split("-", 1)[0]
    try:
        received = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=dt.UTC)
        received_iso = received.isoformat()
    except ValueError:
        received_iso = ""
    return {
        "id": path.stem,
        "from": header("From"),
        "to": envelope_to or header_to,
        "subject": header("Subject"),
        "date": header("Date") or received_iso,
        "envelope_from": header("X-Devstack-Envelope-From"),
        "received": received_iso,
        "size": len(data),
    }


class SinkHandler:
    """aiosmtpd handler: refuse according to the mode, store accepted messages."""

    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Accept the recipient, or refuse with 550 / 451 depending on the mode."""
        mode = self.store.mode()
        if mode == "reject":
            log.info("RCPT %s refused (reject)", address)
            return REJECT_REPLY
        if mode == "tempfail":
            log.info("RCPT %s refused (tempfail)", address)
            return TEMPFAIL_REPLY
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message (a mode switched mid-transaction also applies here)."""
        mode = self.store.mode()
        if mode == "reject":
            return REJECT_REPLY
        if mode == "tempfail":
            return TEMPFAIL_REPLY
        content = envelope.original_content or b""
        if not content and isinstance(envelope.content, bytes):
            content = envelope.content
        message_id = await asyncio.to_thread(
            self.store.save, envelope.mail_from or "", list(envelope.rcpt_tos), content
        )
        log.info("stored %s from %s to %s", message_id, envelope.mail_from, envelope.rcpt_tos)
        if mode == "slow-ack":
            await asyncio.sleep(SLOW_ACK_SECONDS)
        return f"250 2.0.0 Ok: queued as {message_id}"


def _accept_any_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """Authenticator that accepts every credential (they are not inspected or logged)."""
    return AuthResult(success=True)


class _InboxHandler(BaseHTTPRequestHandler):
    server: _InboxServer
    server_version = "devstack-inbox/1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, payload: Any, status: int = HTTPStatus.OK) -> None:
        body = json.dumps(payload, indent=1).encode()
        self._send(status, body, "application/json")

    def do_GET(self) -> None:
        store = self.server.store
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, _render_index(store).encode(), "text/html; charset=utf-8")
        elif path == "/api/health":
            self._json({"status": "ok", "mode": store.mode()})
        elif path == "/api/messages":
            self._json(store.summaries())
        elif path.startswith("/api/messages/"):
            raw = store.raw(path.removeprefix("/api/messages/"))
            if raw is None:
                self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)
            else:
                self._send(HTTPStatus.OK, raw, "text/plain; charset=utf-8")
        else:
            self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)


class _InboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], store: MailStore) -> None:
        self.store = store
        super().__init__(address, _InboxHandler)


def _render_index(store: MailStore) -> str:
    rows = []
    for item in store.summaries():
        rows.append(
            "<tr><td>{received}</td><td>{frm}</td><td>{to}</td>"
            '<td><a href="/api/messages/{id}">{subject}</a></td></tr>'.format(
                received=html.escape(item["received"]),
                frm=html.escape(item["from"]),
                to=html.escape(", ".join(item["to"])),
                id=html.escape(item["id"], quote=True),
                subject=html.escape(item["subject"] or "(no subject)"),
            )
        )
    body = "\n".join(rows) or '<tr><td colspan="4">No messages.</td></tr>'
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>devstack inbox</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;"
        "border-bottom:1px solid #ddd;text-align:left}</style></head><body>"
        f"<h1>devstack inbox</h1><p>mode: <b>{html.escape(store.mode())}</b> &middot; "
        f"{len(rows)} message(s) &middot; "
        "<a href='/api/messages'>JSON</a></p>"
        "<table><tr><th>received (UTC)</th><th>from</th><th>to</th><th>subject</th></tr>"
        f"{body}</table></body></html>"
    )


class SmtpSink:
    """The SMTP server (asyncio, in a background thread) plus the HTTP inbox (thread).

    Ports may be 0 (ephemeral); after :meth:`start` the bound ports are in ``smtp_port`` and
    ``http_port``. ``http_port=None`` disables the inbox.
    """

    def __init__(
        self,
        maildir: Path,
        host: str = "127.0.0.1",
        smtp_port: int = 1025,
        http_port: int | None = 8025,
        default_mode: str = "accept",
    ) -> None:
        self.store = MailStore(maildir, default_mode)
        self.host = host
        self.smtp_port = smtp_port
        self.http_port = http_port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._http: _InboxServer | None = None
        self._http_thread: threading.Thread | None = None

    def _factory(self) -> SMTP:
        assert self._loop is not None
        return SMTP(
            SinkHandler(self.store),
            hostname="devstack-smtp-sink",
            ident="devstack SMTP sink",
            decode_data=False,
            enable_SMTPUTF8=True,
            data_size_limit=50 * 1024 * 1024,
            authenticator=_accept_any_login,
            auth_require_tls=False,
            loop=self._loop,
        )

    def start(self) -> SmtpSink:
        """Bind both servers (raises OSError if a port is taken) and serve in threads."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            server = loop.run_until_complete(
                loop.create_server(self._factory, self.host, self.smtp_port)
            )
        except BaseException:
            loop.close()
            raise
        self._server = server
        self.smtp_port = server.sockets[0].getsockname()[1]
        self._thread = threading.Thread(target=loop.run_forever, name="smtp-sink-loop", daemon=True)
        self._thread.start()
        if self.http_port is not None:
            try:
                self._http = _InboxServer((self.host, self.http_port), self.store)
            except BaseException:
                self.stop()
                raise
            self.http_port = self._http.server_address[1]
            self._http_thread = threading.Thread(
                target=self._http.serve_forever,
                kwargs={"poll_interval": 0.1},  # quick shutdown()
                name="smtp-sink-http",
                daemon=True,
            )
            self._http_thread.start()
        return self

    def stop(self) -> None:
        """Close both servers and join their threads."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        loop, server = self._loop, self._server
        if loop is not None and not loop.is_closed():
            if server is not None and loop.is_running():

                async def close() -> None:
                    server.close()
                    await server.wait_closed()

                with contextlib.suppress(Exception):
                    asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=5)
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=5)
            if not loop.is_running():
                loop.close()
        self._loop = self._server = None
        self._thread = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the sink until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025, help="0 = ephemeral, -1 = off")
    parser.add_argument("--maildir", type=Path, default=Path("var/mail"))
    parser.add_argument("--mode", choices=MODES, default=_env_default_mode())
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # aiosmtpd warns about AUTH without TLS on every connection: intended here
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sink = SmtpSink(
        args.maildir,
        host=args.host,
        smtp_port=args.port,
        http_port=None if args.http_port < 0 else args.http_port,
        default_mode=args.mode,
    ).start()
    log.info(
        "SMTP sink on %s:%s, inbox http://%s:%s/, maildir %s, mode %s",
        args.host,
        sink.smtp_port,
        args.host,
        sink.http_port,
        args.maildir,
        sink.store.mode(),
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        sink.stop()
        log.info("SMTP sink stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
