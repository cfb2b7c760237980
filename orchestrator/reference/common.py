"""What the three reference servers share: the app shell, the clock, signed callback delivery."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from orchestrator.reference.knobs import KnobPanel, install_knobs
from orchestrator.reference.ledger import Ledger
from workflows.integrations.models import CallbackEvent
from workflows.integrations.signing import signature_headers

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def on_plant_clock(clock: Clock) -> bool:
    """Whether ``clock`` is a simulated plant clock (``orchestrator.clock.DeploymentClock``)."""
    return bool(getattr(clock, "simulated_time", False))


async def plant_sleep(clock: Clock, seconds: float) -> None:
    """Wait ``seconds`` on ``clock``: plant seconds on a simulated plant clock, else wall seconds."""
    if on_plant_clock(clock):
        await clock.sleep(seconds)  # type: ignore[attr-defined]
    else:
        await asyncio.sleep(seconds)


class Refusal(Exception):
    """A validation refusal: becomes HTTP ``status`` with ``{"reason": ...}``."""

    def __init__(self, reason: str, status: int = 422) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class Background:
    """Owns the server's timers (confirmations, auto-completions) so shutdown can cancel them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class CallbackSender:
    """Delivers signed ``CallbackEvent``s with bounded retries; records each outcome in the ledger."""

    def __init__(
        self,
        *,
        source: str,
        secret: SecretStr,
        ledger: Ledger,
        clock: Clock,
        attempts: int = 5,
        backoff_s: float = 0.2,
        timeout_s: float = 5.0,
    ) -> None:
        self.source = source
        self._secret = secret
        self._ledger = ledger
        self._clock = clock
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s

    async def send(self, url: str, event: CallbackEvent) -> bool:
        """POST the event to ``url``; retry 5xx / transport errors, give up on other 4xx."""
        body = event.model_dump_json().encode()
        status: int | None = None
        attempt = 0
        async with httpx.AsyncClient(timeout=self._timeout_s) as client:
            for attempt in range(1, self._attempts + 1):
                # Re-sign per attempt: a retry minutes later must not look stale.
                headers = {"Content-Type": "application/json"}
                # The signature's timestamp guards the wire against replays: wall time, whatever
                # clock the plant runs on (the event inside carries the plant's time).
                signed_at = utc_now() if on_plant_clock(self._clock) else self._clock()
                headers.update(signature_headers(self._secret, body, signed_at))
                try:
                    response = await client.post(url, content=body, headers=headers)
                    status = response.status_code
                except httpx.TransportError as exc:
                    log.warning("%s callback %s to %s: %s", self.source, event.event_id, url, exc)
                    status = None
                retry = status is None or status >= 500 or status in (408, 409, 429)
                if not retry or attempt == self._attempts:
                    break
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
        delivered = status is not None and 200 <= status < 300
        log.info(
            "%s callback %s (%s) to %s: status %s after %d attempt(s)",
            self.source,
            event.event_id,
            event.type,
            url,
            status,
            attempt,
        )
        self._ledger.put(
            "callbacks",
            f"{event.event_id}@{url}",
            {
                "event_id": event.event_id,
                "type": event.type.value,
                "url": url,
                "status": status,
                "attempts": attempt,
                "delivered": delivered,
            },
        )
        return delivered


    def delivered(self, url: str, event: CallbackEvent) -> bool:
        """Whether ``event`` reached ``url`` (per the ledger: it survives a restart)."""
        record = self._ledger.get("callbacks", f"{event.event_id}@{url}")
        return bool(record and record.get("delivered"))

    def refused(self, url: str, event: CallbackEvent) -> bool:
        """Whether ``url`` refused ``event`` for good (a 4xx other than 408 / 409 / 429)."""
        record = self._ledger.get("callbacks", f"{event.event_id}@{url}")
        status = record.get("status") if record else None
        return isinstance(status, int) and 400 <= status < 500 and status not in (408, 409, 429)

    async def deliver(
        self, url: str, event: CallbackEvent, *, rounds: int = 60, pause_s: float = 5.0,
        after_failure: bool = False,
    ) -> bool:
        """Keep offering ``event`` until it is taken or refused for good: a round of quick
        retries (``send``) every ``pause_s``, at most ``rounds`` times (``after_failure``: a
        round just failed, pause first). The receiver may be down or still starting (the
        orchestrator restarts with the embedded partners in the demo); after the last round the
        workflow's own poll of our record is the remaining path."""
        for round_ in range(rounds):
            if round_ or after_failure:
                await asyncio.sleep(pause_s)
            if await self.send(url, event):
                return True
            if self.refused(url, event):
                return False
        log.warning("%s gave up delivering %s to %s", self.source, event.event_id, url)
        return False


def make_app(
    title: str,
    panel: KnobPanel[Any],
    ledger: Ledger,
    background: Background,
    on_startup: Callable[[], None] | None = None,
    api_key: SecretStr | str | None = None,
) -> FastAPI:
    """A FastAPI app with refusals as ``{"reason"}`` JSON, fault knobs, and clean shutdown.

    With ``api_key``, every route but ``/admin`` (the test knobs) needs
    ``Authorization: Bearer <api_key>``, as a partner's real API would; 401 otherwise.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_startup is not None:
            on_startup()
        yield
        await background.cancel_all()

    app = FastAPI(title=title, lifespan=lifespan)

    @app.exception_handler(Refusal)
    async def refusal(request: Request, exc: Refusal) -> JSONResponse:
        return JSONResponse({"reason": exc.reason}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        reason = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body') or 'body'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        return JSONResponse({"reason": reason}, status_code=422)

    install_knobs(app, panel)
    if api_key is not None:
        _require_api_key(app, api_key)
    app.state.ledger = ledger
    app.state.knobs = panel
    return app


def _require_api_key(app: FastAPI, api_key: SecretStr | str) -> None:
    expected = (api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key).encode()

    @app.middleware("http")
    async def bearer(request: Request, call_next: Callable[[Request], Any]) -> Any:
        if not request.url.path.startswith("/admin"):
            scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
            # Constant-time, and the key is never echoed or logged.
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                supplied.strip().encode(), expected
            ):
                return JSONResponse(
                    {"reason": "missing or wrong API key (Authorization: Bearer <key>)"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await call_next(request)
