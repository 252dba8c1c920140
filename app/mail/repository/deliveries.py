"""Deliveries' and suppressions' SQL for the API: lists and reads scoped by the ticket's
branch, dead letters queued again, the sender's backlog, the suppression list."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, literal_column, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from app.core.db import UnitOfWork
from app.core.security import Principal
from app.mail.models import EmailDelivery, EmailDeliveryAttempt, MailSuppression
from app.tickets.interface import Ticket

BULK_RETRY_MAX = 10_000


def _scoped(stmt: Any, principal: Principal) -> Any:
    """A key of one branch sees the deliveries of its branch's tickets (not digests nor
    mail about no ticket, which concern the whole centre)."""
    if principal.branch_id is None:
        return stmt
    stmt = stmt.join(Ticket, col(Ticket.id) == col(EmailDelivery.ticket_id))
    return principal.scope(stmt, col(Ticket.branch_id))


def _filtered(stmt: Any, **filters: Any) -> Any:
    for column, value in (
        (EmailDelivery.state, filters.get("state")),
        (EmailDelivery.ticket_id, filters.get("ticket_id")),
        (EmailDelivery.address, filters.get("address")),
        (EmailDelivery.event_type, filters.get("event_type")),
    ):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    return stmt


async def list_deliveries(
    uow: UnitOfWork, principal: Principal, *, limit: int, after: uuid.UUID | None, **filters: Any
) -> list[EmailDelivery]:
    """Newest first (keyset on the id)."""
    stmt = _filtered(_scoped(select(EmailDelivery), principal), **filters)
    if after is not None:
        stmt = stmt.where(col(EmailDelivery.id) < after)
    stmt = stmt.order_by(col(EmailDelivery.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def get_delivery(
    uow: UnitOfWork, principal: Principal, delivery_id: uuid.UUID, lock: bool = False
) -> EmailDelivery | None:
    stmt = _scoped(select(EmailDelivery), principal).where(col(EmailDelivery.id) == delivery_id)
    if lock:
        stmt = stmt.with_for_update(of=EmailDelivery).execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def attempts_of(uow: UnitOfWork, delivery_id: uuid.UUID) -> list[EmailDeliveryAttempt]:
    stmt = (
        select(EmailDeliveryAttempt)
        .where(col(EmailDeliveryAttempt.delivery_id) == delivery_id)
        .order_by(col(EmailDeliveryAttempt.started_at), col(EmailDeliveryAttempt.id))
    )
    return list((await uow.session.execute(stmt)).scalars())


async def is_suppressed(uow: UnitOfWork, address: str) -> bool:
    stmt = select(col(MailSuppression.suppressed)).where(col(MailSuppression.address) == address)
    return bool((await uow.session.execute(stmt)).scalar_one_or_none())


def _dead(principal: Principal, **filters: Any) -> Any:
    """The ids of the dead deliveries that match (in the principal's branch)."""
    stmt = _scoped(select(col(EmailDelivery.id)), principal)
    return _filtered(stmt, **filters).where(col(EmailDelivery.state) == "dead")


def _not_in_flight(now: datetime) -> Any:
    """Not still in a sender's hands: dead by a bounce that came while it was being sent
    again, its attempt unfinished and its lease running. Queued again then, a second
    worker would send it beside the first."""
    in_flight = select(literal(1)).where(
        col(EmailDeliveryAttempt.delivery_id) == col(EmailDelivery.id),
        col(EmailDeliveryAttempt.outcome) == "in_progress",
    )
    return (col(EmailDelivery.available_at) <= now) | ~in_flight.exists()


async def in_flight(uow: UnitOfWork, delivery_id: uuid.UUID, now: datetime) -> bool:
    stmt = select(literal(1)).where(col(EmailDelivery.id) == delivery_id, ~_not_in_flight(now))
    return (await uow.session.execute(stmt)).first() is not None


def _not_suppressed() -> Any:
    held = select(literal(1)).where(
        col(MailSuppression.address) == col(EmailDelivery.address),
        col(MailSuppression.suppressed),
    )
    return ~held.exists()


async def requeue_dead(
    uow: UnitOfWork, principal: Principal, now: datetime, **filters: Any
) -> tuple[int, int, int]:
    """At most BULK_RETRY_MAX matching dead deliveries queued again, due now, their
    attempts reset; those to a suppressed address stay dead. (retried, left dead for
    suppression, still dead beyond the cap)."""
    chosen = (
        _dead(principal, **filters)
        .where(_not_suppressed(), _not_in_flight(now))
        .order_by(col(EmailDelivery.id))
        .limit(BULK_RETRY_MAX)
        .with_for_update(of=EmailDelivery, skip_locked=True)
    )
    stmt = (
        update(EmailDelivery)
        .where(col(EmailDelivery.id).in_(chosen.scalar_subquery()))
        .values(state="queued", attempts=0, available_at=now, updated_at=now)
    )
    retried = int((await uow.session.execute(stmt)).rowcount or 0)  # type: ignore[attr-defined]
    row = (await uow.session.execute(_count_dead(principal, **filters))).one()
    return retried, int(row[0]), int(row[1])


def _count_dead(principal: Principal, **filters: Any) -> Any:
    stmt = _scoped(
        select(
            func.count().filter(~_not_suppressed()),
            func.count().filter(_not_suppressed()),
        ).select_from(EmailDelivery),
        principal,
    )
    return _filtered(stmt, **filters).where(col(EmailDelivery.state) == "dead")


async def backlog(uow: UnitOfWork, principal: Principal, now: datetime) -> dict[str, Any]:
    """Per open state and dead, what is due now, and the oldest due time."""
    d = EmailDelivery
    open_states = ("queued", "sending", "retrying", "dead")
    due = col(d.state).in_(("queued", "retrying", "sending")) & (col(d.available_at) <= now)
    columns: list[Any] = [func.count().filter(col(d.state) == s) for s in open_states]
    columns += [func.count().filter(due), func.min(col(d.available_at)).filter(due)]
    stmt = select(*columns).where(col(d.state).in_(open_states))
    row = (await uow.session.execute(_scoped(stmt, principal))).one()
    return {**dict(zip(open_states, map(int, row[:4]), strict=True)), "due": int(row[4]),
            "oldest_due_at": row[5]}  # fmt: skip


# --- the suppression list -----------------------------------------------------------------


async def list_suppressions(
    uow: UnitOfWork, *, limit: int, after: str | None, suppressed: bool | None, address: str | None
) -> list[MailSuppression]:
    """By address (keyset on it)."""
    stmt: Any = select(MailSuppression)
    if suppressed is not None:
        stmt = stmt.where(col(MailSuppression.suppressed) == suppressed)
    if address is not None:
        stmt = stmt.where(col(MailSuppression.address) == address)
    if after is not None:
        stmt = stmt.where(col(MailSuppression.address) > after)
    stmt = stmt.order_by(col(MailSuppression.address)).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def get_suppression(
    uow: UnitOfWork, address: str, lock: bool = False
) -> MailSuppression | None:
    stmt = select(MailSuppression).where(col(MailSuppression.address) == address)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def add_suppression(uow: UnitOfWork, address: str, reason: str, now: datetime) -> bool:
    """Suppresses the address by hand (a row made, or the existing one suppressed
    again); True when the row is new. One statement, so two at once do not collide."""
    stmt: Any = (
        insert(MailSuppression)
        .values(
            address=address,
            suppressed=True,
            hard_bounces=0,
            last_reason=reason,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=["address"],
            set_={"suppressed": True, "last_reason": reason, "updated_at": now},
        )
        # PostgreSQL: a row the upsert inserted has xmax 0, one it updated does not.
        .returning(literal_column("(xmax = 0)"))
    )
    return bool((await uow.session.execute(stmt)).scalar_one())


async def release_suppression(uow: UnitOfWork, row: MailSuppression, now: datetime) -> None:
    row.suppressed = False
    row.hard_bounces = 0
    row.released_at = now
    row.updated_at = now
    await uow.session.flush()
