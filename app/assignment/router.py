"""Assignment on a ticket: automatic assignment, the secondary owner, handoffs to him,
and "not now" by the primary owner. (Assigning by hand is the ticket's `assign` action.)"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from app.access.deps import Idem, require
from app.assignment import service
from app.assignment.schemas import (
    DeferBody,
    HandoffCreate,
    HandoffOut,
    HandoffReport,
    SecondaryOwnerBody,
)
from app.core.channels import Channel
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import IfMatch, etag_for
from app.core.logging import ticket_var
from app.core.security import Permission, Principal
from app.tickets import interface as tickets
from app.tickets.interface import TicketOut

router = APIRouter(prefix="/v1", tags=["assignment"])
Dispatcher = Annotated[Principal, Depends(require(Permission.tickets_assign))]
Worker = Annotated[Principal, Depends(require(Permission.tickets_work))]
Reader = Annotated[Principal, Depends(require(Permission.tickets_read))]


@router.post(
    "/tickets/{ticket_id}/auto-assign",
    operation_id="autoAssignTicket",
    summary="Assign the ticket to the engineer on duty the rules choose",
    response_model=TicketOut,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
)
async def auto_assign_ticket(  # type: ignore[no-untyped-def]
    ticket_id: uuid.UUID,
    principal: Dispatcher,
    uow: UoW,
    idem: Idem,
    channel: Channel,
    if_match: IfMatch = None,
):
    ticket = await service.auto_assign(uow, principal, ticket_id, if_match, channel)
    ticket_var.set(str(ticket.id))
    out = await tickets.full_out(uow, ticket)
    return await idem.respond(out, 200, {"ETag": etag_for(ticket.version)})


@router.put(
    "/tickets/{ticket_id}/secondary-owner",
    operation_id="setTicketSecondaryOwner",
    summary="Set or remove the ticket's secondary owner (第二责任人)",
    response_model=TicketOut,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
)
async def set_secondary_owner(
    ticket_id: uuid.UUID,
    body: SecondaryOwnerBody,
    principal: Dispatcher,
    uow: UoW,
    channel: Channel,
    if_match: IfMatch = None,
) -> TicketOut:
    ticket = await service.set_secondary(
        uow, principal, ticket_id, body.secondary_owner_id, if_match, channel
    )
    return await tickets.full_out(uow, ticket)


@router.post(
    "/tickets/{ticket_id}/handoffs",
    operation_id="startTicketHandoff",
    summary="Hand part of the work to the secondary owner, to report back by a time",
    status_code=201,
    response_model=HandoffOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def start_handoff(  # type: ignore[no-untyped-def]
    ticket_id: uuid.UUID,
    body: HandoffCreate,
    principal: Worker,
    uow: UoW,
    idem: Idem,
    channel: Channel,
):
    handoff = await service.start_handoff(
        uow, principal, ticket_id, body.what, body.until, body.to_id, channel
    )
    return await idem.respond(HandoffOut.model_validate(handoff), 201)


@router.get(
    "/tickets/{ticket_id}/handoffs",
    operation_id="listTicketHandoffs",
    summary="The ticket's handoffs, oldest first",
    response_model=list[HandoffOut],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_handoffs(ticket_id: uuid.UUID, principal: Reader, uow: UoW) -> list[HandoffOut]:
    return [
        HandoffOut.model_validate(h) for h in await service.list_handoffs(uow, principal, ticket_id)
    ]


@router.post(
    "/tickets/{ticket_id}/handoffs/{handoff_id}/report",
    operation_id="reportTicketHandoff",
    summary="Report a handoff back: the lead returns to the primary owner",
    response_model=HandoffOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def report_handoff(  # type: ignore[no-untyped-def]
    ticket_id: uuid.UUID,
    handoff_id: uuid.UUID,
    body: HandoffReport,
    principal: Worker,
    uow: UoW,
    idem: Idem,
    channel: Channel,
):
    handoff = await service.report_handoff(
        uow, principal, ticket_id, handoff_id, body.report, channel
    )
    return await idem.respond(HandoffOut.model_validate(handoff), 200)


@router.post(
    "/tickets/{ticket_id}/defer",
    operation_id="deferTicket",
    summary="Not now, until a time: the primary owner defers; an SLA that cannot wait "
    "sends the ticket to the secondary owner or the team manager",
    response_model=TicketOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def defer_ticket(  # type: ignore[no-untyped-def]
    ticket_id: uuid.UUID,
    body: DeferBody,
    principal: Worker,
    uow: UoW,
    idem: Idem,
    channel: Channel,
):
    ticket = await service.defer(uow, principal, ticket_id, body.until, body.reason, channel)
    out = await tickets.full_out(uow, ticket)
    return await idem.respond(out, 200, {"ETag": etag_for(ticket.version)})
