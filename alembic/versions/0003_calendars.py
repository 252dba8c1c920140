"""business calendars, with the three system calendars

The table of app/calendars/models.py and its seed rows, a frozen copy of
app/calendars/defaults.py at the time of writing (a migration never imports application
code, which moves on). ON CONFLICT DO NOTHING keeps rows that exist already. The
downgrade drops the table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:00:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ALL_DAY = [["00:00", "24:00"]]
_OFFICE = [["09:00", "18:00"]]
_LUNCH_BREAK = [["09:00", "12:00"], ["13:30", "18:00"]]

# (id, code, name, name_en, tz, weekly (Monday first), holiday_country)
CALENDARS = [
    (
        "01a20a8b-77d6-7000-b484-73fa5eab49d3",
        "24x7",
        "全天候 7x24",
        "Around the clock",
        "Asia/Shanghai",
        [_ALL_DAY] * 7,
        None,
    ),
    (
        "01a20a8b-77d6-7001-8b36-4d5701a3307d",
        "cn-5x8",
        "工作日 5x8",
        "China business hours",
        "Asia/Shanghai",
        [_OFFICE] * 5 + [[], []],
        "CN",
    ),
    (
        "01a20a8b-77d6-7002-99cb-af9f99b1e900",
        "cn-5x8-lunch",
        "工作日 5x8（午休）",
        "China business hours, lunch break",
        "Asia/Shanghai",
        [_LUNCH_BREAK] * 5 + [[], []],
        "CN",
    ),
]


def upgrade() -> None:
    op.create_table(
        "calendars",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name_en", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("tz", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("weekly", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("holiday_country", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column(
            "holiday_subdivision", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
        ),
        sa.Column("overrides", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("system", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "CASE WHEN jsonb_typeof(weekly) = 'array' THEN jsonb_array_length(weekly) = 7"
            " ELSE false END",
            name="ck_calendars_weekly_7_days",
        ),
        sa.CheckConstraint(
            "jsonb_typeof(overrides) = 'array'", name="ck_calendars_overrides_array"
        ),
        sa.CheckConstraint(
            "holiday_subdivision IS NULL OR holiday_country IS NOT NULL",
            name="ck_calendars_subdivision_needs_country",
        ),
        sa.CheckConstraint("active OR NOT system", name="ck_calendars_system_active"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    conn = op.get_bind()
    for id_, code, name, name_en, tz, weekly, country in CALENDARS:
        conn.execute(
            sa.text(
                "INSERT INTO calendars (id, code, name, name_en, tz, weekly, holiday_country,"
                " holiday_subdivision, overrides, active, system, version, created_at,"
                " updated_at)"
                " VALUES (CAST(:id AS uuid), :code, :name, :name_en, :tz, CAST(:weekly AS jsonb),"
                " :country, NULL, '[]'::jsonb, true, true, 1, now(), now())"
                " ON CONFLICT DO NOTHING"
            ),
            {
                "id": id_,
                "code": code,
                "name": name,
                "name_en": name_en,
                "tz": tz,
                "weekly": json.dumps(weekly),
                "country": country,
            },
        )


def downgrade() -> None:
    op.drop_table("calendars")
