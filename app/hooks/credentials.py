"""Whether a request carries its source's credentials: a Standard Webhooks signature, a
bearer token or basic auth, by the source's `auth`. During a rotation the previous
secret is accepted until `previous_expires_at`, then never again.

Comparisons are constant-time (`hmac.compare_digest` on the signature, on the SHA-256
digests of a token or password, on the user name), and every secret in use is compared
even after one matched, so the time taken says nothing about which matched or how far a
guess got. The errors say what was wrong, never what was expected."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from app.hooks import signing
from app.hooks.secrets import in_use, matches_digest


class CredentialError(Exception):
    """Why a request is refused (401); the text goes into the problem's detail."""


@dataclass(frozen=True)
class SourceSecrets:
    """What a source keeps to check a request (a HookSource's columns)."""

    auth: str
    secret: str
    previous_secret: str | None
    previous_expires_at: datetime | None
    basic_username: str | None


def check(
    s: SourceSecrets,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    tolerance_seconds: int,
) -> str | None:
    """The request's `webhook-id` (signature sources) or None (bearer, basic, which have
    none); CredentialError when the credentials are missing or wrong."""
    stored = in_use(s.secret, s.previous_secret, s.previous_expires_at, now)
    if s.auth == "signature":
        try:
            return signing.verify(stored, headers, body, now, tolerance_seconds)
        except signing.SignatureError as exc:
            raise CredentialError(str(exc)) from None
    scheme, _, value = headers.get("authorization", "").partition(" ")
    value = value.strip()
    if s.auth == "bearer":
        if scheme.lower() != "bearer" or not value:
            raise CredentialError("Send the source's token as `Authorization: Bearer <token>`.")
        if not _any_digest(value, stored):
            raise CredentialError("The bearer token does not match.")
        return None
    if scheme.lower() != "basic" or not value:
        raise CredentialError("Send the source's credentials as `Authorization: Basic ...`.")
    user, password = _basic(value)
    expected_user = (s.basic_username or "").encode()
    user_ok = hmac.compare_digest(user.encode(), expected_user)
    password_ok = _any_digest(password, stored)
    if not (user_ok and password_ok):
        raise CredentialError("The user name or password does not match.")
    return None


def _any_digest(given: str, stored: list[str]) -> bool:
    matched = False
    for digest in stored:
        matched |= matches_digest(given, digest)
    return matched


def _basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error, ValueError):
        raise CredentialError("Basic credentials must be base64 of `user:password`.") from None
    user, colon, password = decoded.partition(":")
    if not colon:
        raise CredentialError("Basic credentials must be base64 of `user:password`.")
    return user, password
