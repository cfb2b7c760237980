"""The one error hierarchy of autoops.

It lives in ``agents`` because that is the bottom layer: every other package may import it.

    AutoopsError                      base of everything we raise on purpose
    ├── InputError                    bad data from outside: a file, a row, a column, a value
    │   ├── SensorSpecError           unknown sensor kind, unit that does not fit the kind
    │   └── ConfigError               plant / asset configuration that does not validate
    ├── ModelError                    a prognostics model that cannot be fitted, loaded or used
    ├── PolicyError                   a policy that cannot be loaded or raised while evaluating
    ├── AgentRuntimeError             the Ray runtime hosting agents failed (actor lost, timeout)
    ├── ServiceUnavailableError       a service we run on (Temporal) cannot be reached now: retry later
    └── IntegrationError              a call to an outside system (supplier, CMMS, MES) failed
        ├── RetryableIntegrationError timeouts, 5xx, 429: retry with backoff
        │   └── MalformedResponseError  a body that is not JSON (garbled, proxy error page)
        ├── RejectedByPartnerError    validation 4xx: a human must look, retrying will not help
        ├── PartnerContractError      valid JSON of the wrong shape: the contract changed
        └── CallbackAuthError         an inbound callback with a missing, stale or forged signature

Messages say what was wrong, where (file, row, column, field) and what to do.
"""

from __future__ import annotations


class AutoopsError(Exception):
    """Base of every error autoops raises on purpose."""


class InputError(AutoopsError):
    """Bad input, located as precisely as we can: file, row (1-based), column."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        where = ", ".join(
            part
            for part in (
                f"file {file}" if file else "",
                f"row {row}" if row is not None else "",
                f"column {column!r}" if column else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


class SensorSpecError(InputError):
    """A sensor declaration that autoops cannot use (kind unknown, unit not valid for the kind)."""


class ConfigError(InputError):
    """Configuration that does not validate; names the file and the field."""


class ModelError(AutoopsError):
    """A prognostics model could not be fitted, loaded or applied."""


class PolicyError(AutoopsError):
    """A policy could not be loaded, or raised while evaluating."""


class AgentRuntimeError(AutoopsError):
    """An agent actor could not be reached or died beyond its restart budget; names the actor."""


class ServiceUnavailableError(AutoopsError):
    """A service autoops runs on (Temporal) cannot be reached now; the request may be retried later."""


class IntegrationError(AutoopsError):
    """A call to an outside system failed.

    ``retryable`` tells a caller (e.g. a Temporal activity) whether to retry with backoff or to
    hand the reason to a person. ``partner``, ``operation``, ``status_code`` and ``reason`` locate
    the failure; none of them ever carries a secret.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        partner: str | None = None,
        operation: str | None = None,
        status_code: int | None = None,
        reason: str | None = None,
    ) -> None:
        self.partner = partner
        self.operation = operation
        self.status_code = status_code
        self.reason = reason
        super().__init__(message)


class RetryableIntegrationError(IntegrationError):
    """Transient failure of an outside system (timeout, 5xx, 429); safe to retry."""

    retryable = True


class RejectedByPartnerError(IntegrationError):
    """The outside system refused the request as invalid (4xx); needs a person, not a retry."""


class MalformedResponseError(RetryableIntegrationError):
    """The partner answered with a body that is not JSON; retried because our calls are idempotent."""


class PartnerContractError(IntegrationError):
    """The partner answered valid JSON that does not fit the agreed shape; a developer must look."""


class CallbackAuthError(IntegrationError):
    """An inbound callback was refused: signature missing, stale, from the future or forged."""
