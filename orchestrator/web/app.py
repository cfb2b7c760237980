"""The web UI (server-rendered HTML, a little vanilla JS) and its JSON API (``/api/...``).

Every write checks the CSRF token, then role, approval limit and separation of duties here;
the workflow's Update validator checks again. Refusals are logged by ``authz`` (who, what, why).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from agents.errors import ServiceUnavailableError
from orchestrator.alarms import AlarmService, AlarmStore
from orchestrator.config import PlantConfig, User
from orchestrator.web.auth import Auth, SessionStore, Throttled, bearer
from orchestrator.web.authz import Refused, can_act, check_resolve, check_vote
from orchestrator.web.backend import WebBackend
from orchestrator.web.limits import DEFAULT_CALLBACK_LIMIT, DEFAULT_WEB_LIMIT, BodyLimit
from orchestrator.web.models import (
    ActRequest,
    ActResult,
    ApprovalItem,
    AssetTile,
    AssetView,
    DecisionRow,
    WorkflowView,
)
from orchestrator.web.plot import in_words, svg_plot
from orchestrator.web.throttle import SignInThrottle, retry_after_header
from orchestrator.web.tokens import TokenStore

if TYPE_CHECKING:
    from orchestrator.state.sessions import SqlSessionStore
    from orchestrator.state.tokens import SqlTokenStore

HERE = Path(__file__).parent
log = logging.getLogger(__name__)
audit = logging.getLogger("autoops.audit")
URGENCY = {"P1": 0, "P2": 1, "P3": 2, "P4": 3, "": 4}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def _sorted_inbox(items: list[ApprovalItem]) -> list[ApprovalItem]:
    """Most urgent first (priority, then escalated, then nearest deadline), then newest."""
    return sorted(
        items,
        key=lambda i: (
            URGENCY.get(i.priority, 4),
            i.state != "escalated",
            i.deadline.timestamp() if i.deadline else float("inf"),
            -(i.requested_at.timestamp() if i.requested_at else 0.0),
        ),
    )


def _local_path(target: str) -> str:
    """``target`` if it is a path on this site, else ``""`` (no open redirect to another host)."""
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or "\\" in target or parts.scheme or parts.netloc:
        return ""
    return target


def signed_in(request: Request) -> User:
    """Dependency: the signed-in user, or 401 (pages redirect to the sign-in form)."""
    return request.app.state.auth.require_user(request)


def csrf_form(request: Request, csrf_token: Annotated[str | None, Form()] = None) -> None:
    request.app.state.auth.check_csrf(request, csrf_token)


def csrf_header(request: Request) -> None:
    request.app.state.auth.check_csrf(request, None)


UserDep = Annotated[User, Depends(signed_in)]


def create_app(
    config: PlantConfig,
    backend: WebBackend,
    *,
    secure_cookie: bool | None = None,
    max_body_bytes: int = DEFAULT_WEB_LIMIT,
    throttle: SignInThrottle | None = None,
    auth: Auth | None = None,
    tokens: TokenStore | SqlTokenStore | None = None,
    alarms: AlarmService | None = None,
    sessions: SessionStore | SqlSessionStore | None = None,
) -> FastAPI:
    """The web app; the Secure cookie flag follows ``[web] secure_cookies`` unless given here.

    ``tokens`` keeps the personal API tokens, ``sessions`` the sign-in sessions (both from
    ``orchestrator.state``: shared by every web process when a state database is configured),
    ``alarms`` the alarms (in memory when not given)."""
    secure = config.web.secure_cookies if secure_cookie is None else secure_cookie
    auth = auth or Auth(
        config, sessions or SessionStore(), secure_cookie=secure, throttle=throttle, tokens=tokens
    )
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape())
    env.filters["plot"] = lambda series: Markup(svg_plot(series)) if series else ""
    env.filters["money"] = lambda v, cur="": f"{v:,.2f} {cur}".strip()
    # One clock per deployment: every time on a page says which one (plant time in the demo).
    plant_clock = getattr(backend, "clock", None)  # orchestrator.clock.DeploymentClock, if any
    clock_label = plant_clock.label if plant_clock is not None else "UTC"
    env.globals["clock_label"] = clock_label
    env.filters["when"] = lambda t: Markup(
        f'{t:%Y-%m-%d %H:%M} <abbr class="clock" title="{clock_label}">{clock_label}</abbr>'
    ) if t else "—"
    env.filters["words"] = in_words
    app = FastAPI(
        title="autoops",
        description="Approvals, asset board, workflows and decisions of the autoops orchestrator.",
        version="0.1.0",
        # The schema stays at /openapi.json; FastAPI's /docs and /redoc pages would load their
        # JavaScript from a CDN at run time, which a plant network neither has nor should trust.
        docs_url=None,
        redoc_url=None,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    # Every endpoint: a body over its limit is refused by its Content-Length or, without one, as
    # soon as the bytes received pass it (the callback intake mounted on this app checks again).
    app.add_middleware(
        BodyLimit, default=max_body_bytes, by_prefix={"/callbacks/": DEFAULT_CALLBACK_LIMIT}
    )

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        # Only this server's own files run: no inline or third-party script, and no other site
        # may frame the approve buttons (clickjacking).
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    app.state.auth = auth
    alarms = alarms or AlarmService(AlarmStore(), config)
    app.state.alarms = alarms

    def page(
        request: Request, template: str, status_code: int = 200, **context: object
    ) -> HTMLResponse:
        response = HTMLResponse("", status_code=status_code)
        session = auth.session(request, response)
        user = auth.user(request)
        body = env.get_template(template).render(
            request=request,
            user=user,
            csrf=session.csrf,
            site=config.name or config.site,
            temporal_ui=backend.temporal_ui_url,
            **context,
        )
        response.body = response.render(body)
        response.headers["content-length"] = str(len(response.body))
        return response

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/") or request.method != "GET":
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        if exc.status_code == 401:
            # Back to the page asked for after signing in (a notification's deep link).
            wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            target = "/login" if wanted in ("/", "/login", "/approvals") else f"/login?{urlencode({'next': wanted})}"
            return RedirectResponse(target, status_code=303)
        return page(request, "error.html", status_code=exc.status_code, message=exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own handler echoes the input back and fails (500) on a body that is not UTF-8;
        # say where and what, never the raw input.
        errors = [
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
            for err in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(ServiceUnavailableError)
    async def _unavailable(request: Request, exc: ServiceUnavailableError) -> Response:
        # A service behind the UI is down (Temporal): say so and when to retry, not a bare 500.
        headers = {"Retry-After": "5"}
        if request.url.path.startswith("/api/") or request.method != "GET":
            return JSONResponse({"detail": str(exc)}, status_code=503, headers=headers)
        response = page(request, "error.html", status_code=503, message=str(exc))
        response.headers.update(headers)
        return response

    # ---- sign in / out -------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_page(request: Request, next: str = "") -> HTMLResponse:  # noqa: A002
        return page(request, "login.html", error="", next=_local_path(next))

    @app.post("/login", include_in_schema=False, dependencies=[Depends(csrf_form)])
    async def login(
        request: Request,
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
        next: Annotated[str, Form()] = "",  # noqa: A002
    ) -> Response:
        wanted = _local_path(next)
        address = request.client.host if request.client else "unknown"
        try:
            session = await auth.sign_in(username, password, address=address)
        except Throttled as exc:
            wait = retry_after_header(exc.retry_after_s)
            response = page(
                request, "login.html", status_code=429, error=f"{exc}; try again in {wait} s", next=wanted
            )
            response.headers["Retry-After"] = wait
            return response
        if session is None:
            return page(
                request, "login.html", status_code=401, error="unknown user or wrong password", next=wanted
            )
        response = RedirectResponse(wanted or "/approvals", status_code=303)
        auth.store.drop(request.cookies.get("autoops_session"))
        auth.set_cookie(response, session)
        return response

    @app.post("/logout", include_in_schema=False, dependencies=[Depends(csrf_form)])
    async def logout(request: Request) -> Response:
        auth.store.drop(request.cookies.get("autoops_session"))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(
            "autoops_session", path="/", secure=auth.secure_cookie, httponly=True, samesite="strict"
        )
        return response

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/approvals", status_code=303)

    # ---- approvals -------------------------------------------------------------------------------
    async def _vote(approval_id: str, user: User, approve: bool, comment: str) -> ActResult:
        item = await backend.approval(approval_id)
        if item is None:
            return ActResult(ok=False, message=f"no pending approval {approval_id}", state="gone")
        try:
            role, limit = check_vote(config, user, item, approve=approve, comment=comment)
        except Refused as exc:
            return ActResult(ok=False, message=str(exc), state=item.state)
        return await backend.vote(
            approval_id, user=user.name, role=role, limit=limit, approve=approve, comment=comment
        )

    async def _resolve(approval_id: str, user: User, retry: bool, comment: str) -> ActResult:
        item = await backend.approval(approval_id)
        if item is None:
            return ActResult(ok=False, message=f"nothing of {approval_id} waits for a person", state="gone")
        try:
            role = check_resolve(config, user, item, comment=comment)
        except Refused as exc:
            return ActResult(ok=False, message=str(exc), state=item.state)
        audit.info("resolve: user=%s role=%s approval=%s retry=%s", user.name, role, approval_id, retry)
        return await backend.resolve(approval_id, user=user.name, role=role, retry=retry, comment=comment)

    @app.get("/approvals", response_class=HTMLResponse, include_in_schema=False)
    async def approvals_page(
        request: Request, user: UserDep, msg: str = "", ok: int = 1
    ) -> HTMLResponse:
        items = _sorted_inbox(await backend.pending_approvals())
        reasons = {i.id: can_act(config, user, i) for i in items}
        return page(
            request, "approvals.html", items=items, reasons=reasons, message=msg, ok=bool(ok)
        )

    @app.get("/approvals/{approval_id}", response_class=HTMLResponse, include_in_schema=False)
    async def approval_page(request: Request, approval_id: str, user: UserDep) -> HTMLResponse:
        """One item of the inbox: where a notification's link lands."""
        item = await backend.approval(approval_id)
        items = [item] if item is not None else []
        gone = "" if item is not None else (
            f"{approval_id} no longer waits for a person; its history is on the workflow page."
        )
        return page(
            request, "approvals.html", items=items, reasons={i.id: can_act(config, user, i) for i in items},
            message=gone, ok=item is not None, single=approval_id,
        )

    @app.post(
        "/approvals/{approval_id}/{verb}",
        include_in_schema=False,
        dependencies=[Depends(csrf_form)],
    )
    async def approvals_form(
        approval_id: str, verb: str, user: UserDep, comment: Annotated[str, Form()] = ""
    ) -> Response:
        if verb in ("approve", "reject"):
            result = await _vote(approval_id, user, verb == "approve", comment)
        elif verb in ("retry", "cancel"):
            result = await _resolve(approval_id, user, verb == "retry", comment)
        else:
            raise HTTPException(status_code=404, detail="unknown action")
        query = urlencode({"msg": result.message, "ok": int(result.ok)})
        return RedirectResponse(f"/approvals?{query}", status_code=303)

    @app.get("/api/approvals", response_model=list[ApprovalItem], tags=["approvals"])
    async def api_approvals(user: UserDep) -> list[ApprovalItem]:
        """Pending approvals, most urgent first."""
        return _sorted_inbox(await backend.pending_approvals())

    @app.post(
        "/api/approvals/{approval_id}/approve",
        response_model=ActResult,
        tags=["approvals"],
        dependencies=[Depends(csrf_header)],
    )
    async def api_approve(approval_id: str, body: ActRequest, user: UserDep) -> JSONResponse:
        """Approve as the signed-in user (needs the X-CSRF-Token header)."""
        result = await _vote(approval_id, user, True, body.comment)
        return JSONResponse(result.model_dump(), status_code=200 if result.ok else 403)

    @app.post(
        "/api/approvals/{approval_id}/reject",
        response_model=ActResult,
        tags=["approvals"],
        dependencies=[Depends(csrf_header)],
    )
    async def api_reject(approval_id: str, body: ActRequest, user: UserDep) -> JSONResponse:
        """Reject as the signed-in user; a comment is required."""
        result = await _vote(approval_id, user, False, body.comment)
        return JSONResponse(result.model_dump(), status_code=200 if result.ok else 403)

    @app.post(
        "/api/approvals/{approval_id}/retry",
        response_model=ActResult,
        tags=["approvals"],
        dependencies=[Depends(csrf_header)],
    )
    async def api_retry(approval_id: str, body: ActRequest, user: UserDep) -> JSONResponse:
        """Answer an item in ``attention``: try the failed step again now (a comment is required)."""
        result = await _resolve(approval_id, user, True, body.comment)
        return JSONResponse(result.model_dump(), status_code=200 if result.ok else 403)

    @app.post(
        "/api/approvals/{approval_id}/cancel",
        response_model=ActResult,
        tags=["approvals"],
        dependencies=[Depends(csrf_header)],
    )
    async def api_cancel(approval_id: str, body: ActRequest, user: UserDep) -> JSONResponse:
        """Answer an item in ``attention``: stop its workflow, with the reason in the comment."""
        result = await _resolve(approval_id, user, False, body.comment)
        return JSONResponse(result.model_dump(), status_code=200 if result.ok else 403)

    @app.get("/api/me", tags=["session"])
    async def api_me(request: Request, user: UserDep) -> dict[str, object]:
        """Who is signed in, their roles and limit, and the CSRF token for API writes."""
        session = auth.session(request)
        return {
            "user": user.name,
            "roles": list(user.roles),
            "approval_limit": config.approval_limit(user),
            "csrf_token": session.csrf,
        }

    @app.get("/api/clock", tags=["session"])
    async def api_clock(user: UserDep) -> dict[str, object]:
        """The deployment's one clock: its name (every time in the API and on the pages is in
        it), whether it is simulated, and its time now."""
        now = plant_clock.now() if plant_clock is not None else datetime.now(UTC)
        return {"clock": clock_label, "simulated": bool(getattr(plant_clock, "simulated_time", False)),
                "now": now.isoformat()}

    # ---- personal API tokens (for the CLI) ---------------------------------------------------------
    def _session_user(request: Request, user: User) -> User:
        if bearer(request) is not None:
            raise HTTPException(
                status_code=403,
                detail="API tokens are created and revoked in the web UI, signed in with a password",
            )
        return user

    def _tokens_page(
        request: Request, user: User, *, new_token: str = "", message: str = ""
    ) -> HTMLResponse:
        return page(
            request, "tokens.html", tokens=auth.tokens.of(user.name), new_token=new_token,
            message=message,
        )

    @app.get("/tokens", response_class=HTMLResponse, include_in_schema=False)
    async def tokens_page(request: Request, user: UserDep) -> HTMLResponse:
        return _tokens_page(request, _session_user(request, user))

    @app.post("/tokens", include_in_schema=False, dependencies=[Depends(csrf_form)])
    async def create_token(
        request: Request,
        user: UserDep,
        name: Annotated[str, Form(max_length=100)] = "",
        roles: Annotated[list[str] | None, Form()] = None,
    ) -> HTMLResponse:
        user = _session_user(request, user)
        chosen = tuple(r for r in user.roles if not roles or r in roles)
        if not chosen:
            raise HTTPException(status_code=400, detail="choose at least one of your roles")
        token, info = auth.tokens.create(user.name, name.strip() or "CLI", chosen)
        audit.info("API token created: user=%s token=%s roles=%s", user.name, info.id, ",".join(chosen))
        # Shown once, in this response only (not in a redirect's URL, not in any log).
        response = _tokens_page(
            request, user, new_token=token,
            message=f"Token {info.id} created; copy it now, it is not shown again.",
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.post(
        "/tokens/{token_id}/revoke", include_in_schema=False, dependencies=[Depends(csrf_form)]
    )
    async def revoke_token(request: Request, token_id: str, user: UserDep) -> Response:
        user = _session_user(request, user)
        if not auth.tokens.revoke(user.name, token_id):
            raise HTTPException(status_code=404, detail=f"you have no live token {token_id}")
        audit.info("API token revoked: user=%s token=%s", user.name, token_id)
        return RedirectResponse("/tokens", status_code=303)

    # ---- alarms, board, workflows, decisions ------------------------------------------------------
    from orchestrator.web.alarms import register_alarm_routes

    register_alarm_routes(
        app, config=config, service=alarms, env=env, page=page,
        csrf_form=csrf_form, csrf_header=csrf_header, tiles=lambda: backend.board(),  # looked up when asked: an approvals-only backend has none
    )

    @app.get("/board", response_class=HTMLResponse, include_in_schema=False)
    async def board_page(
        request: Request, user: UserDep, line: str = "", status: str = "", alarms: str = "",
        msg: str = "", ok: int = 1,
    ) -> HTMLResponse:
        from orchestrator.web.alarms import alarm_view

        tiles = [
            t for t in await backend.board()
            if (not line or t.line == line) and (not status or t.status == status)
        ]
        query = urlencode({k: v for k, v in (("line", line), ("status", status), ("alarms", alarms)) if v})
        return page(
            request, "board.html", tiles=tiles, message=msg, ok=bool(ok),
            back=f"/board?{query}" if query else "/board", tile_status=status,
            **alarm_view(config, app.state.alarms, user, line=line, status=alarms),
        )

    @app.get("/api/board", response_model=list[AssetTile], tags=["assets"])
    async def api_board(user: UserDep) -> list[AssetTile]:
        """Every asset's status, main indicator, sensor faults, report age and open workflows."""
        return await backend.board()

    @app.get("/assets/{asset_id}", response_class=HTMLResponse, include_in_schema=False)
    async def asset_page(request: Request, asset_id: str, user: UserDep, days: float = 7.0) -> HTMLResponse:
        view = await backend.asset(asset_id, days=min(max(days, 0.5), 60.0))
        if view is None:
            raise HTTPException(status_code=404, detail=f"no asset {asset_id} has reported")
        return page(request, "asset.html", asset=view)

    @app.get("/api/assets/{asset_id}", response_model=AssetView, tags=["assets"])
    async def api_asset(asset_id: str, user: UserDep, days: float = 7.0) -> AssetView:
        """An asset's health over ``days`` (0.5–60), its next planned stops and open workflows."""
        view = await backend.asset(asset_id, days=min(max(days, 0.5), 60.0))
        if view is None:
            raise HTTPException(status_code=404, detail=f"no asset {asset_id} has reported")
        return view

    @app.get("/workflows/{workflow_id:path}", response_class=HTMLResponse, include_in_schema=False)
    async def workflow_page(request: Request, workflow_id: str, user: UserDep, run: str = "") -> HTMLResponse:
        view = await backend.workflow(workflow_id, run_id=run or None)
        if view is None:
            raise HTTPException(status_code=404, detail=f"no workflow {workflow_id}")
        return page(request, "workflow.html", wf=view)

    @app.get("/api/workflows/{workflow_id:path}", response_model=WorkflowView, tags=["workflows"])
    async def api_workflow(workflow_id: str, user: UserDep, run: str = "") -> WorkflowView:
        """One run of a workflow (``run``: its run id; the latest without): its decision, amount,
        approvals, outcome, external requests and callbacks, and the list of every run."""
        view = await backend.workflow(workflow_id, run_id=run or None)
        if view is None:
            raise HTTPException(status_code=404, detail=f"no workflow {workflow_id}")
        return view

    @app.get("/decisions", response_class=HTMLResponse, include_in_schema=False)
    async def decisions_page(request: Request, user: UserDep, q: str = "") -> HTMLResponse:
        return page(request, "decisions.html", rows=await backend.decisions(q), q=q)

    @app.get("/api/decisions", response_model=list[DecisionRow], tags=["decisions"])
    async def api_decisions(user: UserDep, q: str = "", limit: int = 200) -> list[DecisionRow]:
        """Decisions matching ``q`` (policy, asset, outcome or words of the explanation)."""
        return await backend.decisions(q, limit)

    return app
