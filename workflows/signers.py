"""Can anyone sign? Who among the declared people may approve an amount for a set of roles.

Plain functions shared by the load-time check of the plant file (``orchestrator/preflight.py``)
and the approval gate at run time (``workflows/approval.py``), so both answer the same way. A
person counts once however many of the roles they hold; a role's limit and the person's own limit
must both cover the amount, as the gate's vote validator requires. Sandbox-safe: stdlib and models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from workflows.models import Approver


def signers(
    roles: Sequence[str],
    amount: float,
    role_limits: Mapping[str, float],
    approvers: Sequence[Approver],
) -> list[str]:
    """Names of the declared people who may cast an approving vote on ``amount`` for ``roles``."""
    found = []
    for person in approvers:
        if person.limit < amount:
            continue
        held = [r for r in person.roles if r in roles]
        if any(not role_limits or role_limits.get(r, 0.0) >= amount for r in held):
            found.append(person.name)
    return found


def unmet(
    roles: Sequence[str],
    min_approvers: int,
    amount: float,
    role_limits: Mapping[str, float],
    approvers: Sequence[Approver],
    currency: str = "EUR",
) -> str | None:
    """Why no set of declared people can give ``min_approvers`` votes of ``roles`` on ``amount``.

    ``None`` when they can. Without ``approvers`` (people unknown) only the roles' limits are
    checked: at least one of the roles must reach the amount; the number of people is not known.
    """
    wanted = f"{min_approvers} of: {', '.join(roles)}"
    if not approvers:
        if role_limits and not any(role_limits.get(r, 0.0) >= amount for r in roles):
            highest = max((role_limits.get(r, 0.0) for r in roles), default=0.0)
            return (
                f"{wanted} for {amount:,.2f} {currency}, but none of these roles may approve more "
                f"than {highest:,.2f} {currency}"
            )
        return None
    able = signers(roles, amount, role_limits, approvers)
    if len(able) >= min_approvers:
        return None
    limits = ", ".join(
        f"{r} up to {role_limits[r]:,.2f}" if r in role_limits else f"{r} may not approve"
        for r in roles
    ) if role_limits else ""
    who = ", ".join(able) if able else "nobody"
    return (
        f"{wanted} for {amount:,.2f} {currency}, but only {len(able)} declared user(s) may sign "
        f"that amount ({who})" + (f"; role limits: {limits}" if limits else "")
    )


__all__ = ["signers", "unmet"]
