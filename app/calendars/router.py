"""Business calendars over HTTP (工作日历), and a preview of their arithmetic."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import AwareDatetime

from app.access.deps import Idem, require
from app.calendars import service
from app.calendars.schemas import (
    CalendarCreate,
    CalendarOut,
    CalendarUpdate,
    PreviewBetween,
    PreviewDue,
)
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import NOT_MODIFIED, etag_for, set_etag
from app.core.etag import IfMatchStale as IfMatch
from app.core.pagination import Page, PageParams, page_of, page_params
from app.core.security import Permission, Principal

router = APIRouter(prefix="/v1/calendars", tags=["calendars"])
Reader = Annotated[Principal, Depends(require(Permission.records_read))]
Writer = Annotated[Principal, Depends(require(Permission.catalogue_write))]
Paging = Annotated[PageParams, Depends(page_params)]
ActiveFilter = Annotated[bool | None, Query(description="Only active (or inactive) calendars.")]


@router.post(
    "",
    operation_id="createCalendar",
    summary="Create a business calendar (工作日历)",
    status_code=201,
    response_model=CalendarOut,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_calendar(body: CalendarCreate, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    row = await service.create(uow, body)
    return await idem.respond(CalendarOut.model_validate(row), 201, {"ETag": etag_for(row.version)})


@router.get(
    "",
    operation_id="listCalendars",
    summary="List business calendars, oldest first (the system calendars lead)",
    response_model=Page[CalendarOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_calendars(
    principal: Reader, uow: UoW, page: Paging, active: ActiveFilter = None
) -> Page[CalendarOut]:
    result = await service.list_calendars(uow, page, active)
    return page_of(CalendarOut, result)


@router.get(
    "/by-code/{code}",
    operation_id="getCalendarByCode",
    summary="Get a business calendar by its code",
    response_model=CalendarOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_calendar_by_code(
    code: Annotated[str, Path(max_length=32, description="The calendar's code, e.g. cn-5x8.")],
    principal: Reader,
    uow: UoW,
    response: Response,
) -> CalendarOut:
    row = await service.get_by_code(uow, code)
    set_etag(response, row.version)
    return CalendarOut.model_validate(row)


@router.get(
    "/{calendar_id}",
    operation_id="getCalendar",
    summary="Get a business calendar",
    response_model=CalendarOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_calendar(
    calendar_id: uuid.UUID, principal: Reader, uow: UoW, response: Response
) -> CalendarOut:
    row = await service.get(uow, calendar_id)
    set_etag(response, row.version)
    return CalendarOut.model_validate(row)


@router.patch(
    "/{calendar_id}",
    operation_id="updateCalendar",
    summary="Update, rename or deactivate a business calendar (never deleted)",
    description="Fields given replace the stored ones (`weekly` and `overrides` as a "
    "whole). System calendars cannot be deactivated or renamed (409).",
    response_model=CalendarOut,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
)
async def update_calendar(
    calendar_id: uuid.UUID,
    body: CalendarUpdate,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> CalendarOut:
    row = await service.update(uow, calendar_id, body, if_match)
    set_etag(response, row.version)
    return CalendarOut.model_validate(row)


@router.get(
    "/{calendar_id}/preview",
    operation_id="previewCalendar",
    summary="Preview a calendar: the due time of a duration, or the working time between two instants",
    description="With `duration`: when that much working time has elapsed since `start` "
    "(`due_at`). With `end`: how much working time lies in [`start`, `end`) "
    "(`business_seconds`). Exactly one of the two. Instants need an explicit offset "
    "(`2026-02-13T16:00:00+08:00`, URL-encoded `+` as `%2B`); answers are in UTC. "
    "Public holidays come from the `holidays` package; later years are its estimate.",
    response_model=PreviewDue | PreviewBetween,
    responses=problem_responses(401, 403, 404, 422),
)
async def preview_calendar(
    calendar_id: uuid.UUID,
    principal: Reader,
    uow: UoW,
    start: Annotated[AwareDatetime, Query(description="Start instant, with an offset (ISO 8601).")],
    duration: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Working time to add: seconds (`14400`) or an ISO 8601 duration "
            "without years or months (`PT4H`, `P1DT2H30M`).",
        ),
    ] = None,
    end: Annotated[
        AwareDatetime | None, Query(description="End instant, with an offset (ISO 8601).")
    ] = None,
) -> PreviewDue | PreviewBetween:
    return await service.preview(uow, calendar_id, start, duration=duration, end=end)
