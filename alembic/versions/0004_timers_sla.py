"""timers, SLA policies and targets, ticket clocks and their segments

The default policies are a frozen copy of app/sla/defaults.py at the time of writing (a
migration never imports application code); ON CONFLICT DO NOTHING keeps an operator's
rows. Calendars are referred to by code (seeded by 0003).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUSINESS_DAY = 540
POLICIES = [
    ("7x24", "7x24小时服务承诺", "7x24 service commitment", True),
    ("5x8", "5x8工作时间服务承诺", "5x8 business-hours commitment", False),
    ("basic", "基础服务(无合同)", "Basic (uncontracted)", False),
]
TARGETS = [
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


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        _ts("due_at"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("enqueued_version", sa.Integer(), nullable=True),
        _ts("handed_at", True),
        _ts("fired_at", True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint("state IN ('pending', 'fired', 'cancelled')", name="ck_timers_state"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "subject_id", name="uq_timers_kind_subject"),
    )
    op.create_index(
        "ix_timers_pending_due",
        "timers",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_table(
        "sla_policies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_level", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name_en", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("pause_on_vendor", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["service_level"], ["service_levels.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("service_level"),
    )
    op.create_table(
        "sla_targets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("policy_id", sa.Uuid(), nullable=False),
        sa.Column("priority", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.Uuid(), nullable=False),
        sa.Column("warn_percent", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "metric IN ('first_response', 'onsite', 'part_onsite', 'resolution')",
            name="ck_sla_targets_metric",
        ),
        sa.CheckConstraint(
            "priority IN ('P1', 'P2', 'P3', 'P4')", name="ck_sla_targets_priority"
        ),
        sa.ForeignKeyConstraint(["calendar_id"], ["calendars.id"]),
        sa.ForeignKeyConstraint(["policy_id"], ["sla_policies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("policy_id", "priority", "metric", name="uq_sla_targets_key"),
    )
    op.create_table(
        "ticket_clocks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("target_seconds", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.Uuid(), nullable=False),
        sa.Column("warn_percent", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        _ts("started_at"),
        sa.Column("used_seconds", sa.Integer(), nullable=False),
        _ts("running_since", True),
        _ts("warn_at", True),
        _ts("due_at", True),
        _ts("stopped_at", True),
        _ts("warned_at", True),
        _ts("breached_at", True),
        _ts("updated_at"),
        sa.CheckConstraint(
            "metric IN ('first_response', 'onsite', 'part_onsite', 'resolution')",
            name="ck_ticket_clocks_metric",
        ),
        sa.CheckConstraint(
            "outcome IN ('met', 'breached', 'cancelled')", name="ck_ticket_clocks_outcome"
        ),
        sa.CheckConstraint(
            "state IN ('running', 'paused', 'stopped')", name="ck_ticket_clocks_state"
        ),
        sa.ForeignKeyConstraint(["calendar_id"], ["calendars.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "metric", name="uq_ticket_clocks_ticket_metric"),
    )
    op.create_index(
        "ix_ticket_clocks_running_due",
        "ticket_clocks",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("state = 'running'"),
    )
    op.create_index(
        "ix_ticket_clocks_running_warn",
        "ticket_clocks",
        ["warn_at"],
        unique=False,
        postgresql_where=sa.text("state = 'running'"),
    )
    op.create_index(
        "ix_ticket_clocks_breached",
        "ticket_clocks",
        ["ticket_id"],
        unique=False,
        postgresql_where=sa.text("outcome = 'breached'"),
    )
    op.create_table(
        "ticket_clock_segments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clock_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        _ts("started_at"),
        _ts("ended_at", True),
        sa.CheckConstraint("kind IN ('running', 'paused')", name="ck_ticket_clock_segments_kind"),
        sa.ForeignKeyConstraint(["clock_id"], ["ticket_clocks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_ticket_clock_segments_clock_id_id",
        "ticket_clock_segments",
        ["clock_id", "id"],
        unique=False,
    )

    conn = op.get_bind()
    for level, name, name_en, pause_on_vendor in POLICIES:
        conn.execute(
            sa.text(
                "INSERT INTO sla_policies (id, service_level, name, name_en, pause_on_vendor, "
                "active, version, created_at, updated_at) "
                "SELECT gen_random_uuid(), CAST(:level AS varchar), :name, :name_en, :pov, true, 1, now(), now() "
                "WHERE EXISTS (SELECT 1 FROM service_levels WHERE code = CAST(:level AS varchar)) "
                "ON CONFLICT (service_level) DO NOTHING"
            ),
            {"level": level, "name": name, "name_en": name_en, "pov": pause_on_vendor},
        )
    for level, priority, metric, minutes, calendar in TARGETS:
        conn.execute(
            sa.text(
                "INSERT INTO sla_targets (id, policy_id, priority, metric, minutes, "
                "calendar_id, warn_percent) "
                "SELECT gen_random_uuid(), p.id, :priority, :metric, :minutes, c.id, 75 "
                "FROM sla_policies p, calendars c "
                "WHERE p.service_level = :level AND c.code = :calendar "
                "ON CONFLICT ON CONSTRAINT uq_sla_targets_key DO NOTHING"
            ),
            {"level": level, "priority": priority, "metric": metric, "minutes": minutes,
             "calendar": calendar},
        )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_ticket_clock_segments_clock_id_id", table_name="ticket_clock_segments")
    op.drop_table("ticket_clock_segments")
    op.drop_index(
        "ix_ticket_clocks_breached",
        table_name="ticket_clocks",
        postgresql_where=sa.text("outcome = 'breached'"),
    )
    op.drop_index(
        "ix_ticket_clocks_running_warn",
        table_name="ticket_clocks",
        postgresql_where=sa.text("state = 'running'"),
    )
    op.drop_index(
        "ix_ticket_clocks_running_due",
        table_name="ticket_clocks",
        postgresql_where=sa.text("state = 'running'"),
    )
    op.drop_table("ticket_clocks")
    op.drop_table("sla_targets")
    op.drop_table("sla_policies")
    op.drop_index(
        "ix_timers_pending_due", table_name="timers", postgresql_where=sa.text("state = 'pending'")
    )
    op.drop_table("timers")
