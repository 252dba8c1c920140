"""The catalogue a new installation starts with.

The same rows are frozen into the data migration `alembic/versions/0002_catalogue_defaults.py`
(a migration must not import application code that may change later); `ensure_catalogue`
(through `app.defaults.ensure_defaults`) is for places that start from an empty database without migrating (tests after a
TRUNCATE, demo loaders). Both insert with ON CONFLICT DO NOTHING, so an operator's
edits to these rows are never overwritten.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from app.catalogue.models import Category, ProductFamily, ServiceLevel
from app.core.clock import get_clock
from app.core.db import UnitOfWork

# Parents come before their children (the foreign key is checked per row).
CATEGORIES: list[dict[str, Any]] = [
    {"code": "hardware", "parent_code": None, "name": "硬件", "name_en": "Hardware"},
    {"code": "hardware.power", "parent_code": "hardware", "name": "电源故障", "name_en": "Power supply fault"},
    {"code": "hardware.board", "parent_code": "hardware", "name": "单板故障", "name_en": "Board fault"},
    {"code": "hardware.disk", "parent_code": "hardware", "name": "硬盘故障", "name_en": "Disk fault"},
    {"code": "software", "parent_code": None, "name": "软件", "name_en": "Software"},
    {"code": "software.bug", "parent_code": "software", "name": "软件缺陷", "name_en": "Software defect"},
    {"code": "software.upgrade", "parent_code": "software", "name": "版本升级与补丁", "name_en": "Upgrade and patch"},
    {"code": "software.license", "parent_code": "software", "name": "许可证", "name_en": "Licence"},
    {"code": "network", "parent_code": None, "name": "网络", "name_en": "Network"},
    {"code": "network.connectivity", "parent_code": "network", "name": "网络中断", "name_en": "Connectivity loss"},
    {"code": "network.performance", "parent_code": "network", "name": "网络性能下降", "name_en": "Degraded performance"},
    {"code": "network.config", "parent_code": "network", "name": "配置问题", "name_en": "Configuration issue"},
    {"code": "data", "parent_code": None, "name": "数据", "name_en": "Data"},
    {"code": "data.backup", "parent_code": "data", "name": "备份与恢复", "name_en": "Backup and restore"},
    {"code": "data.loss", "parent_code": "data", "name": "数据丢失", "name_en": "Data loss"},
    {"code": "consultation", "parent_code": None, "name": "咨询", "name_en": "Consultation (usage / how-to)"},
    {"code": "consultation.usage", "parent_code": "consultation", "name": "使用咨询", "name_en": "Usage question"},
    {"code": "consultation.improvement", "parent_code": "consultation", "name": "改进建议", "name_en": "Improvement request"},
]  # fmt: skip

PRODUCT_FAMILIES: list[dict[str, Any]] = [
    {"code": "switch", "name": "交换机", "name_en": "Switches", "vendor": None},
    {"code": "router", "name": "路由器", "name_en": "Routers", "vendor": None},
    {"code": "firewall", "name": "防火墙", "name_en": "Firewalls", "vendor": None},
    {"code": "wlan", "name": "无线局域网", "name_en": "Wireless LAN", "vendor": None},
    {"code": "storage", "name": "存储", "name_en": "Storage", "vendor": None},
    {"code": "server", "name": "服务器", "name_en": "Servers", "vendor": None},
    {"code": "software-platform", "name": "软件平台", "name_en": "Software platform", "vendor": None},
]  # fmt: skip

SERVICE_LEVELS: list[dict[str, Any]] = [
    {"code": "7x24", "name": "7x24小时", "name_en": "7x24 (round the clock)", "is_default": False},
    {"code": "5x8", "name": "5x8工作时间", "name_en": "5x8 business hours", "is_default": False},
    {"code": "basic", "name": "基础服务", "name_en": "Basic (uncontracted)", "is_default": True},
]  # fmt: skip


async def ensure_catalogue(uow: UnitOfWork) -> None:
    """Insert the default catalogue rows that are missing (after the system calendars,
    `app.defaults`); idempotent, never overwrites."""
    now = get_clock().now()
    common = {"active": True, "version": 1, "created_at": now, "updated_at": now}
    session = uow.session
    for table, rows in (
        (Category, CATEGORIES),
        (ProductFamily, PRODUCT_FAMILIES),
    ):
        await session.execute(
            insert(table).values([{**r, **common} for r in rows]).on_conflict_do_nothing()
        )
    # If an operator already chose another default, 'basic' arrives as a plain level:
    # there is exactly one default, and it is theirs.
    has_default = (
        await session.execute(select(col(ServiceLevel.code)).where(col(ServiceLevel.is_default)))
    ).first() is not None
    levels = [
        {**r, **common, "is_default": r["is_default"] and not has_default} for r in SERVICE_LEVELS
    ]
    await session.execute(insert(ServiceLevel).values(levels).on_conflict_do_nothing())
