"""The callback intake: signatures, freshness, replays and handler failures (clock injected)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from orchestrator.intake import SeenEvents, create_intake_router
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


class Body:
    """A streamed request body (no Content-Length) that counts what the server pulled from it."""

    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total, self.chunk, self.sent = total, chunk, 0

    async def __aiter__(self):  # noqa: ANN204  an async generator
        while self.sent < self.total:
            self.sent += self.chunk
            yield b"x" * self.chunk


async def test_unsigned_or_unknown_bodies_are_refused_before_they_are_read(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    unsigned = Body(200 * 1024 * 1024)
    response = await http.post("/callbacks/supplier", content=unsigned)
    assert response.status_code == 401 and "sender must sign" in response.json()["reason"]
    stale = Body(200 * 1024 * 1024)
    headers = signature_headers(SECRETS["supplier"], b"", NOW - timedelta(hours=1))
    response = await http.post("/callbacks/supplier", content=stale, headers=headers)
    assert response.status_code == 401 and "stale" in response.json()["reason"]
    unknown = Body(200 * 1024 * 1024)
    response = await http.post("/callbacks/bank", content=unknown, headers=headers)
    assert response.status_code == 401
    # Nothing past what the transport hands over with the request: not one more chunk was read.
    assert unsigned.sent <= unsigned.chunk and stale.sent <= stale.chunk
    assert unknown.sent <= unknown.chunk
    assert recorder.events == []


async def test_signed_bodies_over_the_limit_are_refused_early_with_413(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    big = b"x" * (64 * 1024 + 1)
    declared = await post(http, big)
    assert declared.status_code == 413 and "65,537 bytes declared" in declared.json()["reason"]
    # No Content-Length (chunked): counted as it arrives, refused once past the limit.
    streamed = Body(200 * 1024 * 1024, chunk=16 * 1024)
    headers = signature_headers(SECRETS["supplier"], b"", NOW)
    response = await http.post("/callbacks/supplier", content=streamed, headers=headers)
    assert response.status_code == 413 and "at most 65,536 bytes" in response.json()["reason"]
    assert streamed.sent <= 64 * 1024 + 2 * streamed.chunk
    bad_length = await http.post(
        "/callbacks/supplier", content=confirmed(), headers={**headers, "Content-Length": "1e9"}
    )
    assert bad_length.status_code in (400, 413)
    assert recorder.events == []


@pytest.mark.parametrize("timestamp", ["9" * 400, "-" + "9" * 400, "1e9", "0x10", " "])
async def test_a_malformed_timestamp_is_refused_with_401_not_a_crash(
    http: httpx.AsyncClient, recorder: Recorder, timestamp: str
) -> None:
    headers = {**signature_headers(SECRETS["supplier"], confirmed(), NOW)}
    headers["X-Autoops-Timestamp"] = timestamp
    response = await http.post("/callbacks/supplier", content=confirmed(), headers=headers)
    assert response.status_code == 401
    assert "Unix seconds" in response.json()["reason"] or "must sign" in response.json()["reason"]
    assert recorder.events == []


async def test_a_captured_callback_is_still_a_replay_after_a_restart(
    recorder: Recorder, tmp_path
) -> None:
    path = tmp_path / "state" / "intake-seen.sqlite"
    body = confirmed()
    captured = signature_headers(SECRETS["supplier"], body, NOW)

    async def deliver() -> httpx.Response:
        seen = SeenEvents(path=path)  # a fresh process: only what is on disk is remembered
        app = FastAPI()
        app.include_router(
            create_intake_router(secrets=SECRETS, on_event=recorder, clock=lambda: NOW, seen=seen)
        )
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://orch") as client:
                return await client.post("/callbacks/supplier", content=body, headers=captured)
        finally:
            seen.close()

    assert (await deliver()).status_code == 202
    again = await deliver()
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert len(recorder.events) == 1


def test_the_replay_memory_is_bounded(tmp_path) -> None:
    seen = SeenEvents(capacity=3, path=tmp_path / "seen.sqlite")
    try:
        for n in range(5):
            seen.add(f"ev-{n}")
        seen.add("ev-4")  # a repeat changes nothing
        assert len(seen) == 3
        assert "ev-0" not in seen and "ev-1" not in seen
        assert all(f"ev-{n}" in seen for n in (2, 3, 4))
    finally:
        seen.close()
