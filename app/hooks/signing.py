"""Standard Webhooks signatures (https://www.standardwebhooks.com), both ways, with the
`standardwebhooks` package computing them: `v1,<base64 HMAC-SHA256 of id.timestamp.body>`.

Why the timestamp is checked here and not by `Webhook.verify`: the package compares it
with the machine's clock, and ours is injected (tests pin it; SLA and timers read the
same clock). So the tolerance is ours, and the package signs what we compare."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from standardwebhooks import Webhook

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"
# A sender signs with one secret, two during a rotation: a few more are tolerated, a
# header of thousands (each an HMAC comparison per secret) is refused.
MAX_SIGNATURES = 16


class SignatureError(Exception):
    """Why a signed request is refused (the text goes into the 401's detail)."""


def sign(secrets: Iterable[str], msg_id: str, timestamp: datetime, body: bytes) -> str:
    """The `webhook-signature` header: one `v1,...` per secret, space-separated (during a
    rotation the old and the new secret both sign, so a receiver that knows either
    verifies)."""
    return " ".join(Webhook(s).sign(msg_id, timestamp, body) for s in secrets)


def headers(
    secrets: Iterable[str], msg_id: str, timestamp: datetime, body: bytes
) -> dict[str, str]:
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(int(timestamp.timestamp())),
        HEADER_SIGNATURE: sign(secrets, msg_id, timestamp, body),
    }


def verify(
    secrets: Iterable[str],
    request_headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    tolerance_seconds: int,
) -> str:
    """Checks a signed request; returns its `webhook-id`. Raises SignatureError when a
    header is missing, the timestamp is not a number or is more than the tolerance off
    `now`, or no signature matches any of `secrets`."""
    msg_id = request_headers.get(HEADER_ID, "")
    stamp = request_headers.get(HEADER_TIMESTAMP, "")
    offered = request_headers.get(HEADER_SIGNATURE, "")
    if not (msg_id and stamp and offered):
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature are required.")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise SignatureError("webhook-timestamp must be Unix seconds.")
    # Compared as numbers: twelve digits reach past year 9999, where `datetime` fails.
    if abs(now.timestamp() - int(stamp)) > tolerance_seconds:
        raise SignatureError(f"webhook-timestamp is more than {tolerance_seconds} s off.")
    at = datetime.fromtimestamp(int(stamp), UTC)
    given = [s.encode() for s in offered.split(" ") if s]
    if len(given) > MAX_SIGNATURES:
        raise SignatureError(f"At most {MAX_SIGNATURES} signatures in webhook-signature.")
    # Every secret against every signature, no early exit: the time taken says nothing
    # about which secret (the current or the previous one) matched.
    matched = False
    for secret in secrets:
        expected = Webhook(secret).sign(msg_id, at, body).encode()
        for offered_one in given:
            matched |= hmac.compare_digest(expected, offered_one)
    if not matched:
        raise SignatureError("No signature matches.")
    return msg_id
