"""Engineers and their skills. An engineer *is* an API identity: `api_key_id` names an
existing, active key (422), which may be an engineer only once (409). Its team is one of
its own branch (422), its skills name product families or categories of the catalogue
(422, naming each unknown code). `skills` on PATCH replaces all skills. The load counters
(`open_tickets`, `open_load`, `last_assigned_at`) belong to the ticket workflow: never
written here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.core import events
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound
from app.core.etag import check_if_match
from app.core.pagination import Page, PageParams, make_page
from app.core.security import Principal
from app.people import repository
from app.people.events import EngineerCreated
from app.people.models import SKILL_KINDS, Engineer, EngineerSkill
from app.people.schemas import EngineerCreate, EngineerOut, EngineerUpdate, Skill, SkillOut
from app.people.service.changes import apply_changes, touch
from app.people.service.checks import branch_in_scope, invalid, problems

_ENGINEER_NOT_NULL = {"name", "line", "branch_id", "languages", "max_load", "active", "skills"}
_SKILL_NAMES = {"product_family": "product family", "category": "category"}


# -- skills -------------------------------------------------------------------------


def parse_skill(text: str, param: str = "skill") -> tuple[str, str]:
    """A "kind:code" filter (kind product_family or category) as (kind, code); 422
    naming the query parameter otherwise."""
    kind, sep, code = text.strip().partition(":")
    if not sep or kind not in SKILL_KINDS or not code or len(code) > 64:
        raise invalid(
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


def _duplicate_skills(skills: list[Skill]) -> list[dict[str, Any]]:
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
    return errors


async def _unknown_skills(uow: UnitOfWork, skills: list[Skill]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for kind in SKILL_KINDS:
        codes = {s.code for s in skills if s.kind == kind}
        if not codes:
            continue
        found = await repository.catalogue_codes(uow, kind, codes)
        for i, s in enumerate(skills):
            if s.kind == kind and s.code not in found:
                errors.append(
                    {
                        "loc": ["body", "skills", i, "code"],
                        "msg": f"'{s.code}' is not a {_SKILL_NAMES[kind]} code of the catalogue.",
                        "type": f"unknown_{kind}",
                    }
                )
    return errors


async def _check_skills(uow: UnitOfWork, skills: list[Skill]) -> None:
    errors = _duplicate_skills(skills) + await _unknown_skills(uow, skills)
    if errors:
        errors.sort(key=lambda e: e["loc"][2])
        raise problems("skills", errors)


def _skill_rows(engineer_id: uuid.UUID, skills: list[Skill]) -> list[EngineerSkill]:
    return [
        EngineerSkill(engineer_id=engineer_id, kind=s.kind, code=s.code, level=s.level)
        for s in skills
    ]


# -- engineers ----------------------------------------------------------------------


async def _check_team(uow: UnitOfWork, team_id: uuid.UUID | None, branch_id: uuid.UUID) -> None:
    if team_id is None:
        return
    team = await repository.get_team(uow, team_id)
    if team is None:
        raise invalid("team_id", "team_id does not name a team.", "unknown_team")
    if team.branch_id != branch_id:
        raise invalid(
            "team_id", "The team belongs to another branch than the engineer.", "team_branch"
        )


async def _check_new_engineer(uow: UnitOfWork, principal: Principal, data: EngineerCreate) -> None:
    await branch_in_scope(uow, principal, data.branch_id)
    # Locked before the profile is inserted and its load counted: an assignment of this
    # identity meanwhile waits for the profile, or the count waits for it (load.py).
    if not await repository.lock_identity(uow, data.api_key_id):
        raise invalid(
            "api_key_id", "api_key_id does not name an active API key.", "unknown_api_key"
        )
    if await repository.get_engineer(uow, data.api_key_id) is not None:
        raise Conflict("This API key is an engineer already.", field="api_key_id")
    await _check_team(uow, data.team_id, data.branch_id)
    await _check_skills(uow, data.skills)


async def create_engineer(uow: UnitOfWork, principal: Principal, data: EngineerCreate) -> Engineer:
    await _check_new_engineer(uow, principal, data)
    now = get_clock().now()
    engineer = Engineer(
        id=data.api_key_id,
        **data.model_dump(exclude={"api_key_id", "skills"}),
        created_at=now,
        updated_at=now,
    )
    try:
        await repository.insert(uow, engineer)
    except IntegrityError as exc:  # a concurrent create of the same engineer
        raise Conflict("This API key is an engineer already.", field="api_key_id") from exc
    await repository.add_skills(uow, _skill_rows(engineer.id, data.skills))
    # The identity may own open tickets already (assigned before it had a profile):
    # assignment counts them (its handler), in this transaction.
    await events.publish(uow, EngineerCreated(engineer.id))
    await repository.refresh(uow, engineer)
    return engineer


async def get_engineer(
    uow: UnitOfWork, principal: Principal, engineer_id: uuid.UUID, lock: bool = False
) -> Engineer:
    engineer = await repository.find_engineer(uow, principal, engineer_id, lock=lock)
    if engineer is None:
        raise NotFound("Engineer not found.")
    return engineer


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
    rows = await repository.list_engineers(
        uow, principal, page, line, branch_id, team_id, active, wanted
    )
    return make_page(rows, page.limit)


async def _check_engineer_changes(
    uow: UnitOfWork, principal: Principal, engineer: Engineer, changes: dict[str, Any]
) -> None:
    """The PATCH's not-null fields, and the branch and team it moves the engineer to."""
    for field in _ENGINEER_NOT_NULL & changes.keys():
        if changes[field] is None:
            raise invalid(field, f"{field} cannot be null.", "not_null")
    branch_id = changes.get("branch_id", engineer.branch_id)
    if branch_id != engineer.branch_id:
        await branch_in_scope(uow, principal, branch_id)
    team_id = changes.get("team_id", engineer.team_id)
    if branch_id != engineer.branch_id or team_id != engineer.team_id:
        await _check_team(uow, team_id, branch_id)


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
    await _check_engineer_changes(uow, principal, engineer, changes)
    skills = data.skills if "skills" in changes else None
    if skills is not None:
        await _check_skills(uow, skills)
    changes.pop("skills", None)
    apply_changes(engineer, changes, _ENGINEER_NOT_NULL)
    touch(engineer)
    if skills is not None:
        await repository.replace_skills(uow, engineer.id, _skill_rows(engineer.id, skills))
    await repository.flush(uow)
    return engineer


async def engineers_out(uow: UnitOfWork, engineers: Sequence[Engineer]) -> list[EngineerOut]:
    """The representation of engineers, with their skills (one query for all)."""
    ids = [e.id for e in engineers]
    skills: dict[uuid.UUID, list[SkillOut]] = {i: [] for i in ids}
    if ids:
        for s in await repository.skills_of(uow, ids):
            skills[s.engineer_id].append(SkillOut.model_validate(s))
    return [EngineerOut(**e.model_dump(), skills=skills[e.id]) for e in engineers]
