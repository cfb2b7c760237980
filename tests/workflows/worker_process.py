"""A worker in its own process, so a test can kill it (SIGKILL) in the middle of a workflow.

    python -m tests.workflows.worker_process '{"temporal": ..., "queue": ..., "supplier": ..., ...}'
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx

from orchestrator.temporal import connect
from workflows.common import StockLedger
from workflows.worker import WorkerDeps, build_worker


async def main(cfg: dict[str, str]) -> None:
    client = await connect(address=cfg["temporal"])
    async with (
        httpx.AsyncClient(base_url=cfg["supplier"]) as supplier,
        httpx.AsyncClient(base_url=cfg["cmms"]) as cmms,
        httpx.AsyncClient(base_url=cfg["mes"]) as mes,
    ):
        deps = WorkerDeps.from_http(
            supplier=supplier, cmms=cmms, mes=mes, stock=StockLedger(path=Path(cfg["stock"])),
            timeout_s=10.0, supplier_callback_url=cfg["callback"],
        )
        worker = build_worker(client, deps, task_queue=cfg["queue"])
        print("ready", flush=True)
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
