"""HMAC-SHA256 signatures for partner callbacks.

The sender puts the Unix time in ``X-Autoops-Timestamp`` and ``v1=<hex>`` in
``X-Autoops-Signature``, where the hex is HMAC-SHA256(secret, ``"<timestamp>." + body``).
Signing the timestamp with the body means an old callback cannot be replayed under a fresh time;
the receiver refuses timestamps outside its allowed clock skew and de-duplicates event ids.
The secret is shared configuration: it is never logged or put in an error message.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from pydantic import SecretStr

from agents.errors import CallbackAuthError

TIMESTAMP_HEADER = "X-Autoops-Timestamp"
SIGNATURE_HEADER = "X-Autoops-Signature"
SCHEME = "v1"

Secret = str | bytes | SecretStr


def _key(secret: Secret) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: Secret, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def signature_headers(secret: Secret, body: bytes, now: datetime) -> dict[str, str]:
    """Headers a sender adds to a callback whose exact bytes are ``body``."""
    timestamp = int(now.timestamp())
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


#: Unix seconds have 10 digits until the year 2286; anything much longer is not a time.
_MAX_TIMESTAMP_DIGITS = 12


def check_freshness(
    headers: Mapping[str, str], *, now: datetime, max_skew_s: float = 300.0
) -> tuple[int, str]:
    """The signed timestamp and the signature of a callback whose headers are present and fresh.

    Needs no body, so a receiver can refuse unsigned, stale or malformed callbacks before it
    reads a byte of what they carry. Raises ``CallbackAuthError``.
    """
    raw_ts = headers.get(TIMESTAMP_HEADER)
    raw_sig = headers.get(SIGNATURE_HEADER)
    if not raw_ts or not raw_sig:
        raise CallbackAuthError(
            f"callback without {TIMESTAMP_HEADER} / {SIGNATURE_HEADER} headers; "
            "the sender must sign callbacks",
            reason="unsigned",
        )
    raw_ts = raw_ts.strip()
    # Digits only and bounded: a 400-digit "time" must be refused, not overflow a float.
    if not (raw_ts.isascii() and raw_ts.isdigit() and len(raw_ts) <= _MAX_TIMESTAMP_DIGITS):
        raise CallbackAuthError(
            f"callback {TIMESTAMP_HEADER} is not Unix seconds (at most "
            f"{_MAX_TIMESTAMP_DIGITS} digits)",
            reason="bad timestamp",
        )
    timestamp = int(raw_ts)
    age = now.timestamp() - timestamp
    if age > max_skew_s:
        raise CallbackAuthError(
            f"callback signed {age:.0f} s ago, older than the allowed {max_skew_s:.0f} s; "
            "refused as stale (replay?) - check the sender's clock",
            reason="stale",
        )
    if -age > max_skew_s:
        raise CallbackAuthError(
            f"callback signed {-age:.0f} s in the future, beyond the allowed {max_skew_s:.0f} s; "
            "check the sender's clock",
            reason="from the future",
        )
    return timestamp, raw_sig


def verify(
    secret: Secret,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    max_skew_s: float = 300.0,
) -> int:
    """Check a callback's signature and freshness; return its timestamp or raise ``CallbackAuthError``.

    ``headers`` must be case-insensitive (httpx / Starlette headers are).
    """
    timestamp, raw_sig = check_freshness(headers, now=now, max_skew_s=max_skew_s)
    expected = sign(secret, timestamp, body)
    # Constant-time: a timing difference would let an attacker guess the signature byte by byte.
    if not hmac.compare_digest(expected.encode(), raw_sig.strip().encode()):
        raise CallbackAuthError(
            "callback signature does not match its body; refused as forged "
            "(or the shared secret differs between sender and receiver)",
            reason="bad signature",
        )
    return timestamp
