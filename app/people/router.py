"""People: engineers, teams, duty rosters, on-call rotations, absences; who is on duty."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime

from app.access.deps import Idem, require
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import NOT_MODIFIED, etag_for, set_etag
from app.core.etag import IfMatchStale as IfMatch
from app.core.pagination import Page, PageParams, page_of, page_params
from app.core.security import Permission, Principal
from app.people import service
from app.people.schemas import (
    AbsenceCreate,
    AbsenceOut,
    EngineerCreate,
    EngineerOut,
    EngineerUpdate,
    Line,
    OnCallRotationCreate,
    OnCallRotationOut,
    OnCallRotationUpdate,
    OnDutyOut,
    ShiftCreate,
    ShiftOut,
    TeamCreate,
    TeamOut,
    TeamUpdate,
)

router = APIRouter(prefix="/v1", tags=["people"])
Reader = Annotated[Principal, Depends(require(Permission.records_read))]
Writer = Annotated[Principal, Depends(require(Permission.people_write))]
Paging = Annotated[PageParams, Depends(page_params)]
ActiveFilter = Annotated[bool | None, Query(description="Only active (or inactive) rows.")]
LineFilter = Annotated[Line | None, Query(description="Only this support line.")]


# -- teams --------------------------------------------------------------------------


@router.post(
    "/teams",
    operation_id="createTeam",
    summary="Create a team (班组) of a support line in a branch",
    status_code=201,
    response_model=TeamOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def create_team(body: TeamCreate, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    team = await service.create_team(uow, principal, body)
    return await idem.respond(TeamOut.model_validate(team), 201, {"ETag": etag_for(team.version)})


@router.get(
    "/teams",
    operation_id="listTeams",
    summary="List teams visible to the key, oldest first",
    response_model=Page[TeamOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_teams(
    principal: Reader,
    uow: UoW,
    page: Paging,
    line: LineFilter = None,
    branch_id: uuid.UUID | None = None,
    active: ActiveFilter = None,
) -> Page[TeamOut]:
    result = await service.list_teams(uow, principal, page, line, branch_id, active)
    return page_of(TeamOut, result)


@router.get(
    "/teams/{team_id}",
    operation_id="getTeam",
    summary="Get a team",
    response_model=TeamOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_team(team_id: uuid.UUID, principal: Reader, uow: UoW, response: Response) -> TeamOut:
    team = await service.get_team(uow, principal, team_id)
    set_etag(response, team.version)
    return TeamOut.model_validate(team)


@router.patch(
    "/teams/{team_id}",
    operation_id="updateTeam",
    summary="Update or deactivate a team (it stays in its branch)",
    response_model=TeamOut,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
)
async def update_team(
    team_id: uuid.UUID,
    body: TeamUpdate,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> TeamOut:
    team = await service.update_team(uow, principal, team_id, body, if_match)
    set_etag(response, team.version)
    return TeamOut.model_validate(team)


# -- engineers ----------------------------------------------------------------------


@router.post(
    "/engineers",
    operation_id="createEngineer",
    summary="Make an API identity an engineer (工程师档案) with line, team and skills",
    status_code=201,
    response_model=EngineerOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def create_engineer(body: EngineerCreate, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    engineer = await service.create_engineer(uow, principal, body)
    out = (await service.engineers_out(uow, [engineer]))[0]
    return await idem.respond(out, 201, {"ETag": etag_for(engineer.version)})


@router.get(
    "/engineers",
    operation_id="listEngineers",
    summary="List engineers visible to the key, by id",
    response_model=Page[EngineerOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_engineers(
    principal: Reader,
    uow: UoW,
    page: Paging,
    line: LineFilter = None,
    branch_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
    active: ActiveFilter = None,
    skill: Annotated[
        str | None,
        Query(
            max_length=100,
            description='Only engineers with this skill, "kind:code" (e.g. product_family:switch).',
        ),
    ] = None,
) -> Page[EngineerOut]:
    result = await service.list_engineers(
        uow, principal, page, line, branch_id, team_id, active, skill
    )
    return Page[EngineerOut](
        items=await service.engineers_out(uow, result.items), next_cursor=result.next_cursor
    )


@router.get(
    "/engineers/{engineer_id}",
    operation_id="getEngineer",
    summary="Get an engineer with skills and current load",
    response_model=EngineerOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_engineer(
    engineer_id: uuid.UUID, principal: Reader, uow: UoW, response: Response
) -> EngineerOut:
    engineer = await service.get_engineer(uow, principal, engineer_id)
    set_etag(response, engineer.version)
    return (await service.engineers_out(uow, [engineer]))[0]


@router.patch(
    "/engineers/{engineer_id}",
    operation_id="updateEngineer",
    summary="Update or deactivate an engineer; `skills` replaces all skills",
    description="The load counters (`open_tickets`, `open_load`, `last_assigned_at`) are "
    "kept by the ticket workflow and cannot be set.",
    response_model=EngineerOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def update_engineer(
    engineer_id: uuid.UUID,
    body: EngineerUpdate,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> EngineerOut:
    engineer = await service.update_engineer(uow, principal, engineer_id, body, if_match)
    set_etag(response, engineer.version)
    return (await service.engineers_out(uow, [engineer]))[0]


# -- shifts -------------------------------------------------------------------------


@router.post(
    "/engineers/{engineer_id}/shifts",
    operation_id="createShift",
    summary="Add a weekly or one-off duty shift (值班班次) to an engineer",
    description="Exactly one of `weekday` (weekly, optionally within `valid_from`.."
    "`valid_until`) or `on_date` (once). Times are local to the engineer's team (else "
    "branch) time zone; an end at or before the start runs past midnight.",
    status_code=201,
    response_model=ShiftOut,
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def create_shift(  # type: ignore[no-untyped-def]
    engineer_id: uuid.UUID, body: ShiftCreate, principal: Writer, uow: UoW, idem: Idem
):
    shift = await service.create_shift(uow, principal, engineer_id, body)
    return await idem.respond(ShiftOut.model_validate(shift), 201)


@router.get(
    "/engineers/{engineer_id}/shifts",
    operation_id="listShifts",
    summary="List an engineer's duty shifts, oldest first",
    response_model=Page[ShiftOut],
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def list_shifts(
    engineer_id: uuid.UUID, principal: Reader, uow: UoW, page: Paging
) -> Page[ShiftOut]:
    result = await service.list_shifts(uow, principal, engineer_id, page)
    return page_of(ShiftOut, result)


@router.delete(
    "/shifts/{shift_id}",
    operation_id="deleteShift",
    summary="Delete a duty shift",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_shift(shift_id: uuid.UUID, principal: Writer, uow: UoW) -> Response:
    await service.delete_shift(uow, principal, shift_id)
    return Response(status_code=204)


# -- absences -----------------------------------------------------------------------


@router.post(
    "/engineers/{engineer_id}/absences",
    operation_id="createAbsence",
    summary="Record an absence (leave, training, sick day) of an engineer",
    description="An absence takes the engineer off duty whatever the shifts and on-call "
    "turns say. Instants need an offset; `ends_at` (exclusive) after `starts_at`.",
    status_code=201,
    response_model=AbsenceOut,
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def create_absence(  # type: ignore[no-untyped-def]
    engineer_id: uuid.UUID, body: AbsenceCreate, principal: Writer, uow: UoW, idem: Idem
):
    absence = await service.create_absence(uow, principal, engineer_id, body)
    return await idem.respond(AbsenceOut.model_validate(absence), 201)


@router.get(
    "/engineers/{engineer_id}/absences",
    operation_id="listAbsences",
    summary="List an engineer's absences, oldest first",
    response_model=Page[AbsenceOut],
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def list_absences(
    engineer_id: uuid.UUID,
    principal: Reader,
    uow: UoW,
    page: Paging,
    current_or_future: Annotated[
        bool, Query(description="Only absences not over yet (ending after now).")
    ] = False,
) -> Page[AbsenceOut]:
    result = await service.list_absences(uow, principal, engineer_id, page, current_or_future)
    return page_of(AbsenceOut, result)


@router.delete(
    "/absences/{absence_id}",
    operation_id="deleteAbsence",
    summary="Delete an absence",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_absence(absence_id: uuid.UUID, principal: Writer, uow: UoW) -> Response:
    await service.delete_absence(uow, principal, absence_id)
    return Response(status_code=204)


# -- on-call rotations --------------------------------------------------------------


@router.post(
    "/teams/{team_id}/oncall-rotations",
    operation_id="createOnCallRotation",
    summary="Create a 7x24 on-call rotation (轮值) among a team's engineers",
    description="The members take turns of `period_hours`, in the given order, from "
    "`starts_at`. Members are active engineers of the team, each once.",
    status_code=201,
    response_model=OnCallRotationOut,
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def create_oncall_rotation(  # type: ignore[no-untyped-def]
    team_id: uuid.UUID, body: OnCallRotationCreate, principal: Writer, uow: UoW, idem: Idem
):
    rotation = await service.create_rotation(uow, principal, team_id, body)
    return await idem.respond(
        service.rotation_out(rotation), 201, {"ETag": etag_for(rotation.version)}
    )


@router.get(
    "/teams/{team_id}/oncall-rotations",
    operation_id="listOnCallRotations",
    summary="List a team's on-call rotations, oldest first",
    response_model=Page[OnCallRotationOut],
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def list_oncall_rotations(
    team_id: uuid.UUID, principal: Reader, uow: UoW, page: Paging
) -> Page[OnCallRotationOut]:
    result = await service.list_rotations(uow, principal, team_id, page)
    return Page[OnCallRotationOut](
        items=[service.rotation_out(r) for r in result.items], next_cursor=result.next_cursor
    )


@router.get(
    "/oncall-rotations/{rotation_id}",
    operation_id="getOnCallRotation",
    summary="Get an on-call rotation and who is on call now",
    response_model=OnCallRotationOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_oncall_rotation(
    rotation_id: uuid.UUID, principal: Reader, uow: UoW, response: Response
) -> OnCallRotationOut:
    rotation = await service.get_rotation(uow, principal, rotation_id)
    set_etag(response, rotation.version)
    return service.rotation_out(rotation)


@router.patch(
    "/oncall-rotations/{rotation_id}",
    operation_id="updateOnCallRotation",
    summary="Update or deactivate an on-call rotation; `members` replaces the order",
    response_model=OnCallRotationOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def update_oncall_rotation(
    rotation_id: uuid.UUID,
    body: OnCallRotationUpdate,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> OnCallRotationOut:
    rotation = await service.update_rotation(uow, principal, rotation_id, body, if_match)
    set_etag(response, rotation.version)
    return service.rotation_out(rotation)


# -- who is on duty -----------------------------------------------------------------


@router.get(
    "/duty",
    operation_id="whoIsOnDuty",
    summary="Who is on duty (在岗值班) now or at an instant, by line, skill and branch",
    description="Active engineers whom a shift or an on-call turn puts on duty at `at` "
    "(default now) and no absence takes off. `skill` (repeatable or comma-separated, "
    '"kind:code") keeps those with any of the skills, with their best level. With '
    "`branch_id` the answer lists the same branch first, then near branches (same parent "
    "or region, or parent/child), then the rest; within each group the best skill level, "
    "then the lightest load first. Answered whole, not as a page: a ranking by live load "
    "at one instant would skip or repeat engineers across pages.",
    response_model=list[OnDutyOut],
    responses=problem_responses(401, 403, 422),
)
async def who_is_on_duty(
    principal: Reader,
    uow: UoW,
    line: LineFilter = None,
    skill: Annotated[
        list[str] | None,
        Query(
            description='"kind:code", e.g. product_family:switch or category:hardware; '
            "repeat or comma-separate for any of several.",
        ),
    ] = None,
    branch_id: Annotated[
        uuid.UUID | None,
        Query(description="Order by nearness to this branch (and say `branch_match`)."),
    ] = None,
    at: Annotated[
        AwareDatetime | None,
        Query(description="The instant, with an offset (ISO 8601); default now."),
    ] = None,
) -> list[OnDutyOut]:
    return await service.who_is_on_duty(uow, principal, at, line, skill, branch_id)
