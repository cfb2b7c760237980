"""The web API on a real uvicorn server on loopback, personal API tokens made through its pages, and
``autoops approvals approve|reject|resolve`` run against it (what the CLI tests share)."""

from __future__ import annotations

import asyncio
import html
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from orchestrator.approvals import TemporalApprovals
from orchestrator.config import parse_config
from orchestrator.temporal import free_port
from orchestrator.web.app import create_app

REPO = Path(__file__).resolve().parents[2]


class ApprovalsOnly(TemporalApprovals):
    """The approval half of the orchestrator's web backend (no board, no decision log)."""

    temporal_ui_url = ""


@asynccontextmanager
async def live_web(plant: dict[str, Any], client: Any) -> AsyncIterator[str]:
    """The web app of ``plant`` over ``client``'s Temporal, served on 127.0.0.1; yields its URL."""
    app = create_app(parse_config(plant), ApprovalsOnly(client))  # type: ignore[arg-type]
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(400):  # generous: a busy CI box
            if server.started or task.done():
                break
            await asyncio.sleep(0.05)
        assert server.started, "the web app did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def signed_in(url: str, name: str, password: str) -> tuple[httpx.AsyncClient, str]:
    """A client signed in through the sign-in form, and the form CSRF token of its session."""
    client = httpx.AsyncClient(base_url=url, timeout=30)
    page = await client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = await client.post("/login", data={"username": name, "password": password, "csrf_token": csrf})
    assert response.status_code == 303, response.text
    return client, str((await client.get("/api/me")).json()["csrf_token"])


async def create_token(url: str, name: str, password: str, *, roles: tuple[str, ...] = ()) -> str:
    """A personal API token made the way a person makes one: signed in, on the Tokens page."""
    client, csrf = await signed_in(url, name, password)
    try:
        form: dict[str, Any] = {"csrf_token": csrf, "name": "cli test"}
        if roles:
            form["roles"] = list(roles)
        page = await client.post("/tokens", data=form)
        assert page.status_code == 200, page.text
        found = re.search(r'id="new-token" readonly value="([^"]+)"', page.text)
        assert found, "the Tokens page shows no new token"
        return html.unescape(found.group(1))
    finally:
        await client.aclose()


async def revoke_token(url: str, name: str, password: str, token: str) -> None:
    client, csrf = await signed_in(url, name, password)
    try:
        public = token.split("_")[1]
        done = await client.post(f"/tokens/{public}/revoke", data={"csrf_token": csrf})
        assert done.status_code == 303, done.text
    finally:
        await client.aclose()


async def vote_cli(url: str, token: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """``autoops approvals <args>`` against the web API at ``url``, with ``token`` in the env."""
    env = {k: v for k, v in os.environ.items() if k not in ("AUTOOPS_API_TOKEN", "AUTOOPS_CONFIG")}
    env.update(PYTHONPATH=str(REPO), AUTOOPS_URL=url)
    if token is not None:
        env["AUTOOPS_API_TOKEN"] = token
    cmd = [str(Path(sys.executable).parent / "autoops"), "approvals", *args]
    return await asyncio.to_thread(
        subprocess.run, cmd, capture_output=True, text=True, timeout=60, env=env,
        stdin=subprocess.DEVNULL,
    )
