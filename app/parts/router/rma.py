"""Spare parts over HTTP: RMAs (返修) and the warranty decision of a device."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.access.deps import Idem, require
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import NOT_MODIFIED, etag_for, set_etag
from app.core.pagination import Page, PageParams, page_params
from app.core.security import Permission, Principal
from app.parts.models import Rma
from app.parts.schemas.rma import (
    RmaCreate,
    RmaNoteBody,
    RmaOut,
    RmaReceiveBody,
    RmaRejectedBody,
    RmaReplacedBody,
    RmaSendBody,
    RmaState,
)
from app.parts.schemas.warranty import WarrantyOut
from app.parts.service import rma as service
from app.parts.service import warranty

router = APIRouter(prefix="/v1", tags=["parts"])
Reader = Annotated[Principal, Depends(require(Permission.records_read))]
Manager = Annotated[Principal, Depends(require(Permission.rma_manage))]
Paging = Annotated[PageParams, Depends(page_params)]
_STEP = problem_responses(400, 401, 403, 404, 409, 422)


@router.get(
    "/devices/{device_id}/warranty",
    operation_id="getDeviceWarranty",
    summary="Whether a device is in warranty and under contract on a date",
    response_model=WarrantyOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_device_warranty(
    device_id: uuid.UUID,
    principal: Reader,
    uow: UoW,
    on: Annotated[
        date | None, Query(description="The date decided on (default: today in Asia/Shanghai).")
    ] = None,
) -> WarrantyOut:
    return WarrantyOut.model_validate(await warranty.device_warranty(uow, principal, device_id, on))


async def _answer(idem: Idem, rma: Rma, status: int = 200) -> Response:
    return await idem.respond(service.to_out(rma), status, {"ETag": etag_for(rma.version)})


@router.post(
    "/rmas",
    operation_id="createRma",
    summary="Authorise the return of a device or a part for repair (RMA)",
    status_code=201,
    response_model=RmaOut,
    responses=_STEP,
)
async def create_rma(body: RmaCreate, principal: Manager, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    return await _answer(idem, await service.create(uow, principal, body), 201)


@router.get(
    "/rmas",
    operation_id="listRmas",
    summary="RMAs visible to the key, newest first",
    response_model=Page[RmaOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_rmas(
    principal: Reader,
    uow: UoW,
    page: Paging,
    state: RmaState | None = None,
    open_: Annotated[
        bool | None,
        Query(alias="open", description="true: not closed, expired or cancelled; false: ended."),
    ] = None,
    ticket_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    older_than_days: Annotated[
        int | None, Query(ge=0, le=3650, description="Created at least this many days ago.")
    ] = None,
) -> Page[RmaOut]:
    rows = await service.list_rmas(
        uow, principal, page, state=state, open_only=open_, ticket_id=ticket_id,
        customer_id=customer_id, older_than_days=older_than_days,
    )  # fmt: skip
    return Page[RmaOut](items=[service.to_out(r) for r in rows.items],
                        next_cursor=rows.next_cursor)  # fmt: skip


@router.get(
    "/rmas/{rma_id}",
    operation_id="getRma",
    summary="Get an RMA with its history",
    response_model=RmaOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_rma(rma_id: uuid.UUID, principal: Reader, uow: UoW, response: Response) -> RmaOut:
    rma = await service.get(uow, principal, rma_id)
    set_etag(response, rma.version)
    return service.to_out(rma)


@router.post("/rmas/{rma_id}/receive", operation_id="receiveRma",
             summary="The device or part arrived (a part: into the warehouse's defective stock)",
             response_model=RmaOut, responses=_STEP)  # fmt: skip
async def receive_rma(  # type: ignore[no-untyped-def]
    rma_id: uuid.UUID, body: RmaReceiveBody, principal: Manager, uow: UoW, idem: Idem
):
    return await _answer(idem, await service.receive(uow, principal, rma_id, body))


@router.post("/rmas/{rma_id}/send-to-vendor", operation_id="sendRmaToVendor",
             summary="Sent to the vendor for repair (a part leaves defective stock)",
             response_model=RmaOut, responses=_STEP)  # fmt: skip
async def send_rma_to_vendor(  # type: ignore[no-untyped-def]
    rma_id: uuid.UUID, body: RmaSendBody, principal: Manager, uow: UoW, idem: Idem
):
    return await _answer(idem, await service.send_to_vendor(uow, principal, rma_id, body))


@router.post("/rmas/{rma_id}/repaired", operation_id="markRmaRepaired",
             summary="Back from the vendor repaired (a part: into good stock)",
             response_model=RmaOut, responses=_STEP)  # fmt: skip
async def mark_rma_repaired(  # type: ignore[no-untyped-def]
    rma_id: uuid.UUID, body: RmaNoteBody, principal: Manager, uow: UoW, idem: Idem
):
    return await _answer(idem, await service.repaired(uow, principal, rma_id, body))


@router.post("/rmas/{rma_id}/replaced", operation_id="markRmaReplaced",
             summary="The vendor sent a new unit instead (the old serial stays with them)",
             response_model=RmaOut, responses=_STEP)  # fmt: skip
async def mark_rma_replaced(  # type: ignore[no-untyped-def]
    rma_id: uuid.UUID, body: RmaReplacedBody, principal: Manager, uow: UoW, idem: Idem
):
    return await _answer(idem, await service.replaced(uow, principal, rma_id, body))


@router.post("/rmas/{rma_id}/rejected", operation_id="markRmaRejected",
             summary="The vendor refused the repair: back as it went (defective)",
             response_model=RmaOut, responses=_STEP)  # fmt: skip
async def mark_rma_rejected(  # type: ignore[no-untyped-def]
    rma_id: uuid.UUID, body: RmaRejectedBody, principal: Manager, uow: UoW, idem: Idem
):
    return await _answer(idem, await service.rejected(uow, principal, rma_id, body))


@router.post("/rmas/{rma_id}/ship-back", operation_id="shipRmaBack",
             summary="Shipped back to the customer (a part leaves stock for the customer)",
             response_model=RmaOut, responses=_STEP)  # fmt: skip
async def ship_rma_back(  # type: ignore[no-untyped-def]
    rma_id: uuid.UUID, body: RmaNoteBody, principal: Manager, uow: UoW, idem: Idem
):
    return await _answer(idem, await service.ship_back(uow, principal, rma_id, body))


@router.post("/rmas/{rma_id}/close", operation_id="closeRma", summary="Close the RMA",
             response_model=RmaOut, responses=_STEP)  # fmt: skip
async def close_rma(  # type: ignore[no-untyped-def]
    rma_id: uuid.UUID, body: RmaNoteBody, principal: Manager, uow: UoW, idem: Idem
):
    return await _answer(idem, await service.close(uow, principal, rma_id, body))


@router.post("/rmas/{rma_id}/cancel", operation_id="cancelRma",
             summary="Cancel an RMA before anything arrived", response_model=RmaOut,
             responses=_STEP)  # fmt: skip
async def cancel_rma(  # type: ignore[no-untyped-def]
    rma_id: uuid.UUID, body: RmaNoteBody, principal: Manager, uow: UoW, idem: Idem
):
    return await _answer(idem, await service.cancel(uow, principal, rma_id, body))
