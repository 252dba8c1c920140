"""timers: a firing time apart from the due time, attempts and the dead state

A failing handler no longer leaves its timer due for every wake-up to retry: the timer
keeps its due time, backs off on `fire_at`, counts `attempts`, and is parked as `dead`
after TIMER_MAX_ATTEMPTS. `handed_at` goes: one wake-up job per due slot (not per timer)
means a lost job is re-handed as one retry job per grace period, with nothing to track
per row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("timers", sa.Column("fire_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE timers SET fire_at = due_at")
    op.alter_column("timers", "fire_at", nullable=False)
    op.add_column(
        "timers", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0")
    )
    op.alter_column("timers", "attempts", server_default=None)
    op.add_column(
        "timers",
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    )
    op.drop_column("timers", "handed_at")
    op.drop_index("ix_timers_pending_due", table_name="timers")
    op.create_index(
        "ix_timers_pending_fire",
        "timers",
        ["fire_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_constraint("ck_timers_state", "timers", type_="check")
    op.create_check_constraint(
        "ck_timers_state", "timers", "state IN ('pending', 'fired', 'cancelled', 'dead')"
    )


def downgrade() -> None:
    # Dead timers become pending again: the old schema has no such state, and an old
    # worker retries what is pending.
    op.execute("UPDATE timers SET state = 'pending' WHERE state = 'dead'")
    op.drop_constraint("ck_timers_state", "timers", type_="check")
    op.create_check_constraint(
        "ck_timers_state", "timers", "state IN ('pending', 'fired', 'cancelled')"
    )
    op.drop_index("ix_timers_pending_fire", table_name="timers")
    op.create_index(
        "ix_timers_pending_due",
        "timers",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.add_column("timers", sa.Column("handed_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_column("timers", "last_error")
    op.drop_column("timers", "attempts")
    op.drop_column("timers", "fire_at")
