"""Alembic migrations against the models, on a database of their own (the session's
test database is left alone): upgrade head gives exactly the models' schema, downgrade
base leaves nothing behind but alembic_version, and upgrade head works again after."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from alembic import command
from app import models  # noqa: F401  (registers every table)
from tests.conftest import ROOT, _plain_dsn


def _config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["configure_logger"] = False
    # What `alembic -x url=...` does: alembic/env.py prefers it to DATABASE_URL.
    cfg.cmd_opts = argparse.Namespace(x=[f"url={url}"])
    return cfg


async def _alembic(url: str, action: str, revision: str) -> None:
    fn = command.upgrade if action == "upgrade" else command.downgrade
    # env.py runs its own event loop (asyncio.run), so it needs a thread of its own.
    await asyncio.to_thread(fn, _config(url), revision)


@pytest.fixture
async def empty_db(services: dict[str, str]) -> AsyncIterator[str]:
    base = services["base_url"]
    name = f"sl_migr_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(_plain_dsn(base, "postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    conn = await asyncpg.connect(_plain_dsn(base, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


async def _schema_diff(url: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await engine.dispose()


# Everything a downgrade must remove, by kind (the public schema only).
_LEFTOVERS = {
    "table": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
    "view": "SELECT viewname FROM pg_views WHERE schemaname = 'public'",
    "sequence": "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'",
    "type": """
        SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c')
          AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)
    """,
    "function": """
        SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public'
    """,
}


async def _objects(url: str) -> dict[str, set[str]]:
    conn = await asyncpg.connect(_plain_dsn(url))
    try:
        return {kind: {r[0] for r in await conn.fetch(sql)} for kind, sql in _LEFTOVERS.items()}
    finally:
        await conn.close()


async def _current_revision(url: str) -> str | None:
    conn = await asyncpg.connect(_plain_dsn(url))
    try:
        return await conn.fetchval("SELECT version_num FROM alembic_version")
    finally:
        await conn.close()


def _head() -> str:
    head = ScriptDirectory.from_config(_config("unused")).get_current_head()
    assert head is not None, "alembic/versions has no head (or several)"
    return head


async def test_upgrade_head_matches_the_models(empty_db: str) -> None:
    await _alembic(empty_db, "upgrade", "head")

    assert await _current_revision(empty_db) == _head()
    diff = await _schema_diff(empty_db)
    assert diff == [], (
        "The migrations and the models differ; add a revision (`make revision m=...`):\n"
        + "\n".join(map(repr, diff))
    )
    tables = (await _objects(empty_db))["table"] - {"alembic_version"}
    assert tables == set(SQLModel.metadata.tables)


async def test_downgrade_base_leaves_nothing_and_upgrade_works_again(empty_db: str) -> None:
    await _alembic(empty_db, "upgrade", "head")
    await _alembic(empty_db, "downgrade", "base")

    left = await _objects(empty_db)
    assert left["table"] == {"alembic_version"}
    assert {kind: names for kind, names in left.items() if kind != "table" and names} == {}
    assert await _current_revision(empty_db) is None

    await _alembic(empty_db, "upgrade", "head")
    assert await _current_revision(empty_db) == _head()
    assert await _schema_diff(empty_db) == []


async def test_each_revision_downgrades_and_upgrades_one_step(empty_db: str) -> None:
    """Walks the history one revision at a time (up, down one, up again), so every
    downgrade is exercised against the schema its own upgrade made."""
    script = ScriptDirectory.from_config(_config(empty_db))
    revisions = [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]
    for rev in revisions:
        await _alembic(empty_db, "upgrade", rev)
        await _alembic(empty_db, "downgrade", "-1")
        await _alembic(empty_db, "upgrade", rev)
        assert await _current_revision(empty_db) == rev
    assert await _schema_diff(empty_db) == []
