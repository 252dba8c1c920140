"""SLA policy rules: one policy per service level, its targets replaced as a whole."""

from __future__ import annotations

from typing import Any

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import CodePageParams, Page, make_page
from app.sla import repository
from app.sla.models import SlaPolicy, SlaTarget
from app.sla.schemas import SlaPolicyCreate, SlaPolicyOut, SlaPolicyUpdate, TargetIn, TargetOut


async def _calendar_ids(uow: UnitOfWork, targets: list[TargetIn]) -> dict[str, Any]:
    codes = sorted({t.calendar_code for t in targets})
    found = await repository.active_calendar_ids(uow, codes)
    missing = [c for c in codes if c not in found]
    if missing:
        raise Unprocessable(f"Unknown or inactive calendar: {', '.join(missing)}.", field="targets")
    return found


def _check_targets(targets: list[TargetIn]) -> None:
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(targets):
        key = (t.priority, t.metric)
        if key in seen:
            raise Unprocessable(
                f"Target {t.priority}/{t.metric} is given twice.",
                errors=[{"loc": ["body", "targets", i], "msg": "duplicate", "type": "value_error"}],
            )
        seen.add(key)


async def _replace_targets(uow: UnitOfWork, policy: SlaPolicy, targets: list[TargetIn]) -> None:
    _check_targets(targets)
    calendars = await _calendar_ids(uow, targets)
    rows = [
        SlaTarget(
            policy_id=policy.id,
            priority=t.priority,
            metric=t.metric,
            minutes=t.minutes,
            calendar_id=calendars[t.calendar_code],
            warn_percent=t.warn_percent,
        )
        for t in targets
    ]
    await repository.replace_targets(uow, policy.id, rows)


async def get(uow: UnitOfWork, service_level: str, lock: bool = False) -> SlaPolicy:
    policy = await repository.policy(uow, service_level, lock)
    if policy is None:
        raise NotFound(f"No SLA policy for service level '{service_level}'.")
    return policy


async def out(uow: UnitOfWork, policies: list[SlaPolicy]) -> list[SlaPolicyOut]:
    ids = [p.id for p in policies]
    rows = await repository.targets_of(uow, ids)
    result = []
    for p in policies:
        targets = [
            TargetOut(priority=r[1], metric=r[2], minutes=r[3], calendar_id=r[4],
                      calendar_code=r[5], warn_percent=r[6])
            for r in rows
            if r[0] == p.id
        ]  # fmt: skip
        result.append(
            SlaPolicyOut(
                id=p.id, service_level=p.service_level, name=p.name, name_en=p.name_en,
                pause_on_vendor=p.pause_on_vendor, auto_assign=p.auto_assign,
                active=p.active, version=p.version,
                created_at=p.created_at, updated_at=p.updated_at, targets=targets,
            )
        )  # fmt: skip
    return result


async def list_page(uow: UnitOfWork, page: CodePageParams) -> Page[SlaPolicyOut]:
    """Ordered by service level, the policy's unique key."""
    rows = make_page(await repository.policies_page(uow, page), page.limit, "service_level")
    return Page[SlaPolicyOut](items=await out(uow, rows.items), next_cursor=rows.next_cursor)


async def create(uow: UnitOfWork, data: SlaPolicyCreate) -> SlaPolicy:
    if not await repository.service_level_exists(uow, data.service_level):
        raise Unprocessable(f"Unknown service level '{data.service_level}'.", field="service_level")
    if await repository.policy_taken(uow, data.service_level):
        raise Conflict(
            f"Service level '{data.service_level}' already has a policy.", field="service_level"
        )
    now = get_clock().now()
    policy = SlaPolicy(
        service_level=data.service_level,
        name=data.name,
        name_en=data.name_en,
        pause_on_vendor=data.pause_on_vendor,
        auto_assign=data.auto_assign,
        created_at=now,
        updated_at=now,
    )
    await repository.add_policy(uow, policy)
    await _replace_targets(uow, policy, data.targets)
    await uow.session.flush()
    return policy


async def update(
    uow: UnitOfWork, service_level: str, data: SlaPolicyUpdate, if_match: str | None
) -> SlaPolicy:
    policy = await get(uow, service_level, lock=True)
    check_if_match(if_match, policy.version)
    changes = data.model_dump(exclude_unset=True)
    for field in ("name", "pause_on_vendor", "auto_assign", "active"):
        if field in changes and changes[field] is None:
            raise Unprocessable(f"{field} cannot be null.", field=field)
    if not changes:
        return policy
    deactivating = changes.get("active") is False
    if deactivating and await repository.is_default_level(uow, service_level):
        # Uncontracted tickets fall back to the default level: without its policy they
        # would get no clocks at all.
        raise Conflict("The default service level's policy cannot be deactivated.", field="active")
    targets = changes.pop("targets", None)
    for field, value in changes.items():
        setattr(policy, field, value)
    if targets is not None:
        await _replace_targets(uow, policy, data.targets or [])
    policy.version += 1
    policy.updated_at = get_clock().now()
    await uow.session.flush()
    return policy
