"""Engine, sessions and the unit of work: one transaction per request or job."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings, get_settings

_engine: AsyncEngine | None = None
_sessionmaker: async_sessionmaker[AsyncSession] | None = None


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
    global _engine, _sessionmaker
    if _engine is not None:
        await _engine.dispose()
    _engine = None
    _sessionmaker = None


def sessionmaker() -> async_sessionmaker[AsyncSession]:
    get_engine()
    assert _sessionmaker is not None
    return _sessionmaker


class UnitOfWork:
    """A session whose transaction commits once, at the boundary.

    Services only flush. Callbacks registered with `after_commit` run once the
    transaction is durable (e.g. waking a worker for a timer due very soon).
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._after_commit: list[Callable[[], Awaitable[Any]]] = []

    def after_commit(self, fn: Callable[[], Awaitable[Any]]) -> None:
        self._after_commit.append(fn)

    async def commit(self) -> None:
        await self.session.commit()
        callbacks, self._after_commit = self._after_commit, []
        for fn in callbacks:
            await fn()

    async def rollback(self) -> None:
        self._after_commit.clear()
        await self.session.rollback()


async def open_uow() -> AsyncIterator[UnitOfWork]:
    async with sessionmaker()() as session:
        uow = UnitOfWork(session)
        try:
            yield uow
        except BaseException:
            await uow.rollback()
            raise
        else:
            if session.in_transaction():
                await uow.commit()


async def get_uow() -> AsyncIterator[UnitOfWork]:
    """FastAPI dependency; use with `Depends(get_uow, scope="function")` so the
    commit happens before the response leaves (a failed commit is an error
    response, never a 2xx for data that was not stored)."""
    async for uow in open_uow():
        yield uow


UoW = Annotated[UnitOfWork, Depends(get_uow, scope="function")]
