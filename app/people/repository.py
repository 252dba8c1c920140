"""People queries: teams, engineers and their skills, shifts, absences and on-call
rotations. The branch scope is applied here: teams and engineers by their branch, shifts
and absences by their engineer's, rotations by their team's. Who is on duty is read by
roster.py (raw asyncpg, shared with the assignment's hot path); this module hands it on."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select

from app.access.models import ApiKey
from app.branches.models import Branch
from app.catalogue.models import Category, ProductFamily
from app.core.db import RawSQL, UnitOfWork
from app.core.pagination import PageParams
from app.core.security import Principal
from app.people import roster
from app.people.models import Absence, Engineer, EngineerSkill, OnCallRotation, Shift, Team
from app.people.roster import OnDuty as OnDuty

_SKILL_TABLES: dict[str, Any] = {"product_family": ProductFamily, "category": Category}


# -- rows in general ----------------------------------------------------------------


async def insert(uow: UnitOfWork, row: Any) -> None:
    """Adds the row and flushes (an IntegrityError, e.g. a unique code, surfaces here)."""
    uow.session.add(row)
    await uow.session.flush()


async def flush(uow: UnitOfWork) -> None:
    await uow.session.flush()


async def refresh(uow: UnitOfWork, row: Any) -> None:
    await uow.session.refresh(row)


async def delete_row(uow: UnitOfWork, row: Any) -> None:
    await uow.session.delete(row)
    await uow.session.flush()


async def _page(uow: UnitOfWork, stmt: Any, page: PageParams, id_column: Any) -> list[Any]:
    """One page of rows by id, and one more to tell whether there is a next page."""
    if page.after is not None:
        stmt = stmt.where(id_column > page.after)
    stmt = stmt.order_by(id_column).limit(page.limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


# -- what people rows refer to --------------------------------------------------------


async def get_branch(uow: UnitOfWork, branch_id: uuid.UUID) -> Branch | None:
    return await uow.session.get(Branch, branch_id)


async def get_api_key(uow: UnitOfWork, key_id: uuid.UUID) -> ApiKey | None:
    return await uow.session.get(ApiKey, key_id)


async def catalogue_codes(uow: UnitOfWork, kind: str, codes: set[str]) -> set[str]:
    """Those of `codes` that the catalogue has as `kind` (product_family or category)."""
    table = _SKILL_TABLES[kind]
    return set(
        (await uow.session.execute(select(table.code).where(table.code.in_(codes)))).scalars()
    )


# -- teams ----------------------------------------------------------------------------


async def team_code_taken(
    uow: UnitOfWork, branch_id: uuid.UUID, code: str, other_than: uuid.UUID | None = None
) -> bool:
    stmt = select(col(Team.id)).where(col(Team.branch_id) == branch_id, col(Team.code) == code)
    if other_than is not None:
        stmt = stmt.where(col(Team.id) != other_than)
    return (await uow.session.execute(stmt)).first() is not None


async def get_team(uow: UnitOfWork, team_id: uuid.UUID) -> Team | None:
    """Unscoped: for checking a reference, not for answering a read."""
    return await uow.session.get(Team, team_id)


async def find_team(
    uow: UnitOfWork, principal: Principal, team_id: uuid.UUID, lock: bool = False
) -> Team | None:
    stmt: Any = principal.scope(select(Team).where(col(Team.id) == team_id), Team.branch_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def list_teams(
    uow: UnitOfWork,
    principal: Principal,
    page: PageParams,
    line: str | None = None,
    branch_id: uuid.UUID | None = None,
    active: bool | None = None,
) -> list[Team]:
    stmt: Any = principal.scope(select(Team), Team.branch_id)
    if line is not None:
        stmt = stmt.where(col(Team.line) == line)
    if branch_id is not None:
        stmt = stmt.where(col(Team.branch_id) == branch_id)
    if active is not None:
        stmt = stmt.where(col(Team.active) == active)
    return await _page(uow, stmt, page, col(Team.id))


# -- engineers and their skills -------------------------------------------------------


async def get_engineer(uow: UnitOfWork, engineer_id: uuid.UUID) -> Engineer | None:
    """Unscoped: whether the identity has a profile at all."""
    return await uow.session.get(Engineer, engineer_id)


async def find_engineer(
    uow: UnitOfWork, principal: Principal, engineer_id: uuid.UUID, lock: bool = False
) -> Engineer | None:
    stmt: Any = principal.scope(
        select(Engineer).where(col(Engineer.id) == engineer_id), Engineer.branch_id
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def list_engineers(
    uow: UnitOfWork,
    principal: Principal,
    page: PageParams,
    line: str | None = None,
    branch_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
    active: bool | None = None,
    skill: tuple[str, str] | None = None,
) -> list[Engineer]:
    """`skill` (kind, code): only engineers who have it."""
    stmt: Any = principal.scope(select(Engineer), Engineer.branch_id)
    if line is not None:
        stmt = stmt.where(col(Engineer.line) == line)
    if branch_id is not None:
        stmt = stmt.where(col(Engineer.branch_id) == branch_id)
    if team_id is not None:
        stmt = stmt.where(col(Engineer.team_id) == team_id)
    if active is not None:
        stmt = stmt.where(col(Engineer.active) == active)
    if skill is not None:
        has_skill = (
            select(col(EngineerSkill.engineer_id))
            .where(
                col(EngineerSkill.engineer_id) == col(Engineer.id),
                col(EngineerSkill.kind) == skill[0],
                col(EngineerSkill.code) == skill[1],
            )
            .exists()
        )
        stmt = stmt.where(has_skill)
    return await _page(uow, stmt, page, col(Engineer.id))


async def add_skills(uow: UnitOfWork, rows: Iterable[EngineerSkill]) -> None:
    uow.session.add_all(rows)
    await uow.session.flush()


async def replace_skills(
    uow: UnitOfWork, engineer_id: uuid.UUID, rows: Iterable[EngineerSkill]
) -> None:
    """Deletes the engineer's skills and adds `rows` (flushed with the next flush)."""
    await uow.session.execute(
        delete(EngineerSkill).where(col(EngineerSkill.engineer_id) == engineer_id)
    )
    uow.session.add_all(rows)


async def skills_of(uow: UnitOfWork, engineer_ids: list[uuid.UUID]) -> list[EngineerSkill]:
    """The skills of these engineers (one query), product families first, then by code."""
    stmt = (
        select(EngineerSkill)
        .where(col(EngineerSkill.engineer_id).in_(engineer_ids))
        .order_by(col(EngineerSkill.kind).desc(), col(EngineerSkill.code))
    )
    return list((await uow.session.execute(stmt)).scalars())


async def team_and_active_of(
    uow: UnitOfWork, engineer_ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID | None, bool]]:
    """Each of these engineers that exists: (its team, whether it is active)."""
    rows = (
        await uow.session.execute(
            select(col(Engineer.id), col(Engineer.team_id), col(Engineer.active)).where(
                col(Engineer.id).in_(engineer_ids)
            )
        )
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


# -- shifts and absences ---------------------------------------------------------------


async def list_shifts(uow: UnitOfWork, engineer_id: uuid.UUID, page: PageParams) -> list[Shift]:
    stmt = select(Shift).where(col(Shift.engineer_id) == engineer_id)
    return await _page(uow, stmt, page, col(Shift.id))


async def list_absences(
    uow: UnitOfWork, engineer_id: uuid.UUID, page: PageParams, ending_after: datetime | None
) -> list[Absence]:
    """`ending_after`: only absences that end after it."""
    stmt = select(Absence).where(col(Absence.engineer_id) == engineer_id)
    if ending_after is not None:
        stmt = stmt.where(col(Absence.ends_at) > ending_after)
    return await _page(uow, stmt, page, col(Absence.id))


async def find_engineer_row(
    uow: UnitOfWork, principal: Principal, model: type[Shift] | type[Absence], row_id: uuid.UUID
) -> Any:
    """A shift or an absence, within the principal's branch scope (its engineer's)."""
    stmt: Any = principal.scope(
        select(model)
        .join(Engineer, col(Engineer.id) == col(model.engineer_id))
        .where(col(model.id) == row_id),
        Engineer.branch_id,
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


# -- on-call rotations ------------------------------------------------------------------


async def find_rotation(
    uow: UnitOfWork, principal: Principal, rotation_id: uuid.UUID, lock: bool = False
) -> OnCallRotation | None:
    stmt: Any = principal.scope(
        select(OnCallRotation)
        .join(Team, col(Team.id) == col(OnCallRotation.team_id))
        .where(col(OnCallRotation.id) == rotation_id),
        Team.branch_id,
    )
    if lock:
        stmt = stmt.with_for_update(of=OnCallRotation)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def list_rotations(
    uow: UnitOfWork, team_id: uuid.UUID, page: PageParams
) -> list[OnCallRotation]:
    stmt = select(OnCallRotation).where(col(OnCallRotation.team_id) == team_id)
    return await _page(uow, stmt, page, col(OnCallRotation.id))


# -- who is on duty ---------------------------------------------------------------------


async def engineers_on_duty(
    uow: UnitOfWork,
    at: datetime,
    line: str | None = None,
    skills: list[tuple[str, str]] | None = None,
) -> list[OnDuty]:
    """Active engineers on duty at `at`, of `line`, with one of `skills` (roster.py)."""
    return await roster.on_duty(uow, at, line=line, skills=skills)


_LOCK_IDENTITY = RawSQL("SELECT active FROM api_keys WHERE id = :id::uuid FOR NO KEY UPDATE")


async def lock_identity(uow: UnitOfWork, key_id: uuid.UUID) -> bool | None:
    """Locks an API identity before its engineer profile is created and its load counted
    (so no load change of that identity runs in between unseen: assignment/load.py);
    returns whether the key is active, None when there is no such key."""
    conn = await uow.connection()
    row = await conn.fetchrow(_LOCK_IDENTITY.sql, *_LOCK_IDENTITY.args({"id": key_id}))
    return None if row is None else bool(row["active"])
