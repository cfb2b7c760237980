"""Inventory agent: per SKU, how fast stock is consumed and when it will run out.

Readings carry ``values={"stock": on_hand, "on_order": qty}`` (``on_order`` optional). Consumption
is what disappeared between two readings; a rise of stock is a delivery and never counts as negative
consumption. The rate and its variability are exponentially weighted over time, so irregular
readings weigh by the hours they span.

Status: red when the projected stock-out falls inside the supplier lead time, amber inside lead
time + review period, green otherwise. The indicators carry everything a purchase policy needs
(suggested quantity, reorder point, stock-out ETA, lead time, unit price); ``purchase_evidence``
turns a report back into a plain dict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from agents.base import Reading
from agents.errors import ConfigError
from agents.inventory_config import InventoryItem
from agents.inventory_math import (
    HOURS_PER_YEAR,
    economic_order_quantity,
    reorder_point,
    safety_stock,
    stock_status,
)
from agents.models import (
    AssetKind,
    FaultKind,
    HealthReport,
    Indicator,
    SensorFault,
    Status,
)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _fault(sensor: str, kind: FaultKind, reading: Reading, detail: str) -> SensorFault:
    return SensorFault(sensor=sensor, kind=kind, detail=detail, since=reading.time)


class InventoryAgent:
    """Watches one SKU. Deterministic given its readings; time comes from ``reading.time`` only."""

    def __init__(self, item: InventoryItem) -> None:
        self.item = item
        self._z = item.z  # the normal quantile is costly to recompute on every reading
        self._seq = 0
        self._last_time: datetime | None = None
        self._stock: float | None = None  # last good on-hand count
        self._on_order = 0.0
        self._rate: float | None = None  # units per hour, EWMA over smoothing_h
        self._var_h = 0.0  # EW variance of hourly demand (units² per hour)
        self._slow_rate: float | None = (
            None  # same, over a week: the reference for "consumption rose"
        )
        self._observed_h = 0.0

    @property
    def asset_id(self) -> str:
        return self.item.agent_id

    # -- learning -------------------------------------------------------------------------------

    def _learn(self, consumed: float, dt_h: float) -> None:
        rate = consumed / dt_h
        self._observed_h += dt_h
        if self._rate is None or self._slow_rate is None:
            self._rate = self._slow_rate = rate
            return
        alpha = 1.0 - math.exp(-dt_h / self.item.smoothing_h)
        diff = rate - self._rate
        self._rate += alpha * diff
        # The rate over dt hours has variance σ²/dt for σ² the hourly variance: scale back by dt.
        self._var_h = (1.0 - alpha) * (self._var_h + alpha * diff * diff * dt_h)
        slow_alpha = 1.0 - math.exp(-dt_h / (7 * 24.0))
        self._slow_rate += slow_alpha * (rate - self._slow_rate)

    def _checked(self, reading: Reading) -> tuple[float | None, float, list[SensorFault]]:
        """Good stock and on-order values of a reading; bad ones become sensor faults."""
        faults: list[SensorFault] = []
        raw = reading.values.get("stock")
        stock = _finite(raw)
        if raw is None:
            faults.append(_fault("stock", FaultKind.DROPOUT, reading, "no stock value in reading"))
        elif stock is None:
            detail = f"stock value {raw!r} is not a finite number; check the stock feed"
            faults.append(_fault("stock", FaultKind.NAN, reading, detail))
        elif stock < 0:
            detail = f"negative stock {stock:g}; check the stock booking"
            faults.append(_fault("stock", FaultKind.OUT_OF_RANGE, reading, detail))
            stock = None
        on_order = self._on_order
        if "on_order" in reading.values:
            value = _finite(reading.values["on_order"])
            if value is None or value < 0:
                detail = (
                    f"on_order {reading.values['on_order']!r} is not a non-negative number; "
                    "kept the previous value"
                )
                faults.append(_fault("on_order", FaultKind.OUT_OF_RANGE, reading, detail))
            else:
                on_order = value
        return stock, on_order, faults

    def assess(self, reading: Reading) -> HealthReport:
        """Take one stock count and return the SKU's health after it."""
        stock, on_order, faults = self._checked(reading)
        if self._last_time is not None and reading.time < self._last_time:
            # A replayed or out-of-order count must not rewind the stock we know.
            faults.append(
                _fault(
                    "stock",
                    FaultKind.JUMP,
                    reading,
                    f"reading at {reading.time.isoformat()} is older than the last one at "
                    f"{self._last_time.isoformat()}; ignored",
                )
            )
            return self._report(reading.time, self._estimated_stock(reading.time), faults, True)

        estimated = False
        if stock is not None:
            if self._stock is not None and self._last_time is not None:
                dt_h = (reading.time - self._last_time).total_seconds() / 3600.0
                received = max(0.0, self._on_order - on_order)  # open orders that turned into stock
                consumed = self._stock + received - stock
                # consumed < 0 is a delivery (or a count correction) not seen in on_order: it says
                # nothing about demand, so the interval is skipped rather than learnt as negative.
                if dt_h > 0 and consumed >= 0:
                    self._learn(consumed, dt_h)
            self._stock = stock
            self._last_time = reading.time
            self._on_order = on_order
            on_hand: float | None = stock
        else:
            self._on_order = on_order
            on_hand = self._estimated_stock(reading.time)
            estimated = on_hand is not None
        return self._report(reading.time, on_hand, faults, estimated)

    def _estimated_stock(self, at: datetime) -> float | None:
        """Last good count run down at the learnt rate: stock keeps moving while the feed is bad."""
        if self._stock is None or self._last_time is None:
            return None
        hours = max(0.0, (at - self._last_time).total_seconds() / 3600.0)
        return max(0.0, self._stock - (self._rate or 0.0) * hours)

    # -- reporting ------------------------------------------------------------------------------

    def _report(
        self, time: datetime, on_hand: float | None, faults: list[SensorFault], estimated: bool
    ) -> HealthReport:
        item = self.item
        seq = self._seq
        self._seq += 1
        lead, review = item.lead_time_h, item.review_period_h
        rate = self._rate
        sigma = math.sqrt(self._var_h)
        ready = rate is not None
        findings: list[str] = []
        indicators: list[Indicator] = []

        if on_hand is None:
            return HealthReport(
                report_id=HealthReport.make_id(self.asset_id, seq),
                asset_id=self.asset_id,
                asset_kind=AssetKind.INVENTORY,
                seq=seq,
                time=time,
                status=Status.UNKNOWN,
                health_score=0.0,
                sensor_faults=tuple(faults),
                baseline_ready=False,
                summary=f"{item.sku}: no usable stock count yet",
            )

        position = on_hand + self._on_order
        ss = safety_stock(self._z, sigma, lead) if ready else 0.0
        rop = reorder_point(rate or 0.0, lead, ss)
        eoq = economic_order_quantity(
            (rate or 0.0) * HOURS_PER_YEAR, item.order_cost, item.holding_cost
        )
        if on_hand <= 0:
            stockout_in_h: float | None = 0.0
        elif rate:
            stockout_in_h = on_hand / rate
        else:
            stockout_in_h = None
        cover_h = position / rate if rate else None
        # Order up to: safety stock + expected demand until the order after this one can arrive.
        target = ss + (rate or 0.0) * (lead + review)
        suggested = 0.0
        if ready and position < target:
            suggested = float(
                math.ceil(
                    max(target - position, eoq if math.isfinite(eoq) else 0.0, item.min_order_qty)
                )
            )
        status = stock_status(stockout_in_h, lead, review)

        indicators += [
            Indicator(
                name="stock",
                value=on_hand,
                unit=item.unit,
                note="estimated from the last good count" if estimated else "",
            ),
            Indicator(name="on_order", value=self._on_order, unit=item.unit),
            Indicator(name="inventory_position", value=position, unit=item.unit),
            Indicator(name="consumption_rate", value=rate, unit=f"{item.unit}/h"),
            Indicator(
                name="consumption_std",
                value=sigma if ready else None,
                unit=f"{item.unit}/h",
                note="std of hourly demand",
            ),
            Indicator(
                name="safety_stock",
                value=ss,
                unit=item.unit,
                note=f"z={self._z:.3f} for service level {item.service_level:g}",
            ),
            Indicator(name="reorder_point", value=rop, unit=item.unit),
            Indicator(name="eoq", value=eoq if math.isfinite(eoq) else None, unit=item.unit),
            Indicator(
                name="suggested_order_qty",
                value=suggested,
                unit=item.unit,
                note=f"order up to {target:.0f} {item.unit}",
            ),
            Indicator(
                name="stockout_in_h",
                value=stockout_in_h,
                unit="h",
                amber_at=lead + review,
                red_at=lead,
                status=status,
            ),
            Indicator(name="cover_h", value=cover_h, unit="h", note="stock + on order"),
            Indicator(name="lead_time_h", value=lead, unit="h"),
            Indicator(name="review_period_h", value=review, unit="h"),
            Indicator(
                name="unit_price",
                value=item.unit_price,
                unit=item.currency,
                note=f"supplier {item.supplier}" if item.supplier else "",
            ),
        ]
        if ready and self._slow_rate and rate is not None:
            trend = 100.0 * (rate / self._slow_rate - 1.0)
            indicators.append(
                Indicator(
                    name="consumption_trend_pct",
                    value=trend,
                    unit="%",
                    note="recent rate vs. the week's",
                )
            )
            if trend >= 25.0:
                where = f" on line {item.line}" if item.line else ""
                findings.append(
                    f"consumption of {item.sku}{where} is {trend:.0f}% above its weekly "
                    f"average ({rate:.1f} vs {self._slow_rate:.1f} {item.unit}/h)"
                )

        if on_hand <= 0:
            findings.append(f"{item.sku} is out of stock")
        elif status is not Status.GREEN and stockout_in_h is not None:
            eta = time + timedelta(hours=stockout_in_h)
            inside = "the lead time" if status is Status.RED else "lead time + review period"
            findings.append(
                f"{item.sku} runs out in {stockout_in_h:.0f} h (about {eta:%Y-%m-%d %H:%M}), "
                f"inside "
                f"{inside} ({lead:.0f} h + {review:.0f} h); order {suggested:.0f} {item.unit}"
                + (f" from {item.supplier}" if item.supplier else "")
            )
        if self._on_order > 0:
            findings.append(f"{self._on_order:.0f} {item.unit} already on order")

        horizon = 2.0 * (lead + review)
        score = 1.0 if stockout_in_h is None else min(1.0, max(0.0, stockout_in_h / horizon))
        if stockout_in_h is None:
            summary = f"{item.sku}: {on_hand:.0f} {item.unit} on hand, no consumption seen"
        else:
            summary = (
                f"{item.sku}: {on_hand:.0f} {item.unit} on hand, {rate or 0.0:.1f} {item.unit}/h, "
                f"stock-out in {stockout_in_h:.0f} h (lead time {lead:.0f} h)"
            )
        return HealthReport(
            report_id=HealthReport.make_id(self.asset_id, seq),
            asset_id=self.asset_id,
            asset_kind=AssetKind.INVENTORY,
            seq=seq,
            time=time,
            status=status,
            health_score=score,
            indicators=tuple(indicators),
            sensor_faults=tuple(faults),
            findings=tuple(findings),
            baseline_ready=ready,
            summary=summary,
        )

    # -- state ----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": "inventory",
            "sku": self.item.sku,
            "seq": self._seq,
            "last_time": self._last_time.isoformat() if self._last_time else None,
            "stock": self._stock,
            "on_order": self._on_order,
            "rate": self._rate,
            "var_h": self._var_h,
            "slow_rate": self._slow_rate,
            "observed_h": self._observed_h,
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        if snapshot.get("kind") != "inventory" or snapshot.get("sku") != self.item.sku:
            raise ConfigError(
                f"snapshot of {snapshot.get('kind')!r} {snapshot.get('sku')!r} does not fit "
                f"inventory "
                f"agent {self.item.sku!r}; restore it into an agent for the same SKU"
            )
        last = snapshot.get("last_time")
        self._seq = int(snapshot["seq"])
        self._last_time = datetime.fromisoformat(last) if last else None
        self._stock = snapshot.get("stock")
        self._on_order = float(snapshot.get("on_order") or 0.0)
        self._rate = snapshot.get("rate")
        self._var_h = float(snapshot.get("var_h") or 0.0)
        self._slow_rate = snapshot.get("slow_rate")
        self._observed_h = float(snapshot.get("observed_h") or 0.0)


def purchase_evidence(report: HealthReport) -> dict[str, Any]:
    """What a purchase policy needs from an inventory report, as plain values."""

    def value(name: str) -> float | None:
        indicator = report.indicator(name)
        return indicator.value if indicator else None

    stockout = value("stockout_in_h")
    price = report.indicator("unit_price")
    return {
        "sku": report.asset_id,
        "status": report.status.value,
        "stock": value("stock"),
        "on_order": value("on_order"),
        "suggested_order_qty": value("suggested_order_qty"),
        "reorder_point": value("reorder_point"),
        "safety_stock": value("safety_stock"),
        "eoq": value("eoq"),
        "consumption_rate": value("consumption_rate"),
        "stockout_in_h": stockout,
        "stockout_at": (report.time + timedelta(hours=stockout)).isoformat()
        if stockout is not None
        else None,
        "lead_time_h": value("lead_time_h"),
        "unit_price": price.value if price else None,
        "currency": price.unit if price else None,
        "supplier": price.note.removeprefix("supplier ") if price and price.note else None,
        "report_id": report.report_id,
    }


__all__ = [
    "InventoryAgent",
    "InventoryItem",
    "economic_order_quantity",
    "purchase_evidence",
    "reorder_point",
    "safety_stock",
    "stock_status",
]
