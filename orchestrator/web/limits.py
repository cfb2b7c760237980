"""Request body size limits: refuse with 413 before a large body is read into memory.

Two checks, because a client may lie or say nothing: the declared ``Content-Length`` is refused
up front, and the bytes actually received are counted as they arrive (chunked uploads have no
length), so no request costs the server more than its limit in memory.

``BodyLimit`` is an ASGI middleware for a whole app with a limit per path prefix;
``read_limited`` is the same for one endpoint that reads its own body (the callback intake).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Sign-in, votes (comments of at most 4,000 characters) and the JSON API: far below this.
DEFAULT_WEB_LIMIT = 256 * 1024
#: A partner callback is one small JSON event.
DEFAULT_CALLBACK_LIMIT = 64 * 1024


class BodyTooLarge(HTTPException):
    """A request body over its limit (an ``HTTPException``, so FastAPI answers 413 with it)."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        said = f" ({declared:,} bytes declared)" if declared is not None else ""
        super().__init__(
            status_code=413,
            detail=f"request body too large{said}: at most {limit:,} bytes are accepted here",
        )
        self.limit = limit


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The ``Content-Length`` as a number, ``None`` if absent; 400 if it is not a length."""
    raw = headers.get("content-length")
    if raw is None:
        return None
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise HTTPException(status_code=400, detail="Content-Length is not a byte count")
    return int(raw)


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, or ``BodyTooLarge`` as soon as the declared or received size passes ``limit``."""
    declared = declared_length(request.headers)
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit, declared)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class BodyLimit:
    """ASGI middleware: every HTTP request's body is limited by the longest matching path prefix."""

    def __init__(
        self, app: ASGIApp, *, default: int, by_prefix: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.default = default
        self.by_prefix = sorted((by_prefix or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        return next((n for prefix, n in self.by_prefix if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            declared = declared_length(headers)
        except HTTPException as exc:
            await _answer(send, exc.status_code, str(exc.detail))
            return
        if declared is not None and declared > limit:
            await _answer(send, 413, BodyTooLarge(limit, declared).detail)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _answer(send, 413, exc.detail)


async def _answer(send: Send, status: int, detail: Any) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
