"""Outbound webhook deliveries (one event for one subscription) and their attempts: the
delivery log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from app.core.outputs import OutputModel
from app.hooks.models import ATTEMPT_OUTCOMES, DELIVERY_STATES

WebhookDeliveryState = Literal["pending", "sending", "retrying", "delivered", "failed"]
WebhookAttemptOutcome = Literal["success", "http_error", "refused", "network_error", "timeout"]
assert set(WebhookDeliveryState.__args__) == set(DELIVERY_STATES)  # type: ignore[attr-defined]
assert set(WebhookAttemptOutcome.__args__) == set(ATTEMPT_OUTCOMES)  # type: ignore[attr-defined]

_EXAMPLE: dict[str, Any] = {
    "id": "0192f3c4-0000-7000-8000-0000000000f1",
    "subscription_id": "0192f3c4-0000-7000-8000-0000000000e1",
    "event_id": "evt_0192f3c400007000800000000000b001",
    "event_type": "ticket.created",
    "state": "delivered",
    "attempts": 2,
    "next_attempt_at": "2026-03-02T08:00:05Z",
    "last_status": 200,
    "last_error": None,
    "created_at": "2026-03-02T08:00:00Z",
    "delivered_at": "2026-03-02T08:00:05Z",
}
_ATTEMPT: dict[str, Any] = {
    "id": "0192f3c4-0000-7000-8000-0000000000a1",
    "started_at": "2026-03-02T08:00:05Z",
    "duration_ms": 42,
    "address": "203.0.113.10",
    "outcome": "success",
    "status_code": 200,
    "response_excerpt": '{"ok":true}',
    "error": None,
}


class WebhookDeliveryOut(OutputModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": _EXAMPLE})

    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: str = Field(description="The envelope's id and the `webhook-id` header.")
    event_type: str
    state: WebhookDeliveryState = Field(
        description="pending → sending → delivered; retrying (failed, tried again at "
        "`next_attempt_at`); failed (eight attempts spent, 410 Gone, or the subscription "
        "disabled: redeliverable)."
    )
    attempts: int = Field(description="Attempts since it was written (or redelivered).")
    next_attempt_at: datetime = Field(
        description="Pending or retrying: when it is due; sending: when its lease ends."
    )
    last_status: int | None = Field(description="The HTTP status of the last answer.")
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class WebhookAttemptOut(OutputModel):
    """One try: when, to which address, the answer and its first bytes."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": _ATTEMPT})

    id: uuid.UUID
    started_at: datetime
    duration_ms: int
    address: str | None = Field(description="The checked address connected to.")
    outcome: WebhookAttemptOutcome = Field(
        description="success (2xx); http_error (any other status, a redirect included: "
        "redirects are not followed); refused (the SSRF check refused the target's "
        "addresses at send time); network_error; timeout."
    )
    status_code: int | None
    response_excerpt: str | None = Field(
        description="The first WEBHOOK_RESPONSE_EXCERPT_BYTES of the answer, as text."
    )
    error: str | None


class WebhookDeliveryDetail(WebhookDeliveryOut):
    """A delivery with the exact body sent and every attempt, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                **_EXAMPLE,
                "body": '{"version":1,"id":"evt_0192f3c400007000800000000000b001",'
                '"type":"ticket.created","timestamp":"2026-03-02T08:00:00Z","data":{}}',
                "history": [_ATTEMPT],
            }
        }
    )

    body: str = Field(description="The envelope, exactly the bytes sent and signed.")
    history: list[WebhookAttemptOut]
