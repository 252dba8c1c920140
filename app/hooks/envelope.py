"""The envelope of an outbound webhook (version 1): what every delivery's body is.

    {"version":1,"id":"evt_<32 hex>","type":"ticket.created",
     "timestamp":"2026-03-02T08:00:00.123456Z","data":{...the event's payload...}}

Compact JSON (no spaces), UTF-8. `id` is derived from the outbox message (its UUID's
hex), so the same event always has the same id: it is the `webhook-id` header too, the
key a receiver de-duplicates on (a redelivery, or a resend after a worker crashed,
carries it again). `timestamp` is when the event was committed (the outbox row's
creation), not when it was sent: the attempt's time is the `webhook-timestamp` header.
`data` is the outbox payload as the emitting domain wrote it; its shape per event type is
in docs/api-guide.md. A change that would break a receiver gets a new `version`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

VERSION = 1
ID_PREFIX = "evt_"


def event_id(message_id: uuid.UUID) -> str:
    return ID_PREFIX + message_id.hex


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build(message_id: uuid.UUID, event_type: str, at: datetime, data: dict[str, Any]) -> str:
    """The envelope's exact text (the bytes signed and sent, frozen in the delivery)."""
    return orjson.dumps(
        {
            "version": VERSION,
            "id": event_id(message_id),
            "type": event_type,
            "timestamp": timestamp(at),
            "data": data,
        }
    ).decode()
