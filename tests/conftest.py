"""Test fixtures: real PostgreSQL and Redis (environment URLs, else embedded servers),
one fresh database per test session migrated by Alembic, tables truncated after each test."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from app.core.clock import FixedClock
    from app.core.config import Settings

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("ENV", "test")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def _plain_dsn(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
async def services() -> AsyncIterator[dict[str, str]]:
    from app.embedded import ensure_services

    embedded = ensure_services(ROOT / ".data" / "test", database="postgres")
    base_url = os.environ["DATABASE_URL"]
    test_db = f"sl_test_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(_plain_dsn(base_url, "postgres"))
        await conn.execute(f'CREATE DATABASE "{test_db}"')
        await conn.close()

    await create()
    url = make_url(base_url).set(database=test_db).render_as_string(hide_password=False)
    os.environ["DATABASE_URL"] = url
    from app.core.config import get_settings

    get_settings.cache_clear()
    from alembic.config import Config

    from alembic import command

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["configure_logger"] = False
    await asyncio.to_thread(command.upgrade, cfg, "head")
    yield {"database_url": url, "redis_url": os.environ["REDIS_URL"], "base_url": base_url}

    async def drop() -> None:
        conn = await asyncpg.connect(_plain_dsn(base_url, "postgres"))
        await conn.execute(f'DROP DATABASE IF EXISTS "{test_db}" WITH (FORCE)')
        await conn.close()

    await drop()
    embedded.stop()


@pytest.fixture
async def db(services: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    """A plain asyncpg connection to the test database, outside the app's pool (a module
    that needs tables of its own defines this fixture again over this one)."""
    conn = await asyncpg.connect(_plain_dsn(services["database_url"]))
    yield conn
    await conn.close()


@pytest.fixture(scope="session")
async def _tables(services: dict[str, str]) -> list[str]:
    conn = await asyncpg.connect(_plain_dsn(services["database_url"]))
    rows = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
    )
    await conn.close()
    return [r["tablename"] for r in rows]


@pytest.fixture
async def clean_db(services: dict[str, str], _tables: list[str]) -> AsyncIterator[None]:
    """Leaves an empty database behind but for the default catalogue (used autouse by
    tests/api and tests/workers): every test starts as a fresh migrated installation."""
    yield
    conn = await asyncpg.connect(_plain_dsn(services["database_url"]))
    # DELETE, not TRUNCATE: a test leaves a few rows in a few tables, and TRUNCATE of
    # ~40 tables costs 0.3-0.9 s (new files for every table and index) where these
    # DELETEs cost a few ms, which is half the suite's time. The replica role skips the
    # foreign-key triggers, so the order does not matter: every table is emptied.
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(";".join(f'DELETE FROM "{t}"' for t in _tables))
    await conn.close()
    from app.core.db import open_uow
    from app.defaults import ensure_defaults

    async with open_uow() as uow:
        await ensure_defaults(uow)
    from app.access import service as access_service

    access_service.clear_cache()


@pytest.fixture(scope="session")
async def app(services: dict[str, str]) -> AsyncIterator[Any]:
    from app.main import create_app

    application = create_app()
    yield application
    from app.core.db import dispose_engine
    from app.core.queue import close_pool

    await close_pool()
    await dispose_engine()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def issue_key(
    role: str = "admin", branch_id: uuid.UUID | str | None = None
) -> dict[str, str]:
    """An API key made through the service (as `supportline create-api-key` does)."""
    from app.access import service
    from app.core.db import open_uow
    from app.core.security import Role

    async with open_uow() as uow:
        _, plain = await service.create_key(
            uow, f"test {role}", Role(role), uuid.UUID(str(branch_id)) if branch_id else None
        )
    return {"Authorization": f"Bearer {plain}"}


@pytest.fixture
async def admin(app: Any) -> dict[str, str]:
    return await issue_key("admin")


@pytest.fixture
def clock_start() -> datetime:
    """Where `clock` is pinned: now, to the second (24x7 targets do not care about the
    date, and the world's contract is valid today). A module that needs another instant
    defines this fixture again."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def clock(clock_start: datetime) -> Iterator[FixedClock]:
    """The process clock pinned at `clock_start`, moved by the test; the wall clock again
    afterwards."""
    from app.core.clock import Clock, FixedClock, set_clock

    fixed = FixedClock(clock_start)
    set_clock(fixed)
    yield fixed
    set_clock(Clock())


# --- the outbox (its drain in tests/workers, its admin API in tests/api) ---------------


@pytest.fixture
def outbox_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The process settings with a known outbox backoff and attempt budget; a test may
    change them further, and every change is undone after it."""
    from app.core.config import get_settings

    s = get_settings()
    monkeypatch.setattr(s, "outbox_backoff_base_seconds", 2.0)
    monkeypatch.setattr(s, "outbox_backoff_max_seconds", 600.0)
    monkeypatch.setattr(s, "outbox_max_attempts", 8)
    return s


@pytest.fixture
def consumers() -> Iterator[Callable[..., None]]:
    """Registers consumers in the process-wide registry; removes them afterwards."""
    from app.outbox.dispatcher import register, unregister

    names: list[str] = []

    def add(name: str, handler: Any, event_types: list[str] | None = None) -> None:
        register(name, handler, event_types)
        names.append(name)

    yield add
    for name in names:
        unregister(name)


async def publish_many(
    n: int, event_type: str = "test.happened", aggregate_type: str = "ticket"
) -> list[uuid.UUID]:
    """The ids of `n` outbox messages published in one transaction, oldest first."""
    from app.core.db import open_uow
    from app.core.ids import uuid7
    from app.outbox.service import publish

    ids: list[uuid.UUID] = []
    async with open_uow() as uow:
        for i in range(n):
            message = publish(uow, event_type, aggregate_type, uuid7(), {"i": i})
            ids.append(message.id)
    return ids


def unique_type(prefix: str = "test") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}"
