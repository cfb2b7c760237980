"""The two ways a notification leaves the process: mail over SMTP and a signed JSON webhook.

Errors are translated once, here, into ``NotificationError`` (retryable: the ``notify`` activity
is retried with backoff). Messages never carry the SMTP password or the webhook secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import smtplib
import ssl
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import httpx
from pydantic import SecretStr

from agents.errors import RetryableIntegrationError
from orchestrator.notify.settings import SmtpSettings
from workflows.integrations.signing import signature_headers

IDEMPOTENCY_HEADER = "Idempotency-Key"


class NotificationError(RetryableIntegrationError):
    """A mail server or webhook did not take a message (down, refused, timed out).

    ``unreachable``: the server itself could not be reached, so other messages to it would fail too.
    """

    unreachable: bool = False


def message_id(key: str) -> str:
    """A stable Message-ID for one idempotency key: a receiver can drop a repeat."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@autoops>"


class SmtpSender:
    """Sends plain-text mails through the configured server (smtplib in a worker thread)."""

    def __init__(self, settings: SmtpSettings, password: SecretStr | None = None) -> None:
        self.settings = settings
        self._password = password

    def _send(self, message: EmailMessage) -> None:
        s = self.settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.ssl:
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        with smtp:
            if s.starttls and not s.ssl:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
                    smtp.ehlo()
                elif s.username:
                    # Never send a password in clear: refuse rather than downgrade.
                    raise smtplib.SMTPNotSupportedError(
                        "the server does not offer STARTTLS and a login is configured"
                    )
            if s.username:
                smtp.login(s.username, self._password.get_secret_value() if self._password else "")
            smtp.send_message(message)

    async def send(self, to: str, subject: str, text: str, *, key: str, now: datetime) -> None:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(now.timestamp(), usegmt=True)
        message["Message-ID"] = message_id(key)
        message[IDEMPOTENCY_HEADER] = key
        message.set_content(text)
        try:
            await asyncio.to_thread(self._send, message)
        except (OSError, smtplib.SMTPException) as exc:
            # smtplib's exceptions name the server's reply, never our credentials.
            error = NotificationError(
                f"mail to {to} via {self.settings.host}:{self.settings.port} failed: "
                f"{type(exc).__name__}: {exc}; check [notifications.smtp] and that the server is up"
            )
            error.unreachable = isinstance(exc, OSError | smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected)
            raise error from exc


class WebhookSender:
    """POSTs a JSON body signed like the partners' callbacks (``X-Autoops-Signature``)."""

    def __init__(
        self, name: str, url: str, secret: SecretStr, client: httpx.AsyncClient, *,
        timeout_s: float = 10.0, clock: Callable[[], datetime],
    ) -> None:
        self.name = name
        self.url = url
        self._secret = secret
        self._client = client
        self._timeout = timeout_s
        self._clock = clock

    async def send(self, payload: dict[str, Any], *, key: str) -> None:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: key,
            **signature_headers(self._secret, body, self._clock()),
        }
        try:
            response = await self._client.post(self.url, content=body, headers=headers, timeout=self._timeout)
        except httpx.HTTPError as exc:
            error = NotificationError(
                f"webhook {self.name!r} failed: {type(exc).__name__}: {exc}; check its url and that it is up"
            )
            error.unreachable = isinstance(exc, httpx.TransportError)
            raise error from exc
        if response.status_code >= 300:
            raise NotificationError(
                f"webhook {self.name!r} answered {response.status_code}: {response.text[:200]}"
            )
