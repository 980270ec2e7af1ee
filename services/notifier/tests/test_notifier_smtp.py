"""The SMTP adapter's pure parts: how refusals are classified, what the message looks like."""

from __future__ import annotations

from email import message_from_bytes, policy

import aiosmtplib
import pytest
from notifier.adapters.smtp_mailer import build_message, classify, data_payload, needs_smtputf8
from notifier.domain.model import Notification, RenderedMail, Template
from notifier.ports import PermanentSendError, TransientSendError
from notifier_events import NOW


def notification(to: str = "jenny@example.net", name: str | None = "Jenny Núñez") -> Notification:
    return Notification.queued(
        event_id="evt-1", event_type="LinkDenied", template=Template.LINK_DENIED, account_id="A",
        to=to, to_name=name, mail=RenderedMail("Asunto", "Hola", "<p>Hola</p>", "es"), now=NOW,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("exc", "kind", "connection"),
    [
        (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "no", "a@b")]), PermanentSendError, False),
        (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(451, "later", "a@b")]), TransientSendError, False),
        (aiosmtplib.SMTPDataError(554, "spam"), PermanentSendError, False),
        (aiosmtplib.SMTPDataError(452, "full"), TransientSendError, False),
        (aiosmtplib.SMTPSenderRefused(553, "bad sender", "x@y"), PermanentSendError, False),
        (aiosmtplib.SMTPConnectError("refused"), TransientSendError, True),
        (aiosmtplib.SMTPServerDisconnected("gone"), TransientSendError, True),
        (aiosmtplib.SMTPAuthenticationError(535, "bad creds"), TransientSendError, True),
        (aiosmtplib.SMTPConnectResponseError(554, "no service"), TransientSendError, True),
        (aiosmtplib.SMTPReadTimeoutError("slow"), TransientSendError, True),
        (ConnectionRefusedError(111, "refused"), TransientSendError, True),
    ],
)  # fmt: skip
def test_classify(exc: Exception, kind: type, connection: bool) -> None:
    result = classify(exc)
    assert isinstance(result, kind)
    if isinstance(result, TransientSendError):
        assert result.connection is connection


def test_classified_reason_masks_addresses() -> None:
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "no such user", "jenny.denny@example.net")]
    )
    assert "jenny.denny@example.net" not in classify(refused).reason


def test_unexpected_errors_are_not_swallowed() -> None:
    with pytest.raises(KeyError):
        classify(KeyError("bug"))


def parse(raw: bytes):  # type: ignore[no-untyped-def]
    return message_from_bytes(raw, policy=policy.default)


def test_message_is_multipart_alternative_with_stable_message_id() -> None:
    sender = "DCPS Parent Portal <no-reply@parentportal.example.org>"
    msg = parse(build_message(notification(), sender))
    again = parse(build_message(notification(), sender))
    assert msg["Message-ID"] == again["Message-ID"]
    assert msg["Message-ID"].endswith("@parentportal.example.org>")
    assert msg["Content-Language"] == "es"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert str(msg["To"]) == "Jenny Núñez <jenny@example.net>"
    assert str(msg["From"]) == sender
    assert msg["Subject"] == "Asunto"


@pytest.mark.parametrize("to", ["", "not-an-address", "a b@example.net", "x@y.z>\r\nBcc: e@f.g"])
def test_bad_address_is_a_permanent_failure(to: str) -> None:
    with pytest.raises(PermanentSendError):
        build_message(notification(to=to), "x@y.z")


def _subjects() -> list[str]:
    from notifier.domain.catalog import SUPPORTED_LOCALES
    from notifier.rendering import Renderer

    from shared.runtime.policy import load_policy

    renderer = Renderer(load_policy())
    return [
        renderer.sample(t, loc).subject
        for t in renderer.template_names()
        for loc in SUPPORTED_LOCALES
    ]


@pytest.mark.parametrize("to", ["jenny@example.net", "jénny@exämple.net"])
def test_every_subject_survives_the_wire(to: str) -> None:
    """Long non-ASCII subjects are folded without losing a space between words; an
    internationalised address switches to SMTPUTF8 (raw UTF-8 headers)."""
    subjects = _subjects()
    assert any(len(s) > 80 and not s.isascii() for s in subjects)
    for subject in subjects:
        n = notification(to=to)
        n.subject = subject
        assert needs_smtputf8(n, "Portal <p@example.org>") is (not to.isascii())
        raw = build_message(n, "Portal <p@example.org>")
        assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
        assert raw.isascii() is to.isascii()
        parsed = parse(raw)
        assert parsed["Subject"] == subject
        assert str(parsed["To"]) == f"Jenny Núñez <{to}>"
        body = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert body.strip() == "Hola"


def test_data_payload_doubles_leading_dots_and_ends_the_message() -> None:
    assert data_payload(b"a\r\n.b\n..c\rd") == b"a\r\n..b\r\n...c\r\nd\r\n.\r\n"
    assert data_payload(b".\r\n") == b"..\r\n.\r\n"  # a lone dot line is not the end
