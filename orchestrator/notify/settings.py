"""The ``[notifications]`` table of the plant file: mail server, webhooks, routes and digests.

Secrets are named by environment variable (``password_env``, ``secret_env``), never written in
the file; ``orchestrator.config`` checks they are set when the file is loaded.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workflows.models import NotificationKind


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class SmtpSettings(_Section):
    """The mail server: ``host``, ``port``, ``from``; STARTTLS and a login when it wants them."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, gt=0, lt=65536)
    sender: str = Field(alias="from", min_length=3)
    starttls: bool = True
    ssl: bool = False  # implicit TLS (port 465); excludes starttls
    username: str = ""
    password_env: str | None = None  # the variable holding the password; never logged
    timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("sender")
    @classmethod
    def _address(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError(f"{value!r} is not a mail address; write e.g. from = \"autoops@plant.example\"")
        return value


class WebhookSettings(_Section):
    """A generic JSON webhook (chat tools); every body is HMAC-signed with ``secret_env``'s value."""

    name: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://", description="http(s) URL of the receiver")
    secret_env: str = Field(min_length=1)
    timeout_s: float = Field(default=10.0, gt=0)


class Route(_Section):
    """Who else hears of what: a match on role, line, priority and kind (empty = any) sends to
    the listed addresses and webhooks."""

    roles: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    kinds: tuple[NotificationKind, ...] = ()
    email: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()

    @field_validator("email")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in value if "@" not in a]
        if bad:
            raise ValueError(f"not mail addresses: {bad}")
        return value


class NotificationSettings(_Section):
    """Off unless a mail server or a webhook is named: then notifications are only logged."""

    # Deep links point here (what people open the web UI at); default: the [web] host and port.
    base_url: str = ""
    smtp: SmtpSettings | None = None
    webhooks: tuple[WebhookSettings, ...] = ()
    routes: tuple[Route, ...] = ()
    # Mail every user holding a notified role who has an ``email`` in [[users]].
    email_users: bool = True
    # More than ``digest_after`` messages to one recipient within ``digest_window_s``: the rest
    # of that window goes out as one digest at its end. 0 disables digests.
    digest_after: int = Field(default=5, ge=0)
    digest_window_s: float = Field(default=600.0, gt=0)

    @property
    def enabled(self) -> bool:
        return self.smtp is not None or bool(self.webhooks)

    def problems(self, *, roles: set[str], lines: set[str]) -> list[str]:
        """Cross-references the table alone cannot check, as ``field: what to do`` lines."""
        out: list[str] = []
        names = [w.name for w in self.webhooks]
        if len(names) != len(set(names)):
            out.append(f"notifications.webhooks: duplicate names in {names}")
        if self.smtp is not None and self.smtp.ssl and self.smtp.starttls:
            out.append("notifications.smtp.ssl: ssl (implicit TLS) and starttls exclude each other; set starttls = false")
        if self.smtp is not None and self.smtp.username and not self.smtp.password_env:
            out.append(
                "notifications.smtp.password_env: a login (username) needs the environment variable "
                "that holds its password"
            )
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            out.append(f"notifications.base_url: {self.base_url!r} is not an http(s) URL")
        for i, route in enumerate(self.routes):
            where = f"notifications.routes[{i}]"
            unknown = [r for r in route.roles if roles and r not in roles]
            if unknown:
                out.append(f"{where}.roles: unknown roles {unknown}; declared roles are {sorted(roles)}")
            unknown = [ln for ln in route.lines if ln not in lines]
            if unknown:
                out.append(f"{where}.lines: unknown lines {unknown}; lines are {sorted(lines)}")
            unknown = [w for w in route.webhooks if w not in names]
            if unknown:
                out.append(f"{where}.webhooks: unknown webhooks {unknown}; declare them in [[notifications.webhooks]]")
            if route.email and self.smtp is None:
                out.append(f"{where}.email: mail needs a server; add [notifications.smtp] (host, port, from)")
            if not route.email and not route.webhooks:
                out.append(f"{where}: sends nowhere; give it email or webhooks")
        return out
