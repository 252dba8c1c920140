"""The SLA policies a new installation starts with: DOMAIN section 3's figures.

"Business" figures run on the China business-hours calendar (`cn-5x8`, 09:00-18:00, so
a business day is 540 minutes); a 7x24 contract still answers P3/P4 in business hours.
The same rows are frozen into `alembic/versions/0004_timers_sla.py`; `ensure_sla_defaults`
is for databases that start empty without migrating (tests after a TRUNCATE).
"""

from __future__ import annotations

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.ids import uuid7
from app.sla import repository

BUSINESS_DAY = 540  # minutes of a cn-5x8 day

# service level -> (name, name_en, pause_on_vendor)
POLICIES: dict[str, tuple[str, str, bool]] = {
    "7x24": ("7x24小时服务承诺", "7x24 service commitment", True),
    "5x8": ("5x8工作时间服务承诺", "5x8 business-hours commitment", False),
    "basic": ("基础服务(无合同)", "Basic (uncontracted)", False),
}

# (level, priority, metric, minutes, calendar code)
TARGETS: list[tuple[str, str, str, int, str]] = [
    ("7x24", "P1", "first_response", 30, "24x7"),
    ("7x24", "P1", "onsite", 120, "24x7"),
    ("7x24", "P1", "part_onsite", 120, "24x7"),
    ("7x24", "P1", "resolution", 240, "24x7"),
    ("7x24", "P2", "first_response", 120, "24x7"),
    ("7x24", "P2", "onsite", 240, "24x7"),
    ("7x24", "P2", "part_onsite", 240, "24x7"),
    ("7x24", "P2", "resolution", 1440, "24x7"),
    ("7x24", "P3", "first_response", 240, "cn-5x8"),
    ("7x24", "P3", "onsite", BUSINESS_DAY, "cn-5x8"),
    ("7x24", "P3", "part_onsite", BUSINESS_DAY, "cn-5x8"),
    ("7x24", "P3", "resolution", 3 * BUSINESS_DAY, "cn-5x8"),
    ("7x24", "P4", "first_response", BUSINESS_DAY, "cn-5x8"),
    ("7x24", "P4", "resolution", 10 * BUSINESS_DAY, "cn-5x8"),
    ("5x8", "P1", "first_response", 30, "cn-5x8"),
    ("5x8", "P1", "onsite", 120, "cn-5x8"),
    ("5x8", "P1", "part_onsite", 120, "cn-5x8"),
    ("5x8", "P1", "resolution", 240, "cn-5x8"),
    ("5x8", "P2", "first_response", 120, "cn-5x8"),
    ("5x8", "P2", "onsite", 240, "cn-5x8"),
    ("5x8", "P2", "part_onsite", 240, "cn-5x8"),
    ("5x8", "P2", "resolution", BUSINESS_DAY, "cn-5x8"),
    ("5x8", "P3", "first_response", 240, "cn-5x8"),
    ("5x8", "P3", "onsite", BUSINESS_DAY, "cn-5x8"),
    ("5x8", "P3", "part_onsite", BUSINESS_DAY, "cn-5x8"),
    ("5x8", "P3", "resolution", 3 * BUSINESS_DAY, "cn-5x8"),
    ("5x8", "P4", "first_response", BUSINESS_DAY, "cn-5x8"),
    ("5x8", "P4", "resolution", 10 * BUSINESS_DAY, "cn-5x8"),
    ("basic", "P1", "first_response", 120, "cn-5x8"),
    ("basic", "P1", "onsite", BUSINESS_DAY, "cn-5x8"),
    ("basic", "P1", "resolution", BUSINESS_DAY, "cn-5x8"),
    ("basic", "P2", "first_response", 240, "cn-5x8"),
    ("basic", "P2", "onsite", 2 * BUSINESS_DAY, "cn-5x8"),
    ("basic", "P2", "resolution", 3 * BUSINESS_DAY, "cn-5x8"),
    ("basic", "P3", "first_response", BUSINESS_DAY, "cn-5x8"),
    ("basic", "P3", "resolution", 5 * BUSINESS_DAY, "cn-5x8"),
    ("basic", "P4", "first_response", 2 * BUSINESS_DAY, "cn-5x8"),
    ("basic", "P4", "resolution", 15 * BUSINESS_DAY, "cn-5x8"),
]


async def ensure_sla_defaults(uow: UnitOfWork) -> None:
    """Inserts the missing default policies and their targets; never overwrites."""
    now = get_clock().now()
    for level, (name, name_en, pause_on_vendor) in POLICIES.items():
        await repository.insert_default_policy(uow, uuid7(), level, name, name_en,
                                               pause_on_vendor, now)  # fmt: skip
    for level, priority, metric, minutes, calendar in TARGETS:
        await repository.insert_default_target(uow, uuid7(), level, priority, metric,
                                               minutes, calendar)  # fmt: skip
