"""Outgoing HTTPS requests to SIS endpoints (httpx)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Response:
    status_code: int | None
    error: str | None
    duration_ms: int


class HttpSender:
    """POSTs signed bodies; never follows redirects (a redirect is a failed attempt)."""

    def __init__(self, *, timeout_seconds: float, ca_file: Path | None = None) -> None:
        context = ssl.create_default_context()
        if ca_file:
            context.load_verify_locations(cafile=str(ca_file))
        self._client = httpx.AsyncClient(
            verify=context,
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            headers={"user-agent": "guardian-portal-webhooks/1.0"},
        )

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Response:
        started = time.monotonic()
        try:
            response = await self._client.post(url, content=body, headers=dict(headers))
            return Response(response.status_code, None, _ms(started))
        except httpx.TimeoutException:
            return Response(None, "timeout", _ms(started))
        except httpx.HTTPError as exc:
            return Response(None, f"{type(exc).__name__}", _ms(started))

    async def close(self) -> None:
        await self._client.aclose()


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def resolve(host: str, port: int) -> Iterable[str]:
    """Every address ``host`` resolves to (blocking; see :func:`resolve_async`)."""
    return sorted(
        {str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    )


async def resolve_async(host: str, port: int) -> list[str]:
    return list(await asyncio.to_thread(resolve, host, port))
