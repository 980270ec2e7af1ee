"""Sends notifications through an SMTP relay with aiosmtplib (STARTTLS, implicit TLS and
AUTH configurable), classifying refusals as transient or permanent.

A session keeps one connection open across a batch (reconnecting after any error), so
the per-mail cost is the SMTP transaction, not a TCP + EHLO handshake.

The transaction is written out (MAIL, RCPT, DATA, then the message) instead of using
``sendmail`` so that the sender's handover mark can be written between the relay's
``354`` and the end of the message: see :mod:`notifier.sender`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.header import Header
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import EmailPolicy, compat32
from email.utils import formataddr, formatdate, parseaddr
from io import BytesIO
from typing import Any

import aiosmtplib

from notifier.domain.model import Notification, message_id
from notifier.ports import Handover, PermanentSendError, TransientSendError
from shared.runtime.logs import scrub_text

#: Failures that say nothing about the mail itself: the relay is unreachable, refuses
#: our session, or our credentials/TLS set-up is wrong. Retried, never failed.
_SESSION_ERRORS = (
    aiosmtplib.SMTPConnectError,
    aiosmtplib.SMTPConnectResponseError,
    aiosmtplib.SMTPServerDisconnected,
    aiosmtplib.SMTPTimeoutError,
    aiosmtplib.SMTPHeloError,
    aiosmtplib.SMTPAuthenticationError,
    aiosmtplib.SMTPNotSupported,
)


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to connect."""

    host: str = "127.0.0.1"
    port: int = 1025
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    use_tls: bool = False
    timeout: float = 30.0
    mail_from: str = "Parent Portal <no-reply@portal.example.org>"


class _Utf8MailPolicy(EmailPolicy):
    """``email.policy.SMTPUTF8`` with the Subject written unfolded (it stays far below
    998 characters): CPython's default folder can lose the space between two words where
    it folds ("chậm nhất" arrived as "chậmnhất")."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name.lower() == "subject":
            return f"{name}: {' '.join(str(value).split())}{self.linesep}".encode()
        return super().fold_binary(name, value)


_ASCII_POLICY = compat32.clone(linesep="\r\n")
_UTF8_POLICY = _Utf8MailPolicy(linesep="\r\n", utf8=True)


def _describe(exc: BaseException) -> str:
    return scrub_text(f"{type(exc).__name__}: {exc}")[:300]


def classify(exc: BaseException) -> TransientSendError | PermanentSendError:
    """Map an aiosmtplib/OS error to a transient or permanent send failure."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        code = max(codes) if codes else None
        if codes and all(c >= 500 for c in codes):
            return PermanentSendError(_describe(exc), code=code)
        return TransientSendError(_describe(exc), code=code)
    if isinstance(exc, _SESSION_ERRORS):
        return TransientSendError(_describe(exc), code=getattr(exc, "code", None), connection=True)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # MAIL FROM, RCPT TO or DATA refused for this message.
        if exc.code >= 500:
            return PermanentSendError(_describe(exc), code=exc.code)
        return TransientSendError(_describe(exc), code=exc.code)
    if isinstance(exc, OSError | aiosmtplib.SMTPException):
        return TransientSendError(_describe(exc), connection=True)
    raise exc


def needs_smtputf8(notification: Notification, mail_from: str) -> bool:
    """True when an address is not ASCII (an internationalised mailbox): the message must
    then go in an SMTPUTF8 transaction with raw UTF-8 headers."""
    return not ((notification.to or "").isascii() and parseaddr(mail_from)[1].isascii())


def _check_address(address: str) -> str:
    local, at, domain = address.partition("@")
    if not (local and at and domain) or any(c.isspace() or c in '<>,;"' for c in address):
        raise PermanentSendError("invalid recipient address")
    return address


def build_message(notification: Notification, mail_from: str) -> bytes:
    """The message as sent: multipart/alternative (text, then HTML), 7-bit safe bodies,
    a Message-ID derived from the notification id, headers in the guardian's language.

    Built with the classic ``email.mime`` classes (three times faster than
    ``EmailMessage``, and :class:`~email.header.Header` folds encoded-words correctly);
    an internationalised address goes the ``EmailMessage``/SMTPUTF8 way instead.
    """
    if not notification.to or notification.text is None or notification.html is None:
        raise PermanentSendError("notification has no address or no content")
    to = _check_address(notification.to)
    from_name, from_addr = parseaddr(mail_from)
    domain = from_addr.rpartition("@")[2] or "localhost"
    subject = " ".join((notification.subject or "").split())
    headers = {
        "Date": formatdate(usegmt=True),
        "Message-ID": message_id(notification.id, domain),
        "Content-Language": notification.locale,
        "Auto-Submitted": "auto-generated",
        "X-Auto-Response-Suppress": "All",
    }
    if needs_smtputf8(notification, mail_from):
        return _build_utf8(notification, mail_from, to, subject, headers)
    msg = MIMEMultipart("alternative")
    msg["From"] = formataddr((from_name, from_addr), charset="utf-8")
    msg["To"] = formataddr((notification.to_name or "", to), charset="utf-8")
    msg["Subject"] = Header(  # type: ignore[assignment]
        subject, "us-ascii" if subject.isascii() else "utf-8", header_name="Subject"
    )
    for name, value in headers.items():
        msg[name] = value
    msg.attach(MIMEText(notification.text, "plain", "utf-8"))
    msg.attach(MIMEText(notification.html, "html", "utf-8"))
    out = BytesIO()
    BytesGenerator(out, policy=_ASCII_POLICY).flatten(msg)
    return out.getvalue()


def _build_utf8(
    notification: Notification, mail_from: str, to: str, subject: str, headers: dict[str, str]
) -> bytes:
    msg = EmailMessage(policy=_UTF8_POLICY.clone(cte_type="7bit"))
    # A plain string: headerregistry.Address and formataddr refuse a non-ASCII mailbox.
    name = (notification.to_name or "").replace("\\", "\\\\").replace('"', '\\"')
    msg["From"] = mail_from
    msg["To"] = f'"{name}" <{to}>' if name else to
    msg["Subject"] = subject
    msg.set_content(notification.text or "")
    msg.add_alternative(notification.html or "", subtype="html")
    for name, value in headers.items():  # after the bodies: set_content() clears Content-*
        msg[name] = value
    out = BytesIO()
    BytesGenerator(out, policy=_UTF8_POLICY).flatten(msg)
    return out.getvalue()


_LINE_START_DOT = re.compile(rb"(?m)^\.")


def data_payload(message: bytes) -> bytes:
    """The message as written after ``354``: CRLF line ends, leading dots doubled
    (RFC 5321 §4.5.2), then the end-of-data line."""
    text = re.sub(rb"\r\n|\r|\n", b"\r\n", message)
    if not text.endswith(b"\r\n"):
        text += b"\r\n"
    return _LINE_START_DOT.sub(b"..", text) + b".\r\n"


class SmtpSession:
    """Sends over one connection, reconnecting lazily after a failure."""

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config
        self._client: aiosmtplib.SMTP | None = None
        _, self._envelope_from = parseaddr(config.mail_from)

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        c = self._config
        client = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            username=c.username,
            password=c.password,
            use_tls=c.use_tls,
            start_tls=c.starttls,
            timeout=c.timeout,
        )
        await client.connect()
        self._client = client
        return client

    async def send(self, notification: Notification, handover: Handover) -> None:
        """Send one notification; raise a transient or permanent failure. ``handover`` is
        awaited after the relay's ``354``, and the end of the message is written in the
        same step as it returns; if it raises, the connection is dropped (the relay
        discards an unfinished message) and the error propagates."""
        message = build_message(notification, self._config.mail_from)
        utf8 = needs_smtputf8(notification, self._config.mail_from)
        encoding = "utf-8" if utf8 else "ascii"
        payload = data_payload(message)
        try:
            client = await self._connected()
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
            if utf8 and not client.supports_extension("smtputf8"):
                raise aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported by the relay")
            options = ["SMTPUTF8"] if utf8 else []
            if client.supports_extension("size"):
                options.append(f"SIZE={len(payload)}")
            await client.mail(self._envelope_from, options=options, encoding=encoding)
            await client.rcpt(notification.to or "", encoding=encoding)
            ready = await client.execute_command(b"DATA")
            if ready.code != 354:
                raise aiosmtplib.SMTPDataError(ready.code, ready.message)
            try:
                await handover()
            except BaseException:
                await self.close(polite=False)
                raise
            protocol = client.protocol
            if protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("connection lost before the message")
            protocol.write(payload)  # no await since the handover: nothing can interleave
            accepted = await protocol.read_response(timeout=self._config.timeout)
            if accepted.code != 250:
                raise aiosmtplib.SMTPDataError(accepted.code, accepted.message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self.close()
            raise classify(exc) from None

    async def close(self, *, polite: bool = True) -> None:
        """QUIT (politely, best effort) and drop the connection."""
        client, self._client = self._client, None
        if client is None:
            return
        if polite and client.is_connected:
            with suppress(Exception):
                await client.quit(timeout=2)
        with suppress(Exception):
            client.close()


class SmtpMailer:
    """The SMTP relay (implements :class:`notifier.ports.Mailer`)."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SmtpSession]:
        """A session closed (QUIT) when the batch is done."""
        session = SmtpSession(self.config)
        try:
            yield session
        finally:
            await session.close()
