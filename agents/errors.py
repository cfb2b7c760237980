"""The one error hierarchy of autoops.

It lives in ``agents`` because that is the bottom layer: every other package may import it.

    AutoopsError                      base of everything we raise on purpose
    ├── InputError                    bad data from outside: a file, a row, a column, a value
    │   ├── SensorSpecError           unknown sensor kind, unit that does not fit the kind
    │   └── ConfigError               plant / asset configuration that does not validate
    ├── ModelError                    a prognostics model that cannot be fitted, loaded or used
    ├── PolicyError                   a policy that cannot be loaded or raised while evaluating
    └── IntegrationError              a call to an outside system (supplier, CMMS, MES) failed
        ├── RetryableIntegrationError timeouts, 5xx, 429: retry with backoff
        └── RejectedByPartnerError    validation 4xx: a human must look, retrying will not help

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


class IntegrationError(AutoopsError):
    """A call to an outside system failed."""


class RetryableIntegrationError(IntegrationError):
    """Transient failure of an outside system (timeout, 5xx, 429); safe to retry."""


class RejectedByPartnerError(IntegrationError):
    """The outside system refused the request as invalid (4xx); needs a person, not a retry."""
