"""Teams. A team belongs to one branch; its code is unique within the branch (409); its
manager, when named, is an active API key; its time zone (the one its members' shifts are
read in) is an IANA zone, by default the branch's. A team stays in its branch."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound
from app.core.etag import check_if_match
from app.core.pagination import Page, PageParams, make_page
from app.core.security import Principal
from app.people import repository
from app.people.models import Team
from app.people.schemas import TeamCreate, TeamUpdate
from app.people.service.changes import apply_changes, touch
from app.people.service.checks import active_key, branch_in_scope, check_zone, invalid

_TEAM_NOT_NULL = {"code", "name", "line", "timezone", "active"}


def _team_taken(code: str) -> Conflict:
    return Conflict(f"The branch has a team with code '{code}'.", field="code")


async def _check_manager(uow: UnitOfWork, manager_id: uuid.UUID | None) -> None:
    if manager_id is not None and await active_key(uow, manager_id) is None:
        raise invalid(
            "manager_id", "manager_id does not name an active API key.", "unknown_manager"
        )


async def create_team(uow: UnitOfWork, principal: Principal, data: TeamCreate) -> Team:
    branch = await branch_in_scope(uow, principal, data.branch_id)
    await _check_manager(uow, data.manager_id)
    tz = data.timezone or branch.timezone
    check_zone(tz)
    if await repository.team_code_taken(uow, branch.id, data.code):
        raise _team_taken(data.code)
    now = get_clock().now()
    team = Team(
        **data.model_dump(exclude={"timezone"}), timezone=tz, created_at=now, updated_at=now
    )
    try:
        await repository.insert(uow, team)
    except IntegrityError as exc:  # a concurrent create took the code
        raise _team_taken(data.code) from exc
    return team


async def get_team(
    uow: UnitOfWork, principal: Principal, team_id: uuid.UUID, lock: bool = False
) -> Team:
    team = await repository.find_team(uow, principal, team_id, lock=lock)
    if team is None:
        raise NotFound("Team not found.")
    return team


async def list_teams(
    uow: UnitOfWork,
    principal: Principal,
    page: PageParams,
    line: str | None = None,
    branch_id: uuid.UUID | None = None,
    active: bool | None = None,
) -> Page[Team]:
    """Oldest first, cursor-paginated."""
    rows = await repository.list_teams(uow, principal, page, line, branch_id, active)
    return make_page(rows, page.limit)


async def update_team(
    uow: UnitOfWork,
    principal: Principal,
    team_id: uuid.UUID,
    data: TeamUpdate,
    if_match: str | None,
) -> Team:
    team = await get_team(uow, principal, team_id, lock=True)
    check_if_match(if_match, team.version)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("timezone") is not None:
        check_zone(changes["timezone"])
    if changes.get("manager_id") is not None and changes["manager_id"] != team.manager_id:
        await _check_manager(uow, changes["manager_id"])
    new_code = changes.get("code")
    if (
        new_code is not None
        and new_code != team.code
        and await repository.team_code_taken(uow, team.branch_id, new_code, other_than=team.id)
    ):
        raise _team_taken(new_code)
    apply_changes(team, changes, _TEAM_NOT_NULL)
    touch(team)
    try:
        await repository.flush(uow)
    except IntegrityError as exc:
        raise _team_taken(team.code) from exc
    return team
