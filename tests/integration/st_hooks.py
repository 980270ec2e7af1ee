"""Schemathesis hooks for the security suite: every error answer is problem+json."""

from __future__ import annotations

import schemathesis


@schemathesis.check
def errors_are_problem_json(ctx, response, case) -> None:  # type: ignore[no-untyped-def]
    """RFC 9457: a 4xx/5xx answer carries application/problem+json with type/title/status."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(
            f"{response.status_code} answered as {content_type!r}, not problem+json"
        )
    body = response.json()
    missing = [k for k in ("type", "title", "status") if k not in body]
    if missing or body["status"] != response.status_code:
        raise AssertionError(f"problem body lacks {missing} or has a wrong status")
