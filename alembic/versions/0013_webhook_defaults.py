"""defaults of webhooks: the system identity that authors what monitoring reports

Frozen here as data; app/access/defaults.py holds the application's copy for databases
that start without migrating. ON CONFLICT DO NOTHING: never overwrites.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOOKS_ID = "01a20a8b-77d6-7100-8000-000000000003"


def upgrade() -> None:
    op.get_bind().execute(
        sa.text(
            "INSERT INTO api_keys (id, name, prefix, key_hash, role, branch_id, active, "
            "created_at) VALUES (CAST(:id AS uuid), :name, 'sys_hooks', "
            "'never-authenticates:hooks', 'integration', NULL, false, now()) "
            "ON CONFLICT (id) DO NOTHING"
        ),
        {"id": HOOKS_ID, "name": "监控告警 (webhooks)"},
    )


def downgrade() -> None:
    op.get_bind().execute(
        sa.text("DELETE FROM api_keys WHERE id = CAST(:id AS uuid)"), {"id": HOOKS_ID}
    )
