"""The hand-off from Decide to Act: each action kind that starts a workflow, declared once.

An ``ActionKind`` says everything the rest of autoops needs to know about one kind of action:
the policy's action model (its ``kind``), the workflow that carries it out, how the workflow's
input is built from the proposed action (once), its business-key workflow id, the label people
read, and any activities of its own. The loop starts workflows through ``ActionKinds.start``, the
worker runs ``ActionKinds.workflows()``, the web UI names a workflow with ``label_of``; none of
them spells a kind or an id prefix.

Adding a kind: declare its action model in ``policies`` (``@action_model``), its workflow, and
one ``KINDS.register(ActionKind(...))`` (see ``workflows/kinds.py`` for the built-in ones).

Imported by the loop and the worker, never by workflow code: it imports ``temporalio.client``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from agents.errors import PolicyError
from policies.models import ActionModel, ProposedAction
from workflows.clock import WALL, PlantClock
from workflows.models import TASK_QUEUE, ApprovalPolicy

ActionT = TypeVar("ActionT", bound=ActionModel)
InputT = TypeVar("InputT", bound=BaseModel)
#: Activities a kind brings to the worker, made from the worker's dependencies (``WorkerDeps``).
ActivityFactory = Callable[[Any], Sequence[Callable[..., Awaitable[Any]]]]


@dataclass(frozen=True)
class StartRequest:
    """What the loop adds to a proposed action when it starts its workflow."""

    site: str
    decision_id: str = ""
    approval: ApprovalPolicy = ApprovalPolicy()
    requested_by: str = "autoops"
    clock: PlantClock = WALL  # the deployment's one clock, for the workflow's input


def workflow_details(explanation: str, decision_id: str, evidence: dict[str, Any]) -> str:
    """The Markdown shown as a workflow's details in the Temporal Web UI."""
    lines = [explanation or "(no explanation)", "", f"decision: `{decision_id or '-'}`"]
    if evidence:
        lines += ["", "```json", json.dumps(evidence, indent=2, default=str)[:4000], "```"]
    return "\n".join(lines)


@dataclass(frozen=True)
class ActionKind(Generic[ActionT, InputT]):
    """One kind of action and the workflow that carries it out."""

    action: type[ActionT]  # the policy's model; its ``kind`` is this registration's key
    workflow: type  # the ``@workflow.defn`` class
    run: Callable[[Any, InputT], Awaitable[Any]]  # its ``@workflow.run`` method
    build_input: Callable[[ProposedAction, StartRequest], InputT]
    workflow_id: Callable[[InputT, ProposedAction], str]  # the business key: one problem, one id
    prefix: str  # the id's first part ("po" in ``po:<site>:<sku>:<n>``): tells a kind's ids apart
    label: str  # what people call it ("part order")
    summary: Callable[[InputT], str] = lambda inp: ""  # one line in the Temporal Web UI's list
    # The Markdown details in the Temporal Web UI; default: explanation, decision and evidence.
    details: Callable[[InputT, ProposedAction, StartRequest], str] = field(
        default=lambda inp, proposed, request: workflow_details(proposed.explanation, request.decision_id, proposed.evidence)
    )
    activities: ActivityFactory | None = None  # activities of its own, beyond the shared ones
    # The asset a workflow works on (the board shows it there); default: the proposal's asset.
    asset_of: Callable[[ProposedAction], str | None] = field(default=lambda proposed: proposed.asset_id)

    @property
    def kind(self) -> str:
        return str(self.action.model_fields["kind"].default)

    def owns(self, workflow_id: str) -> bool:
        return workflow_id.split(":", 1)[0] == self.prefix

    def input_for(self, proposed: ProposedAction, request: StartRequest) -> InputT:
        return self.build_input(proposed, request)

    async def start(
        self,
        client: Client,
        proposed: ProposedAction,
        request: StartRequest,
        *,
        task_queue: str = TASK_QUEUE,
    ) -> WorkflowHandle[Any, Any]:
        """Start (or find running) the workflow for ``proposed`` under its business key."""
        inp = self.build_input(proposed, request)
        return await self.launch(
            client,
            inp,
            workflow_id=self.workflow_id(inp, proposed),
            details=self.details(inp, proposed, request),
            task_queue=task_queue,
        )

    async def launch(
        self,
        client: Client,
        inp: InputT,
        *,
        workflow_id: str,
        details: str = "",
        task_queue: str = TASK_QUEUE,
    ) -> WorkflowHandle[Any, Any]:
        """Start (or find running) this kind's workflow on an input already built."""
        if not self.owns(workflow_id):
            raise PolicyError(
                f"action kind {self.kind!r}: its workflow id {workflow_id!r} does not start with "
                f"its prefix {self.prefix + ':'!r}; fix the id builder of its registration"
            )
        return await client.start_workflow(
            self.run,
            inp,
            id=workflow_id,
            task_queue=task_queue,
            # A second start of a running workflow returns the running one: the same problem
            # reported twice (or a decision replayed) opens one workflow.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=self.summary(inp) or f"{self.label} {workflow_id}",
            static_details=details or None,
        )


def _origin(cls: type) -> tuple[str, str]:
    return cls.__module__, cls.__qualname__


class ActionKinds:
    """The registry: kind -> ``ActionKind``; one per kind and one per id prefix."""

    def __init__(self) -> None:
        self._by_kind: dict[str, ActionKind[Any, Any]] = {}

    def register(self, kind: ActionKind[ActionT, InputT]) -> ActionKind[ActionT, InputT]:
        """Add a kind. The same module imported again registers it again (the workflow sandbox
        re-imports the module that defines a workflow): the first registration stays."""
        known = self._by_kind.get(kind.kind)
        if known is not None:
            if known is kind or _origin(known.workflow) == _origin(kind.workflow):
                return known
            raise ValueError(
                f"action kind {kind.kind!r} is registered twice: by {'.'.join(_origin(known.workflow))} "
                f"and by {'.'.join(_origin(kind.workflow))}"
            )
        clash = next((k for k in self if k.prefix == kind.prefix and k.kind != kind.kind), None)
        if clash is not None:
            raise ValueError(
                f"action kinds {clash.kind!r} and {kind.kind!r} share the workflow id prefix {kind.prefix!r}"
            )
        if not kind.prefix or ":" in kind.prefix:
            raise ValueError(f"action kind {kind.kind!r}: prefix {kind.prefix!r} must be non-empty, without ':'")
        self._by_kind[kind.kind] = kind
        return kind

    def unregister(self, kind: str) -> None:
        self._by_kind.pop(kind, None)

    def __iter__(self) -> Iterator[ActionKind[Any, Any]]:
        return iter(tuple(self._by_kind.values()))

    def __contains__(self, kind: object) -> bool:
        return kind in self._by_kind

    def of(self, kind: str) -> ActionKind[Any, Any] | None:
        """The registration of an action kind; ``None``: the kind starts no workflow."""
        return self._by_kind.get(kind)

    def for_workflow_id(self, workflow_id: str) -> ActionKind[Any, Any] | None:
        return next((k for k in self if k.owns(workflow_id)), None)

    def label_of(self, workflow_id: str, default: str = "") -> str:
        """What people call the workflow behind ``workflow_id`` ("part order")."""
        kind = self.for_workflow_id(workflow_id)
        return kind.label if kind is not None else default

    def workflows(self) -> tuple[type, ...]:
        """Every registered workflow class, once (what a worker runs)."""
        return tuple(dict.fromkeys(k.workflow for k in self))

    def activities(self, deps: Any) -> list[Callable[..., Awaitable[Any]]]:
        """The activities the registered kinds bring of their own."""
        return [fn for k in self if k.activities is not None for fn in k.activities(deps)]

    async def start(
        self,
        client: Client,
        proposed: ProposedAction,
        request: StartRequest,
        *,
        task_queue: str = TASK_QUEUE,
    ) -> WorkflowHandle[Any, Any]:
        """Start the workflow that carries out ``proposed``."""
        kind = self.of(proposed.action.kind)
        if kind is None:
            raise PolicyError(
                f"decision {request.decision_id}: action kind {proposed.action.kind!r} has no workflow; "
                f"these start workflows: {', '.join(self._by_kind) or 'none'}"
            )
        return await kind.start(client, proposed, request, task_queue=task_queue)
