"""Customer archive rules: a customer belongs to one branch, a branch-scoped key works
only inside its branch (another branch's customer, and everything hanging off it,
answers 404), codes are unique, and rows are deactivated rather than deleted."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import Page, PageParams, make_page
from app.core.security import Principal
from app.customers import repository
from app.customers.models import Contact, Customer
from app.customers.schemas import ContactCreate, ContactUpdate, CustomerCreate, CustomerUpdate

_CUSTOMER_NOT_NULL = {"name", "branch_id", "active"}
_CONTACT_NOT_NULL = {"name", "language", "active"}


def _touch(row: Customer | Contact) -> None:
    row.version += 1
    row.updated_at = get_clock().now()


def _apply(row: Any, changes: dict[str, Any], not_null: set[str]) -> None:
    for field, value in changes.items():
        if value is None and field in not_null:
            raise Unprocessable(f"{field} cannot be null.", field=field)
        setattr(row, field, value)


async def _check_branch(uow: UnitOfWork, principal: Principal, branch_id: uuid.UUID) -> None:
    # Outside the key's scope: 404, as for any other branch's object.
    principal.check_branch(branch_id, "Branch")
    if not await repository.branch_exists(uow, branch_id):
        raise Unprocessable("branch_id does not name a branch.", field="branch_id")


# -- customers ----------------------------------------------------------------------


async def visible_customer(
    uow: UnitOfWork, principal: Principal, customer_id: uuid.UUID
) -> Customer | None:
    """For other domains (devices, contracts, tickets): the customer if the principal
    may see it, else None (the caller decides between 404 and 422)."""
    return await repository.get_customer(uow, principal, customer_id)


async def create_customer(uow: UnitOfWork, principal: Principal, data: CustomerCreate) -> Customer:
    await _check_branch(uow, principal, data.branch_id)
    if await repository.code_taken(uow, data.code):
        raise Conflict(f"A customer with code '{data.code}' exists.", field="code")
    customer = Customer(**data.model_dump())
    try:
        await repository.add(uow, customer)
    except IntegrityError as exc:  # a concurrent create took the code
        raise Conflict(f"A customer with code '{data.code}' exists.", field="code") from exc
    return customer


async def get_customer(
    uow: UnitOfWork, principal: Principal, customer_id: uuid.UUID, lock: bool = False
) -> Customer:
    customer = await repository.get_customer(uow, principal, customer_id, lock=lock)
    if customer is None:
        raise NotFound("Customer not found.")
    return customer


async def list_customers(
    uow: UnitOfWork,
    principal: Principal,
    page: PageParams,
    branch_id: uuid.UUID | None = None,
    q: str | None = None,
    active: bool | None = None,
) -> Page[Customer]:
    rows = await repository.list_customers(
        uow, principal, limit=page.limit, after=page.after, branch_id=branch_id, q=q, active=active
    )
    return make_page(rows, page.limit)


async def update_customer(
    uow: UnitOfWork,
    principal: Principal,
    customer_id: uuid.UUID,
    data: CustomerUpdate,
    if_match: str | None,
) -> Customer:
    customer = await get_customer(uow, principal, customer_id, lock=True)
    check_if_match(if_match, customer.version)
    changes = data.model_dump(exclude_unset=True)
    new_branch = changes.get("branch_id")
    if new_branch is not None and new_branch != customer.branch_id:
        await _check_branch(uow, principal, new_branch)
    _apply(customer, changes, _CUSTOMER_NOT_NULL)
    _touch(customer)
    await repository.save(uow)
    return customer


# -- contacts -----------------------------------------------------------------------


async def create_contact(
    uow: UnitOfWork, principal: Principal, customer_id: uuid.UUID, data: ContactCreate
) -> Contact:
    customer = await get_customer(uow, principal, customer_id)
    contact = Contact(customer_id=customer.id, **data.model_dump())
    await repository.add(uow, contact)
    return contact


async def list_contacts(
    uow: UnitOfWork,
    principal: Principal,
    customer_id: uuid.UUID,
    page: PageParams,
    active: bool | None = None,
) -> Page[Contact]:
    customer = await get_customer(uow, principal, customer_id)
    rows = await repository.list_contacts(
        uow, customer.id, limit=page.limit, after=page.after, active=active
    )
    return make_page(rows, page.limit)


async def get_contact(
    uow: UnitOfWork, principal: Principal, contact_id: uuid.UUID, lock: bool = False
) -> Contact:
    contact = await repository.get_contact(uow, principal, contact_id, lock=lock)
    if contact is None:
        raise NotFound("Contact not found.")
    return contact


async def update_contact(
    uow: UnitOfWork,
    principal: Principal,
    contact_id: uuid.UUID,
    data: ContactUpdate,
    if_match: str | None,
) -> Contact:
    contact = await get_contact(uow, principal, contact_id, lock=True)
    check_if_match(if_match, contact.version)
    _apply(contact, data.model_dump(exclude_unset=True), _CONTACT_NOT_NULL)
    _touch(contact)
    await repository.save(uow)
    return contact
