"""Alarm pages and API without a browser: rights by role, CSRF, forged requests, API tokens, KPIs.

The app runs on the in-memory approvals table of test_web; alarms are raised by the same service
the loop uses, from health reports, with a clock the test moves."""

from __future__ import annotations

from datetime import timedelta

from agents.models import Status
from orchestrator.alarms import AlarmService, AlarmStore
from orchestrator.config import PlantConfig
from orchestrator.passwords import hash_password
from orchestrator.web.alarms import parse_duration
from orchestrator.web.app import create_app
from orchestrator.web.tokens import TokenStore
from tests.orchestrator.alarms.conftest import T0, Clock, plant, report
from tests.orchestrator.test_web import TableBackend, client_for, sign_in


def config_with_passwords() -> PlantConfig:
    config = plant()
    users = [
        u.model_copy(update={"password_hash": hash_password(f"{u.name}-pw", salt=u.name.encode().ljust(16, b"0"))})
        for u in config.users
    ]
    return config.model_copy(update={"users": tuple(users)})


def app_and_service(tokens: TokenStore | None = None):  # noqa: ANN201
    config = config_with_passwords()
    clock = Clock()
    service = AlarmService(AlarmStore(), config, clock=clock)
    app = create_app(config, TableBackend([]), alarms=service, tokens=tokens)
    return app, service, clock


def test_durations_read_as_people_write_them() -> None:
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("1d") == timedelta(days=1)
    assert parse_duration("") is None


async def test_operator_acknowledges_and_shelves_viewer_is_refused() -> None:
    app, service, clock = app_and_service()
    service.observe_reports([report("mill-1", Status.AMBER, T0)])
    async with client_for(app) as client:
        csrf = await sign_in(client, "omar")
        page = await client.get("/board")
        assert 'data-id="ALM-1"' in page.text and ">Acknowledge<" in page.text
        # No CSRF token: refused, nothing changes.
        bare = await client.post("/api/alarms/ALM-1/ack", json={"comment": "x"})
        assert bare.status_code == 403
        headers = {"X-CSRF-Token": csrf}
        ack = await client.post("/api/alarms/ALM-1/ack", json={"comment": "on it"}, headers=headers)
        assert ack.status_code == 200 and ack.json()["alarm"]["state"] == "active_ack"
        too_long = await client.post("/api/alarms/ALM-1/shelve",
                                     json={"reason": "x", "duration": "12h"}, headers=headers)
        assert too_long.status_code == 403 and "at most 8 h" in too_long.json()["message"]
        form = await client.post("/alarms/ALM-1/shelve", data={
            "csrf_token": csrf, "duration": "1h", "reason": "tool change", "back": "/board?line=line-a",
        })
        assert form.status_code == 303 and form.headers["location"].startswith("/board?line=line-a&msg=")
        assert service.get("ALM-1").shelved is not None
    async with client_for(app) as client:
        csrf = await sign_in(client, "vic")
        page = await client.get("/board")
        assert 'data-id="ALM-1"' in page.text and ">Acknowledge<" not in page.text
        assert ">Shelve<" not in page.text and ">Unshelve<" not in page.text
        forged = await client.post("/api/alarms/ALM-1/unshelve", json={},
                                   headers={"X-CSRF-Token": csrf})
        assert forged.status_code == 403 and "not act on them" in forged.json()["message"]
        forged_form = await client.post("/alarms/ALM-1/unshelve", data={"csrf_token": csrf})
        assert "ok=0" in forged_form.headers["location"]
    history = [(h.user, h.action.value) for h in service.get("ALM-1").history]
    assert history == [("autoops", "raised"), ("omar", "acknowledge"), ("omar", "shelve")]


async def test_notes_by_operators_assignment_by_leads_in_the_page() -> None:
    app, service, _ = app_and_service()
    service.observe_reports([report("mill-1", Status.AMBER, T0)])
    async with client_for(app) as client:
        csrf = await sign_in(client, "omar")
        page = await client.get("/alarms")
        assert ">Add note<" in page.text and ">Assign<" not in page.text
        noted = await client.post("/alarms/ALM-1/note", data={"csrf_token": csrf,
                                                              "comment": "coolant topped up"})
        assert "ok=1" in noted.headers["location"]
    async with client_for(app) as client:
        csrf = await sign_in(client, "ana")
        page = await client.get("/alarms")
        assert ">Assign<" in page.text and '<option value="role:operator">' in page.text
        given = await client.post("/alarms/ALM-1/assign", data={"csrf_token": csrf,
                                                                "assignee": "omar"},
                                  follow_redirects=True)
        assert "ALM-1 assigned to omar" in given.text and "Assigned to omar" in given.text
    history = [(h.user, h.action.value, h.comment or h.detail) for h in service.get("ALM-1").history]
    assert history[1:] == [("omar", "note", "coolant topped up"), ("ana", "assign", "to omar")]


async def test_redirect_never_leaves_the_site() -> None:
    app, service, _ = app_and_service()
    service.observe_reports([report("mill-1", Status.AMBER, T0)])
    async with client_for(app) as client:
        csrf = await sign_in(client, "omar")
        response = await client.post("/alarms/ALM-1/ack", data={"csrf_token": csrf,
                                                                "back": "//evil.example/x"})
        assert response.headers["location"].startswith("/alarms?")


async def test_api_token_acts_as_its_person_and_lists_with_history() -> None:
    tokens = TokenStore()
    app, service, _ = app_and_service(tokens)
    service.observe_reports([report("mill-1", Status.AMBER, T0)])
    token, _ = tokens.create("ana", "cli", ("maintenance_lead",))
    async with client_for(app) as client:
        headers = {"Authorization": f"Bearer {token}"}
        done = await client.post("/api/alarms/ALM-1/shelve",
                                 json={"reason": "bearing on order", "duration": "3d"}, headers=headers)
        assert done.status_code == 200, done.text
        listed = (await client.get("/api/alarms", headers=headers)).json()
        assert listed[0]["id"] == "ALM-1" and listed[0]["history"][-1]["user"] == "ana"
        kpis = (await client.get("/api/alarms/kpis", headers=headers)).json()
        assert kpis["activations"] == 1 and kpis["per_10_min"] > 0
        unknown = await client.post("/api/alarms/ALM-9/ack", json={}, headers=headers)
        assert unknown.status_code == 404


async def test_kpi_page_and_suppressed_alarms_are_visible() -> None:
    app, service, _ = app_and_service()
    service.observe_reports([report("mill-1", Status.AMBER, T0)],
                            suppressed={"mill-1": "maintenance maint:pc:mill-1"})
    async with client_for(app) as client:
        await sign_in(client, "omar")
        page = await client.get("/alarms")
        assert "Suppressed by design: maintenance maint:pc:mill-1" in page.text
        kpis = await client.get("/alarms/kpis")
        assert kpis.status_code == 200 and 'id="per_10_min"' in kpis.text
