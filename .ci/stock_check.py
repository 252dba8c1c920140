"""CI, after the tests: `supportline stock-check` on a database the way users fill it.
A fresh database is migrated and loaded with the demo (receipts, transfers, part
requests reserved, fitted and returned, an RMA, a loaner out), then every balance is
recomputed from the ledger. Uses CI_DATABASE_URL when PostgreSQL answers there, else an
embedded server (pgserver) in a temporary directory. Exit status: stock-check's."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid

from sqlalchemy.engine import make_url


def run(*args: str) -> int:
    print("+ supportline", " ".join(args), flush=True)
    return subprocess.call([sys.executable, "-m", "app.cli", *args])


def main() -> int:
    base = os.environ.get("CI_DATABASE_URL")
    tmp = tempfile.TemporaryDirectory(prefix="sl-stock-check-")
    embedded = None
    if base is None:
        from app.embedded import ensure_services

        os.environ.pop("DATABASE_URL", None)
        embedded = ensure_services(tmp.name, database="postgres")
        base = os.environ["DATABASE_URL"]
    name = f"sl_ci_stock_{uuid.uuid4().hex[:8]}"
    admin = make_url(base).set(drivername="postgresql")
    dsn = admin.render_as_string(hide_password=False)
    psql = [sys.executable, "-c", "import asyncio, asyncpg, sys\n"
            "async def m():\n c = await asyncpg.connect(sys.argv[1]); "
            "await c.execute(sys.argv[2]); await c.close()\nasyncio.run(m())"]  # fmt: skip
    subprocess.check_call([*psql, dsn, f'CREATE DATABASE "{name}"'])
    os.environ["DATABASE_URL"] = (
        make_url(base).set(database=name).render_as_string(hide_password=False)
    )
    os.environ.setdefault("DATA_DIR", tmp.name)
    try:
        rc = run("migrate") or run("demo") or run("stock-check")
    finally:
        subprocess.call([*psql, dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])
        if embedded is not None:
            embedded.stop()
        tmp.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
