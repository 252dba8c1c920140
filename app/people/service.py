"""People rules: teams, engineers and their skills, duty shifts, absences, on-call
rotations, and who is on duty.

- A team belongs to one branch; its code is unique within the branch (409); its manager,
  when named, is an active API key; its time zone (the one its members' shifts are read
  in) is an IANA zone, by default the branch's. A team stays in its branch.
- An engineer *is* an API identity: `api_key_id` names an existing, active key (422),
  which may be an engineer only once (409). Its team is one of its own branch (422), its
  skills name product families or categories of the catalogue (422, naming each unknown
  code). `skills` on PATCH replaces all skills. The load counters (`open_tickets`,
  `open_load`, `last_assigned_at`) belong to the ticket workflow: never written here.
- A shift is weekly (`weekday`, optionally within `valid_from`..`valid_until`) or one-off
  (`on_date`), exactly one of the two (422). An absence ends after it starts (422).
- A rotation's members are active engineers of its team, each once (422).
- Branch scope: teams and engineers are scoped by their branch, shifts and absences by
  their engineer's, rotations by their team's; outside the key's branch is 404. The duty
  answer of a branch-scoped key lists only its branch's engineers.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app.access.models import ApiKey
from app.assignment import load
from app.branches.models import Branch
from app.catalogue.models import Category, ProductFamily
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import Page, PageParams, make_page
from app.core.security import Principal
from app.people.duty import RotationSpec
from app.people.models import (
    SKILL_KINDS,
    Absence,
    Engineer,
    EngineerSkill,
    OnCallRotation,
    Shift,
    Team,
)
from app.people.roster import OnDuty, on_duty
from app.people.schemas import (
    AbsenceCreate,
    EngineerCreate,
    EngineerOut,
    EngineerUpdate,
    OnCallRotationCreate,
    OnCallRotationOut,
    OnCallRotationUpdate,
    OnDutyOut,
    ShiftCreate,
    Skill,
    SkillOut,
    TeamCreate,
    TeamUpdate,
)

_TEAM_NOT_NULL = {"code", "name", "line", "timezone", "active"}
_ENGINEER_NOT_NULL = {"name", "line", "branch_id", "languages", "max_load", "active", "skills"}
_ROTATION_NOT_NULL = {"name", "starts_at", "period_hours", "members", "active"}
_SKILL_TABLES: dict[str, Any] = {"product_family": ProductFamily, "category": Category}
_SKILL_NAMES = {"product_family": "product family", "category": "category"}


# -- shared -------------------------------------------------------------------------


def _invalid(
    field: str, msg: str, kind: str, loc: Sequence[str | int] | None = None, where: str = "body"
) -> Unprocessable:
    """A 422 naming the field, shaped like a request validation error."""
    return Unprocessable(
        msg,
        field=field,
        errors=[{"loc": [where, *(loc if loc is not None else [field])], "msg": msg, "type": kind}],
    )


def _apply(row: Any, changes: dict[str, Any], not_null: set[str]) -> None:
    for field, value in changes.items():
        if value is None and field in not_null:
            raise _invalid(field, f"{field} cannot be null.", "not_null")
        setattr(row, field, value)


def _touch(row: Team | Engineer | OnCallRotation) -> None:
    row.version += 1
    row.updated_at = get_clock().now()


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_zone(tz: str) -> None:
    if tz not in _zones():
        raise _invalid(
            "timezone", f"'{tz}' is not an IANA time zone (e.g. Asia/Shanghai).", "unknown_tz"
        )


async def _branch(uow: UnitOfWork, principal: Principal, branch_id: uuid.UUID) -> Branch:
    # Outside the key's scope: 404, as for any other branch's object.
    principal.check_branch(branch_id, "Branch")
    branch = await uow.session.get(Branch, branch_id)
    if branch is None:
        raise _invalid("branch_id", "branch_id does not name a branch.", "unknown_branch")
    return branch


async def _active_key(uow: UnitOfWork, key_id: uuid.UUID) -> ApiKey | None:
    key = await uow.session.get(ApiKey, key_id)
    return key if key is not None and key.active else None


def _page_rows(stmt: Any, page: PageParams, id_column: Any) -> Any:
    if page.after is not None:
        stmt = stmt.where(id_column > page.after)
    return stmt.order_by(id_column).limit(page.limit + 1)


# -- teams --------------------------------------------------------------------------


def _team_taken(code: str) -> Conflict:
    return Conflict(f"The branch has a team with code '{code}'.", field="code")


async def _team_code_taken(
    uow: UnitOfWork, branch_id: uuid.UUID, code: str, other_than: uuid.UUID | None = None
) -> bool:
    stmt = select(col(Team.id)).where(col(Team.branch_id) == branch_id, col(Team.code) == code)
    if other_than is not None:
        stmt = stmt.where(col(Team.id) != other_than)
    return (await uow.session.execute(stmt)).first() is not None


async def _check_manager(uow: UnitOfWork, manager_id: uuid.UUID | None) -> None:
    if manager_id is not None and await _active_key(uow, manager_id) is None:
        raise _invalid(
            "manager_id", "manager_id does not name an active API key.", "unknown_manager"
        )


async def create_team(uow: UnitOfWork, principal: Principal, data: TeamCreate) -> Team:
    branch = await _branch(uow, principal, data.branch_id)
    await _check_manager(uow, data.manager_id)
    tz = data.timezone or branch.timezone
    _check_zone(tz)
    if await _team_code_taken(uow, branch.id, data.code):
        raise _team_taken(data.code)
    now = get_clock().now()
    team = Team(
        **data.model_dump(exclude={"timezone"}), timezone=tz, created_at=now, updated_at=now
    )
    uow.session.add(team)
    try:
        await uow.session.flush()
    except IntegrityError as exc:  # a concurrent create took the code
        raise _team_taken(data.code) from exc
    return team


async def get_team(
    uow: UnitOfWork, principal: Principal, team_id: uuid.UUID, lock: bool = False
) -> Team:
    stmt: Any = principal.scope(select(Team).where(col(Team.id) == team_id), Team.branch_id)
    if lock:
        stmt = stmt.with_for_update()
    team = (await uow.session.execute(stmt)).scalar_one_or_none()
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
    stmt: Any = principal.scope(select(Team), Team.branch_id)
    if line is not None:
        stmt = stmt.where(col(Team.line) == line)
    if branch_id is not None:
        stmt = stmt.where(col(Team.branch_id) == branch_id)
    if active is not None:
        stmt = stmt.where(col(Team.active) == active)
    rows = list((await uow.session.execute(_page_rows(stmt, page, col(Team.id)))).scalars())
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
        _check_zone(changes["timezone"])
    if changes.get("manager_id") is not None and changes["manager_id"] != team.manager_id:
        await _check_manager(uow, changes["manager_id"])
    new_code = changes.get("code")
    if (
        new_code is not None
        and new_code != team.code
        and await _team_code_taken(uow, team.branch_id, new_code, other_than=team.id)
    ):
        raise _team_taken(new_code)
    _apply(team, changes, _TEAM_NOT_NULL)
    _touch(team)
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise _team_taken(team.code) from exc
    return team


# -- engineers ----------------------------------------------------------------------


async def _check_team(uow: UnitOfWork, team_id: uuid.UUID | None, branch_id: uuid.UUID) -> None:
    if team_id is None:
        return
    team = await uow.session.get(Team, team_id)
    if team is None:
        raise _invalid("team_id", "team_id does not name a team.", "unknown_team")
    if team.branch_id != branch_id:
        raise _invalid(
            "team_id", "The team belongs to another branch than the engineer.", "team_branch"
        )


async def _check_skills(uow: UnitOfWork, skills: list[Skill]) -> None:
    errors: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for i, s in enumerate(skills):
        if (s.kind, s.code) in seen:
            errors.append(
                {
                    "loc": ["body", "skills", i, "code"],
                    "msg": f"The skill {s.kind}:{s.code} is given twice "
                    f"(entries {seen[(s.kind, s.code)]} and {i}).",
                    "type": "duplicate_skill",
                }
            )
        seen.setdefault((s.kind, s.code), i)
    for kind in SKILL_KINDS:
        codes = {s.code for s in skills if s.kind == kind}
        if not codes:
            continue
        table = _SKILL_TABLES[kind]
        found = set(
            (await uow.session.execute(select(table.code).where(table.code.in_(codes)))).scalars()
        )
        for i, s in enumerate(skills):
            if s.kind == kind and s.code not in found:
                errors.append(
                    {
                        "loc": ["body", "skills", i, "code"],
                        "msg": f"'{s.code}' is not a {_SKILL_NAMES[kind]} code of the catalogue.",
                        "type": f"unknown_{kind}",
                    }
                )
    if errors:
        errors.sort(key=lambda e: e["loc"][2])
        msgs = [e["msg"] for e in errors]
        detail = msgs[0] if len(msgs) == 1 else f"{len(msgs)} problems: " + "; ".join(msgs)
        raise Unprocessable(detail, field="skills", errors=errors)


def _skill_rows(engineer_id: uuid.UUID, skills: list[Skill]) -> list[EngineerSkill]:
    return [
        EngineerSkill(engineer_id=engineer_id, kind=s.kind, code=s.code, level=s.level)
        for s in skills
    ]


async def create_engineer(uow: UnitOfWork, principal: Principal, data: EngineerCreate) -> Engineer:
    await _branch(uow, principal, data.branch_id)
    # Locked before the profile is inserted and its load counted: an assignment of this
    # identity meanwhile waits for the profile, or the count waits for it (load.py).
    if not await load.lock_identity(uow, data.api_key_id):
        raise _invalid(
            "api_key_id", "api_key_id does not name an active API key.", "unknown_api_key"
        )
    if await uow.session.get(Engineer, data.api_key_id) is not None:
        raise Conflict("This API key is an engineer already.", field="api_key_id")
    await _check_team(uow, data.team_id, data.branch_id)
    await _check_skills(uow, data.skills)
    now = get_clock().now()
    engineer = Engineer(
        id=data.api_key_id,
        **data.model_dump(exclude={"api_key_id", "skills"}),
        created_at=now,
        updated_at=now,
    )
    uow.session.add(engineer)
    try:
        await uow.session.flush()
    except IntegrityError as exc:  # a concurrent create of the same engineer
        raise Conflict("This API key is an engineer already.", field="api_key_id") from exc
    uow.session.add_all(_skill_rows(engineer.id, data.skills))
    await uow.session.flush()
    # The identity may own open tickets already (assigned before it had a profile).
    await load.recount(uow, engineer.id)
    await uow.session.refresh(engineer)
    return engineer


async def get_engineer(
    uow: UnitOfWork, principal: Principal, engineer_id: uuid.UUID, lock: bool = False
) -> Engineer:
    stmt: Any = principal.scope(
        select(Engineer).where(col(Engineer.id) == engineer_id), Engineer.branch_id
    )
    if lock:
        stmt = stmt.with_for_update()
    engineer = (await uow.session.execute(stmt)).scalar_one_or_none()
    if engineer is None:
        raise NotFound("Engineer not found.")
    return engineer


def parse_skill(text: str, param: str = "skill") -> tuple[str, str]:
    """A "kind:code" filter (kind product_family or category) as (kind, code); 422
    naming the query parameter otherwise."""
    kind, sep, code = text.strip().partition(":")
    if not sep or kind not in SKILL_KINDS or not code or len(code) > 64:
        raise _invalid(
            param,
            f"'{text}' is not a skill 'kind:code' (kind product_family or category, "
            "e.g. product_family:switch).",
            "skill_format",
            where="query",
        )
    return kind, code


def parse_skills(values: Sequence[str] | None, param: str = "skill") -> list[tuple[str, str]]:
    """Repeated and/or comma-separated "kind:code" filters."""
    out: list[tuple[str, str]] = []
    for value in values or ():
        out += [parse_skill(part, param) for part in value.split(",")]
    return out


async def list_engineers(
    uow: UnitOfWork,
    principal: Principal,
    page: PageParams,
    line: str | None = None,
    branch_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
    active: bool | None = None,
    skill: str | None = None,
) -> Page[Engineer]:
    """Cursor-paginated by id; `skill` is "kind:code"."""
    wanted = parse_skill(skill) if skill is not None else None
    stmt: Any = principal.scope(select(Engineer), Engineer.branch_id)
    if line is not None:
        stmt = stmt.where(col(Engineer.line) == line)
    if branch_id is not None:
        stmt = stmt.where(col(Engineer.branch_id) == branch_id)
    if team_id is not None:
        stmt = stmt.where(col(Engineer.team_id) == team_id)
    if active is not None:
        stmt = stmt.where(col(Engineer.active) == active)
    if wanted is not None:
        has_skill = (
            select(col(EngineerSkill.engineer_id))
            .where(
                col(EngineerSkill.engineer_id) == col(Engineer.id),
                col(EngineerSkill.kind) == wanted[0],
                col(EngineerSkill.code) == wanted[1],
            )
            .exists()
        )
        stmt = stmt.where(has_skill)
    rows = list((await uow.session.execute(_page_rows(stmt, page, col(Engineer.id)))).scalars())
    return make_page(rows, page.limit)


async def update_engineer(
    uow: UnitOfWork,
    principal: Principal,
    engineer_id: uuid.UUID,
    data: EngineerUpdate,
    if_match: str | None,
) -> Engineer:
    engineer = await get_engineer(uow, principal, engineer_id, lock=True)
    check_if_match(if_match, engineer.version)
    changes = data.model_dump(exclude_unset=True)
    for field in _ENGINEER_NOT_NULL & changes.keys():
        if changes[field] is None:
            raise _invalid(field, f"{field} cannot be null.", "not_null")
    branch_id = changes.get("branch_id", engineer.branch_id)
    if branch_id != engineer.branch_id:
        await _branch(uow, principal, branch_id)
    team_id = changes.get("team_id", engineer.team_id)
    if branch_id != engineer.branch_id or team_id != engineer.team_id:
        await _check_team(uow, team_id, branch_id)
    skills = data.skills if "skills" in changes else None
    if skills is not None:
        await _check_skills(uow, skills)
    changes.pop("skills", None)
    _apply(engineer, changes, _ENGINEER_NOT_NULL)
    _touch(engineer)
    if skills is not None:
        await uow.session.execute(
            delete(EngineerSkill).where(col(EngineerSkill.engineer_id) == engineer.id)
        )
        uow.session.add_all(_skill_rows(engineer.id, skills))
    await uow.session.flush()
    return engineer


async def engineers_out(uow: UnitOfWork, engineers: Sequence[Engineer]) -> list[EngineerOut]:
    """The representation of engineers, with their skills (one query for all)."""
    ids = [e.id for e in engineers]
    skills: dict[uuid.UUID, list[SkillOut]] = {i: [] for i in ids}
    if ids:
        stmt = (
            select(EngineerSkill)
            .where(col(EngineerSkill.engineer_id).in_(ids))
            .order_by(col(EngineerSkill.kind).desc(), col(EngineerSkill.code))
        )
        for s in (await uow.session.execute(stmt)).scalars():
            skills[s.engineer_id].append(SkillOut.model_validate(s))
    return [EngineerOut(**e.model_dump(), skills=skills[e.id]) for e in engineers]


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
                raise _invalid(
                    field,
                    f"{field} applies to weekly shifts only; a one-off shift has its on_date.",
                    "weekly_only",
                )
    if (
        data.valid_from is not None
        and data.valid_until is not None
        and data.valid_until < data.valid_from
    ):
        raise _invalid(
            "valid_until", "valid_until must not be before valid_from.", "valid_until_order"
        )


async def create_shift(
    uow: UnitOfWork, principal: Principal, engineer_id: uuid.UUID, data: ShiftCreate
) -> Shift:
    await get_engineer(uow, principal, engineer_id)
    _check_shift(data)
    shift = Shift(engineer_id=engineer_id, **data.model_dump(), created_at=get_clock().now())
    uow.session.add(shift)
    await uow.session.flush()
    return shift


async def list_shifts(
    uow: UnitOfWork, principal: Principal, engineer_id: uuid.UUID, page: PageParams
) -> Page[Shift]:
    """Oldest first, cursor-paginated."""
    await get_engineer(uow, principal, engineer_id)
    stmt = select(Shift).where(col(Shift.engineer_id) == engineer_id)
    rows = list((await uow.session.execute(_page_rows(stmt, page, col(Shift.id)))).scalars())
    return make_page(rows, page.limit)


async def _delete_engineer_row(
    uow: UnitOfWork, principal: Principal, model: Any, row_id: uuid.UUID, what: str
) -> None:
    """Deletes a shift or an absence, within the caller's branch scope (its engineer's)."""
    stmt: Any = principal.scope(
        select(model)
        .join(Engineer, col(Engineer.id) == col(model.engineer_id))
        .where(col(model.id) == row_id),
        Engineer.branch_id,
    )
    row = (await uow.session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"{what} not found.")
    await uow.session.delete(row)
    await uow.session.flush()


async def delete_shift(uow: UnitOfWork, principal: Principal, shift_id: uuid.UUID) -> None:
    await _delete_engineer_row(uow, principal, Shift, shift_id, "Shift")


# -- absences -----------------------------------------------------------------------


async def create_absence(
    uow: UnitOfWork, principal: Principal, engineer_id: uuid.UUID, data: AbsenceCreate
) -> Absence:
    await get_engineer(uow, principal, engineer_id)
    if data.ends_at <= data.starts_at:
        raise _invalid("ends_at", "ends_at must be after starts_at.", "ends_before_start")
    absence = Absence(
        engineer_id=engineer_id,
        starts_at=data.starts_at.astimezone(UTC),
        ends_at=data.ends_at.astimezone(UTC),
        reason=data.reason,
        created_at=get_clock().now(),
    )
    uow.session.add(absence)
    await uow.session.flush()
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
    stmt = select(Absence).where(col(Absence.engineer_id) == engineer_id)
    if current_or_future:
        stmt = stmt.where(col(Absence.ends_at) > get_clock().now())
    rows = list((await uow.session.execute(_page_rows(stmt, page, col(Absence.id)))).scalars())
    return make_page(rows, page.limit)


async def delete_absence(uow: UnitOfWork, principal: Principal, absence_id: uuid.UUID) -> None:
    await _delete_engineer_row(uow, principal, Absence, absence_id, "Absence")


# -- on-call rotations --------------------------------------------------------------


async def _check_members(uow: UnitOfWork, team: Team, members: list[uuid.UUID]) -> None:
    rows = (
        await uow.session.execute(
            select(col(Engineer.id), col(Engineer.team_id), col(Engineer.active)).where(
                col(Engineer.id).in_(set(members))
            )
        )
    ).all()
    known = {r[0]: (r[1], r[2]) for r in rows}
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
        msgs = [e["msg"] for e in errors]
        detail = msgs[0] if len(msgs) == 1 else f"{len(msgs)} problems: " + "; ".join(msgs)
        raise Unprocessable(detail, field="members", errors=errors)


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
    uow.session.add(rotation)
    await uow.session.flush()
    return rotation


async def get_rotation(
    uow: UnitOfWork, principal: Principal, rotation_id: uuid.UUID, lock: bool = False
) -> OnCallRotation:
    stmt: Any = principal.scope(
        select(OnCallRotation)
        .join(Team, col(Team.id) == col(OnCallRotation.team_id))
        .where(col(OnCallRotation.id) == rotation_id),
        Team.branch_id,
    )
    if lock:
        stmt = stmt.with_for_update(of=OnCallRotation)
    rotation = (await uow.session.execute(stmt)).scalar_one_or_none()
    if rotation is None:
        raise NotFound("On-call rotation not found.")
    return rotation


async def list_rotations(
    uow: UnitOfWork, principal: Principal, team_id: uuid.UUID, page: PageParams
) -> Page[OnCallRotation]:
    """Oldest first, cursor-paginated."""
    await get_team(uow, principal, team_id)
    stmt = select(OnCallRotation).where(col(OnCallRotation.team_id) == team_id)
    rows = list(
        (await uow.session.execute(_page_rows(stmt, page, col(OnCallRotation.id)))).scalars()
    )
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
    _apply(rotation, changes, _ROTATION_NOT_NULL)
    _touch(rotation)
    await uow.session.flush()
    return rotation


# -- who is on duty -----------------------------------------------------------------


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


_MATCH_RANK = {"same": 0, "near": 1, "other": 2}


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
    target: Branch | None = None
    if branch_id is not None:
        target = await uow.session.get(Branch, branch_id)
        if target is None:
            raise _invalid(
                "branch_id", "branch_id does not name a branch.", "unknown_branch", where="query"
            )
    when = at or get_clock().now()
    rows = await on_duty(uow, when, line=line, skills=wanted or None)
    out: list[tuple[tuple[Any, ...], OnDutyOut]] = []
    for r in rows:
        if not principal.sees_branch(r.branch_id):
            continue
        match = branch_match(target, r) if target is not None else None
        key = (
            _MATCH_RANK[match] if match else 0,
            -(r.skill_level or 0),
            r.open_load,
            r.open_tickets,
            r.last_assigned_at.timestamp() if r.last_assigned_at else float("-inf"),
            str(r.id),
        )
        item = OnDutyOut(
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
        out.append((key, item))
    out.sort(key=lambda pair: pair[0])
    return [item for _, item in out]
