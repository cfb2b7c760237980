"""The callback intake: signatures, freshness, replays and handler failures (clock injected)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from orchestrator.intake import create_intake_router
from workflows.integrations.models import CallbackEvent, EventType
from workflows.integrations.signing import signature_headers

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SECRETS = {"supplier": "supplier-secret-1", "cmms": "cmms-secret-2"}


class Recorder:
    def __init__(self) -> None:
        self.events: list[CallbackEvent] = []
        self.fail_next = False

    async def __call__(self, event: CallbackEvent) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("temporal unreachable")
        self.events.append(event)


def confirmed(event_id: str = "supplier:PO-1:confirmed") -> bytes:
    return (
        CallbackEvent(
            event_id=event_id,
            type=EventType.ORDER_CONFIRMED,
            source="supplier",
            occurred_at=NOW,
            po_number="PO-1",
            payload={"supplier_order_id": "SO-000001"},
        )
        .model_dump_json()
        .encode()
    )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def http(recorder: Recorder) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(
        create_intake_router(secrets=SECRETS, on_event=recorder, clock=lambda: NOW, max_skew_s=300)
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://orch")


async def post(
    http: httpx.AsyncClient,
    body: bytes,
    *,
    secret: str = SECRETS["supplier"],
    signed_at: datetime = NOW,
    source: str = "supplier",
) -> httpx.Response:
    headers = signature_headers(secret, body, signed_at)
    return await http.post(f"/callbacks/{source}", content=body, headers=headers)


async def test_signed_event_reaches_the_handler_once(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    first = await post(http, confirmed())
    replay = await post(http, confirmed(), signed_at=NOW + timedelta(seconds=30))
    assert first.status_code == 202 and replay.status_code == 200
    assert replay.json()["status"] == "duplicate"
    assert [(e.type, e.po_number) for e in recorder.events] == [(EventType.ORDER_CONFIRMED, "PO-1")]


@pytest.mark.parametrize(
    ("signed_at", "secret", "words"),
    [
        (NOW - timedelta(seconds=301), SECRETS["supplier"], "stale"),
        (NOW + timedelta(seconds=301), SECRETS["supplier"], "future"),
        (NOW, "guessed-secret", "forged"),
        (NOW, SECRETS["cmms"], "forged"),  # another partner's key does not sign for the supplier
    ],
)
async def test_stale_future_and_forged_callbacks_are_refused(
    http: httpx.AsyncClient,
    recorder: Recorder,
    signed_at: datetime,
    secret: str,
    words: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = await post(http, confirmed(), secret=secret, signed_at=signed_at)
    assert response.status_code == 401 and words in response.json()["reason"]
    assert recorder.events == []
    assert all(s not in caplog.text for s in SECRETS.values())


async def test_tampered_body_unsigned_and_unknown_source_are_refused(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    headers = signature_headers(SECRETS["supplier"], confirmed(), NOW)
    tampered = confirmed().replace(b"PO-1", b"PO-2")
    assert (
        await http.post("/callbacks/supplier", content=tampered, headers=headers)
    ).status_code == 401
    assert (await http.post("/callbacks/supplier", content=confirmed())).status_code == 401
    assert (await post(http, confirmed(), source="bank")).status_code == 401
    assert recorder.events == []


async def test_event_on_the_wrong_endpoint_is_refused(http: httpx.AsyncClient) -> None:
    response = await post(http, confirmed(), secret=SECRETS["cmms"], source="cmms")
    assert response.status_code == 422 and "arrived on the 'cmms' endpoint" in response.text


async def test_failed_handling_is_not_remembered_so_the_retry_lands(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    recorder.fail_next = True
    assert (await post(http, confirmed())).status_code == 503
    assert (await post(http, confirmed())).status_code == 202
    assert len(recorder.events) == 1
