"""Escalation policies (per service level, "*" the default): read and replace."""

from __future__ import annotations

from sqlmodel import col, select

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import CodePageParams, Page, make_page
from app.escalation.models import EscalationPolicy
from app.escalation.schemas import EscalationPolicyIn


async def list_policies(uow: UnitOfWork, page: CodePageParams) -> Page[EscalationPolicy]:
    """Ordered by service level, the policy's unique key ("*" is the default)."""
    stmt = select(EscalationPolicy)
    if page.after is not None:
        stmt = stmt.where(col(EscalationPolicy.service_level) > page.after)
    stmt = stmt.order_by(col(EscalationPolicy.service_level)).limit(page.limit + 1)
    rows = list((await uow.session.execute(stmt)).scalars())
    return make_page(rows, page.limit, key="service_level")


async def put(
    uow: UnitOfWork, service_level: str, data: EscalationPolicyIn, if_match: str | None
) -> tuple[EscalationPolicy, bool]:
    """Creates or replaces the policy of a service level; returns it and whether new."""
    if service_level != "*":
        from sqlalchemy import text

        known = (
            await uow.session.execute(
                text("SELECT 1 FROM service_levels WHERE code = :c"), {"c": service_level}
            )
        ).first()
        if known is None:
            raise Unprocessable(f"Unknown service level '{service_level}'.", field="service_level")
    stmt = select(EscalationPolicy).where(col(EscalationPolicy.service_level) == service_level)
    policy = (await uow.session.execute(stmt.with_for_update())).scalars().first()
    now = get_clock().now()
    levels = [lv.model_dump(mode="json") for lv in data.notify_levels]
    if policy is None:
        policy = EscalationPolicy(service_level=service_level, failed_attempts=data.failed_attempts,
                                  functional_on=data.functional_on, notify_levels=levels,
                                  created_at=now, updated_at=now)  # fmt: skip
        uow.session.add(policy)
        await uow.session.flush()
        return policy, True
    check_if_match(if_match, policy.version)
    policy.failed_attempts = data.failed_attempts
    policy.functional_on = data.functional_on
    policy.notify_levels = levels
    policy.version += 1
    policy.updated_at = now
    await uow.session.flush()
    return policy, False
