"""`autoops sources check | browse`: commissioning-day tools for the plant file's ``[[sources]]``."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.cli.app import app

sources_app = typer.Typer(
    rich_markup_mode=None,  # help texts name TOML tables like [[sources]]: print brackets as written
    no_args_is_help=True,
    help="live sources (OPC UA, MQTT, Modbus TCP): check the tag mapping, browse a server",
)
app.add_typer(sources_app, name="sources")


async def _check_all(specs: Any, timeout_s: float) -> list[Any]:
    from agents.sources.hub import build_source

    results = await asyncio.gather(*(build_source(s).read_once(timeout_s) for s in specs))
    return [(spec, samples) for spec, samples in zip(specs, results, strict=True)]


@sources_app.command("check")
def check(
    config: Annotated[Path, typer.Option(help="plant file (TOML) with [[sources]]")],
    as_json: bool = typer.Option(False, "--json", help="one JSON document"),
    timeout: float = typer.Option(10.0, help="seconds to wait per source"),
) -> None:
    """Connect to every source, read every mapped tag once, print value, unit, quality, time.

    Exit code 1 naming each tag that could not be read (bad quality or no data).
    """
    from orchestrator.config import load_config

    plant = load_config(config)
    specs = plant.source_specs()
    results = asyncio.run(_check_all(specs, timeout))
    tags: list[dict[str, Any]] = []
    failed: list[str] = []
    for spec, samples in results:
        by_key = {(s.asset_id, s.sensor): s for s in samples}
        for tag in spec.tags:
            s = by_key[tag.key]
            entry = {
                **s.as_dict(),
                "protocol": spec.kind,
                "tag": tag.label(),
                "ok": s.quality.usable,
            }
            tags.append(entry)
            if not s.quality.usable:
                failed.append(
                    f"source {spec.id} ({spec.kind}) tag {tag.label()} -> {tag.asset}.{tag.sensor}: "
                    f"{s.quality.value}: {s.reason}"
                )
    unsourced = plant.unsourced_assets()
    if as_json:
        doc = {
            "ok": not failed,
            "config": str(config),
            "sources": [
                {"source": s.id, "protocol": s.kind, "endpoint": s.endpoint} for s in specs
            ],
            "tags": tags,
            "failed": failed,
            "assets_without_source": unsourced,
        }
        print(json.dumps(doc, indent=2))
    else:
        if not specs:
            print(f"{config}: no [[sources]]; nothing to check")
        for t in sorted(tags, key=lambda t: (t["asset"], t["sensor"])):
            value = "-" if t["value"] is None else f"{t['value']:.6g}"
            print(
                f"{t['asset']:>16}.{t['sensor']:<16} {value:>12} {t['unit']:<6} {t['quality']:<9} "
                f"{t['source_time']}  [{t['source']} {t['tag']}] {t['reason']}".rstrip()
            )
        for asset in unsourced:
            print(f"note: asset {asset!r} has no source; it will not report without a simulation")
    for line in failed:
        print(f"cannot read: {line}", file=sys.stderr)
    if failed:
        raise typer.Exit(1)


@sources_app.command("browse")
def browse(
    endpoint: Annotated[str, typer.Argument(help="opc.tcp://host:port[/path]")],
    depth: int = typer.Option(6, help="levels below Objects"),
    as_json: bool = typer.Option(False, "--json", help="one JSON document"),
) -> None:
    """List an OPC UA server's address space (node ids to put in the plant file)."""
    from agents.errors import InputError
    from agents.sources.opcua import browse as walk

    if not endpoint.startswith("opc.tcp://"):
        raise InputError(f"{endpoint!r} is not an OPC UA endpoint; write opc.tcp://host:port")
    try:
        nodes = asyncio.run(walk(endpoint, max_depth=depth))
    except (OSError, TimeoutError) as exc:
        print(f"error: cannot browse {endpoint}: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps({"endpoint": endpoint, "nodes": nodes}, indent=2, default=str))
        return
    for n in nodes:
        extra = ""
        if "value" in n:
            extra = f"  {n.get('data_type', '')} = {n['value']!r} ({n.get('status', '')})"
        print(f"{n['node']:<40} {n['class']:<8} {n['path']}{extra}")


__all__ = ["sources_app"]
