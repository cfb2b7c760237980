"""Clients for the supplier, CMMS and MES, the JSON they speak, and callback signing.

Each client takes an injected ``httpx.AsyncClient`` that carries the partner's configuration: its
``base_url``, its auth header (the orchestrator adds ``Authorization: Bearer`` from
``[endpoints.<partner>] api_key_env``) and its timeout (``timeout_s``), which every call uses
unless ``timeout=`` overrides it. Errors (``agents.errors``) come
from one place, ``workflows.integrations.http``:

    RetryableIntegrationError   timeout, connect error, 5xx, 429, 408     -> retry with backoff
      MalformedResponseError    2xx body that is not JSON                -> retry (writes are idempotent)
    RejectedByPartnerError      validation 4xx; ``.reason`` = partner's words -> escalate to a person
    PartnerContractError        JSON of the wrong shape                   -> escalate (not retryable)
    IntegrationError            bad base URL                              -> not retryable

``err.retryable`` says which; in Temporal, list ``RejectedByPartnerError`` and
``PartnerContractError`` (and ``IntegrationError``) as non-retryable error types.

Public signatures (all ``async``; models in ``workflows.integrations.models``):

    SupplierClient(client: httpx.AsyncClient, *, timeout=None)
        .place_order(po_number: str, lines: Sequence[OrderLine | PartLine], currency: str,
                     ship_to: ShipTo | str, callback_url: str | None) -> OrderPlacement
                     # PO number = idempotency key (header + body); .created False on a repeat
        .get_order(po_number: str) -> SupplierOrder | None

    CmmsClient(client, *, timeout=None)
        .create_work_order(asset_id: str, priority: Priority | str, title: str, description: str,
                           window_start: datetime, window_end: datetime,
                           evidence: Mapping[str, Any], external_ref: str,
                           callback_url: str | None = None) -> WorkOrderPlacement
                           # idempotent by external_ref; completion arrives as a callback
        .get_work_order(work_order_id: str) -> WorkOrder | None
        .find_work_order(external_ref: str) -> WorkOrder | None

    MesClient(client, *, timeout=None)
        .get_schedule(start: datetime, end: datetime, *, asset_id: str | None = None,
                      line: str | None = None) -> Schedule   # windows: production / break / maintenance
        .list_queued_jobs(asset_id: str) -> tuple[QueuedJob, ...]
        .list_machines() -> tuple[Machine, ...]              # Machine.can_run(job) checks capabilities
        .move_job(job_id: str, to_asset: str, idempotency_key: str) -> JobMove
        .set_constraint(asset_id: str, reason: str) -> Machine
        .release_constraint(asset_id: str) -> Machine

Callbacks (``CallbackEvent``: event_id, type, source, occurred_at, po_number | external_ref,
payload) are signed with ``signing.signature_headers`` and verified by ``orchestrator.intake``:

    order.confirmed / order.shipped  -> po_number set      (cXML ConfirmationRequest / ShipNotice)
    work_order.completed             -> external_ref set   (the maintenance workflow id we sent)

Kept light on purpose: importing this package does not import httpx.
"""

from __future__ import annotations

__all__ = ["CmmsClient", "MesClient", "SupplierClient"]


def __getattr__(name: str) -> object:
    # Lazy so a Temporal workflow module can import the models without pulling in httpx.
    if name == "SupplierClient":
        from workflows.integrations.supplier import SupplierClient

        return SupplierClient
    if name == "CmmsClient":
        from workflows.integrations.cmms import CmmsClient

        return CmmsClient
    if name == "MesClient":
        from workflows.integrations.mes import MesClient

        return MesClient
    raise AttributeError(name)
