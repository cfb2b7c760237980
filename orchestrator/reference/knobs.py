"""Fault knobs for the reference servers: latency, 5xx rate, 429 rate, garbled bodies, seeded.

Set at start (constructor) and changed at run time with ``PUT /admin/knobs`` (partial JSON).
Faults apply to every route except ``/admin``. 5xx and 429 are decided *before* the request is
handled (nothing happens on the server); a garbled body is produced *after* handling (the order
exists, the answer is unreadable) because that is the case idempotency keys must survive.
Latency is added after handling, before answering; latency longer than a client's timeout is
how tests produce timeouts whose request nevertheless took effect.
"""

from __future__ import annotations

import asyncio
import random
from enum import StrEnum
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Knobs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_s: float = Field(default=0.0, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)  # share of requests answered 503
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1)  # share answered 429
    malformed_rate: float = Field(default=0.0, ge=0, le=1)  # share with a truncated JSON body
    seed: int = 0


class SupplierKnobs(Knobs):
    confirm_delay_s: float | None = Field(default=0.2, ge=0)  # None: never confirm by itself
    ship_delay_s: float | None = Field(default=0.2, ge=0)  # after confirmation


class CmmsKnobs(Knobs):
    auto_complete_delay_s: float | None = Field(default=None, ge=0)  # None: wait for /complete
    # The finding an auto-completed work order reports (the technician's "fault confirmed?").
    auto_complete_fault_confirmed: bool | None = None


class Fault(StrEnum):
    SERVER_ERROR = "server_error"
    RATE_LIMITED = "rate_limited"
    MALFORMED = "malformed"


K = TypeVar("K", bound=Knobs)


class KnobPanel(Generic[K]):
    """The current knobs and the seeded random source that turns rates into faults."""

    def __init__(self, knobs: K) -> None:
        self.knobs = knobs
        self._rng = random.Random(knobs.seed)

    def update(self, changes: dict[str, Any]) -> K:
        """Apply a partial update; re-seeds when ``seed`` is given so runs are repeatable."""
        self.knobs = type(self.knobs).model_validate({**self.knobs.model_dump(), **changes})
        if "seed" in changes:
            self._rng = random.Random(self.knobs.seed)
        return self.knobs

    def roll(self) -> Fault | None:
        k = self.knobs
        u = self._rng.random()
        if u < k.error_rate:
            return Fault.SERVER_ERROR
        if u < k.error_rate + k.rate_limit_rate:
            return Fault.RATE_LIMITED
        if u < k.error_rate + k.rate_limit_rate + k.malformed_rate:
            return Fault.MALFORMED
        return None


def install_knobs(app: FastAPI, panel: KnobPanel[Any]) -> None:
    """Add the fault middleware and the ``/admin/knobs`` routes to ``app``."""

    @app.middleware("http")
    async def inject_faults(request: Request, call_next: Any) -> Response:
        if request.url.path.startswith("/admin"):
            return await call_next(request)
        fault = panel.roll()
        if fault is Fault.SERVER_ERROR:
            return JSONResponse({"reason": "injected fault: service unavailable"}, status_code=503)
        if fault is Fault.RATE_LIMITED:
            return JSONResponse(
                {"reason": "injected fault: too many requests"},
                status_code=429,
                headers={"Retry-After": "1"},
            )
        response = await call_next(request)
        if panel.knobs.latency_s:
            # After handling: a slow partner that did the work but answers late is the case a
            # client timeout must survive (its retry has to find the order, not place another).
            await asyncio.sleep(panel.knobs.latency_s)
        if fault is Fault.MALFORMED:
            body = b"".join([chunk async for chunk in response.body_iterator])
            return Response(
                content=body[: max(1, len(body) // 2)],
                status_code=response.status_code,
                media_type="application/json",
            )
        return response

    router = APIRouter(prefix="/admin")

    @router.get("/knobs")
    async def get_knobs() -> dict[str, Any]:
        return panel.knobs.model_dump()

    @router.put("/knobs")
    async def put_knobs(changes: dict[str, Any]) -> Response:
        try:
            return JSONResponse(panel.update(changes).model_dump())
        except ValidationError as exc:
            return JSONResponse({"reason": _describe(exc)}, status_code=422)

    app.include_router(router)


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
    )
