"""Tests of the SMTP sink: real aiosmtpd on ephemeral ports, real smtplib / HTTP clients."""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tools.devstack.smtp_sink import MailStore, SmtpSink, summarize


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "mail", smtp_port=0, http_port=0) as running:
        yield running


def _message(subject: str = "Hello", to: str = "guardian@example.test") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Portal <portal@example.test>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("plain body\n")
    msg.add_alternative("<p>html body</p>", subtype="html")
    return msg


def _send(sink: SmtpSink, msg: EmailMessage, **kwargs: object) -> None:
    with smtplib.SMTP(sink.host, sink.smtp_port, timeout=5) as client:
        client.send_message(msg, **kwargs)  # type: ignore[arg-type]


def _get(sink: SmtpSink, path: str) -> tuple[int, str, bytes]:
    url = f"http://{sink.host}:{sink.http_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_accepts_and_stores_eml_atomically(sink: SmtpSink) -> None:
    _send(sink, _message("Welcome ñ"), to_addrs=["guardian@example.test", "bcc@example.test"])
    files = list(sink.store.directory.iterdir())
    assert [p.suffix for p in files] == [".eml"], files  # no temp files left behind
    summary = summarize(files[0])
    assert summary["subject"] == "Welcome ñ"
    assert summary["from"] == "Portal <portal@example.test>"
    assert summary["to"] == ["guardian@example.test", "bcc@example.test"]
    assert summary["envelope_from"] == "portal@example.test"
    raw = files[0].read_bytes()
    assert raw.startswith(b"X-Devstack-Envelope-From: portal@example.test\r\n")
    assert b"html body" in raw


def test_http_api_lists_and_serves_raw(sink: SmtpSink) -> None:
    _send(sink, _message("first"))
    _send(sink, _message("second", to="other@example.test"))
    status, ctype, body = _get(sink, "/api/messages")
    assert status == 200 and ctype == "application/json"
    items = json.loads(body)
    assert [i["subject"] for i in items] == ["second", "first"]  # newest first
    assert set(items[0]) >= {"id", "from", "to", "subject", "date"}
    status, ctype, raw = _get(sink, f"/api/messages/{items[1]['id']}")
    assert status == 200 and ctype.startswith("text/plain")
    assert b"Subject: first" in raw
    status, ctype, page = _get(sink, "/")
    assert status == 200 and ctype.startswith("text/html")
    assert b"second" in page and b"2 message(s)" in page
    assert _get(sink, "/api/messages/../../etc/passwd")[0] == 404
    assert _get(sink, "/api/messages/nope")[0] == 404
    assert json.loads(_get(sink, "/api/health")[2]) == {"status": "ok", "mode": "accept"}


@pytest.mark.parametrize(("mode", "code"), [("reject", 550), ("tempfail", 451)])
def test_mode_file_refuses_recipients(sink: SmtpSink, mode: str, code: int) -> None:
    sink.store.set_mode(mode)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        _send(sink, _message())
    assert info.value.recipients["guardian@example.test"][0] == code
    assert sink.store.paths() == []
    sink.store.set_mode("accept")  # takes effect without a restart
    _send(sink, _message())
    assert len(sink.store.paths()) == 1


def test_invalid_mode_file_falls_back_to_default(tmp_path: Path) -> None:
    store = MailStore(tmp_path, default_mode="tempfail")
    assert store.mode() == "tempfail"
    store.mode_file.write_text("bogus\n")
    assert store.mode() == "tempfail"
    store.set_mode("reject")
    assert store.mode() == "reject"
    with pytest.raises(ValueError, match="mode"):
        store.set_mode("bogus")


def test_auth_accepts_any_credentials(sink: SmtpSink) -> None:
    with smtplib.SMTP(sink.host, sink.smtp_port, timeout=5) as client:
        client.login("user", "whatever")
        client.send_message(_message("authed"))
    assert summarize(sink.store.paths()[0])["subject"] == "authed"


def test_clear_keeps_mode_file(sink: SmtpSink) -> None:
    sink.store.set_mode("accept")
    _send(sink, _message())
    _send(sink, _message())
    assert sink.store.clear() == 2
    assert sink.store.paths() == []
    assert sink.store.mode_file.exists()


def test_stopped_sink_refuses_connections(tmp_path: Path) -> None:
    running = SmtpSink(tmp_path, smtp_port=0, http_port=None).start()
    port = running.smtp_port
    running.stop()
    with pytest.raises(OSError):
        smtplib.SMTP(running.host, port, timeout=2)
