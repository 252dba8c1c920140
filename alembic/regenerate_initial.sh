#!/usr/bin/env bash
# Development only, before the first release: rebuild 0001_initial from the models.
# Later revisions (data migrations) are set aside while autogenerate runs.
# Needs a PostgreSQL at ADMIN_DSN (default: the machine's, trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN_DSN=${ADMIN_DSN:-postgresql://postgres@127.0.0.1:5432/postgres}
DB=sl_regen_$$
aside=$(mktemp -d)
psql "$ADMIN_DSN" -qc "CREATE DATABASE $DB" >/dev/null
cleanup() {
  psql "$ADMIN_DSN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
  find "$aside" -name '*.py' -exec mv {} alembic/versions/ \;
  [ -f alembic/versions/0001_initial.py ] || cp "$aside/0001.bak" alembic/versions/0001_initial.py
}
trap cleanup EXIT
cp alembic/versions/0001_initial.py "$aside/0001.bak"
find alembic/versions -maxdepth 1 -name '*.py' ! -name '0001_initial.py' -exec mv {} "$aside/" \;
rm -f alembic/versions/0001_initial.py
DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:5432/$DB" .venv/bin/alembic revision --autogenerate --rev-id 0001 -m initial >/dev/null
.venv/bin/ruff format -q alembic/versions/0001_initial.py || true
echo "regenerated alembic/versions/0001_initial.py"
