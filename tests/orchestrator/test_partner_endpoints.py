"""``[endpoints.<partner>]`` in the plant file: the API key goes out as a bearer token, the timeout
bounds every call, and an unset key variable is a configuration error at load.

Against the reference supplier on real uvicorn on 127.0.0.1, requiring a key as a partner would.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.errors import ConfigError, RejectedByPartnerError, RetryableIntegrationError
from orchestrator.config import Endpoint, load_config
from orchestrator.process import partner_client
from orchestrator.reference.knobs import SupplierKnobs
from orchestrator.reference.serve import RunningServer, serve_app
from orchestrator.reference.supplier import create_supplier_app
from workflows.integrations.models import OrderLine
from workflows.integrations.supplier import SupplierClient

pytestmark = pytest.mark.integration

KEY = "partner-key-7f3a9c2e51"
LINES = [OrderLine(sku="BRG-6308-ZZ", quantity=2)]


@pytest.fixture
def supplier(tmp_path: Path) -> Iterator[RunningServer]:
    app = create_supplier_app(
        tmp_path,
        secret="callback-secret",
        knobs=SupplierKnobs(confirm_delay_s=None),
        api_key=KEY,
    )
    server = serve_app(app)
    yield server
    server.stop()


async def test_the_configured_key_is_sent_and_never_shown(
    supplier: RunningServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SUPPLIER_KEY", KEY)
    monkeypatch.setenv("WRONG_KEY", "not-the-partner-key-123")
    endpoint = Endpoint(url=supplier.url, api_key_env="SUPPLIER_KEY")
    async with partner_client(supplier.url, peer="supplier", endpoint=endpoint) as http:
        placed = await SupplierClient(http).place_order("PO-KEY-1", LINES, "EUR", "plant-1", None)
    assert placed.created

    wrong = Endpoint(url=supplier.url, api_key_env="WRONG_KEY")
    for configured in (wrong, None):  # a wrong key, and none at all
        async with partner_client(supplier.url, peer="supplier", endpoint=configured) as http:
            with pytest.raises(RejectedByPartnerError) as refused:
                await SupplierClient(http).place_order("PO-KEY-2", LINES, "EUR", "plant-1", None)
        assert refused.value.status_code == 401 and "API key" in str(refused.value)
        assert "not-the-partner-key" not in str(refused.value)
    assert KEY not in caplog.text and "not-the-partner-key" not in caplog.text


async def test_the_configured_timeout_bounds_every_call(
    supplier: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPLIER_KEY", KEY)
    async with partner_client(supplier.url) as admin:
        await admin.put("/admin/knobs", json={"latency_s": 3.0})
    short = Endpoint(url=supplier.url, api_key_env="SUPPLIER_KEY", timeout_s=0.3)
    async with partner_client(supplier.url, peer="supplier", endpoint=short) as http:
        with pytest.raises(RetryableIntegrationError) as slow:
            await SupplierClient(http).get_order("PO-NONE")
    assert slow.value.reason == "timeout"
    # The same partner within a longer configured timeout answers (the default 10 s would too,
    # so the short one above is what shows the setting is used).
    patient = Endpoint(url=supplier.url, api_key_env="SUPPLIER_KEY", timeout_s=30)
    async with partner_client(supplier.url, peer="supplier", endpoint=patient) as http:
        assert await SupplierClient(http).get_order("PO-NONE") is None


def test_an_unset_key_variable_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    plant = tmp_path / "plant.toml"
    plant.write_text(
        'site = "p1"\n'
        "[endpoints.supplier]\n"
        'url = "http://127.0.0.1:9"\n'
        'api_key_env = "AUTOOPS_TEST_UNSET_SUPPLIER_KEY"\n'
        "timeout_s = 4\n"
    )
    with pytest.raises(ConfigError) as failed:
        load_config(plant, environ={})
    message = str(failed.value)
    assert str(plant) in message and "endpoints.supplier.api_key_env" in message
    assert "'AUTOOPS_TEST_UNSET_SUPPLIER_KEY' is not set" in message
    config = load_config(plant, environ={"AUTOOPS_TEST_UNSET_SUPPLIER_KEY": "k" * 12})
    assert config.endpoints.supplier is not None and config.endpoints.supplier.timeout_s == 4
