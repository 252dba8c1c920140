"""On-call rotations of a team. A rotation's members are active engineers of its team,
each once (422); it is in its team's branch scope (404)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import NotFound
from app.core.etag import check_if_match
from app.core.pagination import Page, PageParams, make_page
from app.core.security import Principal
from app.people import repository
from app.people.duty import RotationSpec
from app.people.models import OnCallRotation, Team
from app.people.schemas import OnCallRotationCreate, OnCallRotationOut, OnCallRotationUpdate
from app.people.service.changes import apply_changes, touch
from app.people.service.checks import problems
from app.people.service.teams import get_team

_ROTATION_NOT_NULL = {"name", "starts_at", "period_hours", "members", "active"}


async def _check_members(uow: UnitOfWork, team: Team, members: list[uuid.UUID]) -> None:
    known = await repository.team_and_active_of(uow, set(members))
    errors: list[dict[str, Any]] = []
    seen: set[uuid.UUID] = set()
    for i, member in enumerate(members):
        problem: tuple[str, str] | None = None
        if member in seen:
            problem = (f"{member} is a member twice.", "duplicate_member")
        elif member not in known:
            problem = (f"{member} does not name an engineer.", "unknown_engineer")
        elif known[member][0] != team.id:
            problem = (f"{member} is not an engineer of team {team.code}.", "not_in_team")
        elif not known[member][1]:
            problem = (f"{member} is not an active engineer.", "inactive_engineer")
        seen.add(member)
        if problem is not None:
            errors.append({"loc": ["body", "members", i], "msg": problem[0], "type": problem[1]})
    if errors:
        raise problems("members", errors)


def rotation_out(row: OnCallRotation, at: datetime | None = None) -> OnCallRotationOut:
    """The representation of a rotation, with the member on call at `at` (default: now)."""
    spec = RotationSpec(row.id, row.starts_at, row.period_hours, tuple(row.members))
    now = at or get_clock().now()
    return OnCallRotationOut(
        **row.model_dump(), on_call_now=spec.on_call(now) if row.active else None
    )


async def create_rotation(
    uow: UnitOfWork, principal: Principal, team_id: uuid.UUID, data: OnCallRotationCreate
) -> OnCallRotation:
    team = await get_team(uow, principal, team_id)
    await _check_members(uow, team, data.members)
    now = get_clock().now()
    fields = data.model_dump()
    fields["starts_at"] = data.starts_at.astimezone(UTC)
    rotation = OnCallRotation(team_id=team.id, **fields, created_at=now, updated_at=now)
    await repository.insert(uow, rotation)
    return rotation


async def get_rotation(
    uow: UnitOfWork, principal: Principal, rotation_id: uuid.UUID, lock: bool = False
) -> OnCallRotation:
    rotation = await repository.find_rotation(uow, principal, rotation_id, lock=lock)
    if rotation is None:
        raise NotFound("On-call rotation not found.")
    return rotation


async def list_rotations(
    uow: UnitOfWork, principal: Principal, team_id: uuid.UUID, page: PageParams
) -> Page[OnCallRotation]:
    """Oldest first, cursor-paginated."""
    await get_team(uow, principal, team_id)
    rows = await repository.list_rotations(uow, team_id, page)
    return make_page(rows, page.limit)


async def update_rotation(
    uow: UnitOfWork,
    principal: Principal,
    rotation_id: uuid.UUID,
    data: OnCallRotationUpdate,
    if_match: str | None,
) -> OnCallRotation:
    rotation = await get_rotation(uow, principal, rotation_id, lock=True)
    check_if_match(if_match, rotation.version)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("members") is not None:
        team = await get_team(uow, principal, rotation.team_id)
        await _check_members(uow, team, changes["members"])
    if changes.get("starts_at") is not None:
        changes["starts_at"] = changes["starts_at"].astimezone(UTC)
    apply_changes(rotation, changes, _ROTATION_NOT_NULL)
    touch(rotation)
    await repository.flush(uow)
    return rotation
