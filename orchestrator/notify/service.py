"""``Notifications``: the notifier the ``notify`` activity calls. Routes, de-duplicates, digests, sends.

    notification ──route()──> recipients (mail addresses, webhooks), each for some roles
        for each recipient: key = workflow id / run id / event / recipient
            in the sent-log already?           -> skip (a retry of the activity)
            too many to it in the window?      -> queue for its digest
            otherwise                          -> send, then write the key
        any send failed                        -> NotificationError (the activity retries; what
                                                  went out is in the log and is not sent again)

``flush_digests`` sends each recipient's queued items as one message once its window has passed;
``run_digests`` calls it periodically in the worker process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from agents.errors import ConfigError
from orchestrator.notify.channels import NotificationError, SmtpSender, WebhookSender
from orchestrator.notify.sentlog import SentLog, idempotency_key
from orchestrator.notify.settings import NotificationSettings, Route
from workflows.models import Notification

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipient:
    channel: str  # "email" | "webhook"
    address: str  # mail address, or the webhook's name
    roles: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.address}"


@dataclass
class Directory:
    """What routing needs from the plant file: people's addresses and each asset's line."""

    emails_by_role: dict[str, list[str]] = field(default_factory=dict)
    line_of: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Any) -> Directory:
        emails: dict[str, list[str]] = {}
        for user in config.users:
            if user.email:
                for role in user.roles:
                    emails.setdefault(role, []).append(user.email)
        lines = {str(m.get("id")): str(m["line"]) for m in config.machines if m.get("line")}
        return cls(emails_by_role=emails, line_of=lines)


def _matches(route: Route, n: Notification, line: str) -> bool:
    return (
        (not route.roles or any(r in route.roles for r in n.roles))
        and (not route.lines or line in route.lines)
        and (not route.priorities or n.priority in route.priorities)
        and (not route.kinds or n.kind in route.kinds)
    )


def route(settings: NotificationSettings, directory: Directory, n: Notification) -> list[Recipient]:
    """Everyone ``n`` goes to, one entry per address (a person holding two roles gets one message)."""
    found: dict[tuple[str, str], list[str]] = {}
    if settings.smtp is not None and settings.email_users:
        for role in n.roles:
            for address in directory.emails_by_role.get(role, ()):
                found.setdefault(("email", address), []).append(role)
    line = directory.line_of.get(n.asset_id or "", "")
    for rule in settings.routes:
        if not _matches(rule, n, line):
            continue
        roles = [r for r in n.roles if not rule.roles or r in rule.roles]
        for address in rule.email:
            found.setdefault(("email", address), []).extend(roles)
        for name in rule.webhooks:
            found.setdefault(("webhook", name), []).extend(roles)
    return [Recipient(ch, addr, tuple(dict.fromkeys(roles))) for (ch, addr), roles in found.items()]


class Notifications:
    """The notifier of a worker with ``[notifications]`` configured (see the module docstring)."""

    def __init__(
        self,
        settings: NotificationSettings,
        directory: Directory,
        *,
        base_url: str,
        log_path: Path | None,
        smtp: SmtpSender | None = None,
        webhooks: dict[str, WebhookSender] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.base_url = base_url.rstrip("/")
        self.log = SentLog(log_path)
        self.smtp = smtp
        self.webhooks = webhooks or {}
        self.clock = clock
        self._lock = asyncio.Lock()

    @classmethod
    def from_config(
        cls, config: Any, *, http: httpx.AsyncClient, state_dir: Path | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> Notifications:
        """Built from the plant file; secrets are read from their environment variables now."""
        from orchestrator.config import _secret_from_env

        settings: NotificationSettings = config.notifications
        smtp = None
        if settings.smtp is not None:
            password = _secret_from_env(settings.smtp.password_env, "notifications.smtp.password_env")
            smtp = SmtpSender(settings.smtp, password)
        hooks = {}
        for i, hook in enumerate(settings.webhooks):
            secret = _secret_from_env(hook.secret_env, f"notifications.webhooks[{i}].secret_env")
            if secret is None:  # pragma: no cover - secret_env is required by the settings
                raise ConfigError(f"notifications.webhooks[{i}].secret_env: name the secret's variable")
            hooks[hook.name] = WebhookSender(hook.name, hook.url, secret, http, timeout_s=hook.timeout_s, clock=clock)
        base_url = settings.base_url or f"http://{config.web.host}:{config.web.port}"
        return cls(
            settings, Directory.from_config(config), base_url=base_url,
            log_path=state_dir / "notifications.sqlite" if state_dir else None,
            smtp=smtp, webhooks=hooks, clock=clock,
        )

    def close(self) -> None:
        self.log.close()

    def link(self, n: Notification) -> str:
        return f"{self.base_url}{quote(n.link_path or f'/workflows/{n.workflow_id}', safe='/')}"

    def _text(self, n: Notification, recipient: Recipient) -> str:
        lines = [n.message, ""]
        if recipient.roles:
            lines.append(f"You receive this as: {', '.join(recipient.roles)}")
        if n.deadline is not None:
            lines.append(f"Deadline: {n.deadline:%Y-%m-%d %H:%M} UTC")
        lines += [f"Open it: {self.link(n)}", "", f"-- autoops ({n.workflow_id}, {n.kind.value})"]
        return "\n".join(lines)

    def _payload(self, n: Notification, recipient: Recipient, key: str) -> dict[str, Any]:
        return {
            # "text" is what chat tools (Slack, Mattermost, Teams workflows) show as the message.
            "id": key, "kind": n.kind.value, "subject": n.subject, "message": n.message,
            "text": f"{n.message}\n{self.link(n)}",
            "workflow_id": n.workflow_id, "roles": list(recipient.roles or n.roles),
            "priority": n.priority, "asset_id": n.asset_id,
            "line": self.directory.line_of.get(n.asset_id or "", ""),
            "deadline": n.deadline.isoformat() if n.deadline else None, "link": self.link(n),
        }

    async def _deliver(self, recipient: Recipient, subject: str, text: str, payload: dict[str, Any], key: str) -> None:
        if recipient.channel == "email":
            assert self.smtp is not None
            await self.smtp.send(recipient.address, subject, text, key=key, now=self.clock())
        else:
            await self.webhooks[recipient.address].send(payload, key=key)

    def _digesting(self, recipient: Recipient, now: datetime) -> bool:
        if not self.settings.digest_after:
            return False
        if self.log.holding(recipient.key):
            return True
        since = now - timedelta(seconds=self.settings.digest_window_s)
        return self.log.sent_since(recipient.key, since) >= self.settings.digest_after

    async def __call__(self, n: Notification) -> None:
        recipients = route(self.settings, self.directory, n)
        if not recipients:
            log.warning("notify %s about %s (nobody routed): %s", ",".join(n.roles), n.subject, n.message)
            return
        failures: list[str] = []
        unreachable: set[str] = set()  # channels found down in this attempt: not tried again in it
        async with self._lock:  # one activity at a time decides "digest or send" per recipient
            for recipient in recipients:
                key = idempotency_key(n.workflow_id, n.run_id, n.event, recipient.key)
                if self.log.done(key):
                    continue
                channel = "email" if recipient.channel == "email" else recipient.key
                if channel in unreachable:
                    failures.append(f"{recipient.key}: not tried, the server is unreachable")
                    continue
                now = self.clock()
                ids = {"workflow_id": n.workflow_id, "run_id": n.run_id, "event": n.event, "recipient": recipient.key}
                text = self._text(n, recipient)
                if self._digesting(recipient, now):
                    self.log.queue(key, recipient=recipient.key, subject=n.subject, body=n.message,
                                   link=self.link(n), at=now)
                    self.log.record(key, status="digest", at=now, **ids)
                    continue
                try:
                    await self._deliver(recipient, f"[autoops] {n.subject}", text, self._payload(n, recipient, key), key)
                except NotificationError as exc:
                    failures.append(str(exc))
                    if exc.unreachable:
                        unreachable.add(channel)
                    continue
                self.log.record(key, status="sent", at=now, **ids)
                log.info("notified %s about %s (%s)", recipient.key, n.subject, n.event)
        if failures:
            raise NotificationError("; ".join(failures))

    async def flush_digests(self) -> int:
        """Send every digest whose window has passed; returns how many went out."""
        now = self.clock()
        due = self.log.due(now - timedelta(seconds=self.settings.digest_window_s))
        sent = 0
        for recipient_key, items in due.items():
            channel, _, address = recipient_key.partition(":")
            recipient = Recipient(channel, address)
            subject = f"[autoops] {len(items)} notifications"
            text = "\n\n".join(f"{i.subject}\n{i.body}\nOpen it: {i.link}" for i in items)
            key = f"digest/{items[0].id}/{recipient_key}"
            payload = {
                "id": key, "kind": "digest", "subject": subject, "text": text,
                "items": [{"subject": i.subject, "text": i.body, "link": i.link} for i in items],
            }
            if recipient.channel == "webhook" and address not in self.webhooks:
                continue
            ids = [i.id for i in items]
            if not self.log.claim(ids, now):
                continue  # another worker sends this one
            try:
                await self._deliver(recipient, subject, text + "\n\n-- autoops digest", payload, key)
            except NotificationError as exc:
                self.log.release(ids)
                log.warning("digest to %s not sent yet: %s", recipient_key, exc)
                continue
            self.log.digest_sent(recipient_key, [i.id for i in items], now)
            sent += 1
        return sent

    async def run_digests(self, stop: asyncio.Event, *, every_s: float = 30.0) -> None:
        """Supervisor loop of the worker process: flush due digests until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.flush_digests()
            except Exception:  # noqa: BLE001  supervisor loop: log, keep going
                log.exception("digest flush failed; retrying")
            try:
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            except TimeoutError:
                pass
