"""Engine, sessions and the unit of work: one transaction per request or job."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import Depends
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings, get_settings

_engine: AsyncEngine | None = None
_sessionmaker: async_sessionmaker[AsyncSession] | None = None
_raw_pool: asyncpg.Pool | None = None
_raw_pool_loop: asyncio.AbstractEventLoop | None = None


def make_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=False,
        connect_args={
            "server_settings": {
                "statement_timeout": str(settings.db_statement_timeout_ms),
                "application_name": "supportline",
            },
        },
    )


def get_engine() -> AsyncEngine:
    global _engine, _sessionmaker
    if _engine is None:
        _engine = make_engine(get_settings())
        _sessionmaker = async_sessionmaker(_engine, class_=AsyncSession, expire_on_commit=False)
    return _engine


async def dispose_engine() -> None:
    global _engine, _sessionmaker, _raw_pool, _raw_pool_loop
    if _engine is not None:
        await _engine.dispose()
    _engine = None
    _sessionmaker = None
    if _raw_pool is not None and _raw_pool_loop is asyncio.get_running_loop():
        await _raw_pool.close()
    _raw_pool = _raw_pool_loop = None


async def _json_codecs(conn: asyncpg.Connection) -> None:
    # What SQLAlchemy's dialect gives its own connections, so a raw statement reads
    # json/jsonb as Python values whichever pool its connection came from.
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(
            kind, encoder=str, decoder=orjson.loads, schema="pg_catalog", format="text"
        )


def api_time(text: str) -> str:
    """PostgreSQL's ISO text of a `timestamp` (UTC) as the API writes a timestamp:
    `2026-12-02 19:25:34.1392` -> `2026-12-02T19:25:34.139200Z`, the form pydantic and
    orjson (`OPT_UTC_Z`) give a UTC datetime: six digits of fraction, none when zero."""
    n = len(text)
    if n == 19 or (20 < n < 27 and text[19] == "."):  # a four-digit year: two C calls
        return text.replace(" ", "T") + _FRACTION_END[n]
    head, dot, fraction = text.partition(".")
    if not dot:
        return head.replace(" ", "T") + "Z"
    return f"{head.replace(' ', 'T')}.{fraction:0<6}Z"


# What completes `YYYY-MM-DD HH:MM:SS[.f...]` of each length: the fraction's missing
# zeros (PostgreSQL drops trailing ones) and the zone.
_FRACTION_END = {19: "Z", **{n: "0" * (26 - n) + "Z" for n in range(21, 27)}}


async def _raw_codecs(conn: asyncpg.Connection) -> None:
    await _json_codecs(conn)
    # `timestamp without time zone` reads as the API's text of that instant in UTC: no
    # column has that type (tests/unit/test_raw_timestamps.py checks), so it only
    # arrives from `(x AT TIME ZONE 'UTC')`, which is how the lists ask for timestamps.
    # asyncpg's binary datetime decoding costs about 1 µs a value (a timedelta and an
    # aware datetime's addition in Python objects), a third of a page's client CPU; the
    # text codec and `api_time` cost a fifth of that, PostgreSQL's text output a little.
    await conn.set_type_codec(
        "timestamp", encoder=str, decoder=api_time, schema="pg_catalog", format="text"
    )


async def _keep_session_state(conn: asyncpg.Connection) -> None:
    return None


async def raw_pool() -> asyncpg.Pool:
    """A plain asyncpg pool for the hot paths' raw statements outside a session.

    Why a second pool: a checkout from SQLAlchemy's pool goes through its Python pool
    code and a greenlet switch each way, about a tenth of a millisecond of CPU per
    request; asyncpg's own pool is a few microseconds. It is small
    (`DB_RAW_POOL_SIZE`): a request waits for one of its connections rather than
    opening another."""
    global _raw_pool, _raw_pool_loop
    loop = asyncio.get_running_loop()
    if _raw_pool is None or _raw_pool_loop is not loop:
        settings = get_settings()
        url = make_url(settings.database_url).set(drivername="postgresql")
        pool = await asyncpg.create_pool(
            url.render_as_string(hide_password=False),
            min_size=1,
            max_size=settings.db_raw_pool_size,
            init=_raw_codecs,
            # The raw path runs single autocommit statements: nothing to reset but an
            # open transaction, which asyncpg rolls back before this is called. The
            # default reset (RESET ALL, UNLISTEN, ...) would be a round trip per request.
            reset=_keep_session_state,
            server_settings={
                "statement_timeout": str(settings.db_statement_timeout_ms),
                "application_name": "supportline",
                # `api_time` reads the ISO form, whatever the server's default.
                "DateStyle": "ISO, MDY",
            },
        )
        if _raw_pool is None or _raw_pool_loop is not loop:
            _raw_pool, _raw_pool_loop = pool, loop
        else:  # another request made one meanwhile
            await pool.close()
    return _raw_pool


def sessionmaker() -> async_sessionmaker[AsyncSession]:
    get_engine()
    assert _sessionmaker is not None
    return _sessionmaker


class UnitOfWork:
    """A session whose transaction commits once, at the boundary.

    Services only flush. Callbacks registered with `after_commit` run once the
    transaction is durable (e.g. waking a worker for a timer due very soon).

    The session is opened on first use, so a request that never touches the database
    (a 401, a validation error) costs no pool checkout. `connection()` hands out an
    asyncpg connection for the few hot paths written as one raw statement (ticket
    creation, ticket lists). Once the session exists it is the session's own connection,
    and a raw statement joins the session's transaction. Before that it is a pooled
    connection in autocommit: each raw statement is its own implicit transaction (atomic,
    one round trip), so a unit of work that started raw may not open a session later
    (it would be a second transaction): `session` then raises.
    """

    def __init__(self, maker: async_sessionmaker[AsyncSession]) -> None:
        self._maker = maker
        self._session: AsyncSession | None = None
        self._raw: asyncpg.Connection | None = None
        self._raw_from: asyncpg.Pool | None = None
        self._after_commit: list[Callable[[], Awaitable[Any]]] = []

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            if self._raw is not None:
                # The raw statements already ran, each committed on its own: a session
                # now would be a second transaction, and the request no longer atomic.
                raise RuntimeError("open the session before using uow.connection()")
            self._session = self._maker()
        return self._session

    @property
    def holds_raw(self) -> bool:
        """Whether a raw (sessionless) connection is in use: then no session may open."""
        return self._raw is not None

    async def connection(self) -> asyncpg.Connection:
        if self._session is not None:
            conn = await self._session.connection()
            proxied = await conn.get_raw_connection()
            driver_ = proxied.driver_connection
            if driver_ is not None and not driver_.is_in_transaction():
                # SQLAlchemy's asyncpg adapter sends BEGIN only before its own first
                # statement: without one, a raw statement here would run in autocommit,
                # outside the session's transaction.
                await conn.exec_driver_sql("SELECT 1")
        else:
            # No session yet: a pooled connection without one (a Session costs ~0.4 ms
            # of CPU to open, begin, commit and close; a bare checkout ~0.15 ms).
            if self._raw is None:
                pool = await raw_pool()
                self._raw = await pool.acquire()
                self._raw_from = pool
            return self._raw
        driver: asyncpg.Connection = proxied.driver_connection  # type: ignore[assignment]
        return driver

    async def release_raw(self) -> None:
        """Gives back the raw autocommit connection after *read-only* statements, so the
        unit of work can still open its session and write in one transaction (ticket
        creation reads its context raw, then learns that the policy assigns at once)."""
        await self._release_raw()

    async def _release_raw(self) -> None:
        if self._raw is not None and self._raw_from is not None:
            raw, self._raw = self._raw, None
            await self._raw_from.release(raw)

    async def close(self) -> None:
        await self._release_raw()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def after_commit(self, fn: Callable[[], Awaitable[Any]]) -> None:
        self._after_commit.append(fn)

    async def commit(self) -> None:
        if self._session is not None and self._session.in_transaction():
            await self._session.commit()
        callbacks, self._after_commit = self._after_commit, []
        for fn in callbacks:
            await fn()

    async def rollback(self) -> None:
        self._after_commit.clear()
        if self._session is not None:
            await self._session.rollback()


class RawSQL:
    """A statement written with `:name` parameters, run on asyncpg with `$n` ones.

    For the hot paths only: the placeholders are rewritten once at import, and
    `args()` orders a dict of values to match, so the SQL stays readable and a call
    costs no SQLAlchemy compilation. Casts belong in the SQL (`:id::uuid`), because
    asyncpg prepares the statement and PostgreSQL must know every parameter's type.
    """

    _PARAM = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")

    def __init__(self, sql: str) -> None:
        names: list[str] = []

        def number(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        self.sql = self._PARAM.sub(number, sql)
        self.names = tuple(names)

    def args(self, values: dict[str, Any]) -> list[Any]:
        return [values[n] for n in self.names]


async def get_uow() -> AsyncIterator[UnitOfWork]:
    """FastAPI dependency; use with `Depends(get_uow, scope="function")` so the
    commit happens before the response leaves (a failed commit is an error
    response, never a 2xx for data that was not stored).

    FastAPI throws the endpoint's exception in at the `yield`, so a failed request has
    rolled back (its advisory and row locks released) and given its connection back
    before its error response is sent. That holds only because the body is here, not
    behind `async for uow in <another generator>`: a loop never tells the generator it
    loops over that its body raised, so that generator was left suspended and rolled
    back later, by the garbage collector's `aclose()` task, after the response had gone
    out (a client's immediate retry of a failed request then found its Idempotency-Key
    still locked, and a drain skipped a row still locked by a refused retry).
    """
    uow = UnitOfWork(sessionmaker())
    try:
        yield uow
    except BaseException:
        await uow.rollback()
        raise
    else:
        await uow.commit()
    finally:
        await uow.close()


open_uow: Callable[[], AbstractAsyncContextManager[UnitOfWork]] = asynccontextmanager(get_uow)
"""A unit of work outside a request (jobs, the CLI, tests): `async with open_uow() as uow:`
commits when the block ends, rolls back at once when it raises. A context manager, not a
generator to loop over, for the reason in `get_uow`."""


UoW = Annotated[UnitOfWork, Depends(get_uow, scope="function")]
