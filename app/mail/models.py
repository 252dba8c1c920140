"""E-mail both ways (DOMAIN sections 2, 7, 8): who hears of which event, the deliveries
the outbox consumer writes (one per event and address), the addresses suppressed after
hard bounces, and the inbound messages already seen.

What the database holds by itself: one delivery per (outbox message, address) and one
`Message-ID` per delivery (unique), so a repeated outbox dispatch or a retried job can
never write a second mail; an inbound `Message-ID` is recorded once (unique), so the
same message delivered twice by an MTA is dropped.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, CheckConstraint, Index, String, text
from sqlmodel import Field, SQLModel

from app.core.columns import enum_check, id_field, ts_field

# Who a rule may name (DOMAIN 2, 4, 5): the ticket's reporter (its contact), its owner and
# secondary owner, the escalation chain's recipients of a notice, the owner's team
# manager, and the emergency group (major incidents).
RECIPIENT_ROLES = (
    "reporter",
    "owner",
    "secondary_owner",
    "escalation_chain",
    "team_manager",
    "emergency_group",
)
SUBJECT_KINDS = ("role", "engineer", "customer")
DIGEST_MODES = ("off", "hourly", "daily")
PROFILE_KINDS = ("engineer", "customer")
DELIVERY_STATES = (
    "queued",  # written with the consuming of the outbox row; due at `available_at`
    "sending",  # an attempt is in progress: marked before SMTP DATA
    "sent",  # the server accepted DATA
    "retrying",  # a temporary failure; tried again at `available_at`
    "dead",  # a permanent failure (5xx) or too many attempts; re-triable through the API
    "suppressed",  # the address is on the suppression list
    "skipped",  # no address, opted out, or a flood rule (reason says which)
    "digested",  # merged into a digest delivery (`digest_id`)
)
OPEN_DELIVERY_STATES = ("queued", "sending", "retrying")
RECIPIENT_KINDS = ("contact", "engineer", "address")
INBOUND_SOURCES = ("lmtp", "http")
INBOUND_OUTCOMES = (
    "comment",  # added to a ticket as the contact's public comment
    "ticket",  # opened a new ticket
    "reopened",  # a reply to a resolved ticket: comment and reopen
    "bounce",  # a delivery status notification: updated the delivery and suppressions
    "auto_reply",  # automatic (Auto-Submitted, Precedence, ...): recorded, nothing done
    "refused",  # unknown sender and no default customer, or our own domain
)


class NotificationRule(SQLModel, table=True):
    """Which roles hear of an event type. `urgent` notices never wait for quiet hours;
    the others wait unless the ticket is P1/P2 or the event is a major incident's."""

    __tablename__ = "notification_rules"

    id: uuid.UUID = id_field()
    event_type: str = Field(max_length=64, unique=True)
    roles: list[str] = Field(default_factory=list, sa_type=ARRAY(String(32)))
    urgent: bool = Field(default=False)
    enabled: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class NotificationSubscription(SQLModel, table=True):
    """An opt-in or opt-out of one event type for a role, an engineer or a customer's
    contacts. The most specific wins: engineer or customer over role over the rule."""

    __tablename__ = "notification_subscriptions"
    __table_args__ = (
        enum_check("subject_kind", SUBJECT_KINDS, "ck_notification_subscriptions_kind"),
        Index(
            "uq_notification_subscriptions_key",
            "subject_kind",
            "subject",
            "event_type",
            unique=True,
        ),
    )

    id: uuid.UUID = id_field()
    subject_kind: str = Field(max_length=16)
    subject: str = Field(max_length=64, description="A role name or an engineer's/customer's id.")
    event_type: str = Field(max_length=64)
    subscribed: bool
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class NotificationProfile(SQLModel, table=True):
    """A recipient's calendar for quiet hours, a manager's digest choice and membership of
    the emergency group; without one the default business calendar applies, notices come
    one by one and the engineer is no member."""

    __tablename__ = "notification_profiles"
    __table_args__ = (
        enum_check("kind", PROFILE_KINDS, "ck_notification_profiles_kind"),
        enum_check("digest", DIGEST_MODES, "ck_notification_profiles_digest"),
    )

    kind: str = Field(primary_key=True, max_length=16)
    subject_id: uuid.UUID = Field(primary_key=True)
    calendar_id: uuid.UUID | None = Field(default=None, foreign_key="calendars.id")
    digest: str = Field(default="off", max_length=8)
    # A member of the emergency group (应急小组): hears of major incidents.
    emergency_group: bool = Field(default=False)
    version: int = Field(default=1)
    updated_at: datetime = ts_field()


class EmailDelivery(SQLModel, table=True):
    """One e-mail to one address for one event (or a digest of several). The rendered
    message is stored, so a resend is byte-for-byte the same (same `Message-ID`)."""

    __tablename__ = "email_deliveries"
    __table_args__ = (
        enum_check("state", DELIVERY_STATES, "ck_email_deliveries_state"),
        enum_check("recipient_kind", RECIPIENT_KINDS, "ck_email_deliveries_recipient_kind"),
        Index(
            "uq_email_deliveries_event_address",
            "outbox_id",
            "address",
            unique=True,
            # A recipient without an address ('') is kept apart by its Message-ID, made
            # from who he is rather than from the address he lacks.
            postgresql_where=text("outbox_id IS NOT NULL AND address <> ''"),
        ),
        # The sender's query: what is due, oldest first.
        Index(
            "ix_email_deliveries_due",
            "available_at",
            "id",
            postgresql_where=text("state IN ('queued', 'retrying', 'sending')"),
        ),
        # Flood caps: a recipient's recent mails, per ticket and in all.
        Index("ix_email_deliveries_address_created", "address", "created_at"),
        Index("ix_email_deliveries_ticket", "ticket_id", "created_at"),
        Index("ix_email_deliveries_state_id", "state", "id"),
        CheckConstraint("attempts >= 0", name="ck_email_deliveries_attempts"),
    )

    id: uuid.UUID = id_field()
    outbox_id: uuid.UUID | None = Field(default=None, description="The event; none for a digest.")
    event_type: str = Field(max_length=64)
    ticket_id: uuid.UUID | None = Field(default=None)
    ticket_number: str | None = Field(default=None, max_length=20)
    role: str | None = Field(default=None, max_length=32)
    # What a notice is about when it must reach an address once however often it is
    # announced: an SLA target's level (`sla.warning:<clock>`, `escalation:<clock>:...`).
    flood_key: str | None = Field(default=None, max_length=120)
    recipient_kind: str = Field(max_length=16)
    recipient_id: uuid.UUID | None = Field(default=None)
    address: str = Field(max_length=320, description="Lower-cased; '' when there is none.")
    display_name: str | None = Field(default=None, max_length=200)
    language: str = Field(default="zh-CN", max_length=8)
    urgent: bool = Field(default=False)
    state: str = Field(default="queued", max_length=12)
    reason: str | None = Field(default=None, max_length=200)
    message_id: str = Field(max_length=255, unique=True)
    in_reply_to: str | None = Field(default=None, max_length=255)
    subject: str = Field(default="", max_length=998)
    text_body: str = Field(default="")
    html_body: str = Field(default="")
    digest_id: uuid.UUID | None = Field(default=None, foreign_key="email_deliveries.id")
    attempts: int = Field(default=0)
    resends: int = Field(default=0, description="Sends again after an unrecorded attempt.")
    last_error: str | None = Field(default=None, max_length=2000)
    available_at: datetime = ts_field()
    held_until: datetime | None = ts_field(nullable=True)
    sending_at: datetime | None = ts_field(nullable=True)
    sent_at: datetime | None = ts_field(nullable=True)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


ATTEMPT_OUTCOMES = (
    "in_progress",  # marked before MAIL FROM; the sender has not recorded an answer yet
    "sent",  # DATA accepted (`reply` holds the server's answer, often its queue id)
    "temporary",  # a 4xx answer, or the connection lost before DATA: not handed over
    "permanent",  # a 5xx answer, or a message SMTP cannot carry (the address)
    "unknown",  # no answer after the body went out (time-out, connection lost)
    "interrupted",  # left in progress by a worker that died; found by the next claim
)


class EmailDeliveryAttempt(SQLModel, table=True):
    """One try at handing a delivery to the SMTP server: when, with what answer. Written
    in the same statements that move the delivery, so it costs no round trip of its own."""

    __tablename__ = "email_delivery_attempts"
    __table_args__ = (
        enum_check("outcome", ATTEMPT_OUTCOMES, "ck_email_delivery_attempts_outcome"),
        Index("ix_email_delivery_attempts_delivery", "delivery_id", "started_at"),
    )

    id: uuid.UUID = id_field()
    delivery_id: uuid.UUID = Field(foreign_key="email_deliveries.id", ondelete="CASCADE")
    started_at: datetime = ts_field()
    finished_at: datetime | None = ts_field(nullable=True)
    outcome: str = Field(default="in_progress", max_length=12)
    resend: bool = Field(default=False, description="A send again after an unrecorded try.")
    code: int | None = Field(default=None, description="The SMTP reply code, when one came.")
    reply: str | None = Field(default=None, max_length=1000)
    server: str = Field(default="", max_length=300, description="host:port it went to.")


class MailSuppression(SQLModel, table=True):
    """An address that bounced hard: after MAIL_SUPPRESS_AFTER_BOUNCES it is suppressed
    (no more mail) until released through the API."""

    __tablename__ = "mail_suppressions"

    address: str = Field(primary_key=True, max_length=320)
    hard_bounces: int = Field(default=0)
    suppressed: bool = Field(default=False)
    last_reason: str | None = Field(default=None, max_length=1000)
    last_bounce_at: datetime | None = ts_field(nullable=True)
    released_at: datetime | None = ts_field(nullable=True)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class InboundMessage(SQLModel, table=True):
    """An inbound message once seen (its `Message-ID` unique) and what became of it."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        enum_check("source", INBOUND_SOURCES, "ck_inbound_messages_source"),
        enum_check("outcome", INBOUND_OUTCOMES, "ck_inbound_messages_outcome"),
        Index("ix_inbound_messages_received", "received_at"),
        # A ticket's mails (the admin list by ticket) and who already wrote to it: a
        # reply matched only by its subject is taken from those addresses.
        Index("ix_inbound_messages_ticket", "ticket_id", "from_address"),
    )

    id: uuid.UUID = id_field()
    message_id: str = Field(max_length=998, unique=True)
    source: str = Field(max_length=8)
    from_address: str = Field(default="", max_length=320)
    subject: str = Field(default="", max_length=998)
    outcome: str = Field(max_length=12)
    reason: str | None = Field(default=None, max_length=500)
    ticket_id: uuid.UUID | None = Field(default=None)
    delivery_id: uuid.UUID | None = Field(default=None)
    size: int = Field(default=0)
    received_at: datetime = ts_field()
