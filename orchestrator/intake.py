"""Intake for partner callbacks: verify the HMAC signature, refuse stale or forged ones, drop
replays, hand each event once to ``on_event`` (which signals the right workflow).

    POST {prefix}/{source}     source = "supplier" | "cmms" (the key of its secret)
      202 {"status": "accepted"}   handed to on_event
      200 {"status": "duplicate"}  this event id was handled before: nothing done
      401 {"reason": ...}          unsigned, stale, from the future, forged, or unknown source
      409 {"reason": ...}          the same event is being handled right now: retry later
      422 {"reason": ...}          signed but not a CallbackEvent (or source mismatch)
      503 {"reason": ...}          on_event failed: the partner retries, the event is not marked seen

The signature covers ``timestamp + "." + body`` (see ``workflows.integrations.signing``). Replays
within the skew window are caught by the event-id memory; older ones by the timestamp check.
The memory is per process and bounded: signal handlers must stay idempotent as a second line.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr, ValidationError

from agents.errors import CallbackAuthError
from workflows.integrations.models import CallbackEvent
from workflows.integrations.signing import verify

log = logging.getLogger(__name__)

EventHandler = Callable[[CallbackEvent], Awaitable[None]]


class SeenEvents:
    """Bounded memory of handled event ids (oldest forgotten first)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)


def create_intake_router(
    *,
    secrets: Mapping[str, SecretStr | str | bytes],
    on_event: EventHandler,
    clock: Callable[[], datetime],
    max_skew_s: float = 300.0,
    seen: SeenEvents | None = None,
    prefix: str = "/callbacks",
) -> APIRouter:
    """A router that accepts signed callbacks at ``{prefix}/{source}`` for each source in ``secrets``."""
    router = APIRouter(prefix=prefix)
    memory = seen if seen is not None else SeenEvents()
    in_flight: set[str] = set()

    def refuse(status: int, reason: str) -> JSONResponse:
        return JSONResponse({"reason": reason}, status_code=status)

    @router.post("/{source}")
    async def intake(source: str, request: Request) -> JSONResponse:
        body = await request.body()
        peer = request.client.host if request.client else "?"
        secret = secrets.get(source)
        if secret is None:
            log.warning("callback refused: unknown source %r from %s", source, peer)
            return refuse(401, f"unknown callback source {source!r}")
        try:
            verify(secret, request.headers, body, now=clock(), max_skew_s=max_skew_s)
        except CallbackAuthError as exc:
            # Who and why, never the secret or the signature we expected.
            log.warning(
                "callback from %s refused for source %r (%s): %s", peer, source, exc.reason, exc
            )
            return refuse(401, str(exc))
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
