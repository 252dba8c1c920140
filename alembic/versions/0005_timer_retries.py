"""timers: a firing time apart from the due time, attempts and the dead state

A failing handler no longer leaves its timer due for every wake-up to retry: the timer
keeps its due time, backs off on `fire_at`, counts `attempts`, and is parked as `dead`
after TIMER_MAX_ATTEMPTS.

Written so the previous release keeps working during a rolling deploy (docs/operations.md
section 3): `attempts` has a server default; a trigger fills `fire_at` from `due_at` for
the previous release's inserts and moves it with `due_at` for its updates (the new code
always writes both, so the trigger changes nothing for it); `handed_at`, which only the
previous release's scheduler reads, stays until a later revision drops it together with
the trigger. Pending timers are marked as not handed over, so the new scheduler enqueues
its own wake-ups for them at once (the previous release's per-timer jobs still run:
new workers keep a `fire_timer` job that fires whatever is due).

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

FUNCTION = """
CREATE FUNCTION timers_fire_at_follows_due_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.fire_at := COALESCE(NEW.fire_at, NEW.due_at);
    ELSIF NEW.due_at IS DISTINCT FROM OLD.due_at AND NEW.fire_at IS NOT DISTINCT FROM OLD.fire_at
    THEN
        NEW.fire_at := NEW.due_at;
    END IF;
    RETURN NEW;
END $$
"""
TRIGGER = """
CREATE TRIGGER timers_fire_at_follows_due_at BEFORE INSERT OR UPDATE OF due_at ON timers
    FOR EACH ROW EXECUTE FUNCTION timers_fire_at_follows_due_at()
"""


def upgrade() -> None:
    op.add_column("timers", sa.Column("fire_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "timers", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "timers",
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    )
    op.execute(FUNCTION)
    op.execute(TRIGGER)
    # One statement: the timers table holds one row per clock, and this runs once.
    op.execute(
        "UPDATE timers SET fire_at = due_at,"
        " enqueued_version = CASE WHEN state = 'pending' THEN NULL ELSE enqueued_version END"
    )
    op.alter_column("timers", "fire_at", nullable=False)
    op.create_index(
        "ix_timers_pending_fire",
        "timers",
        ["fire_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_index("ix_timers_pending_due", table_name="timers")
    op.drop_constraint("ck_timers_state", "timers", type_="check")
    op.create_check_constraint(
        "ck_timers_state", "timers", "state IN ('pending', 'fired', 'cancelled', 'dead')"
    )


def downgrade() -> None:
    # Dead timers become pending again: the old schema has no such state, and an old
    # worker retries what is pending.
    op.execute("UPDATE timers SET state = 'pending', handed_at = NULL WHERE state = 'dead'")
    op.drop_constraint("ck_timers_state", "timers", type_="check")
    op.create_check_constraint(
        "ck_timers_state", "timers", "state IN ('pending', 'fired', 'cancelled')"
    )
    op.create_index(
        "ix_timers_pending_due",
        "timers",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_index("ix_timers_pending_fire", table_name="timers")
    op.execute("DROP TRIGGER timers_fire_at_follows_due_at ON timers")
    op.execute("DROP FUNCTION timers_fire_at_follows_due_at()")
    op.drop_column("timers", "last_error")
    op.drop_column("timers", "attempts")
    op.drop_column("timers", "fire_at")
