"""The survey link's token: the survey id and its expiry, signed with HMAC-SHA256.

`<base64url(16-byte survey id + 8-byte expiry in epoch seconds)>.<base64url(MAC)>`,
about 76 characters. The MAC covers a purpose label too, so a MAC made for anything
else with the same secret is never a survey token. Why not store a random token: a
signed one needs no lookup before it is known to be genuine (a forged or altered one is
refused without touching the database), cannot be read out of a database dump, and the
row stays as the models describe it. (itsdangerous would do the same; it is not
installed, and these twenty lines are the standard library's `hmac`.)

The secret is SURVEY_SECRET. Without it, production fails loudly the first time a link
is signed or checked (a mail rendering a link, the survey page); elsewhere a fixed
development secret is used, so development links survive restarts (and can be forged
by anyone who reads this file, which is why production refuses it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import uuid
from datetime import UTC, datetime

from app.core.config import get_settings

_PURPOSE = b"supportline survey link v1\x00"
# Public on purpose (development and tests only; production refuses to use it).
_DEVELOPMENT_SECRET = "supportline-development-survey-secret"  # noqa: S105
_PAYLOAD = struct.Struct(">16sq")
_MAX_TOKEN = 200
_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class BadToken(ValueError):
    """Not a token this installation signed (forged, altered, truncated)."""


def secret() -> bytes:
    settings = get_settings()
    if settings.survey_secret:
        return settings.survey_secret.encode()
    if settings.env == "production":
        raise RuntimeError(
            "SURVEY_SECRET is not set: survey links cannot be signed or checked in "
            "production without it (set a long random value, and keep it: changing it "
            "invalidates every link sent)."
        )
    return _DEVELOPMENT_SECRET.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(payload: bytes) -> bytes:
    return hmac.new(secret(), _PURPOSE + payload, hashlib.sha256).digest()


def sign(survey_id: uuid.UUID, expires_at: datetime) -> str:
    payload = _PAYLOAD.pack(survey_id.bytes, int(expires_at.timestamp()))
    return f"{_b64(payload)}.{_b64(_mac(payload))}"


def verify(token: str) -> tuple[uuid.UUID, datetime]:
    """(survey id, expiry) of a genuine token; BadToken otherwise. The expiry is not
    checked here: an expired link is genuine, and answers so."""
    if len(token) > _MAX_TOKEN or not _SHAPE.fullmatch(token):
        raise BadToken("malformed")
    head, mac = token.split(".")
    try:
        payload, given = _unb64(head), _unb64(mac)
    except (ValueError, TypeError) as exc:
        raise BadToken("malformed") from exc
    # Only the one spelling this module writes: base64 has others for the same bytes.
    if _b64(payload) != head or _b64(given) != mac:
        raise BadToken("malformed")
    if len(payload) != _PAYLOAD.size or not hmac.compare_digest(given, _mac(payload)):
        raise BadToken("bad signature")
    raw_id, expires = _PAYLOAD.unpack(payload)
    try:
        return uuid.UUID(bytes=raw_id), datetime.fromtimestamp(expires, UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise BadToken("malformed") from exc


def whole_seconds(at: datetime) -> datetime:
    """An expiry as the token carries it (whole seconds), to store it the same way."""
    return datetime.fromtimestamp(int(at.timestamp()), UTC)
