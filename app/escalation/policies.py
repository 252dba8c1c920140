"""Escalation policies (per service level, "*" the default): read and replace."""

from __future__ import annotations

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import CodePageParams, Page, make_page
from app.escalation import repository
from app.escalation.models import EscalationPolicy
from app.escalation.schemas import EscalationPolicyIn


async def list_policies(uow: UnitOfWork, page: CodePageParams) -> Page[EscalationPolicy]:
    """Ordered by service level, the policy's unique key ("*" is the default)."""
    rows = await repository.policies_page(uow, page)
    return make_page(rows, page.limit, key="service_level")


async def put(
    uow: UnitOfWork, service_level: str, data: EscalationPolicyIn, if_match: str | None
) -> tuple[EscalationPolicy, bool]:
    """Creates or replaces the policy of a service level; returns it and whether new."""
    if service_level != "*" and not await repository.service_level_exists(uow, service_level):
        raise Unprocessable(f"Unknown service level '{service_level}'.", field="service_level")
    policy = await repository.policy_for_update(uow, service_level)
    now = get_clock().now()
    levels = [lv.model_dump(mode="json") for lv in data.notify_levels]
    if policy is None:
        policy = EscalationPolicy(service_level=service_level, failed_attempts=data.failed_attempts,
                                  functional_on=data.functional_on, notify_levels=levels,
                                  created_at=now, updated_at=now)  # fmt: skip
        await repository.add_policy(uow, policy)
        return policy, True
    check_if_match(if_match, policy.version)
    policy.failed_attempts = data.failed_attempts
    policy.functional_on = data.functional_on
    policy.notify_levels = levels
    policy.version += 1
    policy.updated_at = now
    await uow.session.flush()
    return policy, False
