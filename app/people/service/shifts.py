"""Duty shifts and absences of an engineer. A shift is weekly (`weekday`, optionally within
`valid_from`..`valid_until`) or one-off (`on_date`), exactly one of the two (422). An
absence ends after it starts (422). Both are in their engineer's branch scope (404)."""

from __future__ import annotations

import uuid
from datetime import UTC

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import NotFound, Unprocessable
from app.core.pagination import Page, PageParams, make_page
from app.core.security import Principal
from app.people import repository
from app.people.models import Absence, Shift
from app.people.schemas import AbsenceCreate, ShiftCreate
from app.people.service.checks import invalid
from app.people.service.engineers import get_engineer


async def _delete_engineer_row(
    uow: UnitOfWork,
    principal: Principal,
    model: type[Shift] | type[Absence],
    row_id: uuid.UUID,
    what: str,
) -> None:
    """Deletes a shift or an absence, within the caller's branch scope (its engineer's)."""
    row = await repository.find_engineer_row(uow, principal, model, row_id)
    if row is None:
        raise NotFound(f"{what} not found.")
    await repository.delete_row(uow, row)


# -- shifts -------------------------------------------------------------------------


def _check_shift(data: ShiftCreate) -> None:
    if (data.weekday is None) == (data.on_date is None):
        msg = "Give exactly one of weekday (a weekly shift) or on_date (a one-off shift)."
        raise Unprocessable(
            msg,
            field="weekday",
            errors=[
                {"loc": ["body", f], "msg": msg, "type": "weekday_or_on_date"}
                for f in ("weekday", "on_date")
            ],
        )
    if data.on_date is not None:
        for field in ("valid_from", "valid_until"):
            if getattr(data, field) is not None:
                raise invalid(
                    field,
                    f"{field} applies to weekly shifts only; a one-off shift has its on_date.",
                    "weekly_only",
                )
    if (
        data.valid_from is not None
        and data.valid_until is not None
        and data.valid_until < data.valid_from
    ):
        raise invalid(
            "valid_until", "valid_until must not be before valid_from.", "valid_until_order"
        )


async def create_shift(
    uow: UnitOfWork, principal: Principal, engineer_id: uuid.UUID, data: ShiftCreate
) -> Shift:
    await get_engineer(uow, principal, engineer_id)
    _check_shift(data)
    shift = Shift(engineer_id=engineer_id, **data.model_dump(), created_at=get_clock().now())
    await repository.insert(uow, shift)
    return shift


async def list_shifts(
    uow: UnitOfWork, principal: Principal, engineer_id: uuid.UUID, page: PageParams
) -> Page[Shift]:
    """Oldest first, cursor-paginated."""
    await get_engineer(uow, principal, engineer_id)
    rows = await repository.list_shifts(uow, engineer_id, page)
    return make_page(rows, page.limit)


async def delete_shift(uow: UnitOfWork, principal: Principal, shift_id: uuid.UUID) -> None:
    await _delete_engineer_row(uow, principal, Shift, shift_id, "Shift")


# -- absences -----------------------------------------------------------------------


async def create_absence(
    uow: UnitOfWork, principal: Principal, engineer_id: uuid.UUID, data: AbsenceCreate
) -> Absence:
    await get_engineer(uow, principal, engineer_id)
    if data.ends_at <= data.starts_at:
        raise invalid("ends_at", "ends_at must be after starts_at.", "ends_before_start")
    absence = Absence(
        engineer_id=engineer_id,
        starts_at=data.starts_at.astimezone(UTC),
        ends_at=data.ends_at.astimezone(UTC),
        reason=data.reason,
        created_at=get_clock().now(),
    )
    await repository.insert(uow, absence)
    return absence


async def list_absences(
    uow: UnitOfWork,
    principal: Principal,
    engineer_id: uuid.UUID,
    page: PageParams,
    current_or_future: bool = False,
) -> Page[Absence]:
    """Oldest first, cursor-paginated; `current_or_future`: those not over yet."""
    await get_engineer(uow, principal, engineer_id)
    ending_after = get_clock().now() if current_or_future else None
    rows = await repository.list_absences(uow, engineer_id, page, ending_after)
    return make_page(rows, page.limit)


async def delete_absence(uow: UnitOfWork, principal: Principal, absence_id: uuid.UUID) -> None:
    await _delete_engineer_row(uow, principal, Absence, absence_id, "Absence")
