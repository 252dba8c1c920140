"""Catalogue rules: codes are unique and permanent, rows are deactivated not deleted,
categories form a tree without cycles, and exactly one service level is the default."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from app.catalogue import repository as repo
from app.catalogue.models import Category, ProductFamily, ServiceLevel
from app.catalogue.schemas import (
    CategoryCreate,
    CategoryUpdate,
    ProductFamilyCreate,
    ProductFamilyUpdate,
    ServiceLevelCreate,
    ServiceLevelUpdate,
)
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import CodePageParams, Page, make_page

M = TypeVar("M", bound=SQLModel)

_NOT_NULL = {"name", "name_en", "active", "is_default"}


async def _get(uow: UnitOfWork, model: type[M], code: str, what: str, lock: bool = False) -> M:
    row = await repo.by_code(uow, model, code, lock=lock)
    if row is None:
        raise NotFound(f"{what} '{code}' not found.")
    return row


async def _insert(uow: UnitOfWork, row: SQLModel, what: str, code: str) -> None:
    # The explicit check gives the common case a clear answer; the unique key still
    # decides a race between two creates (then the later one gets the same 409).
    if await repo.find(uow, type(row), code) is not None:
        raise Conflict(f"A {what} with code '{code}' exists.", field="code")
    repo.add(uow, row)
    try:
        await repo.flush(uow)
    except IntegrityError as exc:
        raise Conflict(f"A {what} with code '{code}' exists.", field="code") from exc


def _apply(row: Any, changes: dict[str, Any]) -> None:
    for field, value in changes.items():
        if value is None and field in _NOT_NULL:
            raise Unprocessable(f"{field} cannot be null.", field=field)
        setattr(row, field, value)
    row.version += 1
    row.updated_at = get_clock().now()


# -- categories ---------------------------------------------------------------------


async def _check_parent(uow: UnitOfWork, code: str, parent_code: str) -> None:
    parent = await repo.find(uow, Category, parent_code)
    if parent is None or not parent.active:
        raise Unprocessable(
            f"parent_code '{parent_code}' does not name an active category.", field="parent_code"
        )
    # Walk up from the new parent: meeting `code` on the way would close a cycle.
    seen: set[str] = set()
    node: Category | None = parent
    while node is not None and node.code not in seen:
        if node.code == code:
            raise Unprocessable(
                f"parent_code '{parent_code}' would make the category its own ancestor.",
                field="parent_code",
            )
        seen.add(node.code)
        node = await repo.find(uow, Category, node.parent_code) if node.parent_code else None


async def create_category(uow: UnitOfWork, data: CategoryCreate) -> Category:
    if data.parent_code is not None:
        await _check_parent(uow, data.code, data.parent_code)
    row = Category(**data.model_dump())
    await _insert(uow, row, "category", data.code)
    return row


async def list_categories(
    uow: UnitOfWork,
    page: CodePageParams,
    active: bool | None = None,
    parent_code: str | None = None,
) -> Page[Category]:
    rows = await repo.categories(uow, page, active, parent_code)
    return make_page(rows, page.limit, key="code")


async def get_category(uow: UnitOfWork, code: str) -> Category:
    return await _get(uow, Category, code, "Category")


async def update_category(
    uow: UnitOfWork, code: str, data: CategoryUpdate, if_match: str | None
) -> Category:
    row = await _get(uow, Category, code, "Category", lock=True)
    check_if_match(if_match, row.version)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("parent_code") is not None and changes["parent_code"] != row.parent_code:
        await _check_parent(uow, code, changes["parent_code"])
    _apply(row, changes)
    await repo.flush(uow)
    return row


# -- product families ---------------------------------------------------------------


async def create_product_family(uow: UnitOfWork, data: ProductFamilyCreate) -> ProductFamily:
    row = ProductFamily(**data.model_dump())
    await _insert(uow, row, "product family", data.code)
    return row


async def list_product_families(
    uow: UnitOfWork, page: CodePageParams, active: bool | None = None
) -> Page[ProductFamily]:
    rows = await repo.product_families(uow, page, active)
    return make_page(rows, page.limit, key="code")


async def get_product_family(uow: UnitOfWork, code: str) -> ProductFamily:
    return await _get(uow, ProductFamily, code, "Product family")


async def active_product_family(uow: UnitOfWork, code: str) -> ProductFamily | None:
    """For other domains (devices): the family if it exists and is active."""
    row = await repo.find(uow, ProductFamily, code)
    return row if row is not None and row.active else None


async def update_product_family(
    uow: UnitOfWork, code: str, data: ProductFamilyUpdate, if_match: str | None
) -> ProductFamily:
    row = await _get(uow, ProductFamily, code, "Product family", lock=True)
    check_if_match(if_match, row.version)
    _apply(row, data.model_dump(exclude_unset=True))
    await repo.flush(uow)
    return row


# -- service levels -----------------------------------------------------------------


async def _take_default(uow: UnitOfWork, code: str) -> None:
    """Move the default mark to `code` in this transaction. The old default row is
    locked first, so two concurrent moves queue up instead of both succeeding; the
    partial unique index backs this up."""
    now = get_clock().now()
    for old in await repo.lock_defaults_other_than(uow, code):
        old.is_default = False
        old.version += 1
        old.updated_at = now
    await repo.flush(uow)


async def create_service_level(uow: UnitOfWork, data: ServiceLevelCreate) -> ServiceLevel:
    if data.is_default and not data.active:
        raise Unprocessable("An inactive level cannot be the default.", field="is_default")
    if await repo.find(uow, ServiceLevel, data.code) is not None:
        raise Conflict(f"A service level with code '{data.code}' exists.", field="code")
    if data.is_default:
        await _take_default(uow, data.code)
    row = ServiceLevel(**data.model_dump())
    await _insert(uow, row, "service level", data.code)
    return row


async def list_service_levels(
    uow: UnitOfWork, page: CodePageParams, active: bool | None = None
) -> Page[ServiceLevel]:
    rows = await repo.service_levels(uow, page, active)
    return make_page(rows, page.limit, key="code")


async def get_service_level(uow: UnitOfWork, code: str) -> ServiceLevel:
    return await _get(uow, ServiceLevel, code, "Service level")


async def active_service_level(uow: UnitOfWork, code: str) -> ServiceLevel | None:
    """For other domains (contracts): the level if it exists and is active."""
    row = await repo.find(uow, ServiceLevel, code)
    return row if row is not None and row.active else None


async def default_service_level(uow: UnitOfWork) -> ServiceLevel | None:
    """The level uncontracted tickets get (None only if an operator removed every default,
    which the API does not allow)."""
    return await repo.default_service_level(uow)


async def update_service_level(
    uow: UnitOfWork, code: str, data: ServiceLevelUpdate, if_match: str | None
) -> ServiceLevel:
    row = await _get(uow, ServiceLevel, code, "Service level", lock=True)
    check_if_match(if_match, row.version)
    changes = data.model_dump(exclude_unset=True)
    will_be_default = changes.get("is_default", row.is_default)
    will_be_active = changes.get("active", row.active)
    if row.is_default and changes.get("is_default") is False:
        raise Unprocessable(
            "Exactly one service level is the default: make another level the default "
            "instead of unsetting this one.",
            field="is_default",
        )
    if will_be_default and will_be_active is False:
        raise Unprocessable("The default service level cannot be inactive.", field="active")
    if will_be_default and not row.is_default:
        await _take_default(uow, code)
    _apply(row, changes)
    try:
        await repo.flush(uow)
    except IntegrityError as exc:  # a concurrent default move won the race
        raise Conflict("Another service level became the default meanwhile.") from exc
    return row
