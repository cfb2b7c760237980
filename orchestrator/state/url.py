"""The state database's URL: checked, normalised, and redacted wherever it is shown."""

from __future__ import annotations

from pathlib import Path

from agents.errors import ConfigError

_SCHEMES = ("postgresql", "sqlite")


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (also when it does not parse)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # user:password@host -> user:***@host, without trusting the rest of the string
        scheme, sep, rest = url.partition("://")
        creds, at, host = rest.rpartition("@")
        if not at:
            return url if sep else "<unparsable URL>"
        user = creds.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{host}"


def check_url(url: str) -> str:
    """``url`` if it is a SQLite or PostgreSQL URL SQLAlchemy can use; else ``ConfigError``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError(
            f"not a database URL: {redact_url(url)!r}; write postgresql://user@host:5432/db "
            "(password in AUTOOPS_STATE_URL) or sqlite:////absolute/path/state.sqlite"
        ) from None
    if parsed.get_backend_name() not in _SCHEMES:
        raise ValueError(
            f"unsupported database {parsed.get_backend_name()!r} in {redact_url(url)!r}; "
            "use postgresql:// or sqlite:///"
        )
    return url


def engine_url(url: str) -> str:
    """The URL SQLAlchemy opens: plain ``postgresql://`` means psycopg 3, the driver we ship."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def default_url(state_dir: Path) -> str:
    """SQLite in the state directory (what ``StateDB.for_dir`` opens when nothing is configured)."""
    return f"sqlite:///{Path(state_dir).resolve() / 'state.sqlite'}"


def config_error(url: str, exc: BaseException) -> ConfigError:
    return ConfigError(f"state.url: {exc}; the URL was {redact_url(url)}")
