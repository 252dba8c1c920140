"""Mail in's SQL: the inbound message claimed by its `Message-ID`, the contacts and the
tickets a message leads to, the deliveries a bounce names and the suppression count,
and the admin list."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from app.core.db import UnitOfWork
from app.core.security import Principal
from app.mail.models import InboundMessage
from app.tickets.interface import Ticket


async def claim(uow: UnitOfWork, values: dict[str, Any]) -> uuid.UUID | None:
    """Inserts the message's row, or None when its `Message-ID` is there already. A
    second delivery of a message still being handled waits here for the first one's
    transaction, then finds its row (or, if that rolled back, claims it)."""
    stmt = (
        insert(InboundMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(col(InboundMessage.id))
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def by_message_id(uow: UnitOfWork, message_id: str) -> InboundMessage | None:
    stmt = select(InboundMessage).where(col(InboundMessage.message_id) == message_id)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def finish(uow: UnitOfWork, inbound_id: uuid.UUID, values: dict[str, Any]) -> None:
    """What became of the message (outcome, reason, ticket, delivery)."""
    stmt = text(
        "UPDATE inbound_messages SET outcome = :outcome, reason = :reason, "
        "ticket_id = :ticket_id, delivery_id = :delivery_id WHERE id = :id"
    )
    await uow.session.execute(stmt, {**values, "id": inbound_id})


async def ticket_of_deliveries(uow: UnitOfWork, message_ids: list[str]) -> uuid.UUID | None:
    """The ticket of the newest of our deliveries a reply answers."""
    stmt = text(
        "SELECT ticket_id FROM email_deliveries WHERE message_id = ANY(:ids) "
        "AND ticket_id IS NOT NULL ORDER BY created_at DESC LIMIT 1"
    )
    return (await uow.session.execute(stmt, {"ids": message_ids})).scalar_one_or_none()


async def ticket_by_number(uow: UnitOfWork, number: str) -> uuid.UUID | None:
    stmt = select(col(Ticket.id)).where(col(Ticket.number) == number)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True)
class ContactRow:
    id: uuid.UUID
    customer_id: uuid.UUID
    name: str
    active: bool  # the contact and its customer both


_CONTACT = """
    SELECT c.id, c.customer_id, c.name, (c.active AND cu.active) AS active
    FROM contacts c JOIN customers cu ON cu.id = c.customer_id
    WHERE lower(c.email) = :address {extra}
    ORDER BY (c.active AND cu.active) DESC, c.id
    LIMIT 1
"""
_CONTACT_ANY = text(_CONTACT.format(extra=""))
_CONTACT_OF = text(_CONTACT.format(extra="AND c.customer_id = :customer_id"))


async def contact_by_address(
    uow: UnitOfWork, address: str, customer_id: uuid.UUID | None = None
) -> ContactRow | None:
    """The contact with this address (of `customer_id` if given). An address several
    contacts share (one person at two customers) gives the oldest active one."""
    params: dict[str, Any] = {"address": address.lower()}
    stmt = _CONTACT_ANY
    if customer_id is not None:
        stmt, params["customer_id"] = _CONTACT_OF, customer_id
    row = (await uow.session.execute(stmt, params)).first()
    return None if row is None else ContactRow(row[0], row[1], row[2], bool(row[3]))


async def customer_by_code(uow: UnitOfWork, code: str) -> tuple[uuid.UUID, bool] | None:
    """(id, active) of the customer with this code."""
    stmt = text("SELECT id, active FROM customers WHERE code = :code")
    row = (await uow.session.execute(stmt, {"code": code})).first()
    return None if row is None else (row[0], bool(row[1]))


async def wrote_to(uow: UnitOfWork, ticket_id: uuid.UUID, address: str) -> bool:
    """Whether mail from `address` was taken onto the ticket before."""
    stmt = text(
        "SELECT 1 FROM inbound_messages WHERE ticket_id = :t AND from_address = :a "
        "AND outcome IN ('comment', 'ticket', 'reopened') LIMIT 1"
    )
    return (await uow.session.execute(stmt, {"t": ticket_id, "a": address})).first() is not None


@dataclass(frozen=True)
class DeliveryRow:
    id: uuid.UUID
    address: str
    ticket_id: uuid.UUID | None
    state: str


async def deliveries(
    uow: UnitOfWork, message_ids: list[str], branch_id: uuid.UUID | None = None
) -> list[DeliveryRow]:
    """Our deliveries by Message-ID; for a branch's key only those about its tickets (a
    gateway of one branch cannot bounce another's mail by knowing its ids)."""
    scope = (
        ""
        if branch_id is None
        else (" AND ticket_id IN (SELECT id FROM tickets WHERE branch_id = :branch)")
    )
    stmt = text(
        "SELECT id, address, ticket_id, state FROM email_deliveries "
        f"WHERE message_id = ANY(:ids){scope} ORDER BY id FOR UPDATE"
    )
    params: dict[str, Any] = {"ids": message_ids}
    if branch_id is not None:
        params["branch"] = branch_id
    rows = (await uow.session.execute(stmt, params)).all()
    return [DeliveryRow(r[0], r[1], r[2], r[3]) for r in rows]


# What a bounce can end: a delivery handed to SMTP (or being handed). Never one that is
# queued (it was not sent: the report is not about it) nor one already final.
BOUNCEABLE_STATES = ("sent", "sending", "retrying")


async def mark_bounced(
    uow: UnitOfWork, delivery_id: uuid.UUID, reason: str, error: str, now: datetime
) -> bool:
    """The delivery `dead` with the report's reason; False if it was not bounceable."""
    stmt = text(
        "UPDATE email_deliveries SET state = 'dead', reason = :reason, last_error = :error, "
        "updated_at = :now WHERE id = :id AND state = ANY(:states) RETURNING id"
    )
    params = {"id": delivery_id, "reason": reason, "error": error, "now": now,
              "states": list(BOUNCEABLE_STATES)}  # fmt: skip
    return (await uow.session.execute(stmt, params)).first() is not None


async def count_hard_bounce(
    uow: UnitOfWork, address: str, reason: str, now: datetime, threshold: int, since: datetime
) -> tuple[int, bool]:
    """One more hard bounce of `address` (counted afresh when the last is older than
    `since`); suppressed at `threshold`. (count, suppressed)"""
    stmt = text(
        """
        INSERT INTO mail_suppressions AS s (address, hard_bounces, suppressed, last_reason,
                                            last_bounce_at, created_at, updated_at)
        VALUES (:address, 1, 1 >= :threshold, :reason, :now, :now, :now)
        ON CONFLICT (address) DO UPDATE SET
            -- The count starts again when the last bounce is older than the window.
            hard_bounces = CASE WHEN s.last_bounce_at < :since THEN 1
                                ELSE s.hard_bounces + 1 END,
            suppressed = s.suppressed OR CASE WHEN s.last_bounce_at < :since THEN 1
                                              ELSE s.hard_bounces + 1 END >= :threshold,
            last_reason = EXCLUDED.last_reason,
            last_bounce_at = EXCLUDED.last_bounce_at,
            updated_at = EXCLUDED.updated_at
        RETURNING hard_bounces, suppressed
        """
    )
    params = {"address": address, "reason": reason, "now": now, "threshold": threshold,
              "since": since}  # fmt: skip
    row = (await uow.session.execute(stmt, params)).one()
    return int(row[0]), bool(row[1])


async def list_inbound(
    uow: UnitOfWork,
    principal: Principal,
    *,
    limit: int,
    after: uuid.UUID | None,
    outcome: str | None = None,
    source: str | None = None,
    ticket_id: uuid.UUID | None = None,
) -> list[InboundMessage]:
    """Newest first (keyset on the id). A branch's principal sees the messages taken onto
    its branch's tickets only: the others (refused, bounces without a ticket) name
    customers of any branch."""
    stmt = select(InboundMessage)
    if principal.branch_id is not None:
        stmt = stmt.join(Ticket, col(Ticket.id) == col(InboundMessage.ticket_id)).where(
            col(Ticket.branch_id) == principal.branch_id
        )
    for column, value in (
        (InboundMessage.outcome, outcome),
        (InboundMessage.source, source),
        (InboundMessage.ticket_id, ticket_id),
    ):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    if after is not None:
        stmt = stmt.where(col(InboundMessage.id) < after)
    stmt = stmt.order_by(col(InboundMessage.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars().all())
