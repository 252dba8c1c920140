"""The secrets of webhooks, both ways: made here, and kept as what each use needs.

A signing secret (Standard Webhooks, `whsec_` + base64 of 32 random bytes) must be kept
as it is: the HMAC is computed with it at every request. A bearer token or a basic
password is only ever compared, so only its SHA-256 digest is kept (as API keys are)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

SIGNING_PREFIX = "whsec_"
SIGNING_BYTES = 32
TOKEN_BYTES = 32


def new_signing_secret() -> str:
    return SIGNING_PREFIX + base64.b64encode(secrets.token_bytes(SIGNING_BYTES)).decode()


def new_token() -> str:
    """A bearer token or basic password: URL-safe, 43 characters."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_signing_secret(value: str) -> bool:
    """`whsec_` and base64 of 24..64 bytes: what Standard Webhooks libraries accept."""
    if not value.startswith(SIGNING_PREFIX):
        return False
    try:
        raw = base64.b64decode(value[len(SIGNING_PREFIX) :], validate=True)
    except ValueError:
        return False
    return 24 <= len(raw) <= 64


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def matches_digest(token: str, stored: str) -> bool:
    return hmac.compare_digest(digest(token), stored)


def in_use(current: str, previous: str | None, until: datetime | None, now: datetime) -> list[str]:
    """The secrets valid now, both ways: the current one, and the one before it while
    the overlap after its rotation lasts."""
    if previous and until is not None and now < until:
        return [current, previous]
    return [current]


def rotated(current: str, now: datetime, overlap: timedelta) -> tuple[str | None, datetime | None]:
    """(previous_secret, previous_expires_at) after `current` is replaced at `now`: kept
    for the overlap, or dropped at once when there is none (a second rotation within the
    overlap drops the oldest)."""
    if overlap > timedelta(0):
        return current, now + overlap
    return None, None
