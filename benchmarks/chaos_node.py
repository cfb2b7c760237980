"""One killable node of the chaos benchmark (``benchmarks/chaos.py``), in its own process.

    python benchmarks/chaos_node.py '<json config>'

Runs a Temporal worker with every autoops workflow and activity against the reference partners;
with ``intake_port`` in the config it also serves the signed-callback intake (the orchestrator's
role), otherwise it is a worker only. It prints ``ready`` once its worker polls, and keeps going
through a Temporal server that dies and comes back (the worker is rebuilt until the process is
killed). The maintenance workflow's health source answers "healthy": the benchmark's machines
are repaired by the work order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from orchestrator.intake import create_intake_router  # noqa: E402
from orchestrator.reference.common import utc_now  # noqa: E402
from orchestrator.signals import signal_handler  # noqa: E402
from orchestrator.temporal import connect  # noqa: E402
from workflows.common import StockLedger  # noqa: E402
from workflows.models import HealthConfirmation  # noqa: E402
from workflows.worker import WorkerDeps, build_worker  # noqa: E402

log = logging.getLogger("chaos-node")


async def _healthy(asset_id: str) -> HealthConfirmation:
    return HealthConfirmation(asset_id=asset_id, healthy=True, detail="repaired by the work order")


async def _connect(address: str) -> Any:
    while True:  # the server may be down (killed by the benchmark): wait for it, the process is killable
        try:
            return await connect(address=address)
        except Exception as exc:  # noqa: BLE001  supervisor loop: log, try again
            log.info("Temporal at %s not reachable yet: %s", address, exc)
            await asyncio.sleep(0.5)


async def _serve_intake(cfg: dict[str, Any], client: Any) -> None:
    app = FastAPI()
    app.include_router(create_intake_router(
        secrets=cfg["secrets"], on_event=signal_handler(client), clock=utc_now,
    ))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=int(cfg["intake_port"]),
                                           log_level="warning", lifespan="off"))
    await server.serve()


async def main(cfg: dict[str, Any]) -> None:
    client = await _connect(cfg["temporal"])
    intake = asyncio.create_task(_serve_intake(cfg, client)) if cfg.get("intake_port") else None
    retry = httpx.AsyncHTTPTransport(retries=0)
    async with (
        httpx.AsyncClient(base_url=cfg["supplier"], transport=retry) as supplier,
        httpx.AsyncClient(base_url=cfg["cmms"]) as cmms,
        httpx.AsyncClient(base_url=cfg["mes"]) as mes,
    ):
        deps = WorkerDeps.from_http(
            supplier=supplier, cmms=cmms, mes=mes, stock=StockLedger(path=Path(cfg["stock"])),
            timeout_s=float(cfg.get("timeout_s", 3.0)), health=_healthy,
            supplier_callback_url=cfg["callback_base"] + "/callbacks/supplier",
            cmms_callback_url=cfg["callback_base"] + "/callbacks/cmms",
        )
        announced = False
        while True:
            worker = build_worker(client, deps, task_queue=cfg["queue"])
            running = asyncio.create_task(worker.run())
            try:
                if not announced:
                    print("ready", flush=True)
                    announced = True
                while not running.done():
                    if intake is not None and intake.done():
                        intake.result()  # the intake died: end the node with its error
                    await asyncio.sleep(0.5)
                running.result()
            except Exception as exc:  # noqa: BLE001  supervisor loop: rebuild the worker
                log.warning("worker stopped (%s); rebuilding it", exc)
                await asyncio.sleep(1.0)
                client = await _connect(cfg["temporal"])


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(main(json.loads(sys.argv[1])))
