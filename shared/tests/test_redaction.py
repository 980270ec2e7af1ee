"""Secrets never reach a log line; emails are masked."""

from __future__ import annotations

import io
import json
import logging

from shared.runtime.logs import REDACTED, configure_logging, get_logger, mask_email, scrub


def test_secret_keys_are_redacted_recursively() -> None:
    out = scrub(
        {
            "password": "Secr3t!pw",
            "new_password": "x",
            "token": "abc",
            "security_answers": [{"answer": "Rover"}],
            "headers": {"Authorization": "Bearer abc.def"},
            "captcha_token": "c",
            "activation_code": "K9",
            "count": 3,
            "account_id": "acc-1",
        }
    )
    assert out["password"] == out["new_password"] == out["token"] == REDACTED
    assert out["security_answers"] == REDACTED
    assert out["headers"]["Authorization"] == REDACTED
    assert out["captcha_token"] == out["activation_code"] == REDACTED
    assert out["count"] == 3 and out["account_id"] == "acc-1"


def test_emails_masked_and_tokens_cut_from_free_text() -> None:
    jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"
    text = scrub(
        f"sent to jenny.denny@example.net link /verify-email?token=QWERTY123 auth Bearer {jwt}"
    )
    assert "jenny.denny" not in text and "j***@example.net" in text
    assert "QWERTY123" not in text
    assert jwt not in text
    assert mask_email("a@b.org") == "a***@b.org"


def test_structlog_and_stdlib_lines_are_redacted() -> None:
    stream = io.StringIO()
    configure_logging("test", "INFO", stream=stream)
    get_logger("t").info(
        "registered jenny@example.net", password="Secr3t!pw", email="jenny@example.net"
    )
    logging.getLogger("some.library").warning("user jenny@example.net token=%s", "eyJx.eyJy.zzzz")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    blob = stream.getvalue()
    assert "Secr3t!pw" not in blob
    assert "jenny@example.net" not in blob
    assert lines[0]["password"] == REDACTED
    assert lines[0]["service"] == "test"
