"""The alarm pages, their JSON API and the live stream the floor's board listens to.

``/api/alarms/{id}/{verb}`` (verbs: ``ack``, ``shelve``, ``unshelve``, ``assign``, ``note``) acts as
the signed-in person or the bearer of a personal API token (``autoops alarms ack ...``), after the
CSRF check; the rights by role are the ``AlarmService``'s. ``/api/alarms/stream`` is a
server-sent-events stream: the alarm list (and the asset tiles on the board) as HTML rendered for
this person, sent again whenever the alarm store's version or the tiles change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from jinja2 import Environment
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.alarms import Alarm, AlarmService, Refused, UnknownAlarm
from orchestrator.alarms.kpis import compute
from orchestrator.alarms.permissions import rights
from orchestrator.config import PlantConfig, User
from workflows.models import MAX_COMMENT_CHARS

log = logging.getLogger(__name__)

#: What the shelve form offers, cut to what the person may choose ("" = one-shot).
SHELVE_CHOICES = (
    ("until it clears", ""),
    ("30 min", "30m"),
    ("1 h", "1h"),
    ("2 h", "2h"),
    ("4 h", "4h"),
    ("8 h", "8h"),
    ("1 day", "1d"),
    ("3 days", "3d"),
    ("7 days", "7d"),
)
STATES = {
    "active_unack": "active, unacknowledged",
    "active_ack": "active, acknowledged",
    "cleared_unack": "cleared, unacknowledged",
    "cleared": "cleared",
}
VERBS = ("ack", "shelve", "unshelve", "assign", "note")
#: A stream ends after this long; the browser's EventSource reconnects by itself.
STREAM_S = 600.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta | None:
    """``"90m"``, ``"2h"``, ``"1h30m"``, ``"1d"`` as a timedelta; ``""`` is ``None`` (one-shot)."""
    text = text.strip().lower().replace(" ", "")
    if not text:
        return None
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise Refused(f"unreadable duration {text!r}: write it like 30m, 2h, 1h30m or 1d")
    try:
        return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    except OverflowError:
        raise Refused(f"duration {text!r} is far too long; shelve for hours or days") from None


def _signed_in(request: Request) -> User:
    return request.app.state.auth.require_user(request)  # type: ignore[no-any-return]


UserDep = Annotated[User, Depends(_signed_in)]


class AlarmActRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    comment: str = Field(default="", max_length=MAX_COMMENT_CHARS)
    reason: str = Field(default="", max_length=MAX_COMMENT_CHARS)  # shelve: required
    duration: str = Field(default="", max_length=20)  # shelve: "2h"; empty = one-shot
    assignee: str = Field(default="", max_length=200)  # assign: a user name or role:<role>


class AlarmActResult(BaseModel):
    ok: bool
    message: str
    alarm: Alarm | None = None


def _act(service: AlarmService, alarm_id: str, verb: str, user: User, body: AlarmActRequest) -> Alarm:
    if verb == "ack":
        return service.acknowledge(alarm_id, user, body.comment)
    if verb == "shelve":
        return service.shelve(alarm_id, user, reason=body.reason or body.comment,
                              duration=parse_duration(body.duration))
    if verb == "unshelve":
        return service.unshelve(alarm_id, user, body.comment)
    if verb == "assign":
        return service.assign(alarm_id, user, body.assignee, body.comment)
    if verb == "note":
        return service.note(alarm_id, user, body.comment)
    raise HTTPException(status_code=404, detail=f"unknown alarm action {verb!r}; one of {VERBS}")


def _said(verb: str, alarm: Alarm) -> str:
    words = {"ack": "acknowledged", "shelve": "shelved", "unshelve": "unshelved",
             "assign": f"assigned to {alarm.assignee}", "note": "noted"}
    return f"{alarm.id} {words[verb]}"


def register_alarm_routes(
    app: FastAPI,
    *,
    config: PlantConfig,
    service: AlarmService,
    env: Environment,
    page: Callable[..., HTMLResponse],
    csrf_form: Any,
    csrf_header: Any,
    tiles: Callable[[], Awaitable[list[Any]]],
) -> None:
    """Add the alarm pages and API to the web app (``create_app`` calls this)."""
    def alarm_context(user: User, *, line: str, status: str, include_cleared: bool) -> dict[str, Any]:
        return alarm_view(config, service, user, line=line, status=status,
                          include_cleared=include_cleared)

    def fragment(template: str, request: Request, user: User, **context: Any) -> str:
        csrf = app.state.auth.session(request).csrf
        return env.get_template(template).render(user=user, csrf=csrf, **context)

    def _filter_tiles(items: list[Any], line: str, status: str) -> list[Any]:
        return [t for t in items if (not line or t.line == line) and (not status or t.status == status)]

    # ---- pages -------------------------------------------------------------------------------------
    @app.get("/alarms", response_class=HTMLResponse, include_in_schema=False)
    async def alarms_page(request: Request, user: UserDep, line: str = "", status: str = "",
                          msg: str = "", ok: int = 1) -> HTMLResponse:
        context = alarm_context(user, line=line, status=status, include_cleared=status == "cleared")
        return page(request, "alarms.html", message=msg, ok=bool(ok), back="/alarms", **context)

    @app.get("/alarms/kpis", response_class=HTMLResponse, include_in_schema=False)
    async def kpis_page(request: Request, user: UserDep) -> HTMLResponse:
        return page(request, "alarm_kpis.html", kpis=_kpis(service))

    @app.post("/alarms/{alarm_id}/{verb}", include_in_schema=False, dependencies=[Depends(csrf_form)])
    async def alarm_form(
        alarm_id: str,
        verb: str,
        user: UserDep,
        comment: Annotated[str, Form(max_length=MAX_COMMENT_CHARS)] = "",
        reason: Annotated[str, Form(max_length=MAX_COMMENT_CHARS)] = "",
        duration: Annotated[str, Form(max_length=20)] = "",
        assignee: Annotated[str, Form(max_length=200)] = "",
        back: Annotated[str, Form(max_length=500)] = "/alarms",
    ) -> Response:
        body = AlarmActRequest(comment=comment, reason=reason, duration=duration, assignee=assignee)
        try:
            alarm = _act(service, alarm_id, verb, user, body)
            query = {"msg": _said(verb, alarm), "ok": 1}
        except (Refused, UnknownAlarm) as exc:
            query = {"msg": str(exc).strip("'\""), "ok": 0}
        # Back to the page the form was on, never to another site.
        path, _, rest = back.partition("?")
        if path not in ("/alarms", "/board"):
            path, rest = "/alarms", ""
        keep = {k: v for k, v in (p.partition("=")[::2] for p in rest.split("&") if p)
                if k in ("line", "status", "alarms")}
        return RedirectResponse(f"{path}?{urlencode({**keep, **query})}", status_code=303)

    # ---- API ---------------------------------------------------------------------------------------
    @app.get("/api/alarms", response_model=list[Alarm], tags=["alarms"])
    async def api_alarms(user: UserDep, line: str = "", status: str = "",
                         include_cleared: bool = False) -> list[Alarm]:
        """Alarms, most urgent first, each with its audit trail (``status``: a state,
        ``unacked``, ``shelved`` or ``suppressed``)."""
        return service.list(line=line, status=status, include_cleared=include_cleared)

    @app.get("/api/alarms/kpis", tags=["alarms"])
    async def api_kpis(user: UserDep) -> dict[str, Any]:
        """Alarm-rate KPIs: per 10 minutes, floods, chattering, stale, top 10, per line."""
        return _kpis(service)

    @app.get("/api/alarms/stream", tags=["alarms"])
    async def api_stream(request: Request, user: UserDep, line: str = "", status: str = "",
                         alarms: str = "", board: int = 0, back: str = "/alarms") -> StreamingResponse:
        """Server-sent events: ``alarms`` (and ``tiles`` with ``board=1``) as HTML when they change."""
        alarm_status = alarms if board else status
        back = back if back in ("/alarms", "/board") else "/alarms"
        query = urlencode({k: v for k, v in (("line", line), ("status", status), ("alarms", alarms)) if v})
        back = f"{back}?{query}" if query else back

        async def events() -> AsyncIterator[str]:
            loop = asyncio.get_running_loop()
            end = loop.time() + STREAM_S
            sent: dict[str, str] = {}
            seen_version = -1
            yield "retry: 2000\n\n"
            while loop.time() < end:
                payload: dict[str, str] = {}
                service.expire_shelves()  # a read, unless a shelve ran out
                version = service.store.version()
                if version != seen_version:  # rendered again only when an alarm changed
                    seen_version = version
                    html = fragment("_alarms.html", request, user, back=back, **alarm_context(
                        user, line=line, status=alarm_status,
                        include_cleared=alarm_status == "cleared"))
                    if html != sent.get("alarms"):
                        payload["alarms"] = sent["alarms"] = html
                if board:
                    try:
                        items = _filter_tiles(await tiles(), line, status)
                        html = fragment("_tiles.html", request, user, tiles=items)
                        if html != sent.get("tiles"):
                            payload["tiles"] = sent["tiles"] = html
                    except Exception as exc:  # noqa: BLE001  Temporal down: keep the last tiles
                        log.info("board stream: tiles unavailable: %s", exc)
                if payload:
                    yield f"event: update\ndata: {json.dumps(payload)}\n\n"
                else:
                    yield ": still here\n\n"  # keeps proxies from closing an idle stream
                await asyncio.sleep(1.0)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    @app.get("/api/alarms/{alarm_id}", response_model=Alarm, tags=["alarms"])
    async def api_alarm(alarm_id: str, user: UserDep) -> Alarm:
        """One alarm with its audit trail."""
        try:
            return service.get(alarm_id)
        except UnknownAlarm as exc:
            raise HTTPException(status_code=404, detail=str(exc).strip("'\"")) from None

    @app.post("/api/alarms/{alarm_id}/{verb}", response_model=AlarmActResult, tags=["alarms"],
              dependencies=[Depends(csrf_header)])
    async def api_act(alarm_id: str, verb: str, body: AlarmActRequest, user: UserDep) -> JSONResponse:
        """Act on an alarm as the signed-in person (X-CSRF-Token header) or the API token's.

        ``ack`` (comment optional), ``shelve`` (reason required; duration like ``2h``, empty for
        one-shot), ``unshelve``, ``assign`` (assignee), ``note`` (comment)."""
        if verb not in VERBS:
            raise HTTPException(status_code=404, detail=f"unknown alarm action {verb!r}; one of {VERBS}")
        try:
            alarm = _act(service, alarm_id, verb, user, body)
        except UnknownAlarm as exc:
            result = AlarmActResult(ok=False, message=str(exc).strip("'\""))
            return JSONResponse(result.model_dump(mode="json"), status_code=404)
        except Refused as exc:
            return JSONResponse(AlarmActResult(ok=False, message=str(exc)).model_dump(mode="json"),
                                status_code=403)
        result = AlarmActResult(ok=True, message=_said(verb, alarm), alarm=alarm)
        return JSONResponse(result.model_dump(mode="json"))


def alarm_view(config: PlantConfig, service: AlarmService, user: User, *, line: str = "",
               status: str = "", include_cleared: bool = False) -> dict[str, Any]:
    """What the alarm list (``_alarms.html``) shows this person, and the buttons they may use."""
    can = rights(config, user)
    return {
        "alarms": service.list(line=line, status=status,
                               include_cleared=include_cleared or status == "cleared"),
        "can": can,
        "shelve_choices": [
            (label, value) for label, value in SHELVE_CHOICES
            if not value or parse_duration(value) <= can.max_shelve  # type: ignore[operator]
        ],
        "states": STATES,
        "version": service.store.version(),
        "filters": {"line": line, "status": status},
        "lines": [(ln.id, ln.name or ln.id) for ln in config.lines],
        "assignees": [u.name for u in config.users] + [f"role:{r}" for r in config.roles],
    }


def _kpis(service: AlarmService) -> dict[str, Any]:
    store = service.store
    now = store.plant_now() or service.clock()
    return compute(store.activations(), store.list(include_cleared=False), now)


__all__ = ["AlarmActRequest", "AlarmActResult", "alarm_view", "parse_duration", "register_alarm_routes"]
