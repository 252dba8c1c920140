"""catalogue defaults: categories, product families, service levels

Hand-written data migration. The rows are a frozen copy of app/catalogue/defaults.py
at the time of writing (a migration never imports application code, which moves on).
ON CONFLICT DO NOTHING keeps rows an operator created or edited; the downgrade removes
these codes (it fails loudly if tickets, devices or contracts still point at them,
which is the right answer for data in use).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (code, parent_code, name, name_en); parents before children.
CATEGORIES = [
    ("hardware", None, "硬件", "Hardware"),
    ("hardware.power", "hardware", "电源故障", "Power supply fault"),
    ("hardware.board", "hardware", "单板故障", "Board fault"),
    ("hardware.disk", "hardware", "硬盘故障", "Disk fault"),
    ("software", None, "软件", "Software"),
    ("software.bug", "software", "软件缺陷", "Software defect"),
    ("software.upgrade", "software", "版本升级与补丁", "Upgrade and patch"),
    ("software.license", "software", "许可证", "Licence"),
    ("network", None, "网络", "Network"),
    ("network.connectivity", "network", "网络中断", "Connectivity loss"),
    ("network.performance", "network", "网络性能下降", "Degraded performance"),
    ("network.config", "network", "配置问题", "Configuration issue"),
    ("data", None, "数据", "Data"),
    ("data.backup", "data", "备份与恢复", "Backup and restore"),
    ("data.loss", "data", "数据丢失", "Data loss"),
    ("consultation", None, "咨询", "Consultation (usage / how-to)"),
    ("consultation.usage", "consultation", "使用咨询", "Usage question"),
    ("consultation.improvement", "consultation", "改进建议", "Improvement request"),
]

# (code, name, name_en)
PRODUCT_FAMILIES = [
    ("switch", "交换机", "Switches"),
    ("router", "路由器", "Routers"),
    ("firewall", "防火墙", "Firewalls"),
    ("wlan", "无线局域网", "Wireless LAN"),
    ("storage", "存储", "Storage"),
    ("server", "服务器", "Servers"),
    ("software-platform", "软件平台", "Software platform"),
]

# (code, name, name_en, is_default)
SERVICE_LEVELS = [
    ("7x24", "7x24小时", "7x24 (round the clock)", False),
    ("5x8", "5x8工作时间", "5x8 business hours", False),
    ("basic", "基础服务", "Basic (uncontracted)", True),
]


def upgrade() -> None:
    conn = op.get_bind()
    for code, parent, name, name_en in CATEGORIES:
        conn.execute(
            sa.text(
                "INSERT INTO categories (code, parent_code, name, name_en, active, version,"
                " created_at, updated_at)"
                " VALUES (:code, :parent, :name, :name_en, true, 1, now(), now())"
                " ON CONFLICT DO NOTHING"
            ),
            {"code": code, "parent": parent, "name": name, "name_en": name_en},
        )
    for code, name, name_en in PRODUCT_FAMILIES:
        conn.execute(
            sa.text(
                "INSERT INTO product_families (code, name, name_en, vendor, active, version,"
                " created_at, updated_at)"
                " VALUES (:code, :name, :name_en, NULL, true, 1, now(), now())"
                " ON CONFLICT DO NOTHING"
            ),
            {"code": code, "name": name, "name_en": name_en},
        )
    for code, name, name_en, is_default in SERVICE_LEVELS:
        # Exactly one default: if one exists already, this level arrives as a plain one.
        conn.execute(
            sa.text(
                "INSERT INTO service_levels (code, name, name_en, is_default, active, version,"
                " created_at, updated_at)"
                " SELECT CAST(:code AS varchar), CAST(:name AS varchar), CAST(:name_en AS varchar),"
                " CAST(:is_default AS boolean) AND NOT EXISTS (SELECT 1 FROM service_levels WHERE is_default),"
                " true, 1, now(), now()"
                " ON CONFLICT DO NOTHING"
            ),
            {"code": code, "name": name, "name_en": name_en, "is_default": is_default},
        )


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(
        sa.text("DELETE FROM service_levels WHERE code = ANY(:codes)"),
        {"codes": [row[0] for row in SERVICE_LEVELS]},
    )
    conn.execute(
        sa.text("DELETE FROM product_families WHERE code = ANY(:codes)"),
        {"codes": [row[0] for row in PRODUCT_FAMILIES]},
    )
    # Children first: the parent_code foreign key is checked per statement.
    conn.execute(
        sa.text("DELETE FROM categories WHERE code = ANY(:codes) AND parent_code IS NOT NULL"),
        {"codes": [row[0] for row in CATEGORIES]},
    )
    conn.execute(
        sa.text("DELETE FROM categories WHERE code = ANY(:codes)"),
        {"codes": [row[0] for row in CATEGORIES]},
    )
