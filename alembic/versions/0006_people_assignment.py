"""people and assignment: engineers, skills, teams, duty shifts, on-call rotations,
absences; tickets' secondary owner and support line; handoffs; auto-assignment per SLA
policy

Additive only (the previous release ignores the new columns; `support_line` and
`auto_assign` have server defaults).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('teams',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('name_en', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('line', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('branch_id', sa.Uuid(), nullable=False),
    sa.Column('manager_id', sa.Uuid(), nullable=True),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("line IN ('l1', 'l2', 'l3', 'vendor')", name='ck_teams_line'),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], ),
    sa.ForeignKeyConstraint(['manager_id'], ['api_keys.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('branch_id', 'code', name='uq_teams_branch_code')
    )
    op.create_table('engineers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('name_en', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('line', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('branch_id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=True),
    sa.Column('languages', sa.ARRAY(sa.String(length=16)), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('max_load', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('open_tickets', sa.Integer(), nullable=False),
    sa.Column('open_load', sa.Integer(), nullable=False),
    sa.Column('last_assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("line IN ('l1', 'l2', 'l3', 'vendor')", name='ck_engineers_line'),
    sa.CheckConstraint('max_load > 0', name='ck_engineers_max_load'),
    sa.CheckConstraint('open_tickets >= 0 AND open_load >= 0', name='ck_engineers_load'),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], ),
    sa.ForeignKeyConstraint(['id'], ['api_keys.id'], ),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_engineers_line_branch', 'engineers', ['line', 'branch_id'], unique=False)
    op.create_index(op.f('ix_engineers_team_id'), 'engineers', ['team_id'], unique=False)
    op.create_table('oncall_rotations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_hours', sa.Integer(), nullable=False),
    sa.Column('members', sa.ARRAY(sa.Uuid()), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('period_hours > 0', name='ck_oncall_rotations_period'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_oncall_rotations_team_id'), 'oncall_rotations', ['team_id'], unique=False)
    op.create_table('absences',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('engineer_id', sa.Uuid(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name='ck_absences_span'),
    sa.ForeignKeyConstraint(['engineer_id'], ['engineers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_absences_engineer_ends', 'absences', ['engineer_id', 'ends_at'], unique=False)
    op.create_table('duty_shifts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('engineer_id', sa.Uuid(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=True),
    sa.Column('on_date', sa.Date(), nullable=True),
    sa.Column('starts', sa.Time(), nullable=False),
    sa.Column('ends', sa.Time(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(weekday IS NOT NULL) <> (on_date IS NOT NULL)', name='ck_duty_shifts_kind'),
    sa.CheckConstraint('weekday BETWEEN 0 AND 6', name='ck_duty_shifts_weekday'),
    sa.ForeignKeyConstraint(['engineer_id'], ['engineers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(
        "ix_duty_shifts_engineer_weekday", "duty_shifts", ["engineer_id", "weekday"], unique=False
    )
    op.create_index(
        "ix_duty_shifts_engineer_date", "duty_shifts", ["engineer_id", "on_date"], unique=False
    )
    op.create_table('engineer_skills',
    sa.Column('engineer_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind IN ('product_family', 'category')", name='ck_engineer_skills_kind'),
    sa.CheckConstraint('level BETWEEN 1 AND 5', name='ck_engineer_skills_level'),
    sa.ForeignKeyConstraint(['engineer_id'], ['engineers.id'], ),
    sa.PrimaryKeyConstraint('engineer_id', 'kind', 'code')
    )
    op.create_index('ix_engineer_skills_kind_code', 'engineer_skills', ['kind', 'code'], unique=False)
    op.create_table('ticket_handoffs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('ticket_id', sa.Uuid(), nullable=False),
    sa.Column('from_id', sa.Uuid(), nullable=False),
    sa.Column('to_id', sa.Uuid(), nullable=False),
    sa.Column('what', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('report', sqlmodel.sql.sqltypes.AutoString(length=20000), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('overdue_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('open', 'reported', 'cancelled')", name='ck_ticket_handoffs_state'),
    sa.ForeignKeyConstraint(['from_id'], ['api_keys.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.ForeignKeyConstraint(['to_id'], ['api_keys.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_ticket_handoffs_ticket_id_id', 'ticket_handoffs', ['ticket_id', 'id'], unique=False)
    op.add_column('sla_policies', sa.Column('auto_assign', sa.Boolean(), server_default='false', nullable=False))
    op.add_column('tickets', sa.Column('secondary_owner_id', sa.Uuid(), nullable=True))
    op.add_column('tickets', sa.Column('support_line', sqlmodel.sql.sqltypes.AutoString(length=8), server_default='l1', nullable=False))
    op.create_foreign_key(
        "tickets_secondary_owner_id_fkey", "tickets", "api_keys", ["secondary_owner_id"], ["id"]
    )
    op.create_check_constraint(
        "ck_tickets_support_line", "tickets", "support_line IN ('l1', 'l2', 'l3', 'vendor')"
    )


def downgrade() -> None:
    op.drop_constraint("ck_tickets_support_line", "tickets", type_="check")
    op.drop_constraint("tickets_secondary_owner_id_fkey", "tickets", type_="foreignkey")
    op.drop_column('tickets', 'support_line')
    op.drop_column('tickets', 'secondary_owner_id')
    op.drop_column('sla_policies', 'auto_assign')
    op.drop_index('ix_ticket_handoffs_ticket_id_id', table_name='ticket_handoffs')
    op.drop_table('ticket_handoffs')
    op.drop_index('ix_engineer_skills_kind_code', table_name='engineer_skills')
    op.drop_table('engineer_skills')
    op.drop_index("ix_duty_shifts_engineer_date", table_name="duty_shifts")
    op.drop_index("ix_duty_shifts_engineer_weekday", table_name="duty_shifts")
    op.drop_table('duty_shifts')
    op.drop_index('ix_absences_engineer_ends', table_name='absences')
    op.drop_table('absences')
    op.drop_index(op.f('ix_oncall_rotations_team_id'), table_name='oncall_rotations')
    op.drop_table('oncall_rotations')
    op.drop_index(op.f('ix_engineers_team_id'), table_name='engineers')
    op.drop_index('ix_engineers_line_branch', table_name='engineers')
    op.drop_table('engineers')
    op.drop_table('teams')
