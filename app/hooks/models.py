"""Webhooks in and out (issue 13).

In: a `hook_sources` row is one sender (an Alertmanager, a monitoring script) with its
own URL key, kind, authentication and mapping; every request it makes is recorded in
`hook_requests` (the `webhook-id` unique per source, so a replay changes nothing); every
alert it reports is followed, per fingerprint, in `hook_alerts`: which ticket holds it,
how often it fired, whether it recovered.

Out: a `webhook_subscriptions` row is a target URL for some event types, with its
signing secret; the outbox consumer writes one `webhook_deliveries` row per (event,
subscription) (unique), the sender tries it, and each try is a `webhook_attempts` row.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, CheckConstraint, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.core.columns import enum_check, id_field, ts_field

SOURCE_KINDS = ("alertmanager", "generic")
AUTH_SCHEMES = ("signature", "bearer", "basic")
REQUEST_OUTCOMES = (
    "accepted",  # read and applied (each alert's outcome is in `alerts`)
    "replay",  # a `webhook-id` seen before: nothing done
    "rejected",  # authenticated, but the body is no payload of this kind (422)
)
ALERT_STATES = ("firing", "resolved")
DELIVERY_STATES = (
    "pending",  # written by the outbox consumer; due at `next_attempt_at`
    "sending",  # an attempt is in progress (leased until `lease_until`)
    "retrying",  # failed; tried again at `next_attempt_at`
    "delivered",  # the receiver answered 2xx
    "failed",  # the schedule is spent, the subscription went away or was disabled
)
OPEN_DELIVERY_STATES = ("pending", "sending", "retrying")
ATTEMPT_OUTCOMES = ("success", "http_error", "refused", "network_error", "timeout")


class HookSource(SQLModel, table=True):
    """One sender of webhooks. `key` is its path segment (`/v1/hooks/{key}`). The secret
    of a `signature` source is kept as given (HMAC needs it); a bearer token or a basic
    password only as its SHA-256 hex digest. During a rotation `previous_secret` (or its
    digest) is accepted until `previous_expires_at`."""

    __tablename__ = "hook_sources"
    __table_args__ = (
        enum_check("kind", SOURCE_KINDS, "ck_hook_sources_kind"),
        enum_check("auth", AUTH_SCHEMES, "ck_hook_sources_auth"),
        CheckConstraint(
            "rate_limit_per_minute IS NULL OR rate_limit_per_minute > 0",
            name="ck_hook_sources_rate_limit",
        ),
    )

    id: uuid.UUID = id_field()
    key: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    auth: str = Field(max_length=16)
    # signature: the whsec_ secret; bearer/basic: sha256 hex of the token / password.
    secret: str = Field(max_length=200)
    previous_secret: str | None = Field(default=None, max_length=200)
    previous_expires_at: datetime | None = ts_field(nullable=True)
    basic_username: str | None = Field(default=None, max_length=200)
    # Where the tickets it opens go when the mapping finds nothing better.
    customer_id: uuid.UUID = Field(foreign_key="customers.id")
    category: str = Field(max_length=64)
    priority: str = Field(default="P3", max_length=2)
    # How a payload's fields and labels become a ticket's (see app/hooks/mapping.py).
    mapping: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    resolve_on_recovery: bool = Field(default=False)
    rate_limit_per_minute: int | None = Field(default=None)
    active: bool = Field(default=True)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()
    version: int = Field(default=1)


class HookRequest(SQLModel, table=True):
    """One authenticated request of a source, and what became of it."""

    __tablename__ = "hook_requests"
    __table_args__ = (
        enum_check("outcome", REQUEST_OUTCOMES, "ck_hook_requests_outcome"),
        Index(
            "uq_hook_requests_webhook_id",
            "source_id",
            "webhook_id",
            unique=True,
            postgresql_where=text("webhook_id IS NOT NULL AND outcome <> 'replay'"),
        ),
        Index("ix_hook_requests_source_received", "source_id", "received_at"),
    )

    id: uuid.UUID = id_field()
    source_id: uuid.UUID = Field(foreign_key="hook_sources.id", ondelete="CASCADE")
    webhook_id: str | None = Field(default=None, max_length=200)
    received_at: datetime = ts_field()
    outcome: str = Field(max_length=16)
    status_code: int
    body_bytes: int = Field(default=0)
    # Per alert: fingerprint, status, what was done (opened, repeated, recovered, ...).
    alerts: list[Any] = Field(default_factory=list, sa_type=JSONB)
    error: str | None = Field(default=None, max_length=2000)


class HookAlert(SQLModel, table=True):
    """One alert (source, fingerprint) as we follow it: the ticket that holds it now,
    the one before (an alert that fired again after its ticket closed), how many times
    it was reported firing, and when it last recovered."""

    __tablename__ = "hook_alerts"
    __table_args__ = (
        enum_check("state", ALERT_STATES, "ck_hook_alerts_state"),
        Index("uq_hook_alerts_fingerprint", "source_id", "fingerprint", unique=True),
        Index("ix_hook_alerts_ticket", "ticket_id"),
    )

    id: uuid.UUID = id_field()
    source_id: uuid.UUID = Field(foreign_key="hook_sources.id", ondelete="CASCADE")
    fingerprint: str = Field(max_length=200)
    state: str = Field(max_length=16)
    ticket_id: uuid.UUID | None = Field(default=None)
    previous_ticket_id: uuid.UUID | None = Field(default=None)
    name: str = Field(default="", max_length=300)
    labels: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    annotations: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    generator_url: str | None = Field(default=None, max_length=2000)
    starts_at: datetime | None = ts_field(nullable=True)
    ends_at: datetime | None = ts_field(nullable=True)
    fire_count: int = Field(default=0)
    first_seen_at: datetime = ts_field()
    last_seen_at: datetime = ts_field()
    resolved_at: datetime | None = ts_field(nullable=True)


class WebhookSubscription(SQLModel, table=True):
    """A target for some event types. `failing_since` is the first failure after the
    last success: when it is older than WEBHOOK_DISABLE_AFTER_DAYS the subscription is
    disabled."""

    __tablename__ = "webhook_subscriptions"

    id: uuid.UUID = id_field()
    name: str = Field(max_length=200)
    url: str = Field(max_length=2000)
    event_types: list[str] = Field(sa_type=ARRAY(String(64)))
    secret: str = Field(max_length=200)
    previous_secret: str | None = Field(default=None, max_length=200)
    previous_expires_at: datetime | None = ts_field(nullable=True)
    active: bool = Field(default=True)
    disabled_reason: str | None = Field(default=None, max_length=200)
    disabled_at: datetime | None = ts_field(nullable=True)
    failing_since: datetime | None = ts_field(nullable=True)
    description: str = Field(default="", max_length=2000)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()
    version: int = Field(default=1)


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription. The envelope is frozen when the row is written,
    so every attempt (and a redelivery) sends the same bytes with the same id."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        enum_check("state", DELIVERY_STATES, "ck_webhook_deliveries_state"),
        Index(
            "uq_webhook_deliveries_event",
            "subscription_id",
            "event_id",
            unique=True,
        ),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("state IN ('pending', 'retrying', 'sending')"),
        ),
        Index("ix_webhook_deliveries_subscription_created", "subscription_id", "created_at"),
        CheckConstraint("attempts >= 0", name="ck_webhook_deliveries_attempts"),
    )

    id: uuid.UUID = id_field()
    subscription_id: uuid.UUID = Field(foreign_key="webhook_subscriptions.id", ondelete="CASCADE")
    event_id: str = Field(max_length=64, description="The envelope's id (webhook-id).")
    event_type: str = Field(max_length=64)
    body: str = Field(description="The envelope, exactly the bytes sent.")
    state: str = Field(default="pending", max_length=12)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = ts_field()
    lease_until: datetime | None = ts_field(nullable=True)
    last_status: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = ts_field()
    delivered_at: datetime | None = ts_field(nullable=True)


class WebhookAttempt(SQLModel, table=True):
    """One try of a delivery: when, to which address, the answer and its first bytes."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        enum_check("outcome", ATTEMPT_OUTCOMES, "ck_webhook_attempts_outcome"),
        Index("ix_webhook_attempts_delivery", "delivery_id", "started_at"),
    )

    id: uuid.UUID = id_field()
    delivery_id: uuid.UUID = Field(foreign_key="webhook_deliveries.id", ondelete="CASCADE")
    started_at: datetime = ts_field()
    duration_ms: int = Field(default=0)
    address: str | None = Field(default=None, max_length=64)
    outcome: str = Field(max_length=16)
    status_code: int | None = Field(default=None)
    response_excerpt: str | None = Field(default=None, max_length=65536)
    error: str | None = Field(default=None, max_length=2000)
