"""Who is on duty: active engineers on duty at a time, of a line, with one of some skills,
optionally ranked by nearness to a branch. The duty answer of a branch-scoped key lists
only its branch's engineers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.branches.models import Branch
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.security import Principal
from app.people import repository
from app.people.repository import OnDuty
from app.people.schemas import OnDutyOut
from app.people.service.checks import invalid
from app.people.service.engineers import parse_skills

_MATCH_RANK = {"same": 0, "near": 1, "other": 2}


def branch_match(target: Branch, item: OnDuty) -> str:
    """same: the target branch; near: a sibling (same parent), the parent or a child of
    the target, or a branch of the same region; other: the rest."""
    if item.branch_id == target.id:
        return "same"
    if (
        (target.parent_id is not None and item.parent_branch_id == target.parent_id)
        or item.branch_id == target.parent_id
        or item.parent_branch_id == target.id
        or (target.region is not None and item.region == target.region)
    ):
        return "near"
    return "other"


async def _target_branch(uow: UnitOfWork, branch_id: uuid.UUID | None) -> Branch | None:
    if branch_id is None:
        return None
    target = await repository.get_branch(uow, branch_id)
    if target is None:
        raise invalid(
            "branch_id", "branch_id does not name a branch.", "unknown_branch", where="query"
        )
    return target


def _rank(r: OnDuty, match: str | None) -> tuple[Any, ...]:
    """Nearness first, then the best skill level, the lightest load, the longest idle."""
    return (
        _MATCH_RANK[match] if match else 0,
        -(r.skill_level or 0),
        r.open_load,
        r.open_tickets,
        r.last_assigned_at.timestamp() if r.last_assigned_at else float("-inf"),
        str(r.id),
    )


def _out(r: OnDuty, match: str | None) -> OnDutyOut:
    return OnDutyOut(
        id=r.id,
        name=r.name,
        line=r.line,  # type: ignore[arg-type]
        branch_id=r.branch_id,
        team_id=r.team_id,
        reason=r.reason,
        skill_level=r.skill_level,
        open_tickets=r.open_tickets,
        open_load=r.open_load,
        max_load=r.max_load,
        branch_match=match,  # type: ignore[arg-type]
    )


async def who_is_on_duty(
    uow: UnitOfWork,
    principal: Principal,
    at: datetime | None = None,
    line: str | None = None,
    skills: Sequence[str] | None = None,
    branch_id: uuid.UUID | None = None,
) -> list[OnDutyOut]:
    """Active engineers on duty at `at` (default now), of `line`, with one of `skills`
    ("kind:code"). With `branch_id`: same branch first, then near, then the rest. Within
    a group: best skill level first, then the lightest load, then the longest idle."""
    wanted = parse_skills(skills)
    target = await _target_branch(uow, branch_id)
    when = at or get_clock().now()
    rows = await repository.engineers_on_duty(uow, when, line=line, skills=wanted or None)
    out: list[tuple[tuple[Any, ...], OnDutyOut]] = []
    for r in rows:
        if not principal.sees_branch(r.branch_id):
            continue
        match = branch_match(target, r) if target is not None else None
        out.append((_rank(r, match), _out(r, match)))
    out.sort(key=lambda pair: pair[0])
    return [item for _, item in out]
