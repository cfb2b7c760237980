"""The shift report as one self-contained HTML page: tables and SVG plots (matplotlib, Agg)."""

from __future__ import annotations

import html
import io
from datetime import timedelta
from typing import Any

from orchestrator.history import schema
from orchestrator.history.store import HistoryStore


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def plots(report: dict[str, Any], store: HistoryStore) -> dict[str, str]:
    """Named SVG plots: OEE losses per machine, downtime by reason, yield by batch, health."""
    import matplotlib

    matplotlib.use("Agg")
    from datetime import datetime

    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    machines = report["machines"]
    names = list(machines)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.2
    for i, key in enumerate(("availability", "performance", "quality", "oee")):
        ax.bar([n + i * width for n in range(len(names))], [machines[m][key] for m in names],
               width, label=key)
    ax.set_xticks([n + 1.5 * width for n in range(len(names))], names)
    ax.set_ylim(0, 1.05)
    ax.set_title("OEE and its factors per machine")
    ax.legend(fontsize=7, ncols=4)
    out["oee"] = _svg(fig)

    fig, ax = plt.subplots(figsize=(7, 3.0))
    reasons = list(report["downtime"]) or ["none"]
    ax.barh(reasons, [report["downtime"].get(r, 0.0) for r in reasons], color="#c0504d")
    ax.set_xlabel("hours")
    ax.set_title("Downtime by reason")
    out["downtime"] = _svg(fig)

    fig, ax = plt.subplots(figsize=(7, 3.0))
    batches = report["yield"]["by_batch"]
    labels = list(batches)
    ax.bar(labels, [batches[b]["yield"] or 0 for b in labels], color="#4f81bd")
    flagged = {f["group"] for f in report["yield"]["significant"] if f["dimension"] == "batch"}
    for i, b in enumerate(labels):
        if b in flagged:
            ax.patches[i].set_color("#c0504d")
    ax.set_ylim(0.8, 1.0)
    ax.set_title("Yield by material batch (red: significantly different)")
    ax.tick_params(axis="x", labelrotation=60, labelsize=6)
    out["yield"] = _svg(fig)

    end = datetime.fromisoformat(report["shift"]["end"])
    rows = store.rows(schema.indicators, schema.indicators.c.at >= end - timedelta(days=7),
                      schema.indicators.c.at < end, schema.indicators.c.name == "health_score",
                      order_by=[schema.indicators.c.at])
    changes = store.rows(schema.status_changes, schema.status_changes.c.at < end,
                         order_by=[schema.status_changes.c.at])
    fig, ax = plt.subplots(figsize=(7, 3.0))
    by_asset: dict[str, list[tuple[Any, float]]] = {}
    for c in changes:
        if c["asset_id"] in machines and c["health_score"] is not None:
            by_asset.setdefault(c["asset_id"], []).append((c["at"], c["health_score"]))
    for r in rows:
        by_asset.setdefault(r["asset_id"], []).append((r["at"], r["value"]))
    for asset, points in sorted(by_asset.items()):
        points.sort()
        ax.step([p[0] for p in points], [p[1] for p in points], where="post", label=asset)
    ax.set_title("Machine health score over the last days")
    ax.set_ylim(0, 1.05)
    if by_asset:
        ax.legend(fontsize=7)
    fig.autofmt_xdate()
    out["health"] = _svg(fig)
    return out


def _table(rows: list[list[Any]], head: list[str]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: dict[str, Any], store: HistoryStore) -> str:
    shift = report["shift"]
    figures = plots(report, store)
    machines = _table(
        [[a, m["line"], m["availability"], m["performance"], m["quality"], m["oee"], m["good"], m["scrap"]]
         for a, m in report["machines"].items()],
        ["machine", "line", "availability", "performance", "quality", "OEE", "good", "scrap"],
    )
    policies = _table(
        [[n, p["version"], p["actions"], p["confirmed"], p["no_fault_found"], p["missed"],
          p["precision"], p["median_lead_h"]] for n, p in report["policies"].items()],
        ["policy", "version", "actions", "confirmed", "no fault found", "missed", "precision",
         "median lead (h)"],
    )
    findings = "".join(f"<li>{html.escape(f['finding'])}</li>" for f in report["yield"]["significant"])
    findings = f"<ul>{findings}</ul>" if findings else "<p>No significant difference (z-test, alpha " \
        f"{report['yield']['alpha']}): what varies is noise.</p>"
    energy = report["energy_per_unit"]
    sections = "".join(
        f'<figure class="plot" id="plot-{name}">{svg}</figure>' for name, svg in figures.items()
    )
    title = f"{report['site']} — {shift['name']} of {shift['day']}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;margin:1.5em;max-width:60em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .5em;font-size:.9em}}figure{{margin:1em 0}}
figure svg{{max-width:100%;height:auto}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{html.escape(shift['start'])} to {html.escape(shift['end'])} ({html.escape(shift['timezone'])})</p>
<h2>OEE per machine</h2>{machines}
<h2>Energy</h2><p>{energy['kwh']} kWh; {energy['plant']} {html.escape(energy['unit'])}</p>
<h2>Yield: differences that stand out</h2>{findings}
<h2>What the policies did and how it turned out</h2>{policies}
<h2>Plots</h2>{sections}
</body></html>"""
