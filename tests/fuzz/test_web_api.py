"""Fuzz: the web API's JSON bodies, forms, paths and query strings (``orchestrator/web``).

A signed-in user sends anything to every endpoint that takes input: the answer is never a 5xx
and never a traceback; a refusal is a JSON ``detail`` (API) or a page / redirect (forms).
The backend is the in-memory table of ``tests/orchestrator/test_web.py``.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.web.app import create_app
from tests.fuzz.strategies import TEXT, VALUE
from tests.orchestrator.test_web import TableBackend, config, item  # noqa: F401  (fixture)

pytestmark = pytest.mark.fuzz

IDS = st.one_of(
    st.sampled_from(["po:pc:BK:1", "po:pc:BK:2", "", "%", "..", "a/b", "x" * 3000]), TEXT
)
JSON_BODY = st.one_of(
    VALUE.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    st.fixed_dictionaries({"comment": st.one_of(TEXT, VALUE)}).map(
        lambda v: json.dumps(v).encode()
    ),
    st.binary(max_size=200),
    st.just(b'{"comment": "' + b"\xff" * 10 + b'"}'),
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "",
    ]
)


@pytest.fixture()
def session(config):  # noqa: F811
    items = [item("po:pc:BK:1", 800.0), item("po:pc:BK:2", 4000.0, min_approvers=2)]
    app = create_app(config, TableBackend(items))
    with TestClient(app, raise_server_exceptions=False, base_url="http://test") as client:
        page = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        signed = client.post(
            "/login",
            data={"username": "ana", "password": "ana-pw", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert signed.status_code == 303
        csrf = client.get("/api/me").json()["csrf_token"]
        yield client, csrf


def _answered(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        body = response.json()
        assert body.get("detail") or body.get("message") or body.get("reason"), body


@settings(max_examples=900)
@given(
    approval_id=IDS,
    verb=st.sampled_from(["approve", "reject"]),
    body=JSON_BODY,
    content_type=CONTENT_TYPES,
    with_csrf=st.booleans(),
)
def test_api_votes_with_any_body(
    session, approval_id, verb, body, content_type, with_csrf, count
) -> None:
    count()
    client, csrf = session
    headers = {"content-type": content_type} if content_type else {}
    if with_csrf:
        headers["X-CSRF-Token"] = csrf
    url = f"/api/approvals/{quote(approval_id, safe='')}/{verb}"
    _answered(client.post(url, content=body, headers=headers))


@settings(max_examples=400)
@given(
    approval_id=IDS,
    verb=st.one_of(st.sampled_from(["approve", "reject"]), TEXT),
    fields=st.dictionaries(st.sampled_from(["comment", "csrf_token", "x", ""]), TEXT, max_size=3),
    with_csrf=st.booleans(),
)
def test_forms_with_any_fields(session, approval_id, verb, fields, with_csrf, count) -> None:
    count()
    client, csrf = session
    if with_csrf:
        fields = {**fields, "csrf_token": csrf}
    url = f"/approvals/{quote(approval_id, safe='')}/{quote(verb, safe='')}"
    _answered(client.post(url, data=fields, follow_redirects=False))


@settings(max_examples=400)
@given(
    path=st.sampled_from(
        [
            "/api/decisions",
            "/decisions",
            "/api/approvals",
            "/approvals",
            "/api/board",
            "/board",
            "/api/workflows/",
            "/alarms",
            "/alarms/kpis",
            "/api/alarms",
            "/api/alarms/kpis",
            "/api/alarms/",
        ]
    ),
    params=st.dictionaries(
        st.sampled_from(["q", "limit", "msg", "ok", "x", "line", "status", "alarms", "include_cleared"]),
        st.one_of(TEXT, st.integers().map(str)),
        max_size=3,
    ),
    tail=IDS,
)
def test_pages_with_any_query(session, path, params, tail, count) -> None:
    count()
    client, _ = session
    url = path + (quote(tail, safe="") if path.endswith("/") else "")
    _answered(client.get(url, params=params, follow_redirects=False))


@settings(max_examples=100)  # each attempt hashes a password (scrypt): the slow one
@given(
    username=TEXT,
    password=st.one_of(TEXT, st.just("ana-pw")),
    extra=st.dictionaries(TEXT, TEXT, max_size=2),
)
def test_sign_in_with_any_form(session, username, password, extra, count) -> None:
    count()
    client, _ = session
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    data = {**extra, "username": username, "password": password, "csrf_token": csrf}
    _answered(client.post("/login", data=data, follow_redirects=False))


@pytest.fixture()
def alarm_session(session):  # type: ignore[no-untyped-def]
    """The signed-in session of ``session`` with one active alarm (ALM-1) to act on."""
    from datetime import UTC, datetime

    from agents.models import AssetKind, HealthReport, Status

    client, csrf = session
    client.app.state.alarms.observe_reports([HealthReport(
        report_id="m:1", asset_id="m", asset_kind=AssetKind.MACHINE, seq=1,
        time=datetime(2026, 11, 25, tzinfo=UTC), status=Status.AMBER, health_score=0.5)])
    return client, csrf


ALARM_BODY = st.one_of(
    JSON_BODY,
    st.fixed_dictionaries(
        {},
        optional={
            "comment": st.one_of(TEXT, VALUE),
            "reason": st.one_of(TEXT, VALUE),
            "duration": st.one_of(TEXT, st.sampled_from(["1h", "99999999999999d", "0m", "1.5h"])),
            "assignee": st.one_of(TEXT, st.just("ana")),
        },
    ).map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=300)
@given(
    alarm_id=st.one_of(st.just("ALM-1"), IDS),
    verb=st.one_of(st.sampled_from(["ack", "shelve", "unshelve", "assign", "note"]), TEXT),
    body=ALARM_BODY,
    with_csrf=st.booleans(),
)
def test_alarm_actions_with_any_body(alarm_session, alarm_id, verb, body, with_csrf, count) -> None:
    count()
    client, csrf = alarm_session
    headers = {"content-type": "application/json"}
    if with_csrf:
        headers["X-CSRF-Token"] = csrf
    url = f"/api/alarms/{quote(alarm_id, safe='')}/{quote(verb, safe='')}"
    _answered(client.post(url, content=body, headers=headers))
    fields = {"csrf_token": csrf} if with_csrf else {}
    form = client.post(url.removeprefix("/api"), data={**fields, "duration": "2h", "back": verb,
                                                       "reason": "r"}, follow_redirects=False)
    _answered(form)
    if form.status_code == 303:
        assert form.headers["location"].startswith(("/alarms?", "/board?"))
