"""Personal API tokens: made and revoked on the Tokens page, stored hashed, scoped to roles, and
accepted by the same API routes as a session (no CSRF: a browser never sends them by itself)."""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
from pathlib import Path

import httpx
import pytest

from orchestrator.config import parse_config
from orchestrator.web.app import create_app
from orchestrator.web.tokens import TokenStore
from tests.orchestrator.test_web import TableBackend, client_for, config, item, sign_in  # noqa: F401


async def new_token(client: httpx.AsyncClient, csrf: str, roles: tuple[str, ...] = ()) -> str:
    page = await client.post("/tokens", data={"csrf_token": csrf, "name": "laptop", "roles": list(roles)})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    found = re.search(r'id="new-token" readonly value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def test_the_store_keeps_only_a_hash_and_forgets_revoked_tokens(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "api-tokens.sqlite")
    token, info = store.create("carla", "laptop", ("buyer",))
    assert store.check(token) is not None and store.check(token + "x") is None
    assert store.check("aot_" + info.id + "_guess") is None and store.check("not-a-token") is None
    rows = sqlite3.connect(tmp_path / "api-tokens.sqlite").execute("SELECT * FROM tokens").fetchall()
    assert token not in repr(rows) and hashlib.sha256(token.encode()).hexdigest() in repr(rows)
    reopened = TokenStore(tmp_path / "api-tokens.sqlite")  # survives a restart
    assert reopened.check(token) is not None
    assert not reopened.revoke("ana", info.id)  # only its owner revokes it
    assert reopened.revoke("carla", info.id) and reopened.check(token) is None
    assert reopened.of("carla")[0].revoked_at is not None


async def test_a_token_acts_as_its_person_through_the_api_and_a_revoked_one_does_not(
    config, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    caplog.set_level(logging.INFO, logger="autoops.audit")
    backend = TableBackend([item("po-1", 600)])
    app = create_app(config, backend)
    async with client_for(app) as browser, client_for(app) as cli:
        csrf = await sign_in(browser, "carla")
        token = await new_token(browser, csrf)
        page = (await browser.get("/tokens")).text
        assert "laptop" in page and token not in page  # shown once, then only its id

        bearer = {"Authorization": f"Bearer {token}"}
        assert (await cli.get("/api/me", headers=bearer)).json()["user"] == "carla"
        # No cookie, no CSRF token: the bearer token is the proof.
        done = await cli.post("/api/approvals/po-1/approve", json={"comment": "ok"}, headers=bearer)
        assert done.status_code == 200 and backend.sent == [("po-1", "carla", True)]
        # A token cannot make or revoke tokens; that needs a person signed in with a password.
        made = await cli.post("/tokens", data={"name": "x"}, headers=bearer)
        assert made.status_code == 403

        public = token.split("_")[1]
        revoked = await browser.post(f"/tokens/{public}/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303
        late = await cli.post("/api/approvals/po-1/reject", json={"comment": "x"}, headers=bearer)
        assert late.status_code == 401 and "not valid" in late.json()["detail"]
        assert len(backend.sent) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"API token created: user=carla token={public}" in logged
    assert f"API token refused: token={public}" in logged
    assert token not in logged


async def test_a_token_signs_only_with_the_roles_it_was_given(tmp_path: Path) -> None:
    from orchestrator.passwords import hash_password

    plant = {
        "site": "pc",
        "roles": {"maintenance_lead": {"approval_limit": 5000}, "buyer": {"approval_limit": 1000}},
        "users": [{"name": "ana", "roles": ["maintenance_lead", "buyer"],
                   "password_hash": hash_password("ana-pw", salt=b"ana".ljust(16, b"0"))}],
    }
    store = TokenStore(tmp_path / "t.sqlite")
    backend = TableBackend([item("po-2", 600, min_approvers=1).model_copy(update={"roles": ("maintenance_lead",)})])
    app = create_app(parse_config(plant), backend, tokens=store)
    async with client_for(app) as browser, client_for(app) as cli:
        csrf = await sign_in(browser, "ana")
        buyer_only = await new_token(browser, csrf, roles=("buyer",))
        bearer = {"Authorization": f"Bearer {buyer_only}"}
        assert (await cli.get("/api/me", headers=bearer)).json()["roles"] == ["buyer"]
        refused = await cli.post("/api/approvals/po-2/approve", json={"comment": ""}, headers=bearer)
        assert refused.status_code == 403 and "may not approve this" in refused.json()["message"]
        assert backend.sent == []
    # A person who no longer holds the token's roles: the token no longer works.
    plant["users"][0]["roles"] = ["maintenance_lead"]
    app = create_app(parse_config(plant), backend, tokens=store)
    async with client_for(app) as cli:
        gone = await cli.get("/api/me", headers={"Authorization": f"Bearer {buyer_only}"})
        assert gone.status_code == 401
