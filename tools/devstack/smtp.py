"""Service wrapper that runs :mod:`tools.devstack.smtp_sink` as its own process."""

from __future__ import annotations

import json
import smtplib
import sys
import urllib.request

from tools.devstack.paths import HOST, MAIL_DIR, SMTP_HTTP_PORT, SMTP_PORT
from tools.devstack.service import Service

INBOX_URL = f"http://{HOST}:{SMTP_HTTP_PORT}"


def probe(timeout: float = 3.0) -> str:
    """SMTP ``EHLO``/``NOOP`` with smtplib plus ``GET /api/health`` on the inbox."""
    with smtplib.SMTP(HOST, SMTP_PORT, timeout=timeout) as client:
        code, _banner = client.ehlo("devstack-probe")
        if code != 250:
            raise RuntimeError(f"EHLO answered {code}")
        client.noop()
    with urllib.request.urlopen(  # noqa: S310 - fixed http://127.0.0.1 URL
        f"{INBOX_URL}/api/health", timeout=timeout
    ) as response:
        health = json.loads(response.read())
    return f"smtp {HOST}:{SMTP_PORT}, inbox {INBOX_URL}/, mode {health.get('mode')}"


class SmtpService(Service):
    """The SMTP sink + HTTP inbox process."""

    name = "smtp"
    marker = "tools.devstack.smtp_sink"
    port = SMTP_PORT
    start_timeout = 20.0
    stop_timeout = 10.0

    def prepare(self) -> dict[str, float]:
        """Create the mail directory."""
        MAIL_DIR.mkdir(parents=True, exist_ok=True)
        return {}

    def command(self) -> list[str]:
        """``python -m tools.devstack.smtp_sink ...`` with the devstack ports and maildir."""
        return [
            sys.executable,
            "-m",
            "tools.devstack.smtp_sink",
            "--host",
            HOST,
            "--port",
            str(SMTP_PORT),
            "--http-port",
            str(SMTP_HTTP_PORT),
            "--maildir",
            str(MAIL_DIR),
        ]

    def probe(self, timeout: float) -> str:
        """smtplib + HTTP health check."""
        return probe(timeout)

    def describe(self) -> str:
        """Endpoints."""
        return f"maildir {MAIL_DIR}"
