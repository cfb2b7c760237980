"""Activity-side pieces shared by every workflow: error boundary, notifications, stock ledger.

Not imported by workflow modules (activities only). Errors raised by our partner clients are
turned into Temporal's language once, here: retryable ones propagate untouched (Temporal's retry
policy backs off and tries again); the rest become non-retryable ``ApplicationError`` s whose
``type`` names our error class, so the workflow can escalate to a person with the partner's reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.errors import IntegrationError, RetryableIntegrationError
from policies.models import PartLine
from workflows.models import Notification, StockCheck

log = logging.getLogger(__name__)

Notifier = Callable[[Notification], Awaitable[None]]


@contextmanager
def partner_boundary() -> Iterator[None]:
    """Let retryable partner errors through; make the others non-retryable with their reason."""
    try:
        yield
    except RetryableIntegrationError:
        raise
    except IntegrationError as exc:
        raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc


async def log_notifier(notification: Notification) -> None:
    """Default notifier: a log line (the web UI / mail hooks replace it)."""
    log.warning("notify %s about %s: %s", ",".join(notification.roles), notification.subject, notification.message)


class NotifyActivities:
    """The ``notify`` activity: hands the notification to the injected notifier.

    The notifier is what reaches people (``orchestrator.notify.Notifications``: mail, webhooks,
    a durable sent-log keyed by workflow id, run id, event and recipient, so a retry of this
    activity sends nothing twice). Notifications from workflows started before event ids existed
    get the activity's own id, which is the same on every retry.
    """

    def __init__(self, notifier: Notifier = log_notifier) -> None:
        self._notifier = notifier

    @activity.defn(name="notify")
    async def notify(self, notification: Notification) -> None:
        info = activity.info()
        fill: dict[str, str] = {}
        if not notification.run_id:
            fill["run_id"] = info.workflow_run_id or ""
        if not notification.event:
            fill["event"] = f"activity-{info.activity_id}"
        await self._notifier(notification.model_copy(update=fill) if fill else notification)


class StockStore(Protocol):
    """Shared books a ``StockLedger`` delegates to, so several workers reserve from one stock.

    ``orchestrator.state.stock.SqlStockStore`` is the one we ship (the state database). Each
    method is atomic and keyed by ``ref``: a repeat returns what the first call booked.
    """

    async def reserve(self, ref: str, lines: tuple[PartLine, ...]) -> dict[str, int]:
        """Reserve for ``ref``; the quantity taken per SKU."""
        ...

    async def receive(self, ref: str, lines: tuple[PartLine, ...]) -> bool: ...

    async def issue(self, ref: str, lines: tuple[PartLine, ...]) -> bool: ...


class StockLedger:
    """On-hand stock per SKU with idempotent reservations and receipts (keyed by our references).

    Kept in memory, and in a JSON file when ``path`` is given, so a restarted worker sees the same
    stock. Every change is keyed (workflow id / PO number): a retried activity changes nothing twice.
    With a ``store`` (the state database) the books live there instead, shared by every worker;
    the in-memory attributes (``on_hand``, ``reservations``, ...) are then unused.
    """

    def __init__(
        self,
        on_hand: dict[str, int] | None = None,
        *,
        path: Path | None = None,
        store: StockStore | None = None,
    ) -> None:
        self._path = path
        self._store = store
        self._lock = asyncio.Lock()
        self.on_hand: dict[str, int] = dict(on_hand or {})
        self.reservations: dict[str, list[dict[str, int | str]]] = {}
        self.receipts: dict[str, list[dict[str, int | str]]] = {}
        self.issues: dict[str, list[dict[str, int | str]]] = {}
        if path is not None and path.exists():
            data = json.loads(path.read_text())
            self.on_hand = data["on_hand"]
            self.reservations = data["reservations"]
            self.receipts = data["receipts"]
            self.issues = data.get("issues", {})  # ledgers written before parts were issued

    def _save(self) -> None:
        if self._path is not None:
            tmp = self._path.with_suffix(".tmp")
            tmp.write_text(
                json.dumps(
                    {
                        "on_hand": self.on_hand,
                        "reservations": self.reservations,
                        "receipts": self.receipts,
                        "issues": self.issues,
                    }
                )
            )
            tmp.replace(self._path)

    async def reserve(self, ref: str, lines: tuple[PartLine, ...]) -> StockCheck:
        """Reserve what is on hand for ``ref``; report what is missing. Repeat calls return the same."""
        if self._store is not None:
            taken_by_sku = await self._store.reserve(ref, lines)
            return self._check(lines, taken_by_sku)
        async with self._lock:
            if ref not in self.reservations:
                taken: list[dict[str, int | str]] = []
                for line in lines:
                    qty = min(self.on_hand.get(line.sku, 0), line.quantity)
                    self.on_hand[line.sku] = self.on_hand.get(line.sku, 0) - qty
                    taken.append({"sku": line.sku, "quantity": qty})
                self.reservations[ref] = taken
                self._save()
            taken_by_sku = {str(t["sku"]): int(t["quantity"]) for t in self.reservations[ref]}
        return self._check(lines, taken_by_sku)

    @staticmethod
    def _check(lines: tuple[PartLine, ...], taken_by_sku: dict[str, int]) -> StockCheck:
        reserved = tuple(
            line.model_copy(update={"quantity": taken_by_sku[line.sku]})
            for line in lines
            if taken_by_sku.get(line.sku, 0) > 0
        )
        missing = tuple(
            line.model_copy(update={"quantity": line.quantity - taken_by_sku.get(line.sku, 0)})
            for line in lines
            if line.quantity > taken_by_sku.get(line.sku, 0)
        )
        return StockCheck(reserved=reserved, missing=missing)

    async def receive(self, ref: str, lines: tuple[PartLine, ...]) -> bool:
        """Book a receipt once per ``ref``; returns False when it had already been booked."""
        if self._store is not None:
            return await self._store.receive(ref, lines)
        async with self._lock:
            if ref in self.receipts:
                return False
            for line in lines:
                self.on_hand[line.sku] = self.on_hand.get(line.sku, 0) + line.quantity
            self.receipts[ref] = [{"sku": line.sku, "quantity": line.quantity} for line in lines]
            self._save()
            return True

    async def issue(self, ref: str, lines: tuple[PartLine, ...]) -> bool:
        """The job ``ref`` used ``lines``: what it had reserved is consumed, the rest (parts
        received for it) leaves the free stock. Once per ``ref``; False when already booked."""
        if self._store is not None:
            return await self._store.issue(ref, lines)
        async with self._lock:
            if ref in self.issues:
                return False
            held = {str(t["sku"]): int(t["quantity"]) for t in self.reservations.pop(ref, [])}
            for line in lines:
                from_reservation = min(held.get(line.sku, 0), line.quantity)
                held[line.sku] = held.get(line.sku, 0) - from_reservation
                rest = line.quantity - from_reservation
                self.on_hand[line.sku] = max(0, self.on_hand.get(line.sku, 0) - rest)
            for sku, left in held.items():  # reserved but not used: back to the free stock
                if left > 0:
                    self.on_hand[sku] = self.on_hand.get(sku, 0) + left
            self.issues[ref] = [{"sku": line.sku, "quantity": line.quantity} for line in lines]
            self._save()
            return True
