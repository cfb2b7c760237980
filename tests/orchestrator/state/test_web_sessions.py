"""Web sessions and API tokens in the state database: two web app instances on one database
behave as one (a user signed in on one is signed in on the other)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator.state import StateDB
from orchestrator.web.app import create_app
from tests.orchestrator.test_tokens import new_token
from tests.orchestrator.test_web import TableBackend, client_for, config, item, sign_in  # noqa: F401


@pytest.fixture
def two_dbs(state_url: str) -> Iterator[tuple[StateDB, StateDB]]:
    # Two engines (two connection pools), as two web processes would have.
    first, second = StateDB(state_url), StateDB(state_url)
    yield first, second
    first.close()
    second.close()


def web(config, backend, db: StateDB):  # noqa: F811
    return create_app(config, backend, sessions=db.session_store(), tokens=db.token_store())


async def test_a_user_signed_in_on_one_web_app_is_signed_in_on_the_other(
    config, two_dbs  # noqa: F811
) -> None:
    backend = TableBackend([item("po-1", 600)])
    app_a, app_b = web(config, backend, two_dbs[0]), web(config, backend, two_dbs[1])
    async with client_for(app_a) as on_a, client_for(app_b) as on_b:
        assert (await on_b.get("/api/me")).status_code == 401
        csrf = await sign_in(on_a, "carla")
        # The browser's next request lands on the other process, with the same cookie.
        on_b.cookies.update(on_a.cookies)
        me = await on_b.get("/api/me")
        assert me.status_code == 200 and me.json()["user"] == "carla"
        assert me.json()["csrf_token"] == csrf  # the same session, CSRF token included
        done = await on_b.post(
            "/api/approvals/po-1/approve", json={"comment": "ok"}, headers={"X-CSRF-Token": csrf}
        )
        assert done.status_code == 200 and backend.sent == [("po-1", "carla", True)]
        # Signing out on B signs out everywhere.
        out = await on_b.post("/logout", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert (await on_a.get("/api/me")).status_code == 401


async def test_a_token_made_on_one_web_app_works_on_the_other_until_revoked_there(
    config, two_dbs  # noqa: F811
) -> None:
    backend = TableBackend([item("po-1", 600)])
    app_a, app_b = web(config, backend, two_dbs[0]), web(config, backend, two_dbs[1])
    async with client_for(app_a) as browser, client_for(app_b) as cli:
        csrf = await sign_in(browser, "carla")
        token = await new_token(browser, csrf)
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await cli.get("/api/me", headers=bearer)).json()["user"] == "carla"
        public = token.split("_")[1]
        assert (await browser.post(f"/tokens/{public}/revoke", data={"csrf_token": csrf})).status_code == 303
        assert (await cli.get("/api/me", headers=bearer)).status_code == 401


def test_sessions_expire_and_slide_on_the_shared_clock(state_url: str) -> None:
    db = StateDB(state_url)
    now = [1_000_000.0]
    from orchestrator.state.sessions import SqlSessionStore

    store = SqlSessionStore(db, idle_s=600, clock=lambda: now[0])
    session = store.new(user="ana")
    now[0] += 500
    assert store.get(session.id).user == "ana"  # used: its idle time starts again
    now[0] += 500
    assert store.get(session.id) is not None
    now[0] += 601
    assert store.get(session.id) is None
    assert store.get("x" * 500) is None and store.get(None) is None
    db.close()
