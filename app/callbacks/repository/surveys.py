"""Surveys' SQL: one survey, the survey of a ticket's resolution, and the answer as one
conditional UPDATE (so two answers sent at once cannot both be taken)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from app.callbacks.models import Survey
from app.core.db import UnitOfWork


async def get(uow: UnitOfWork, survey_id: uuid.UUID) -> Survey | None:
    stmt = (
        select(Survey).where(col(Survey.id) == survey_id).execution_options(populate_existing=True)
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def of_resolution(uow: UnitOfWork, ticket_id: uuid.UUID, resolution_no: int) -> Survey | None:
    stmt = select(Survey).where(
        col(Survey.ticket_id) == ticket_id, col(Survey.resolution_no) == resolution_no
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def answer(
    uow: UnitOfWork, survey_id: uuid.UUID, rating: int, comment: str | None, now: datetime
) -> bool:
    """Records the answer if the survey is still unanswered and unexpired at `now`;
    whether it did."""
    stmt = (
        update(Survey)
        .where(
            col(Survey.id) == survey_id,
            col(Survey.answered_at).is_(None),
            col(Survey.expires_at) > now,
        )
        .values(rating=rating, comment=comment, answered_at=now)
        .returning(col(Survey.id))
    )
    return (await uow.session.execute(stmt)).first() is not None


def add(uow: UnitOfWork, row: Survey) -> None:
    uow.session.add(row)


async def flush(uow: UnitOfWork) -> None:
    await uow.session.flush()
