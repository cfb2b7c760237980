"""Fuzz: the partner callback intake (``orchestrator/intake.py``).

Forged, unsigned, stale and garbage callbacks, odd headers, and correctly signed bodies of any
shape: the answer is one of the documented statuses with a ``reason`` (or a ``status``), never a
5xx; nothing unsigned or forged reaches the handler, and a signed event reaches it at most once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.intake import create_intake_router
from tests.fuzz.strategies import TEXT, VALUE, mutated
from workflows.integrations.models import CallbackEvent, EventType
from workflows.integrations.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

pytestmark = pytest.mark.fuzz

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SECRETS = {"supplier": "supplier-secret-1", "cmms": "cmms-secret-2"}
DOCUMENTED = {200, 202, 400, 401, 404, 405, 409, 413, 422}

EVENT = json.loads(
    CallbackEvent(
        event_id="supplier:PO-1:confirmed",
        type=EventType.ORDER_CONFIRMED,
        source="supplier",
        occurred_at=NOW,
        po_number="PO-1",
        payload={"supplier_order_id": "SO-000001"},
    ).model_dump_json()
)


WELL_FORMED = st.fixed_dictionaries(
    {
        "event_id": TEXT,
        "type": st.sampled_from([t.value for t in EventType]),
        "source": st.sampled_from(["supplier", "supplier", "cmms", "erp"]),
        "occurred_at": st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    },
    optional={
        "po_number": st.none() | TEXT,
        "external_ref": st.none() | TEXT,
        "payload": st.dictionaries(TEXT, VALUE, max_size=3),
    },
)


class Recorder:
    def __init__(self) -> None:
        self.events: list[CallbackEvent] = []

    async def __call__(self, event: CallbackEvent) -> None:
        self.events.append(event)


@pytest.fixture()
def intake():
    recorder = Recorder()
    app = FastAPI()
    app.include_router(
        create_intake_router(secrets=SECRETS, on_event=recorder, clock=lambda: NOW, max_skew_s=300)
    )
    with TestClient(app, raise_server_exceptions=False, base_url="http://orch") as client:
        yield client, recorder


def _answered(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code in DOCUMENTED, (response.status_code, response.text[:300])
    body = response.json()
    assert body.get("reason") or body.get("status") or body.get("detail"), body


NOW_S = int(NOW.timestamp())
TIMESTAMPS = st.one_of(
    st.integers(NOW_S - 400, NOW_S + 400).map(str),
    st.integers().map(str),
    st.integers(0, 10**400).map(str),  # the 400-digit timestamp of the probe
    st.sampled_from(["", " ", "-0", "1e9", "NaN", "1_700_000_000", "\u0661\u0662"]),
    TEXT,
)
SOURCES = st.one_of(st.sampled_from(["supplier", "cmms", "erp", "", "supplier/x"]), TEXT)


@settings(max_examples=1000)
@given(
    source=SOURCES,
    body=st.one_of(st.binary(max_size=300), VALUE.map(lambda v: json.dumps(v).encode())),
    timestamp=st.none() | TIMESTAMPS,
    signature=st.none()
    | st.one_of(
        TEXT, st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: "v1=" + h)
    ),
    content_length=st.none() | st.sampled_from(["-1", "abc", "99999999999999999999", "0", "5"]),
)
def test_forged_and_garbage_callbacks(
    intake, source, body, timestamp, signature, content_length, count
) -> None:
    count()
    client, recorder = intake
    headers: dict[str, str] = {"content-type": "application/json"}
    if timestamp is not None:
        headers[TIMESTAMP_HEADER] = timestamp
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    if content_length is not None:
        headers["content-length"] = content_length
    before = len(recorder.events)
    try:
        response = client.post(
            f"/callbacks/{quote(source, safe='')}", content=body, headers=_latin1(headers)
        )
    except (ValueError, UnicodeEncodeError):
        return  # a header the HTTP client itself cannot send cannot reach the server either
    _answered(response)
    assert len(recorder.events) == before  # nothing unsigned or forged is handled


def _latin1(headers: dict[str, str]) -> dict[str, str]:
    # HTTP header values are bytes; the client sends latin-1, so draw what can be sent.
    return {k: v.encode("utf-8", "replace").decode("latin-1") for k, v in headers.items()}


@settings(max_examples=1000)
@given(
    event=st.one_of(WELL_FORMED, mutated(EVENT), VALUE),
    source=st.sampled_from(["supplier", "cmms"]),
    skew=st.sampled_from([0, 0, 0, -299, 299, 301, -301, 10**6]),
    secret_ok=st.sampled_from([True, True, True, False]),
)
def test_signed_bodies_of_any_shape(intake, event, source, skew, secret_ok, count) -> None:
    count()
    client, recorder = intake
    body = json.dumps(event, allow_nan=True).encode()
    timestamp = NOW_S + skew
    secret = SECRETS[source] if secret_ok else "not-the-secret"
    headers = {
        "content-type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    before = len(recorder.events)
    response = client.post(f"/callbacks/{source}", content=body, headers=headers)
    _answered(response)
    handled = len(recorder.events) - before
    if response.status_code == 202:
        assert handled == 1 and recorder.events[-1].source == source
        assert secret_ok and abs(skew) <= 300
        # The same callback again is a replay: answered, never handled twice.
        again = client.post(f"/callbacks/{source}", content=body, headers=headers)
        assert again.status_code == 200 and len(recorder.events) == before + 1
    else:
        assert handled == 0
