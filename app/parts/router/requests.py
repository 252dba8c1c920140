"""Part requests (备件申请) over HTTP: on a ticket, and their steps."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from app.access.deps import Idem, require
from app.core.channels import Channel
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.pagination import Page, PageParams, make_page, page_params
from app.core.security import Permission, Principal
from app.parts.schemas.requests import (
    DefectiveReturnIn,
    FitIn,
    PartRequestCreate,
    PartRequestList,
    PartRequestOut,
    StepIn,
)
from app.parts.service import requests as service

router = APIRouter(prefix="/v1", tags=["parts"])
Reader = Annotated[Principal, Depends(require(Permission.tickets_read))]
Requester = Annotated[Principal, Depends(require(Permission.parts_request))]
Approver = Annotated[Principal, Depends(require(Permission.parts_approve))]
Storekeeper = Annotated[Principal, Depends(require(Permission.stock_write))]
Paging = Annotated[PageParams, Depends(page_params)]
_ERRORS = problem_responses(400, 401, 403, 404, 409, 422)


async def _one(uow: UoW, req: object) -> PartRequestOut:
    return (await service.outs(uow, [req]))[0]  # type: ignore[list-item]


@router.post("/tickets/{ticket_id}/part-requests", operation_id="createPartRequests",
             status_code=201, response_model=PartRequestList, responses=_ERRORS,
             summary="Ask for parts on a ticket: each line reserved in the nearest warehouse "
             "with stock (or the one named), due on site by the part-on-site SLA")  # fmt: skip
async def create_part_requests(  # type: ignore[no-untyped-def]
    ticket_id: uuid.UUID, body: PartRequestCreate, principal: Requester, uow: UoW, idem: Idem,
    channel: Channel,
):  # fmt: skip
    items = await service.create_out(uow, principal, ticket_id, body, channel)
    return await idem.respond(PartRequestList(items=items), 201)


@router.get("/tickets/{ticket_id}/part-requests", operation_id="listTicketPartRequests",
            summary="A ticket's part requests", response_model=PartRequestList,
            responses=problem_responses(401, 403, 404, 422))  # fmt: skip
async def list_ticket_part_requests(
    ticket_id: uuid.UUID, principal: Reader, uow: UoW
) -> PartRequestList:
    rows = await service.of_ticket(uow, principal, ticket_id)
    return PartRequestList(items=await service.outs(uow, rows))


@router.get("/part-requests", operation_id="listPartRequests",
            summary="Part requests visible to the key, newest first",
            response_model=Page[PartRequestOut],
            responses=problem_responses(400, 401, 403, 422))  # fmt: skip
async def list_part_requests(
    principal: Reader, uow: UoW, page: Paging,
    state: Literal["awaiting_approval", "approved", "rejected", "dispatched", "delivered",
                   "fitted", "closed", "cancelled"] | None = None,
    open: Annotated[bool | None, Query(description="Not yet fitted or ended.")] = None,
    part_id: uuid.UUID | None = None,
    warehouse_id: uuid.UUID | None = None,
) -> Page[PartRequestOut]:  # fmt: skip
    rows = await service.list_requests(uow, principal, page.limit, page.after, state=state,
                                       open_only=open, part_id=part_id,
                                       warehouse_id=warehouse_id)  # fmt: skip
    result = make_page(rows, page.limit)
    return Page[PartRequestOut](items=await service.outs(uow, result.items),
                                next_cursor=result.next_cursor)  # fmt: skip


@router.get("/part-requests/{request_id}", operation_id="getPartRequest",
            summary="Get a part request", response_model=PartRequestOut,
            responses=problem_responses(401, 403, 404, 422))  # fmt: skip
async def get_part_request(request_id: uuid.UUID, principal: Reader, uow: UoW) -> PartRequestOut:
    return await _one(uow, await service.get(uow, principal, request_id))


async def _step(uow: UoW, principal: Principal, request_id: uuid.UUID, action: str,
                body: StepIn, channel: str) -> PartRequestOut:  # fmt: skip
    note = body.note
    return await _one(uow, await service.step(uow, principal, request_id, action, note, channel))


@router.post("/part-requests/{request_id}/approve", operation_id="approvePartRequest",
             summary="Approve a request that needs a manager (uncontracted, not covered, or "
             "above the value threshold)", response_model=PartRequestOut,
             responses=_ERRORS)  # fmt: skip
async def approve(request_id: uuid.UUID, principal: Approver, uow: UoW, channel: Channel,
                  body: StepIn) -> PartRequestOut:  # fmt: skip
    return await _step(uow, principal, request_id, "approve", body, channel)


@router.post("/part-requests/{request_id}/reject", operation_id="rejectPartRequest",
             summary="Reject a request awaiting approval (its reservation is released)",
             response_model=PartRequestOut, responses=_ERRORS)  # fmt: skip
async def reject(request_id: uuid.UUID, principal: Approver, uow: UoW, channel: Channel,
                 body: StepIn) -> PartRequestOut:  # fmt: skip
    return await _step(uow, principal, request_id, "reject", body, channel)


@router.post("/part-requests/{request_id}/dispatch", operation_id="dispatchPartRequest",
             summary="The part leaves the warehouse for the site or the engineer",
             response_model=PartRequestOut, responses=_ERRORS)  # fmt: skip
async def dispatch(request_id: uuid.UUID, principal: Storekeeper, uow: UoW, channel: Channel,
                   body: StepIn) -> PartRequestOut:  # fmt: skip
    return await _step(uow, principal, request_id, "dispatch", body, channel)


@router.post("/part-requests/{request_id}/deliver", operation_id="deliverPartRequest",
             summary="The part is on site (meets the part-on-site SLA)",
             response_model=PartRequestOut, responses=_ERRORS)  # fmt: skip
async def deliver(request_id: uuid.UUID, principal: Requester, uow: UoW, channel: Channel,
                  body: StepIn) -> PartRequestOut:  # fmt: skip
    return await _step(uow, principal, request_id, "deliver", body, channel)


@router.post("/part-requests/{request_id}/cancel", operation_id="cancelPartRequest",
             summary="Cancel a request not yet fitted (its reservation is released)",
             response_model=PartRequestOut, responses=_ERRORS)  # fmt: skip
async def cancel(request_id: uuid.UUID, principal: Requester, uow: UoW, channel: Channel,
                 body: StepIn) -> PartRequestOut:  # fmt: skip
    return await _step(uow, principal, request_id, "cancel", body, channel)


@router.post("/part-requests/{request_id}/fit", operation_id="fitPartRequest",
             summary="The part is fitted: issued from stock to the customer's device",
             response_model=PartRequestOut, responses=_ERRORS)  # fmt: skip
async def fit(request_id: uuid.UUID, principal: Requester, uow: UoW, channel: Channel,
              body: FitIn) -> PartRequestOut:  # fmt: skip
    req = await service.fit(uow, principal, request_id, body, channel)
    return await _one(uow, req)


@router.post("/part-requests/{request_id}/defective-return",
             operation_id="returnDefectivePart",
             summary="The defective part taken off is back in a warehouse (旧件返还)",
             response_model=PartRequestOut, responses=_ERRORS)  # fmt: skip
async def defective_return(request_id: uuid.UUID, body: DefectiveReturnIn, principal: Requester,
                           uow: UoW, channel: Channel) -> PartRequestOut:  # fmt: skip
    return await _one(uow, await service.defective_return(uow, principal, request_id, body,
                                                          channel))  # fmt: skip


@router.post("/part-requests/{request_id}/close", operation_id="closePartRequest",
             summary="Close a fitted request whose defective part does not come back",
             response_model=PartRequestOut, responses=_ERRORS)  # fmt: skip
async def close(request_id: uuid.UUID, body: StepIn, principal: Requester, uow: UoW,
                channel: Channel) -> PartRequestOut:  # fmt: skip
    return await _one(uow, await service.close(uow, principal, request_id, body.note, channel))
