"""``autoops approvals``: list pending approvals, approve or reject them, against a running Temporal.

Who you are (``--as``) and your roles come from the plant configuration (``--config`` or
``$AUTOOPS_CONFIG``: its ``[[users]]`` and ``[roles.*]`` tables). The CLI is for people who already
have access to the Temporal namespace; the web UI is where approvers authenticate with passwords.
The workflow's validator has the last word: wrong role, amount above the role's limit, approving
your own request or voting twice are refused there and printed here as one clear line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from agents.errors import AutoopsError, ConfigError, InputError
from orchestrator.cli.app import app

T = TypeVar("T")

approvals_app = typer.Typer(
    rich_markup_mode=None,  # help texts name TOML tables like [[users]]: print brackets as written
    name="approvals", no_args_is_help=True, help="Pending human approvals: list, approve, reject."
)
app.add_typer(approvals_app, name="approvals")

Address = Annotated[
    str | None,
    typer.Option("--address", help="Temporal host:port; default $TEMPORAL_ADDRESS, the config, or 127.0.0.1:7233"),
]
Namespace = Annotated[str | None, typer.Option("--namespace", help="Temporal namespace; default from the config")]
Config = Annotated[
    Path | None, typer.Option("--config", help="plant TOML with [[users]] and [roles]; default $AUTOOPS_CONFIG")
]
AsJson = Annotated[bool, typer.Option("--json", help="print one JSON array")]

WAITING = ("pending", "escalated", "attention")


def _standalone() -> bool:
    return Path(sys.argv[0]).name == "autoops"


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one Temporal conversation. In the ``autoops`` process, errors are printed here and the
    process ends with ``os._exit``: the Temporal client's native threads can abort an interpreter
    that is finalizing (temporalio/sdk-python issue 300), turning a clean exit into SIGABRT."""
    try:
        return asyncio.run(coro)
    except AutoopsError as exc:
        if not _standalone():
            raise
        print(f"error: {exc}", file=sys.stderr)
        _exit(2)
        raise  # not reached


def _exit(code: int = 0) -> None:
    """End the ``autoops`` process now that the output is written (see ``_run``)."""
    if _standalone():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _config(path: Path | None) -> Any:
    from orchestrator.config import PlantConfig, load_config

    chosen = path or (Path(os.environ["AUTOOPS_CONFIG"]) if os.environ.get("AUTOOPS_CONFIG") else None)
    return load_config(chosen) if chosen else PlantConfig(site="local")


async def _client(config: Any, address: str | None, namespace: str | None) -> Any:
    from orchestrator.temporal import connect

    return await connect(config.temporal, address=address or os.environ.get("TEMPORAL_ADDRESS") or None,
                         namespace=namespace or os.environ.get("TEMPORAL_NAMESPACE") or None)


@approvals_app.command("list")
def list_approvals(
    address: Address = None, namespace: Namespace = None, config: Config = None, as_json: AsJson = False
) -> None:
    """Everything waiting for a person: pending, escalated, or needing attention after a refusal."""
    rows = _run(_list(_config(config), address, namespace))
    if as_json:
        print(json.dumps(rows))
    elif not rows:
        typer.echo("no pending approvals")
    for r in rows if not as_json else ():
        votes = sum(1 for v in r["votes"] if v["approve"])
        typer.echo(
            f"{r['workflow_id']}  {r['state']}  {r['amount']:g} {r['currency']}  tier {r['tier']}  "
            f"{votes}/{r['min_approvers']} of {','.join(r['roles'])}  {r['subject']}"
            + (f"  ({r['reason']})" if r["state"] == "attention" else "")
        )
    _exit()


async def _list(config: Any, address: str | None, namespace: str | None) -> list[dict[str, Any]]:
    from orchestrator.approvals import TemporalApprovals

    approvals = TemporalApprovals(await _client(config, address, namespace))
    return [
        {"workflow_id": p.workflow_id, "workflow_type": p.workflow_type, **p.status.model_dump(mode="json")}
        for p in await approvals.pending()
    ]


def _role_for(config: Any, user_name: str, role: str | None, source: str) -> tuple[str, list[str]]:
    user = config.user(user_name)
    if user is None:
        known = ", ".join(u.name for u in config.users) or "none"
        raise ConfigError(
            f"user {user_name!r} is not declared in [[users]] (known: {known}); add them with their roles",
            file=source, column="users",
        )
    roles = [r for r in user.roles if config.roles[r].can_approve]
    if role is not None and role not in user.roles:
        raise InputError(f"{user_name} does not hold role {role!r}; their roles: {', '.join(user.roles)}")
    return user.name, [role] if role else roles


async def _vote(
    config: Any, source: str, address: str | None, namespace: str | None,
    workflow_id: str, user: str, role: str | None, approve: bool, comment: str,
) -> dict[str, Any]:
    from orchestrator.approvals import TemporalApprovals
    from workflows.models import ApprovalVote, comment_too_long

    too_long = comment_too_long(comment)
    if too_long:
        raise InputError(f"--comment: {too_long}")
    name, roles = _role_for(config, user, role, source)
    approvals = TemporalApprovals(await _client(config, address, namespace))
    status = await approvals.status(workflow_id)
    if status is None:
        raise InputError(f"no running workflow {workflow_id!r} with an approval; see autoops approvals list")
    # Vote with the user's role that this request accepts (several roles: the one it names first).
    usable = [r for r in status.roles if r in roles] or roles
    if not usable:
        raise InputError(f"{name} holds no role that may approve anything; ask an administrator")
    limit = config.approval_limit(config.user(name)) if config.roles else None
    result = await approvals.cast(
        workflow_id, ApprovalVote(user=name, role=usable[0], approve=approve, comment=comment, limit=limit)
    )
    return result.model_dump(mode="json")


def _source(config: Path | None) -> str:
    return str(config or os.environ.get("AUTOOPS_CONFIG") or "<no config>")


@approvals_app.command("approve")
def approve(
    workflow_id: Annotated[str, typer.Argument(help="workflow id, e.g. po:plant1:BRG-6205:7")],
    user: Annotated[str, typer.Option("--as", help="your user name (from the plant config)")],
    comment: Annotated[str, typer.Option("--comment", help="why (kept in the workflow history)")] = "",
    role: Annotated[str | None, typer.Option("--role", help="which of your roles to sign with")] = None,
    address: Address = None, namespace: Namespace = None, config: Config = None, as_json: AsJson = False,
) -> None:
    """Approve a pending request (counts as one of N signatures where N-of-M applies)."""
    status = _run(_vote(_config(config), _source(config), address, namespace,
                               workflow_id, user, role, True, comment))
    _print_vote(workflow_id, status, as_json)


@approvals_app.command("reject")
def reject(
    workflow_id: Annotated[str, typer.Argument(help="workflow id")],
    user: Annotated[str, typer.Option("--as", help="your user name (from the plant config)")],
    comment: Annotated[str, typer.Option("--comment", help="why it is rejected (required)")] = "",
    role: Annotated[str | None, typer.Option("--role", help="which of your roles to sign with")] = None,
    address: Address = None, namespace: Namespace = None, config: Config = None, as_json: AsJson = False,
) -> None:
    """Reject a pending request; the workflow ends without acting."""
    if not comment.strip():
        raise InputError("a rejection needs a comment saying why: add --comment '...'")
    status = _run(_vote(_config(config), _source(config), address, namespace,
                               workflow_id, user, role, False, comment))
    _print_vote(workflow_id, status, as_json)


@approvals_app.command("resolve")
def resolve(
    workflow_id: Annotated[str, typer.Argument(help="workflow id of an item in 'attention'")],
    user: Annotated[str, typer.Option("--as", help="your user name (from the plant config)")],
    retry: Annotated[bool | None, typer.Option(
        "--retry/--cancel", help="--retry: try the failed step again now; --cancel: stop the workflow"
    )] = None,
    comment: Annotated[str, typer.Option("--comment", help="what you did, or why you stop it (required)")] = "",
    role: Annotated[str | None, typer.Option("--role", help="which of your roles to answer with")] = None,
    address: Address = None, namespace: Namespace = None, config: Config = None, as_json: AsJson = False,
) -> None:
    """Answer a workflow that needs a person after a partner refused or kept failing."""
    if retry is None:
        raise InputError("say what to do: --retry (try the failed step again now) or --cancel")
    if not comment.strip():
        raise InputError("add --comment '...': what you did (e.g. the supplier is back) or why you stop it")
    outcome = _run(_resolve(_config(config), _source(config), address, namespace,
                            workflow_id, user, role, retry, comment))
    if as_json:
        print(json.dumps({"workflow_id": workflow_id, "outcome": outcome}))
    else:
        typer.echo(f"{workflow_id}: {outcome}")
    _exit()


async def _resolve(
    config: Any, source: str, address: str | None, namespace: str | None,
    workflow_id: str, user: str, role: str | None, retry: bool, comment: str,
) -> str:
    from orchestrator.approvals import TemporalApprovals
    from workflows.models import ApprovalState, AttentionDecision, comment_too_long

    too_long = comment_too_long(comment)
    if too_long:
        raise InputError(f"--comment: {too_long}")
    name, _ = _role_for(config, user, role, source)
    held = [role] if role else list(config.user(name).roles)
    approvals = TemporalApprovals(await _client(config, address, namespace))
    status = await approvals.status(workflow_id)
    if status is None or status.state != ApprovalState.ATTENTION:
        state = status.state.value if status else "not running"
        raise InputError(f"{workflow_id!r} does not wait for an answer to a failure (it is {state}); "
                         "see autoops approvals list")
    usable = [r for r in status.roles if r in held]
    if status.roles and not usable:
        raise InputError(f"{name} ({', '.join(held)}) may not answer this; it needs one of: "
                         f"{', '.join(status.roles)}")
    return await approvals.answer_attention(
        workflow_id, AttentionDecision(user=name, role=(usable or held or [""])[0], retry=retry, comment=comment)
    )


def _print_vote(workflow_id: str, status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(status))
    else:
        votes = sum(1 for v in status["votes"] if v["approve"])
        typer.echo(f"{workflow_id}: {status['state']} ({votes}/{status['min_approvers']} approvals)"
                   + (f": {status['reason']}" if status["reason"] else ""))
    _exit()
