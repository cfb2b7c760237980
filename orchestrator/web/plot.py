"""The evidence plot as inline SVG: an indicator over time, its thresholds and the RUL interval.

Drawn on the server so the page needs no charting library.
"""

from __future__ import annotations

from datetime import timedelta
from html import escape

from orchestrator.web.models import Series

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 560, 220, 48, 16, 14, 30


def svg_plot(series: Series) -> str:
    if not series.values:
        return '<p class="muted">no history to plot</p>'
    t0 = series.times[0]
    hours = [(t - t0).total_seconds() / 3600 for t in series.times]
    end_h = hours[-1]
    if series.rul_upper_h is not None:
        end_h += series.rul_upper_h
    end_h = max(end_h, hours[-1] + 1e-6, 1e-6)
    levels = [v for v in series.values] + [
        x for x in (series.amber_at, series.red_at) if x is not None
    ]
    lo, hi = min(levels + [0.0]), max(levels) * 1.1 or 1.0

    def x(h: float) -> float:
        return PAD_L + (W - PAD_L - PAD_R) * h / end_h

    def y(v: float) -> float:
        return H - PAD_B - (H - PAD_T - PAD_B) * (v - lo) / (hi - lo or 1.0)

    parts = [
        f'<svg class="plot" viewBox="0 0 {W} {H}" role="img" '
        f'aria-label="{escape(series.name)} over time with thresholds">',
        f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" class="axis"/>',
        f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" class="axis"/>',
    ]
    last = hours[-1]
    if series.rul_lower_h is not None and series.rul_upper_h is not None:
        x1, x2 = x(last + series.rul_lower_h), x(last + series.rul_upper_h)
        parts.append(
            f'<rect x="{x1:.1f}" y="{PAD_T}" width="{max(x2 - x1, 1):.1f}" height="{H - PAD_T - PAD_B}" '
            f'class="rul"><title>RUL {series.rul_lower_h:.0f}–{series.rul_upper_h:.0f} h</title></rect>'
        )
    for level, css in ((series.amber_at, "amber"), (series.red_at, "red")):
        if level is not None:
            parts.append(
                f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(level):.1f}" y2="{y(level):.1f}" '
                f'class="thr {css}"/><text x="{W - PAD_R - 4}" y="{y(level) - 3:.1f}" '
                f'text-anchor="end" class="lbl">{css} {level:g} {escape(series.unit)}</text>'
            )
    points = " ".join(f"{x(h):.1f},{y(v):.1f}" for h, v in zip(hours, series.values, strict=True))
    parts.append(f'<polyline points="{points}" class="line"/>')
    parts.append(
        f'<text x="{PAD_L}" y="{H - 8}" class="lbl">{escape(t0.strftime("%d %b %H:%M"))}</text>'
        f'<text x="{W - PAD_R}" y="{H - 8}" text-anchor="end" class="lbl">'
        f"{escape((t0 + timedelta(hours=end_h)).strftime('%d %b %H:%M'))}</text>"
        f'<text x="4" y="{PAD_T + 8}" class="lbl">{hi:.3g}</text>'
        f'<text x="4" y="{H - PAD_B}" class="lbl">{lo:.3g}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


# Indicator names are identifiers; people read these words instead (fallback: the name spelt out).
_WORDS = {
    "stockout_in_h": "time to stock-out",
    "cover_h": "stock cover",
    "stock": "stock on hand",
    "on_order": "on order",
    "inventory_position": "stock on hand + on order",
    "consumption_rate": "consumption",
    "specific_power": "specific power",
    "specific_power_vs_rated_pct": "specific power above rated",
    "excess_kw": "excess power",
    "energy_per_unit": "energy per unit",
    "anomaly_score": "anomaly score",
    "spindle_vel": "spindle vibration (velocity)",
    "spindle_acc": "spindle vibration (acceleration)",
    "bearing_temp": "bearing temperature",
    "rul": "remaining useful life",
}


def in_words(name: str) -> str:
    """An indicator's name as a person reads it: "stockout_in_h" -> "time to stock-out"."""
    if name in _WORDS:
        return _WORDS[name]
    words = name.removesuffix("_h").removesuffix("_pct").replace("_", " ").strip()
    return words or name
