"""Intake for partner callbacks: verify the HMAC signature, refuse stale or forged ones, drop
replays, hand each event once to ``on_event`` (which signals the right workflow).

    POST {prefix}/{source}     source = "supplier" | "cmms" (the key of its secret)
      202 {"status": "accepted"}   handed to on_event
      200 {"status": "duplicate"}  this event id was handled before: nothing done
      400 {"reason": ...}          a Content-Length that is not a byte count
      401 {"reason": ...}          unsigned, stale, from the future, forged, or unknown source
      409 {"reason": ...}          the same event is being handled right now: retry later
      413 {"reason": ...}          body over ``max_body_bytes`` (declared or counted)
      422 {"reason": ...}          signed but not a CallbackEvent, source mismatch, or an event
                                   that can never be handled (e.g. order.confirmed without po_number)
      503 {"reason": ...}          on_event failed: the partner retries, the event is not marked seen

Cheap checks come first: the source, the signature headers and the timestamp's freshness are
checked before the body is read, and the body is read only up to its limit, so an unsigned or
huge request costs no memory. The signature covers ``timestamp + "." + body`` (see
``workflows.integrations.signing``). Replays within the skew window are caught by the event-id
memory, older ones by the timestamp check. The memory (``SeenEvents``) is bounded and, given a
path, kept in SQLite, so a callback captured before a restart is still a replay after it; signal
handlers stay idempotent as a second line.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr, ValidationError

from agents.errors import CallbackAuthError, InputError
from orchestrator.web.limits import DEFAULT_CALLBACK_LIMIT, read_limited
from workflows.integrations.models import CallbackEvent

if TYPE_CHECKING:
    from orchestrator.state.intake import SqlSeenEvents
from workflows.integrations.signing import check_freshness, verify

log = logging.getLogger(__name__)

EventHandler = Callable[[CallbackEvent], Awaitable[None]]


class SeenEvents:
    """Bounded memory of handled event ids (oldest forgotten first), in SQLite.

    With ``path`` the memory survives a restart of the orchestrator; without it, it lives in memory
    for this process only (tests, tools).
    """

    def __init__(self, capacity: int = 100_000, *, path: Path | None = None) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            ":memory:" if path is None else str(path), check_same_thread=False, isolation_level=None
        )
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS seen ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, at REAL NOT NULL)"
        )

    def __contains__(self, event_id: object) -> bool:
        if not isinstance(event_id, str):
            return False
        with self._lock:
            row = self._db.execute("SELECT 1 FROM seen WHERE event_id = ?", (event_id,)).fetchone()
        return row is not None

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM seen").fetchone()[0])

    def add(self, event_id: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO seen (event_id, at) VALUES (?, ?)", (event_id, time.time())
            )
            self._db.execute(
                "DELETE FROM seen WHERE seq <= (SELECT MAX(seq) FROM seen) - ?", (self._capacity,)
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def create_intake_router(
    *,
    secrets: Mapping[str, SecretStr | str | bytes],
    on_event: EventHandler,
    clock: Callable[[], datetime],
    max_skew_s: float = 300.0,
    seen: SeenEvents | SqlSeenEvents | None = None,
    prefix: str = "/callbacks",
    max_body_bytes: int = DEFAULT_CALLBACK_LIMIT,
) -> APIRouter:
    """A router that accepts signed callbacks at ``{prefix}/{source}`` for each source in ``secrets``."""
    router = APIRouter(prefix=prefix)
    memory = seen if seen is not None else SeenEvents()
    in_flight: set[str] = set()

    def refuse(status: int, reason: str) -> JSONResponse:
        return JSONResponse({"reason": reason}, status_code=status)

    @router.post("/{source}")
    async def intake(source: str, request: Request) -> JSONResponse:
        peer = request.client.host if request.client else "?"
        secret = secrets.get(source)
        if secret is None:
            log.warning("callback refused: unknown source %r from %s", source[:64], peer)
            return refuse(401, f"unknown callback source {source[:64]!r}")
        now = clock()
        try:
            check_freshness(request.headers, now=now, max_skew_s=max_skew_s)
            body = await read_limited(request, max_body_bytes)
            verify(secret, request.headers, body, now=now, max_skew_s=max_skew_s)
        except CallbackAuthError as exc:
            # Who and why, never the secret or the signature we expected.
            log.warning(
                "callback from %s refused for source %r (%s): %s", peer, source, exc.reason, exc
            )
            return refuse(401, str(exc))
        except HTTPException as exc:  # 413 too large, 400 a Content-Length that is no length
            log.warning("callback from %s refused for source %r: %s", peer, source, exc.detail)
            return refuse(exc.status_code, str(exc.detail))
        try:
            event = CallbackEvent.model_validate_json(body)
        except ValidationError as exc:
            log.warning(
                "signed callback from %s (%s) is not an event: %s", peer, source, exc.errors()[:3]
            )
            return refuse(422, f"body is not a CallbackEvent: {exc.errors()[0]['msg']}")
        if event.source != source:
            return refuse(422, f"event source {event.source!r} arrived on the {source!r} endpoint")
        if event.event_id in memory:
            log.info("callback %s (%s) is a replay; ignored", event.event_id, event.type)
            return JSONResponse({"status": "duplicate", "event_id": event.event_id})
        if event.event_id in in_flight:
            return refuse(409, f"event {event.event_id} is being handled; retry later")
        in_flight.add(event.event_id)
        try:
            await on_event(event)
        except InputError as exc:
            # The event itself can never be handled (a field it must carry is missing): telling
            # the partner to retry would only repeat it. Not remembered: a corrected re-send lands.
            log.warning("callback %s (%s) refused: %s", event.event_id, event.type, exc)
            return refuse(422, f"{exc}; correct the event, retrying it unchanged cannot help")
        except Exception as exc:  # supervisor boundary: the partner retries, we log
            log.exception("handling callback %s (%s) failed", event.event_id, event.type)
            return refuse(
                503, f"could not handle event {event.event_id}: {type(exc).__name__}; retry later"
            )
        finally:
            in_flight.discard(event.event_id)
        memory.add(event.event_id)
        log.info("callback %s (%s) from %s accepted", event.event_id, event.type, source)
        return JSONResponse({"status": "accepted", "event_id": event.event_id}, status_code=202)

    return router
