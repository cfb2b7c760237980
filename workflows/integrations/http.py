"""The one boundary where httpx and HTTP status codes become autoops errors.

Every partner client sends its requests through ``PartnerHttp.call``; nothing else in autoops
catches an httpx exception. The mapping (why each is retryable or not):

    timeout, connect / read / protocol error  -> RetryableIntegrationError  (the partner may be back soon)
    HTTP 5xx, 429, 408                        -> RetryableIntegrationError  (same; honour backoff)
    HTTP 404 on a lookup                      -> ``None`` for the caller (not an error)
    other HTTP 4xx                            -> RejectedByPartnerError with the partner's reason
                                                 (retrying the same request cannot help: a person must look)
    2xx with a body that is not JSON          -> MalformedResponseError (retryable: a garbled answer or a
                                                 proxy's HTML page is usually transient, and every write we
                                                 send is idempotent, so asking again never doubles it)
    2xx JSON of the wrong shape, other status -> PartnerContractError (NOT retryable: the partner changed
                                                 its contract; the same call will fail the same way)
    bad base URL / scheme                     -> IntegrationError (NOT retryable: configuration)

Messages name the partner, the operation, the method and path, the status and the reason, and
never the headers, query strings or bodies we sent (they may carry credentials).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import httpx
from opentelemetry import metrics
from pydantic import BaseModel, ValidationError

from agents.errors import (
    AutoopsError,
    IntegrationError,
    MalformedResponseError,
    PartnerContractError,
    RejectedByPartnerError,
    RetryableIntegrationError,
)

M = TypeVar("M", bound=BaseModel)

#: Connect quickly or give up; a partner that accepted the connection gets longer to answer.
#: For clients built without one; the orchestrator builds each partner's client with its
#: ``[endpoints.<partner>] timeout_s`` (``orchestrator.process.partner_client``).
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)

_MAX_REASON = 300  # a partner's HTML error page must not flood a person's inbox

#: Every error this boundary raises, by partner, operation and error class (OpenTelemetry API:
#: a no-op until the process configures a meter provider).
EXTERNAL_ERRORS = metrics.get_meter("autoops.integrations").create_counter(
    "autoops.external.errors", description="partner calls that ended in an error, by kind"
)


class PartnerHttp:
    """Sends one JSON request to a partner and returns the parsed response model, or raises ours."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        partner: str,
        timeout: httpx.Timeout | float | None = None,
    ) -> None:
        """``timeout`` None: the injected client's own timeout, which carries the configuration."""
        self._client = client
        self.partner = partner
        self.timeout: httpx.Timeout = (
            client.timeout
            if timeout is None
            else timeout
            if isinstance(timeout, httpx.Timeout)
            else httpx.Timeout(timeout)
        )

    async def call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        response_model: type[M],
        json_body: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        none_on_404: bool = False,
    ) -> tuple[M | None, int]:
        """Send the request; return ``(model, status)``, or ``(None, 404)`` when ``none_on_404``."""
        try:
            return await self._call(
                method, path, operation=operation, response_model=response_model,
                json_body=json_body, params=params, headers=headers, none_on_404=none_on_404,
            )
        except AutoopsError as exc:
            EXTERNAL_ERRORS.add(
                1,
                {"peer.service": self.partner, "operation": operation, "error.type": type(exc).__name__},
            )
            raise

    async def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        response_model: type[M],
        json_body: Any,
        params: dict[str, str] | None,
        headers: dict[str, str] | None,
        none_on_404: bool,
    ) -> tuple[M | None, int]:
        where = f"{self.partner} {operation} ({method} {path})"
        try:
            response = await self._client.request(
                method, path, json=json_body, params=params, headers=headers, timeout=self.timeout
            )
        except httpx.TimeoutException as exc:
            raise RetryableIntegrationError(
                f"{where}: no answer within the timeout ({type(exc).__name__}); will be retried",
                **self._loc(operation, None, "timeout"),
            ) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise IntegrationError(
                f"{where}: the partner's base URL is not usable ({exc}); fix the configuration",
                **self._loc(operation, None, "bad base URL"),
            ) from exc
        except httpx.TransportError as exc:
            raise RetryableIntegrationError(
                f"{where}: transport error {type(exc).__name__}; is the partner up? will be retried",
                **self._loc(operation, None, type(exc).__name__),
            ) from exc
        return self._interpret(response, where, operation, response_model, none_on_404)

    def _interpret(
        self,
        response: httpx.Response,
        where: str,
        operation: str,
        response_model: type[M],
        none_on_404: bool,
    ) -> tuple[M | None, int]:
        status = response.status_code
        if status >= 500 or status in (408, 429):
            hint = response.headers.get("retry-after")
            reason = _reason(response) or response.reason_phrase
            raise RetryableIntegrationError(
                f"{where}: HTTP {status} {reason}"
                + (f" (Retry-After {hint})" if hint else "")
                + "; will be retried with backoff",
                **self._loc(operation, status, reason),
            )
        if status == 404 and none_on_404:
            return None, status
        if 400 <= status < 500:
            reason = _reason(response) or response.reason_phrase
            raise RejectedByPartnerError(
                f"{where}: refused with HTTP {status}: {reason}; a person must correct the request",
                **self._loc(operation, status, reason),
            )
        if not 200 <= status < 300:
            raise PartnerContractError(
                f"{where}: unexpected HTTP {status}; the partner's API does not behave as agreed",
                **self._loc(operation, status, f"unexpected status {status}"),
            )
        try:
            data = json.loads(response.content)
        except ValueError as exc:
            raise MalformedResponseError(
                f"{where}: HTTP {status} with a body that is not JSON "
                f"({len(response.content)} bytes); will be retried",
                **self._loc(operation, status, "malformed JSON"),
            ) from exc
        try:
            return response_model.model_validate(data), status
        except ValidationError as exc:
            problems = "; ".join(
                f"field {'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
                for err in exc.errors()[:3]
            )
            raise PartnerContractError(
                f"{where}: answer does not fit {response_model.__name__}: {problems}; "
                "the partner changed its API, update the client or the partner",
                **self._loc(operation, status, problems),
            ) from exc

    def _loc(self, operation: str, status: int | None, reason: str) -> dict[str, Any]:
        return {
            "partner": self.partner,
            "operation": operation,
            "status_code": status,
            "reason": reason,
        }


def _reason(response: httpx.Response) -> str:
    """The partner's own words: ``reason`` / ``detail`` of a JSON body, else the start of the text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:_MAX_REASON]
    if isinstance(body, dict):
        for key in ("reason", "detail", "message", "error"):
            if key in body:
                value = body[key]
                return (value if isinstance(value, str) else json.dumps(value))[:_MAX_REASON]
    return json.dumps(body)[:_MAX_REASON]
