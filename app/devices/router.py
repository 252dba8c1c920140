"""The installed base over HTTP (客户设备档案). A device's service history is served by
the tickets domain."""

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
from app.devices import service
from app.devices.schemas import DeviceCreate, DeviceOut, DeviceUpdate

router = APIRouter(prefix="/v1", tags=["devices"])
Reader = Annotated[Principal, Depends(require(Permission.records_read))]
Writer = Annotated[Principal, Depends(require(Permission.customers_write))]
Paging = Annotated[PageParams, Depends(page_params)]


@router.post(
    "/devices",
    operation_id="createDevice",
    summary="Register an installed device for a customer",
    status_code=201,
    response_model=DeviceOut,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_device(body: DeviceCreate, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    device = await service.create_device(uow, principal, body)
    return await idem.respond(
        DeviceOut.model_validate(device), 201, {"ETag": etag_for(device.version)}
    )


@router.get(
    "/devices",
    operation_id="listDevices",
    summary="List devices visible to the key, newest first",
    response_model=Page[DeviceOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_devices(
    principal: Reader,
    uow: UoW,
    page: Paging,
    customer_id: uuid.UUID | None = None,
    product_family: Annotated[str | None, Query(max_length=64)] = None,
    serial: Annotated[str | None, Query(max_length=100, description="Exact serial.")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Serial, model, site or software version contains.",
        ),
    ] = None,
    active: Annotated[bool | None, Query()] = None,
) -> Page[DeviceOut]:
    result = await service.list_devices(
        uow,
        principal,
        page,
        customer_id=customer_id,
        product_family=product_family,
        serial=serial,
        q=q,
        active=active,
    )
    return page_of(DeviceOut, result)


@router.get(
    "/devices/{device_id}",
    operation_id="getDevice",
    summary="Get a device",
    response_model=DeviceOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_device(
    device_id: uuid.UUID, principal: Reader, uow: UoW, response: Response
) -> DeviceOut:
    device = await service.get_device(uow, principal, device_id)
    set_etag(response, device.version)
    return DeviceOut.model_validate(device)


@router.patch(
    "/devices/{device_id}",
    operation_id="updateDevice",
    summary="Update or deactivate a device (active=false; never deleted)",
    response_model=DeviceOut,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
)
async def update_device(
    device_id: uuid.UUID,
    body: DeviceUpdate,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> DeviceOut:
    device = await service.update_device(uow, principal, device_id, body, if_match)
    set_etag(response, device.version)
    return DeviceOut.model_validate(device)
