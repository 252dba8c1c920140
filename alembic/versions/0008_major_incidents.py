"""major incidents: incidents, their linked tickets and status updates

Additive only.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 02:03:40.459222
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('major_incidents',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=20000), nullable=False),
    sa.Column('product_family', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('declared_by', sa.Uuid(), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('update_interval_minutes', sa.Integer(), nullable=False),
    sa.Column('next_update_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_update_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution_summary', sqlmodel.sql.sqltypes.AutoString(length=20000), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('open', 'resolved')", name='ck_major_incidents_state'),
    sa.CheckConstraint("trigger IN ('manual', 'auto')", name='ck_major_incidents_trigger'),
    sa.ForeignKeyConstraint(['declared_by'], ['api_keys.id'], ),
    sa.ForeignKeyConstraint(['product_family'], ['product_families.code'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('uq_major_incidents_open_family', 'major_incidents', ['product_family'], unique=True, postgresql_where=sa.text("state = 'open' AND product_family IS NOT NULL"))
    op.create_table('incident_updates',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(length=20000), nullable=False),
    sa.Column('author_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['api_keys.id'], ),
    sa.ForeignKeyConstraint(['incident_id'], ['major_incidents.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_incident_updates_incident_id_id', 'incident_updates', ['incident_id', 'id'], unique=False)
    op.create_table('incident_tickets',
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('ticket_id', sa.Uuid(), nullable=False),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['major_incidents.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('incident_id', 'ticket_id')
    )
    op.create_index('ix_incident_tickets_ticket_id', 'incident_tickets', ['ticket_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_incident_tickets_ticket_id', table_name='incident_tickets')
    op.drop_table('incident_tickets')
    op.drop_index('ix_incident_updates_incident_id_id', table_name='incident_updates')
    op.drop_table('incident_updates')
    op.drop_index('uq_major_incidents_open_family', table_name='major_incidents', postgresql_where=sa.text("state = 'open' AND product_family IS NOT NULL"))
    op.drop_table('major_incidents')
