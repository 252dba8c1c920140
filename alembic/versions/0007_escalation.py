"""escalation: policies (with the default one seeded), escalations, hierarchical notices

Additive only.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 01:54:10.459033
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('escalation_policies',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('service_level', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('functional_on', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('notify_levels', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("functional_on IN ('warning', 'breach', 'never')", name='ck_escalation_policies_on'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('service_level', name='uq_escalation_policies_level')
    )
    op.create_table('escalation_notices',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('ticket_id', sa.Uuid(), nullable=False),
    sa.Column('clock_id', sa.Uuid(), nullable=False),
    sa.Column('after', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('recipients', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('pending', 'sent', 'cancelled')", name='ck_escalation_notices_state'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('clock_id', 'after', 'level', name='uq_escalation_notices_key')
    )
    op.create_index('ix_escalation_notices_ticket_id', 'escalation_notices', ['ticket_id'], unique=False)
    op.create_table('escalations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('ticket_id', sa.Uuid(), nullable=False),
    sa.Column('from_line', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('to_line', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
    sa.Column('requested_by', sa.Uuid(), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('work_order', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('approved_by', sa.Uuid(), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.Uuid(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rd_owner_id', sa.Uuid(), nullable=True),
    sa.Column('advice', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
    sa.Column('vendor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('vendor_case_ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('requested', 'approved', 'accepted', 'closure_proposed', 'closed', 'rejected', 'cancelled')", name='ck_escalations_state'),
    sa.CheckConstraint("trigger IN ('sla_warning', 'sla_breach', 'failed_attempts', 'manual')", name='ck_escalations_trigger'),
    sa.ForeignKeyConstraint(['approved_by'], ['api_keys.id'], ),
    sa.ForeignKeyConstraint(['decided_by'], ['api_keys.id'], ),
    sa.ForeignKeyConstraint(['rd_owner_id'], ['api_keys.id'], ),
    sa.ForeignKeyConstraint(['requested_by'], ['api_keys.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_escalations_ticket_id_id', 'escalations', ['ticket_id', 'id'], unique=False)
    op.create_index('uq_escalations_one_open', 'escalations', ['ticket_id'], unique=True, postgresql_where=sa.text("state IN ('requested', 'approved', 'accepted', 'closure_proposed')"))
    # The default chain: the owner's team manager at the warning; the managers at the
    # breach; the administrators an hour after it.
    op.execute(
        """
        INSERT INTO escalation_policies (id, service_level, failed_attempts, functional_on,
                                         notify_levels, version, created_at, updated_at)
        VALUES (gen_random_uuid(), '*', 3, 'breach',
                '[{"level": 1, "after": "warning", "delay_minutes": 0,
                   "recipients": ["team_manager"]},
                  {"level": 2, "after": "breach", "delay_minutes": 0,
                   "recipients": ["team_manager", "role:manager"]},
                  {"level": 3, "after": "breach", "delay_minutes": 60,
                   "recipients": ["role:admin"]}]'::jsonb, 1, now(), now())
        ON CONFLICT DO NOTHING
        """
    )


def downgrade() -> None:
    op.drop_index('uq_escalations_one_open', table_name='escalations', postgresql_where=sa.text("state IN ('requested', 'approved', 'accepted', 'closure_proposed')"))
    op.drop_index('ix_escalations_ticket_id_id', table_name='escalations')
    op.drop_table('escalations')
    op.drop_index('ix_escalation_notices_ticket_id', table_name='escalation_notices')
    op.drop_table('escalation_notices')
    op.drop_table('escalation_policies')
