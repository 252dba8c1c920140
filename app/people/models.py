"""Who works tickets (DOMAIN section 4): engineers with their line, skills, branch and
load; teams per line and branch; duty rosters (weekly shifts, one-off shifts, on-call
rotations) and absences."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from sqlalchemy import ARRAY, CheckConstraint, Index, String, UniqueConstraint, Uuid
from sqlmodel import Field, SQLModel

from app.core.columns import enum_check, id_field, ts_field

# Support lines: l1 (first line / service desk), l2 (second line experts), l3 (R&D),
# vendor (liaison to the manufacturer). Escalation runs in this order.
LINES = ("l1", "l2", "l3", "vendor")
SKILL_KINDS = ("product_family", "category")


class Team(SQLModel, table=True):
    __tablename__ = "teams"
    __table_args__ = (
        enum_check("line", LINES, "ck_teams_line"),
        UniqueConstraint("branch_id", "code", name="uq_teams_branch_code"),
    )

    id: uuid.UUID = id_field()
    code: str = Field(max_length=32)
    name: str = Field(max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    line: str = Field(max_length=8)
    branch_id: uuid.UUID = Field(foreign_key="branches.id")
    # The manager is an API identity (role manager, usually): the last resort when a
    # ticket's owners cannot take it in time, and who approves escalations to R&D.
    manager_id: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class Engineer(SQLModel, table=True):
    """The working profile of an API identity: its id *is* the API key's id, so a
    ticket's `owner_id` names the engineer directly."""

    __tablename__ = "engineers"
    __table_args__ = (
        enum_check("line", LINES, "ck_engineers_line"),
        CheckConstraint("open_tickets >= 0 AND open_load >= 0", name="ck_engineers_load"),
        CheckConstraint("max_load > 0", name="ck_engineers_max_load"),
        Index("ix_engineers_line_branch", "line", "branch_id"),
    )

    id: uuid.UUID = Field(primary_key=True, foreign_key="api_keys.id")
    name: str = Field(max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    line: str = Field(max_length=8)
    branch_id: uuid.UUID = Field(foreign_key="branches.id")
    team_id: uuid.UUID | None = Field(default=None, foreign_key="teams.id", index=True)
    languages: list[str] = Field(default_factory=lambda: ["zh-CN"], sa_type=ARRAY(String(16)))
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    max_load: int = Field(default=10, description="Most open tickets owned at once.")
    active: bool = Field(default=True)
    # Kept exact in the transactions that change a ticket's owner, status or priority.
    open_tickets: int = Field(default=0)
    open_load: int = Field(default=0, description="Open tickets weighted by priority.")
    last_assigned_at: datetime | None = ts_field(nullable=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class EngineerSkill(SQLModel, table=True):
    __tablename__ = "engineer_skills"
    __table_args__ = (
        enum_check("kind", SKILL_KINDS, "ck_engineer_skills_kind"),
        CheckConstraint("level BETWEEN 1 AND 5", name="ck_engineer_skills_level"),
        Index("ix_engineer_skills_kind_code", "kind", "code"),
    )

    engineer_id: uuid.UUID = Field(primary_key=True, foreign_key="engineers.id")
    kind: str = Field(primary_key=True, max_length=16)
    code: str = Field(primary_key=True, max_length=64)
    level: int = Field(default=3)


class Shift(SQLModel, table=True):
    """A duty shift in the engineer's team (or branch) time zone: weekly (every given
    weekday, within an optional validity) or once (on one date). An end at or before the
    start runs past midnight into the next day."""

    __tablename__ = "duty_shifts"
    __table_args__ = (
        CheckConstraint(
            "(weekday IS NOT NULL) <> (on_date IS NOT NULL)", name="ck_duty_shifts_kind"
        ),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="ck_duty_shifts_weekday"),
        # Who is on duty looks up, per engineer, only the shifts that can run now: those
        # of today's and yesterday's weekday, or dated today or yesterday.
        Index("ix_duty_shifts_engineer_weekday", "engineer_id", "weekday"),
        Index("ix_duty_shifts_engineer_date", "engineer_id", "on_date"),
    )

    id: uuid.UUID = id_field()
    engineer_id: uuid.UUID = Field(foreign_key="engineers.id")
    weekday: int | None = Field(default=None, description="0 = Monday ... 6 = Sunday")
    on_date: date | None = Field(default=None)
    starts: time
    ends: time
    valid_from: date | None = Field(default=None)
    valid_until: date | None = Field(default=None)
    created_at: datetime = ts_field()


class OnCallRotation(SQLModel, table=True):
    """7x24 on-call: the members take turns of `period_hours`, in order, from `starts_at`."""

    __tablename__ = "oncall_rotations"
    __table_args__ = (CheckConstraint("period_hours > 0", name="ck_oncall_rotations_period"),)

    id: uuid.UUID = id_field()
    team_id: uuid.UUID = Field(foreign_key="teams.id", index=True)
    name: str = Field(max_length=200)
    starts_at: datetime = ts_field()
    period_hours: int = Field(default=168)
    members: list[uuid.UUID] = Field(sa_type=ARRAY(Uuid()))
    active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class Absence(SQLModel, table=True):
    __tablename__ = "absences"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ck_absences_span"),
        Index("ix_absences_engineer_ends", "engineer_id", "ends_at"),
    )

    id: uuid.UUID = id_field()
    engineer_id: uuid.UUID = Field(foreign_key="engineers.id")
    starts_at: datetime = ts_field()
    ends_at: datetime = ts_field()
    reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = ts_field()
