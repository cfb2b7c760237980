"""HMAC callback signatures: what a receiver accepts and refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from agents.errors import CallbackAuthError
from workflows.integrations.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    signature_headers,
    verify,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BODY = b'{"event_id":"e1"}'


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"1764072000." + BODY, hashlib.sha256).hexdigest()
    assert sign("k", 1764072000, BODY) == f"v1={expected}"
    assert sign(SecretStr("k"), 1764072000, BODY) == sign(b"k", 1764072000, BODY)


def test_round_trip_within_skew() -> None:
    headers = httpx.Headers(signature_headers("k", BODY, NOW))
    later = NOW + timedelta(seconds=299)
    assert verify("k", headers, BODY, now=later, max_skew_s=300) == int(NOW.timestamp())


KEY = "s3cr3t-shared-key"


@pytest.mark.parametrize(
    ("secret", "body", "now", "reason"),
    [
        ("other-s3cr3t", BODY, NOW, "bad signature"),
        (KEY, BODY + b" ", NOW, "bad signature"),
        (KEY, BODY, NOW + timedelta(seconds=301), "stale"),
        (KEY, BODY, NOW - timedelta(seconds=301), "from the future"),
    ],
)
def test_refusals(secret: str, body: bytes, now: datetime, reason: str) -> None:
    headers = httpx.Headers(signature_headers(KEY, BODY, NOW))
    with pytest.raises(CallbackAuthError) as info:
        verify(secret, headers, body, now=now, max_skew_s=300)
    assert info.value.reason == reason
    assert "s3cr3t" not in str(info.value)  # never echo a secret


def test_missing_or_garbled_headers() -> None:
    with pytest.raises(CallbackAuthError, match="without"):
        verify("k", httpx.Headers({}), BODY, now=NOW)
    garbled = httpx.Headers({TIMESTAMP_HEADER: "yesterday", SIGNATURE_HEADER: "v1=00"})
    with pytest.raises(CallbackAuthError, match="Unix seconds"):
        verify("k", garbled, BODY, now=NOW)
