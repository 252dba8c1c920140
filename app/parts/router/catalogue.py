"""Spare parts over HTTP: the catalogue of parts (备件目录), warehouses (仓库) and the order
in which a branch looks for stock."""

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
from app.parts.schemas.catalogue import (
    Lifecycle,
    PartCreate,
    PartOut,
    PartUpdate,
    WarehouseCreate,
    WarehouseKind,
    WarehouseOrderIn,
    WarehouseOrderOut,
    WarehouseOut,
    WarehouseUpdate,
)
from app.parts.service import catalogue as service

router = APIRouter(prefix="/v1", tags=["parts"])
Reader = Annotated[Principal, Depends(require(Permission.records_read))]
Writer = Annotated[Principal, Depends(require(Permission.catalogue_write))]
Paging = Annotated[PageParams, Depends(page_params)]


# -- Parts


@router.post(
    "/parts",
    operation_id="createPart",
    summary="Add a part number to the spare-parts catalogue",
    status_code=201,
    response_model=PartOut,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_part(body: PartCreate, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    part, out = await service.create_part(uow, body)
    return await idem.respond(out, 201, {"ETag": etag_for(part.version)})


@router.get(
    "/parts",
    operation_id="listParts",
    summary="List catalogue parts, newest first",
    response_model=Page[PartOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_parts(
    principal: Reader,
    uow: UoW,
    page: Paging,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Number, name or English name contains."),
    ] = None,
    product_family: Annotated[
        str | None, Query(max_length=64, description="Parts with a fit for this family.")
    ] = None,
    model: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Parts that fit this model: with product_family, a fit for the "
            "model or for the whole family; alone, a fit naming this model.",
        ),
    ] = None,
    lifecycle: Lifecycle | None = None,
    serialised: bool | None = None,
) -> Page[PartOut]:
    return await service.list_parts(
        uow,
        page,
        q=q,
        product_family=product_family,
        model=model,
        lifecycle=lifecycle,
        serialised=serialised,
    )


@router.get(
    "/parts/{part_id}",
    operation_id="getPart",
    summary="Get a catalogue part with its fits and substitute",
    response_model=PartOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_part(part_id: uuid.UUID, principal: Reader, uow: UoW, response: Response) -> PartOut:
    part, out = await service.read_part(uow, part_id)
    set_etag(response, part.version)
    return out


@router.patch(
    "/parts/{part_id}",
    operation_id="updatePart",
    summary="Update a part: discontinue it, name its substitute, replace its fits",
    response_model=PartOut,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
)
async def update_part(
    part_id: uuid.UUID,
    body: PartUpdate,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> PartOut:
    part, out = await service.update_part(uow, part_id, body, if_match)
    set_etag(response, part.version)
    return out


# -- Warehouses


@router.post(
    "/warehouses",
    operation_id="createWarehouse",
    summary="Add a warehouse (central, regional, branch or customer-site depot)",
    status_code=201,
    response_model=WarehouseOut,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_warehouse(body: WarehouseCreate, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    warehouse = await service.create_warehouse(uow, principal, body)
    return await idem.respond(
        WarehouseOut.model_validate(warehouse), 201, {"ETag": etag_for(warehouse.version)}
    )


@router.get(
    "/warehouses",
    operation_id="listWarehouses",
    summary="List warehouses of every branch, newest first",
    response_model=Page[WarehouseOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_warehouses(
    principal: Reader,
    uow: UoW,
    page: Paging,
    kind: WarehouseKind | None = None,
    branch_id: uuid.UUID | None = None,
    contract_id: uuid.UUID | None = None,
    active: bool | None = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Code, name, English name or address contains.",
        ),
    ] = None,
) -> Page[WarehouseOut]:
    result = await service.list_warehouses(
        uow, page, kind=kind, branch_id=branch_id, contract_id=contract_id, active=active, q=q
    )
    return page_of(WarehouseOut, result)


@router.get(
    "/warehouses/{warehouse_id}",
    operation_id="getWarehouse",
    summary="Get a warehouse",
    response_model=WarehouseOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_warehouse(
    warehouse_id: uuid.UUID, principal: Reader, uow: UoW, response: Response
) -> WarehouseOut:
    warehouse = await service.get_warehouse(uow, warehouse_id)
    set_etag(response, warehouse.version)
    return WarehouseOut.model_validate(warehouse)


@router.patch(
    "/warehouses/{warehouse_id}",
    operation_id="updateWarehouse",
    summary="Update or deactivate a warehouse (kind, branch and contract are fixed)",
    response_model=WarehouseOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def update_warehouse(
    warehouse_id: uuid.UUID,
    body: WarehouseUpdate,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> WarehouseOut:
    warehouse = await service.update_warehouse(uow, principal, warehouse_id, body, if_match)
    set_etag(response, warehouse.version)
    return WarehouseOut.model_validate(warehouse)


# -- Warehouse order of a branch


@router.get(
    "/branches/{branch_id}/warehouse-order",
    operation_id="getWarehouseOrder",
    summary="The warehouses a branch looks in for stock, nearest first",
    response_model=WarehouseOrderOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_warehouse_order(
    branch_id: uuid.UUID, principal: Reader, uow: UoW
) -> WarehouseOrderOut:
    return await service.warehouse_order(uow, principal, branch_id)


@router.put(
    "/branches/{branch_id}/warehouse-order",
    operation_id="setWarehouseOrder",
    summary="Replace the order in which a branch looks for stock",
    response_model=WarehouseOrderOut,
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def set_warehouse_order(
    branch_id: uuid.UUID, body: WarehouseOrderIn, principal: Writer, uow: UoW
) -> WarehouseOrderOut:
    return await service.set_warehouse_order(uow, principal, branch_id, body.warehouse_ids)
