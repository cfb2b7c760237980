"""One validation pass over a plant configuration, before anything starts.

``autoops run`` and ``autoops demo`` call ``check_plant`` after reading the plant file and before
Temporal, Ray, the reference servers or the web UI start: a bad table, knob, tier, twin or policy
parameter is then one ``ConfigError`` naming the file and the field, not a traceback minutes
later from inside a workflow or an actor. Everything here is plain Python: nothing is started.
"""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from agents.errors import AutoopsError, ConfigError
from agents.models import AssetKind
from orchestrator.config import PlantConfig

if TYPE_CHECKING:
    from workflows.models import ApprovalTier


def _first(exc: ValidationError, prefix: str) -> str:
    """``prefix.field: message`` for each problem pydantic found (at most three, then a count)."""
    errors = exc.errors(include_url=False)
    parts = []
    for err in errors[:3]:
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        got = err.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int | float | bool) else ""
        parts.append(f"{prefix}{loc}: {err['msg']}{shown}")
    more = f"; and {len(errors) - 3} more problem(s)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


def check_state_dir(state_dir: Path, source: str) -> None:
    """The state directory exists (or can be made) and takes a file."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=state_dir, prefix=".write-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"state_dir: {str(state_dir)!r} is not a writable directory ({reason}); set "
            "state_dir in the plant file or AUTOOPS_STATE_DIR to a directory autoops may write",
            file=source,
        ) from None


def _check_assets(config: PlantConfig, source: str) -> set[str]:
    from agents.models import AssetKind
    from agents.registry import build_agent, spec_from_table

    for index, table in enumerate(config.inventory):
        if not isinstance(table.get("sku"), str) or not table.get("sku"):
            raise ConfigError(
                f"inventory[{index}].sku: every [[inventory]] table needs a sku (a text id)",
                file=source,
            )
    seen: dict[str, str] = {}
    for kind, tables, name in (
        (AssetKind.MACHINE, config.machines, "machines"),
        (AssetKind.INVENTORY, config.inventory, "inventory"),
        (AssetKind.ENERGY, config.energy, "energy"),
    ):
        for index, table in enumerate(tables):
            where = f"{name}[{index}]"
            try:
                spec = spec_from_table(kind, table, where=where)
                build_agent(spec)
            except AutoopsError as exc:
                message = str(exc)
                if not message.startswith(where):
                    message = f"{where}: {message}"
                raise ConfigError(message, file=source) from None
            except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
                raise ConfigError(f"{where}: {type(exc).__name__}: {exc}", file=source) from None
            if spec.asset_id in seen:
                raise ConfigError(
                    f"{where}: asset id {spec.asset_id!r} is already used by {seen[spec.asset_id]}",
                    file=source,
                )
            seen[spec.asset_id] = where
    return set(seen)


def _check_reference_knobs(config: PlantConfig, source: str) -> None:
    from orchestrator.reference.knobs import CmmsKnobs, Knobs, SupplierKnobs

    models: dict[str, type[Knobs]] = {"supplier": SupplierKnobs, "cmms": CmmsKnobs, "mes": Knobs}
    for partner, knobs in config.endpoints.reference.items():
        model = models.get(partner)
        if model is None:
            raise ConfigError(
                f"endpoints.reference.{partner}: unknown reference server; use one of "
                f"{sorted(models)}",
                file=source,
            )
        try:
            model.model_validate(knobs)
        except ValidationError as exc:
            raise ConfigError(_first(exc, f"endpoints.reference.{partner}"), file=source) from None


def _check_approvals(config: PlantConfig, source: str) -> tuple[ApprovalTier, ...]:
    from workflows.models import ApprovalPolicy, ApprovalTier

    tiers: list[ApprovalTier] = []
    for index, table in enumerate(config.approvals.tiers):
        try:
            tiers.append(ApprovalTier.model_validate(table))
        except ValidationError as exc:
            raise ConfigError(_first(exc, f"approvals.tiers[{index}]"), file=source) from None
        if config.roles:
            unknown = [r for r in tiers[-1].roles if r not in config.roles]
            if unknown:
                raise ConfigError(
                    f"approvals.tiers[{index}].roles: unknown role(s) {unknown}; declared roles "
                    f"are {sorted(config.roles)}",
                    file=source,
                )
    for index in range(1, len(tiers)):
        if tiers[index].above < tiers[index - 1].above:
            raise ConfigError(
                f"approvals.tiers[{index}].above: tiers must be listed lowest first "
                f"({tiers[index].above} comes after {tiers[index - 1].above})",
                file=source,
            )
    return tuple(tiers) or ApprovalPolicy().tiers


def _span(above: float, up_to: float | None) -> str:
    top = "" if up_to is None else f" up to {up_to:,.2f}"
    return f"amounts above {above:,.2f}{top}" if up_to != 0.0 else "unpriced requests (0)"


def _reach(
    config: PlantConfig,
    roles: tuple[str, ...],
    min_approvers: int,
    above: float,
    up_to: float | None,
    *,
    tier: bool = False,
) -> str | None:
    """Why ``min_approvers`` of ``roles`` cannot sign some amount in (above, up_to]; ``None`` if
    they can sign every amount up to the highest limit any declared person has (beyond it nothing
    can be approved, whatever the tier: that is the plant's ceiling, not a tier's defect)."""
    from orchestrator.approvals import approvers, role_limits
    from workflows.signers import unmet

    people = approvers(config)
    ceiling = max((p.limit for p in people), default=0.0)
    if up_to is not None and up_to <= above and up_to != 0.0:
        return None  # an empty range
    if up_to != 0.0 and above >= ceiling:
        if not tier:
            return None  # what a policy asks above the ceiling: nobody could sign it anyway
        return (
            f"{min_approvers} of: {', '.join(roles)} for amounts above {above:,.2f} "
            f"{config.currency}, but no declared user may approve more than {ceiling:,.2f}"
        )
    amount = ceiling if up_to is None else min(up_to, ceiling)
    return unmet(roles, min_approvers, amount, role_limits(config), people, config.currency)


def _check_approval_reach(
    config: PlantConfig, source: str, tiers: tuple[ApprovalTier, ...], policies: Mapping[str, Any]
) -> None:
    """Every tier, and every tier together with what a policy asks on top of it, can be signed
    by the declared users across its cost range (an N-of-M that nobody can complete is refused)."""
    if not config.users:
        return  # nobody declared (a CLI-only or test plant): nothing to count
    ranges = [
        (t, t.above, tiers[i + 1].above if i + 1 < len(tiers) else None)
        for i, t in enumerate(tiers)
    ]
    for index, (tier, lo, hi) in enumerate(ranges):
        why = _reach(config, tier.roles, tier.min_approvers, lo, hi, tier=True)
        if why:
            raise ConfigError(
                f"approvals.tiers[{index}] ({tier.name!r}, {_span(lo, hi)}): cannot be approved: "
                f"{why}; raise a role's approval_limit, declare more users with these roles, or "
                "lower min_approvers",
                file=source,
            )
    present = {
        kind for kind, tables in (
            (AssetKind.MACHINE, config.machines), (AssetKind.INVENTORY, config.inventory),
            (AssetKind.ENERGY, config.energy),
        ) if tables
    }
    for policy_id, policy in policies.items():
        if policy.approval_rules is None:
            continue
        if policy.asset_kinds and not present.intersection(policy.asset_kinds):
            continue  # no asset it could act on in this plant: what it would ask can never be asked
        overrides = config.policies.parameters.get(policy_id, {})
        scopes = [("", None, "")] + [
            (key, key[6:] if key.startswith("asset:") else None,
             key[5:] if key.startswith("line:") else "")
            for key in overrides
            if ":" in key
        ]
        for scope, asset_id, line in scopes:
            params = policy.resolve_params(overrides, asset_id=asset_id, line=line)
            for rule in policy.approval_rules(params):
                need = rule.requirement
                for index, (tier, lo, hi) in enumerate(ranges):
                    if rule.up_to == 0.0:
                        if index != 0:
                            continue
                        lo_, hi_ = 0.0, 0.0
                    else:
                        lo_ = max(lo, rule.above)
                        tops = [x for x in (hi, rule.up_to) if x is not None]
                        hi_ = min(tops) if tops else None
                        if hi_ is not None and hi_ <= lo_:
                            continue
                    roles = need.roles + tuple(r for r in tier.roles if r not in need.roles)
                    why = _reach(config, roles, max(need.min_approvers, tier.min_approvers), lo_, hi_)
                    if why:
                        where = f"policies.parameters.{policy_id}" + (f".{scope!r}" if scope else "")
                        raise ConfigError(
                            f"policy {policy_id!r} (its {need.tier or 'approval'!r} requirement, "
                            f"{_span(lo_, hi_)}, with approval tier {tier.name!r}) cannot be "
                            f"approved: {why}; raise a role's approval_limit, declare more users "
                            f"with these roles, or change {where}",
                            file=source,
                        )


def _check_simulation(config: PlantConfig, source: str) -> None:
    if not config.simulation:
        return
    from agents.simulator.plant import PlantSim, SimulationSpec
    from orchestrator.assets import inventory_items

    try:
        spec = SimulationSpec.model_validate(config.simulation)
    except ValidationError as exc:
        raise ConfigError(_first(exc, "simulation"), file=source) from None
    assets = {str(t.get("id")) for t in config.machines}
    assets |= {str(t.get("sku")) for t in config.inventory}
    assets |= {str(t.get("asset_id")) for t in config.inventory if t.get("asset_id")}
    for t in config.energy:
        assets |= {str(t.get(k)) for k in ("system_id", "meter_id") if t.get(k)}
        assets |= {str(m.get("meter_id")) for m in t.get("meters", ()) if isinstance(m, Mapping)}
    for index, twin in enumerate(spec.twins):
        if twin.asset not in assets:
            raise ConfigError(
                f"simulation.twins[{index}].asset: {twin.asset!r} is not an asset of this plant "
                f"(assets: {sorted(assets)})",
                file=source,
            )
    try:
        PlantSim(spec, inventory_items(config), start=datetime(2026, 1, 1, tzinfo=UTC))
    except AutoopsError as exc:
        raise ConfigError(f"simulation: {exc}", file=source) from None
    except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
        raise ConfigError(f"simulation: {type(exc).__name__}: {exc}", file=source) from None


def _check_policies(config: PlantConfig, source: str, assets: set[str]) -> dict[str, Any]:
    from policies.engine import EngineConfig
    from policies.loader import load_all

    settings = config.policies
    try:
        EngineConfig.model_validate(
            {
                "parameters": settings.parameters,
                "budget": settings.budget,
                "autonomy": settings.autonomy,
            }
        )
    except ValidationError as exc:
        raise ConfigError(_first(exc, "policies"), file=source) from None
    try:
        if settings.extra_dirs:
            # The plant's own policies are imported in a child process first: one that loops or
            # exits at import is refused here instead of hanging or ending the orchestrator.
            from policies.isolated import check_files
            from policies.loader import policy_files

            for result in check_files(policy_files(settings.extra_dirs)):
                if not result.ok:
                    raise ConfigError(f"policies.extra_dirs: {result.error}", file=source)
        policies = {pf.loaded.policy.id: pf.loaded.policy for pf in load_all(settings.extra_dirs)}
    except ConfigError:
        raise
    except AutoopsError as exc:
        raise ConfigError(f"policies.extra_dirs: {exc}", file=source) from None
    for table, what in ((settings.parameters, "parameters"), (settings.autonomy, "autonomy")):
        for policy_id in table:
            if policy_id not in policies:
                raise ConfigError(
                    f"policies.{what}.{policy_id}: no such policy; policies are {sorted(policies)}",
                    file=source,
                )
    for policy_id, overrides in settings.parameters.items():
        model: type[BaseModel] = policies[policy_id].params
        fields = set(model.model_fields)
        scopes: list[tuple[str, Mapping[str, Any]]] = [("", overrides)]
        for key, value in overrides.items():
            if ":" not in key:
                continue
            where = f"policies.parameters.{policy_id}.{key!r}"
            kind, _, name = key.partition(":")
            if kind not in ("asset", "line") or not isinstance(value, Mapping):
                raise ConfigError(
                    f"{where}: a scoped override is a table named 'asset:<id>' or 'line:<id>'",
                    file=source,
                )
            known = assets if kind == "asset" else {line.id for line in config.lines}
            if known and name not in known:
                raise ConfigError(f"{where}: no {kind} {name!r} in this plant", file=source)
            scopes.append((key, value))
        plain = {k: v for k, v in overrides.items() if ":" not in k}
        for scope, values in scopes:
            where = f"policies.parameters.{policy_id}" + (f".{scope!r}" if scope else "")
            unknown = sorted(k for k in values if ":" not in k and k not in fields)
            if unknown or (scope and any(":" in k for k in values)):
                raise ConfigError(
                    f"{where}: unknown parameter(s) {unknown or sorted(values)}; policy "
                    f"{policy_id!r} takes {sorted(fields)}",
                    file=source,
                )
            try:
                model(**{**plain, **(values if scope else {})})
            except ValidationError as exc:
                raise ConfigError(_first(exc, where), file=source) from None
    return policies


def _check_web_port(config: PlantConfig, source: str) -> None:
    """The web UI's port must be free now: found after Temporal and Ray started, it is a crash."""
    host, port = config.web.host, int(config.web.port)
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web server binds it
        probe.bind((host, port))
    except OSError as exc:
        raise ConfigError(
            f"the web UI cannot listen on {host}:{port} ({exc.strerror or exc}): another program "
            "uses it; stop it, or choose another port with [web] port or AUTOOPS_WEB_PORT",
            file=source, column="web.port",
        ) from None
    finally:
        probe.close()


def check_plant(config: PlantConfig, *, source: str = "plant configuration") -> None:
    """Validate everything ``run`` / ``demo`` would otherwise find only after starting services.

    Raises ``ConfigError`` naming ``source`` and the field: the state directory, every asset
    table (built as its agent would be, without Ray), the reference servers' knobs, the approval
    tiers (and whether the declared users can sign each tier and what each policy asks on top of
    it), the simulation's twins, the policies' parameter overrides and the web UI's port.
    """
    check_state_dir(config.state_dir, source)
    assets = _check_assets(config, source)
    _check_reference_knobs(config, source)
    tiers = _check_approvals(config, source)
    _check_simulation(config, source)
    policies = _check_policies(config, source, assets)
    _check_approval_reach(config, source, tiers, policies)
    _check_web_port(config, source)


__all__ = ["check_plant", "check_state_dir"]
