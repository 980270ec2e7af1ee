"""The webhooks benchmark's receiver: a small ASGI app served by uvicorn over HTTPS and
HTTP in a process of its own (so that neither the service nor the raw client shares its
interpreter). It answers every POST ``204`` at once and records, per ``webhook-id`` (or
``x-raw-id`` for the raw baseline), when the first copy arrived (``time.monotonic()``,
the same clock in every process of the machine) and the CloudEvent's ``subject``.

    python bench/webhook_receiver_app.py CERT KEY HTTPS_PORT HTTP_PORT

``GET /stats`` → ``{"requests", "distinct"}``; ``GET /arrival/<subject>`` → ``{"at"}``
(404 until it came); ``POST /reset`` forgets everything.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import uvicorn

Scope = dict[str, Any]


class Recorder:
    def __init__(self) -> None:
        self.requests = 0
        self.first: dict[str, float] = {}
        self.by_subject: dict[str, float] = {}

    def reset(self) -> None:
        self.requests = 0
        self.first.clear()
        self.by_subject.clear()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        now = time.monotonic()
        path, method = scope["path"], scope["method"]
        if method == "POST" and path == "/reset":
            self.reset()
            await _answer(send, 204)
        elif method == "POST":
            self.requests += 1
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            msg_id = headers.get("webhook-id") or headers.get("x-raw-id", "")
            if msg_id not in self.first:
                self.first[msg_id] = now
                if headers.get("webhook-id"):
                    subject = json.loads(body).get("subject", "")
                    self.by_subject.setdefault(subject, now)
            await _answer(send, 204)
        elif path == "/stats":
            stats = {"requests": self.requests, "distinct": len(self.first)}
            await _answer(send, 200, json.dumps(stats).encode())
        elif path.startswith("/arrival/"):
            at = self.by_subject.get(path.removeprefix("/arrival/"))
            if at is None:
                await _answer(send, 404)
            else:
                await _answer(send, 200, json.dumps({"at": at}).encode())
        else:
            await _answer(send, 404)


async def _answer(send: Any, status: int, body: bytes = b"") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def main(cert: str, key: str, https_port: int, http_port: int) -> None:
    app = Recorder()
    common: dict[str, Any] = {"log_level": "warning", "access_log": False, "lifespan": "off"}
    https = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=https_port, ssl_certfile=cert, ssl_keyfile=key, **common
        )
    )
    http = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=http_port, **common))
    await asyncio.gather(https.serve(), http.serve())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
