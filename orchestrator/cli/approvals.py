"""``autoops approvals``: list pending approvals; approve, reject or resolve them as yourself.

``list`` reads Temporal directly (``--address``). Every vote and answer goes through the web API the
UI uses (``--url`` / ``$AUTOOPS_URL``), signed with a personal API token created in the web UI
(``$AUTOOPS_API_TOKEN``, or asked for in a terminal): who you are and which roles you sign with come
from the token, and the same checks as in the UI apply (role, limit, separation of duties, one vote
per person), then the workflow's validator. Without a valid token nothing is sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import typer

from agents.errors import AutoopsError, InputError, ServiceUnavailableError
from orchestrator.cli.app import app

T = TypeVar("T")

approvals_app = typer.Typer(
    rich_markup_mode=None,  # help texts name TOML tables like [[users]]: print brackets as written
    name="approvals", no_args_is_help=True, help="Pending human approvals: list, approve, reject, resolve (answer an attention item)."
)
app.add_typer(approvals_app, name="approvals")

Address = Annotated[
    str | None,
    typer.Option("--address", help="Temporal host:port; default $TEMPORAL_ADDRESS, the config, or 127.0.0.1:7233"),
]
Namespace = Annotated[str | None, typer.Option("--namespace", help="Temporal namespace; default from the config")]
Config = Annotated[
    Path | None,
    typer.Option("--config", help="plant TOML file (its [temporal] and [web] tables); default $AUTOOPS_CONFIG"),
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


Url = Annotated[
    str | None,
    typer.Option("--url", help="the orchestrator's web UI, e.g. http://127.0.0.1:8080; default $AUTOOPS_URL, "
                 "else [web] of --config / $AUTOOPS_CONFIG, else http://127.0.0.1:8080"),
]
TOKEN_ENV = "AUTOOPS_API_TOKEN"


def _web_url(url: str | None, config: Path | None) -> str:
    chosen = url or os.environ.get("AUTOOPS_URL")
    if chosen:
        return chosen.rstrip("/")
    if config or os.environ.get("AUTOOPS_CONFIG"):
        web = _config(config).web
        return f"http://{web.host}:{web.port}"
    return "http://127.0.0.1:8080"


def _token() -> str:
    """The personal API token: ``$AUTOOPS_API_TOKEN``, else asked for (hidden) in a terminal."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    if sys.stdin.isatty():
        token = str(typer.prompt("API token (create one in the web UI under Tokens)", hide_input=True)).strip()
    if not token:
        raise InputError(
            f"no API token: set {TOKEN_ENV} (or run in a terminal to be asked); create a token in the "
            "web UI under Tokens, signed in as yourself"
        )
    return token


def _act(base: str, token: str, workflow_id: str, verb: str, comment: str, user: str | None) -> dict[str, Any]:
    """One vote through the web API the UI uses, as the token's person."""
    from workflows.models import comment_too_long

    too_long = comment_too_long(comment)
    if too_long:
        raise InputError(f"--comment: {too_long}")
    return post_as(base, token, f"/api/approvals/{quote(workflow_id, safe='')}/{verb}", {"comment": comment},
                   item=workflow_id, user=user)


def post_as(base: str, token: str, path: str, body: dict[str, str], *, item: str, user: str | None) -> dict[str, Any]:
    """POST ``body`` to the web API as the token's person (``--as`` must be that person); the
    server's refusals are printed as they are. Shared by the approval and alarm commands."""
    import httpx

    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60.0) as client:
            me = client.get("/api/me")
            if me.status_code == 401:
                raise InputError(
                    f"{base} refused the API token (unknown or revoked): create one in the web UI "
                    f"under Tokens and set {TOKEN_ENV}"
                )
            me.raise_for_status()
            who = me.json()["user"]
            if user is not None and user != who:
                raise InputError(f"--as {user}: this API token is {who}'s; use your own token")
            response = client.post(path, json=body)
    except httpx.HTTPError as exc:
        raise ServiceUnavailableError(
            f"cannot reach the autoops web API at {base} ({type(exc).__name__}); is the orchestrator "
            "running? pass --url or set AUTOOPS_URL"
        ) from None
    if response.status_code == 422:
        raise InputError(f"{item}: refused by {base}: {response.json().get('detail')}")
    result = response.json()
    if response.status_code != 200 or not result.get("ok", False):
        raise InputError(f"{item}: refused: {result.get('message') or result.get('detail')}")
    return {**result, "user": who}


def _act_and_print(workflow_id: str, verb: str, comment: str, user: str | None, url: str | None,
                   config: Path | None, as_json: bool) -> None:
    try:
        result = _act(_web_url(url, config), _token(), workflow_id, verb, comment, user)
    except AutoopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps({"workflow_id": workflow_id, **result}))
    else:
        typer.echo(f"{workflow_id}: {result['state'] or verb} by {result['user']}: {result['message']}")


AsUser = Annotated[
    str | None, typer.Option("--as", help="your user name; checked against the API token's person")
]


@approvals_app.command("approve")
def approve(
    workflow_id: Annotated[str, typer.Argument(help="workflow id, e.g. po:plant1:BRG-6205:7")],
    user: AsUser = None,
    comment: Annotated[str, typer.Option("--comment", help="why (kept in the workflow history)")] = "",
    url: Url = None, config: Config = None, as_json: AsJson = False,
) -> None:
    """Approve a pending request as the API token's person (one of N signatures where N-of-M applies)."""
    _act_and_print(workflow_id, "approve", comment, user, url, config, as_json)


@approvals_app.command("reject")
def reject(
    workflow_id: Annotated[str, typer.Argument(help="workflow id")],
    user: AsUser = None,
    comment: Annotated[str, typer.Option("--comment", help="why it is rejected (required)")] = "",
    url: Url = None, config: Config = None, as_json: AsJson = False,
) -> None:
    """Reject a pending request; the workflow ends without acting."""
    if not comment.strip():
        raise InputError("a rejection needs a comment saying why: add --comment '...'")
    _act_and_print(workflow_id, "reject", comment, user, url, config, as_json)


@approvals_app.command("resolve")
def resolve(
    workflow_id: Annotated[str, typer.Argument(help="workflow id of an item in 'attention'")],
    user: AsUser = None,
    retry: Annotated[bool | None, typer.Option(
        "--retry/--cancel", help="--retry: try the failed step again now; --cancel: stop the workflow"
    )] = None,
    comment: Annotated[str, typer.Option("--comment", help="what you did, or why you stop it (required)")] = "",
    url: Url = None, config: Config = None, as_json: AsJson = False,
) -> None:
    """Answer a workflow that needs a person after a partner refused or kept failing."""
    if retry is None:
        raise InputError("say what to do: --retry (try the failed step again now) or --cancel")
    if not comment.strip():
        raise InputError("add --comment '...': what you did (e.g. the supplier is back) or why you stop it")
    _act_and_print(workflow_id, "retry" if retry else "cancel", comment, user, url, config, as_json)


