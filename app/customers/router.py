"""Customers and contacts over HTTP (客户档案)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.access.deps import Idem, require
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import NOT_MODIFIED, etag_for, set_etag
from app.core.etag import IfMatchStale as IfMatch
from app.core.pagination import Page, PageParams, page_of, page_params
from app.core.security import Permission, Principal
from app.customers import service
from app.customers.schemas import (
    ContactCreate,
    ContactOut,
    ContactUpdate,
    CustomerCreate,
    CustomerOut,
    CustomerUpdate,
)

router = APIRouter(prefix="/v1", tags=["customers"])
Reader = Annotated[Principal, Depends(require(Permission.records_read))]
Writer = Annotated[Principal, Depends(require(Permission.customers_write))]
Paging = Annotated[PageParams, Depends(page_params)]
ActiveFilter = Annotated[bool | None, Query(description="Only active (or inactive) rows.")]


@router.post(
    "/customers",
    operation_id="createCustomer",
    summary="Create a customer (客户)",
    status_code=201,
    response_model=CustomerOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def create_customer(body: CustomerCreate, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    customer = await service.create_customer(uow, principal, body)
    return await idem.respond(
        CustomerOut.model_validate(customer), 201, {"ETag": etag_for(customer.version)}
    )


@router.get(
    "/customers",
    operation_id="listCustomers",
    summary="List customers visible to the key, newest first",
    response_model=Page[CustomerOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_customers(
    principal: Reader,
    uow: UoW,
    page: Paging,
    branch_id: uuid.UUID | None = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Name, English name or code contains.",
            openapi_examples={
                "chinese": {"summary": "Part of a Chinese name", "value": "银行"},
                "english": {"summary": "Part of an English name", "value": "bank"},
            },
        ),
    ] = None,
    active: ActiveFilter = None,
) -> Page[CustomerOut]:
    result = await service.list_customers(uow, principal, page, branch_id, q, active)
    return page_of(CustomerOut, result)


@router.get(
    "/customers/{customer_id}",
    operation_id="getCustomer",
    summary="Get a customer",
    response_model=CustomerOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_customer(
    customer_id: uuid.UUID, principal: Reader, uow: UoW, response: Response
) -> CustomerOut:
    customer = await service.get_customer(uow, principal, customer_id)
    set_etag(response, customer.version)
    return CustomerOut.model_validate(customer)


@router.patch(
    "/customers/{customer_id}",
    operation_id="updateCustomer",
    summary="Update or deactivate a customer (active=false; never deleted)",
    response_model=CustomerOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def update_customer(
    customer_id: uuid.UUID,
    body: CustomerUpdate,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> CustomerOut:
    customer = await service.update_customer(uow, principal, customer_id, body, if_match)
    set_etag(response, customer.version)
    return CustomerOut.model_validate(customer)


@router.post(
    "/customers/{customer_id}/contacts",
    operation_id="createContact",
    summary="Add a contact (联系人) to a customer",
    status_code=201,
    response_model=ContactOut,
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def create_contact(  # type: ignore[no-untyped-def]
    customer_id: uuid.UUID, body: ContactCreate, principal: Writer, uow: UoW, idem: Idem
):
    contact = await service.create_contact(uow, principal, customer_id, body)
    return await idem.respond(
        ContactOut.model_validate(contact), 201, {"ETag": etag_for(contact.version)}
    )


@router.get(
    "/customers/{customer_id}/contacts",
    operation_id="listContacts",
    summary="List a customer's contacts, newest first",
    response_model=Page[ContactOut],
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def list_contacts(
    customer_id: uuid.UUID,
    principal: Reader,
    uow: UoW,
    page: Paging,
    active: ActiveFilter = None,
) -> Page[ContactOut]:
    result = await service.list_contacts(uow, principal, customer_id, page, active)
    return page_of(ContactOut, result)


@router.get(
    "/contacts/{contact_id}",
    operation_id="getContact",
    summary="Get a contact",
    response_model=ContactOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_contact(
    contact_id: uuid.UUID, principal: Reader, uow: UoW, response: Response
) -> ContactOut:
    contact = await service.get_contact(uow, principal, contact_id)
    set_etag(response, contact.version)
    return ContactOut.model_validate(contact)


@router.patch(
    "/contacts/{contact_id}",
    operation_id="updateContact",
    summary="Update or deactivate a contact",
    response_model=ContactOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def update_contact(
    contact_id: uuid.UUID,
    body: ContactUpdate,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> ContactOut:
    contact = await service.update_contact(uow, principal, contact_id, body, if_match)
    set_etag(response, contact.version)
    return ContactOut.model_validate(contact)
