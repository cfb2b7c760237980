"""The web UI while Temporal is down: a clear 503 with a message, never a raw 500 (issue 10, #9).

The real ``PlantBackend`` over a Temporal client pointed at a closed port on loopback.
"""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest
from temporalio.client import Client

from orchestrator.backend import PlantBackend
from orchestrator.ledger import WorkflowLedger
from orchestrator.web.app import create_app
from tests.orchestrator.test_web import client_for, config, sign_in  # noqa: F401  (fixture)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


@pytest.fixture
async def backend() -> PlantBackend:
    client = await Client.connect(f"127.0.0.1:{closed_port()}", lazy=True)
    orchestrator = SimpleNamespace(workflows=WorkflowLedger(), history=None, store=None)
    return PlantBackend(client, orchestrator, "")  # type: ignore[arg-type]


async def test_api_answers_503_with_a_json_reason(config, backend) -> None:  # noqa: F811
    app = create_app(config, backend)
    async with client_for(app) as client:
        csrf = await sign_in(client, "ana")
        for response in (
            await client.get("/api/approvals"),
            await client.get("/api/workflows/po:pc:BK:1"),
            await client.post(
                "/api/approvals/po:pc:BK:1/approve",
                json={"comment": "ok"},
                headers={"X-CSRF-Token": csrf},
            ),
        ):
            assert response.status_code == 503, response.text
            assert "Temporal" in response.json()["detail"]
            assert response.headers["retry-after"]


async def test_pages_answer_503_with_an_html_message(config, backend) -> None:  # noqa: F811
    app = create_app(config, backend)
    async with client_for(app) as client:
        await sign_in(client, "ana")
        for path in ("/approvals", "/workflows/po:pc:BK:1"):
            response = await client.get(path)
            assert response.status_code == 503
            assert "text/html" in response.headers["content-type"]
            assert "cannot be reached" in response.text
