"""Who may vote on what: role, approval limit, separation of duties. Checked here on the server,
and again by the workflow's Update validator."""

from __future__ import annotations

import logging

from orchestrator.config import PlantConfig, User
from orchestrator.web.models import ApprovalItem
from workflows.models import comment_too_long

audit = logging.getLogger("autoops.audit")


class Refused(Exception):
    """A vote the server will not send; the message is shown to the person as it is."""


def approving_role(config: PlantConfig, user: User, item: ApprovalItem) -> tuple[str, float]:
    """The user's role that may approve ``item`` and its limit; the highest limit wins."""
    candidates = [
        (role, config.roles[role].approval_limit)
        for role in user.roles
        if role in item.roles and config.roles[role].can_approve
    ]
    if not candidates:
        raise Refused(
            f"your roles ({', '.join(user.roles)}) may not approve this; it needs one of: "
            f"{', '.join(item.roles) or 'nobody'}"
        )
    return max(candidates, key=lambda c: c[1])


def can_vote(config: PlantConfig, user: User, item: ApprovalItem) -> str | None:
    """None if the user may vote on the item, else the reason why not (for hiding buttons)."""
    try:
        check_vote(config, user, item, approve=True, comment="-", log=False)
    except Refused as exc:
        return str(exc)
    return None


def check_vote(
    config: PlantConfig,
    user: User,
    item: ApprovalItem,
    *,
    approve: bool,
    comment: str,
    log: bool = True,
) -> tuple[str, float]:
    """Return (role, limit) the vote is made under, or raise ``Refused`` with the reason."""
    try:
        too_long = comment_too_long(comment)
        if too_long:
            raise Refused(too_long)
        if item.state == "review":
            raise Refused("this is a review, not an approval: close it with a comment saying what you found")
        if item.state not in ("pending", "escalated"):
            raise Refused(f"this approval is already {item.state}")
        role, limit = approving_role(config, user, item)
        if user.name == item.requested_by:
            raise Refused("you requested this; someone else must approve it (separation of duties)")
        if any(v.user == user.name for v in item.votes):
            raise Refused("you have already voted on this")
        if approve and item.amount > limit:
            raise Refused(
                f"above your approval limit: {item.amount:,.2f} {item.currency} > "
                f"{limit:,.2f} {item.currency} ({role})"
            )
        if not approve and not comment.strip():
            raise Refused("a rejection needs a comment saying why")
    except Refused as exc:
        if log:
            audit.warning(
                "vote refused: user=%s approval=%s approve=%s reason=%s",
                user.name,
                item.id,
                approve,
                exc,
            )
        raise
    return role, limit


def _answering_role(
    user: User, item: ApprovalItem, *, comment: str, state: str, not_state: str, not_role: str,
    no_comment: str, what: str, log: bool,
) -> str:
    """The first of ``user``'s roles the item was sent to, when the item is in ``state`` and the
    comment says something; else ``Refused`` (logged to the audit trail as ``what`` refused)."""
    try:
        too_long = comment_too_long(comment)
        if too_long:
            raise Refused(too_long)
        if item.state != state:
            raise Refused(f"this is {item.state}, {not_state}")
        roles = [role for role in user.roles if role in item.roles]
        if not roles:
            raise Refused(f"your roles ({', '.join(user.roles)}) {not_role}: {', '.join(item.roles) or 'nobody'}")
        if not comment.strip():
            raise Refused(no_comment)
    except Refused as exc:
        if log:
            audit.warning("%s refused: user=%s approval=%s reason=%s", what, user.name, item.id, exc)
        raise
    return roles[0]


def check_resolve(
    config: PlantConfig, user: User, item: ApprovalItem, *, comment: str, log: bool = True
) -> str:
    """The role in which ``user`` may answer an ``attention`` item (retry / cancel), or raise
    ``Refused``. Any role the item was sent to may answer; no limit applies (nothing new is bought:
    the step that failed is tried again, or the workflow stops)."""
    return _answering_role(
        user, item, comment=comment, state="attention", not_state="not waiting for an answer to a failure",
        not_role="may not answer this; it needs one of",
        no_comment="say why in the comment: retrying or cancelling is recorded with it", what="resolve", log=log,
    )


def check_close(
    config: PlantConfig, user: User, item: ApprovalItem, *, comment: str, log: bool = True
) -> str:
    """The role in which ``user`` may close a ``review`` item, or raise ``Refused``. A review goes
    to the role that owns the asset; any holder of that role may close it, with a comment (no
    approval limit applies: closing buys nothing)."""
    return _answering_role(
        user, item, comment=comment, state="review", not_state="not a review to close",
        not_role="may not close this review; it is for",
        no_comment="say what you found or did in the comment: a review is closed with one", what="close", log=log,
    )


def can_act(config: PlantConfig, user: User, item: ApprovalItem) -> str | None:
    """None if the user may act on the item as shown (vote, answer an attention, close a review),
    else why not."""
    if item.state == "review":
        try:
            check_close(config, user, item, comment="-", log=False)
        except Refused as exc:
            return str(exc)
        return None
    if item.state == "attention":
        try:
            check_resolve(config, user, item, comment="-", log=False)
        except Refused as exc:
            return str(exc)
        return None
    return can_vote(config, user, item)
