"""The queries of the catalogue: rows by code, code-ordered pages, and the default
service level."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlmodel import SQLModel

from app.catalogue.models import Category, ProductFamily, ServiceLevel
from app.core.db import UnitOfWork
from app.core.pagination import CodePageParams

M = TypeVar("M", bound=SQLModel)


async def flush(uow: UnitOfWork) -> None:
    """Writes the pending changes (the unique keys are checked here)."""
    await uow.session.flush()


def add(uow: UnitOfWork, row: SQLModel) -> None:
    uow.session.add(row)


async def find(uow: UnitOfWork, model: type[M], code: str) -> M | None:
    """The row by primary key (its code), from the session when loaded already."""
    return await uow.session.get(model, code)


async def by_code(uow: UnitOfWork, model: type[M], code: str, lock: bool = False) -> M | None:
    stmt = select(model).where(model.code == code)  # type: ignore[attr-defined]
    if lock:
        stmt = stmt.with_for_update()
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def _page(
    uow: UnitOfWork, model: type[M], page: CodePageParams, active: bool | None, *conds: Any
) -> list[M]:
    """Ordered by code, one more than the page's limit (to tell whether a next page exists)."""
    code = model.code  # type: ignore[attr-defined]
    stmt = select(model).where(*conds)
    if active is not None:
        stmt = stmt.where(model.active == active)  # type: ignore[attr-defined]
    if page.after is not None:
        stmt = stmt.where(code > page.after)
    stmt = stmt.order_by(code).limit(page.limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def categories(
    uow: UnitOfWork, page: CodePageParams, active: bool | None, parent_code: str | None
) -> list[Category]:
    conds = [Category.parent_code == parent_code] if parent_code is not None else []
    return await _page(uow, Category, page, active, *conds)


async def product_families(
    uow: UnitOfWork, page: CodePageParams, active: bool | None
) -> list[ProductFamily]:
    return await _page(uow, ProductFamily, page, active)


async def service_levels(
    uow: UnitOfWork, page: CodePageParams, active: bool | None
) -> list[ServiceLevel]:
    return await _page(uow, ServiceLevel, page, active)


async def lock_defaults_other_than(uow: UnitOfWork, code: str) -> list[ServiceLevel]:
    """The default levels other than `code` (one at most), locked."""
    stmt = (
        select(ServiceLevel)
        .where(ServiceLevel.is_default, ServiceLevel.code != code)  # type: ignore[arg-type]
        .with_for_update()
    )
    return list((await uow.session.execute(stmt)).scalars())


async def default_service_level(uow: UnitOfWork) -> ServiceLevel | None:
    stmt = select(ServiceLevel).where(ServiceLevel.is_default)  # type: ignore[arg-type]
    return (await uow.session.execute(stmt)).scalar_one_or_none()
