"""The body-limit middleware: 413 by declared length and by counted streamed bytes,
before the route reads more than the limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI, Request

from shared.runtime.body_limit import BodyLimitMiddleware
from shared.runtime.problems import install_problem_handlers


def _app(seen: list[int]) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/small")
    async def small(request: Request) -> dict[str, Any]:
        body = await request.body()
        seen.append(len(body))
        return {"bytes": len(body)}

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        body = await request.body()
        seen.append(len(body))
        return {"bytes": len(body)}

    app.add_middleware(BodyLimitMiddleware, max_bytes=1000, larger={"/upload": 5000})
    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def _chunks(total: int, size: int = 100) -> AsyncIterator[bytes]:
    for _ in range(total // size):
        yield b"x" * size


async def test_a_body_within_the_limit_is_served() -> None:
    seen: list[int] = []
    async with _client(_app(seen)) as client:
        assert (await client.post("/small", content=b"x" * 1000)).json() == {"bytes": 1000}
        assert (await client.post("/upload", content=b"x" * 4000)).json() == {"bytes": 4000}
        assert (await client.post("/small", content=_chunks(900))).json() == {"bytes": 900}
    assert seen == [1000, 4000, 900]


async def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    seen: list[int] = []
    async with _client(_app(seen)) as client:
        r = await client.post("/small", content=b"x" * 1001)
        assert r.status_code == 413
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 413 and "1000" in r.json()["detail"]
        assert (await client.post("/upload", content=b"x" * 5001)).status_code == 413
    assert seen == []


async def test_a_streamed_body_is_cut_off_once_it_passes_the_limit() -> None:
    seen: list[int] = []
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < 10_000_000:
            sent += 100
            yield b"x" * 100

    async with _client(_app(seen)) as client:
        r = await client.post("/small", content=endless())
        assert r.status_code == 413 and r.json()["status"] == 413
    assert seen == []  # the route never got the body
