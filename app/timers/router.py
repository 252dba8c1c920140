"""Timers administration: what is pending or dead, the workers' lag, and the retry of a
dead timer (admins only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.access.deps import Idem, require
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.pagination import Page, PageParams, make_page, page_of, page_params
from app.core.security import Permission, Principal
from app.timers import admin
from app.timers.schemas import TimerOut, TimerState, TimerStats

router = APIRouter(prefix="/v1", tags=["timers"])
Admin = Annotated[Principal, Depends(require(Permission.timers_manage))]
Paging = Annotated[PageParams, Depends(page_params)]


@router.get(
    "/timers",
    operation_id="listTimers",
    summary="List timers, newest first (e.g. the dead ones, or those of one subject)",
    response_model=Page[TimerOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_timers(
    principal: Admin,
    uow: UoW,
    paging: Paging,
    state: Annotated[TimerState | None, Query(description="Only timers in this state.")] = None,
    kind: Annotated[str | None, Query(max_length=64, description="e.g. sla.clock")] = None,
    subject_id: Annotated[
        uuid.UUID | None, Query(description="Only the timers of this subject (e.g. a clock).")
    ] = None,
) -> Page[TimerOut]:
    rows = await admin.list_timers(uow, state, kind, subject_id, paging.after, paging.limit)
    page = make_page(rows, paging.limit)
    return page_of(TimerOut, page)


@router.get(
    "/timers/stats",
    operation_id="getTimerStats",
    summary="Timers per state and kind, and how far behind the workers are",
    response_model=TimerStats,
    responses=problem_responses(401, 403),
)
async def get_timer_stats(principal: Admin, uow: UoW) -> TimerStats:
    return await admin.stats(uow)


@router.get(
    "/timers/{timer_id}",
    operation_id="getTimer",
    summary="Get a timer",
    response_model=TimerOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_timer(timer_id: uuid.UUID, principal: Admin, uow: UoW) -> TimerOut:
    return TimerOut.model_validate(await admin.get(uow, timer_id))


@router.post(
    "/timers/{timer_id}/retry",
    operation_id="retryTimer",
    summary="Send a dead timer back to the workers, due now (attempts reset)",
    response_model=TimerOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def retry_timer(timer_id: uuid.UUID, principal: Admin, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    timer = await admin.retry(uow, timer_id)
    return await idem.respond(TimerOut.model_validate(timer), 200)
