"""Loans' SQL: a loan (scoped by its branch, the ticket's), the one open loan of a serial,
lists with the serial number and the part number joined in, and the active reservation
that keeps a serial out of the loaner pool."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlmodel import col, select

from app.core.db import UnitOfWork
from app.core.security import Principal
from app.parts.models import Loan, Part, Reservation, Serial

# A loan with what a reader wants next to it: (Loan, serial number, part number).
LoanRow = tuple[Loan, str, str]


def _with_names() -> Any:
    return (
        select(Loan, col(Serial.serial), col(Part.number))
        .join(Serial, col(Serial.id) == col(Loan.serial_id))
        .join(Part, col(Part.id) == col(Loan.part_id))
    )


async def get_loan(
    uow: UnitOfWork, principal: Principal | None, loan_id: uuid.UUID, lock: bool = False
) -> Loan | None:
    """The loan, in the principal's branch (None: unscoped, for a timer)."""
    stmt = select(Loan).where(col(Loan.id) == loan_id)
    if principal is not None:
        stmt = principal.scope(stmt, Loan.branch_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def names(uow: UnitOfWork, serial_id: uuid.UUID, part_id: uuid.UUID) -> tuple[str, str]:
    """(serial number, part number)."""
    serial = (
        await uow.session.execute(select(col(Serial.serial)).where(col(Serial.id) == serial_id))
    ).scalar_one()
    number = (
        await uow.session.execute(select(col(Part.number)).where(col(Part.id) == part_id))
    ).scalar_one()
    return str(serial), str(number)


async def open_loan_of_serial(uow: UnitOfWork, serial_id: uuid.UUID) -> Loan | None:
    stmt = (
        select(Loan)
        .where(col(Loan.serial_id) == serial_id, col(Loan.state) == "out")
        .execution_options(populate_existing=True)
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def serial_reserved(uow: UnitOfWork, serial_id: uuid.UUID) -> bool:
    stmt = select(col(Reservation.id)).where(
        col(Reservation.serial_id) == serial_id, col(Reservation.state) == "active"
    )
    return (await uow.session.execute(stmt.limit(1))).first() is not None


def add(uow: UnitOfWork, loan: Loan) -> None:
    uow.session.add(loan)


async def flush(uow: UnitOfWork) -> None:
    await uow.session.flush()


async def list_loans(
    uow: UnitOfWork,
    principal: Principal,
    *,
    limit: int,
    after: uuid.UUID | None,
    today: date,
    state: str | None = None,
    customer_id: uuid.UUID | None = None,
    ticket_id: uuid.UUID | None = None,
    overdue: bool | None = None,
) -> list[LoanRow]:
    """Newest first (keyset on the id). `overdue`: still out after its due-back date,
    `today` being the business date."""
    stmt = principal.scope(_with_names(), Loan.branch_id)
    for column, value in (
        (Loan.state, state),
        (Loan.customer_id, customer_id),
        (Loan.ticket_id, ticket_id),
    ):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    if overdue is True:
        stmt = stmt.where(col(Loan.state) == "out", col(Loan.due_back_on) < today)
    elif overdue is False:
        stmt = stmt.where((col(Loan.state) != "out") | (col(Loan.due_back_on) >= today))
    if after is not None:
        stmt = stmt.where(col(Loan.id) < after)
    stmt = stmt.order_by(col(Loan.id).desc()).limit(limit + 1)
    return [(r[0], r[1], r[2]) for r in (await uow.session.execute(stmt)).all()]
