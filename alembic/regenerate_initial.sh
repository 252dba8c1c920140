#!/usr/bin/env bash
# Development only, before the first release: rebuild 0001_initial from the models.
# Needs a PostgreSQL at ADMIN_DSN (default: the machine's, trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN_DSN=${ADMIN_DSN:-postgresql://postgres@127.0.0.1:5432/postgres}
DB=sl_regen_$$
psql "$ADMIN_DSN" -qc "CREATE DATABASE $DB" >/dev/null
trap 'psql "$ADMIN_DSN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null' EXIT
rm -f alembic/versions/0001_initial.py
DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:5432/$DB" .venv/bin/alembic revision --autogenerate --rev-id 0001 -m initial >/dev/null
.venv/bin/ruff format -q alembic/versions/0001_initial.py || true
echo "regenerated alembic/versions/0001_initial.py"
