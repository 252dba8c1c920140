"""Major incidents (重大事故): declare, link tickets, status updates, resolve."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.access.deps import Idem, require
from app.core.db import UnitOfWork, UoW
from app.core.errors import problem_responses
from app.core.pagination import Page, PageParams, make_page, page_params
from app.core.security import Permission, Principal
from app.incidents import service
from app.incidents.models import MajorIncident
from app.incidents.schemas import (
    IncidentCreate,
    IncidentOut,
    IncidentResolveBody,
    IncidentResolveOut,
    LinkBody,
    UpdateCreate,
    UpdateOut,
)

router = APIRouter(prefix="/v1", tags=["incidents"])
Manager = Annotated[Principal, Depends(require(Permission.incidents_manage))]
Reader = Annotated[Principal, Depends(require(Permission.tickets_read))]
Paging = Annotated[PageParams, Depends(page_params)]


async def _out(uow: UnitOfWork, i: MajorIncident, principal: Principal) -> IncidentOut:
    out = IncidentOut.model_validate(i)
    out.ticket_ids = await service.linked_ids(uow, i.id, principal.branch_id)
    return out


@router.post("/incidents", operation_id="declareIncident",
             summary="Declare a major incident (notifies the emergency group and management)",
             status_code=201, response_model=IncidentOut,
             responses=problem_responses(400, 401, 403, 409, 422))  # fmt: skip
async def declare_incident(body: IncidentCreate, principal: Manager, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    i = await service.declare_by_hand(uow, principal, body.title, body.description,
                                      body.product_family, body.update_interval_minutes,
                                      body.ticket_ids)  # fmt: skip
    return await idem.respond(await _out(uow, i, principal), 201)


@router.get("/incidents", operation_id="listIncidents", summary="Major incidents, newest first",
            response_model=Page[IncidentOut], responses=problem_responses(400, 401, 403, 422))  # fmt: skip
async def list_incidents(
    principal: Reader,
    uow: UoW,
    paging: Paging,
    state: Annotated[str | None, Query(pattern="^(open|resolved)$")] = None,
) -> Page[IncidentOut]:
    rows = await service.list_incidents(uow, state, paging.after, paging.limit)
    page = make_page(rows, paging.limit)
    return Page[IncidentOut](items=[await _out(uow, i, principal) for i in page.items],
                             next_cursor=page.next_cursor)  # fmt: skip


@router.get("/incidents/{incident_id}", operation_id="getIncident", summary="Get a major incident",
            response_model=IncidentOut, responses=problem_responses(401, 403, 404, 422))  # fmt: skip
async def get_incident(incident_id: uuid.UUID, principal: Reader, uow: UoW) -> IncidentOut:
    return await _out(uow, await service.get(uow, incident_id), principal)


@router.post("/incidents/{incident_id}/tickets", operation_id="linkIncidentTickets",
             summary="Link affected tickets to the incident", response_model=IncidentOut,
             responses=problem_responses(400, 401, 403, 404, 409, 422))  # fmt: skip
async def link_tickets(  # type: ignore[no-untyped-def]
    incident_id: uuid.UUID, body: LinkBody, principal: Manager, uow: UoW, idem: Idem
):
    i = await service.link(uow, principal, incident_id, body.ticket_ids)
    return await idem.respond(await _out(uow, i, principal), 200)


@router.post("/incidents/{incident_id}/updates", operation_id="postIncidentUpdate",
             summary="Post a status update (the next one is due an interval later)",
             status_code=201, response_model=UpdateOut,
             responses=problem_responses(400, 401, 403, 404, 409, 422))  # fmt: skip
async def post_update(  # type: ignore[no-untyped-def]
    incident_id: uuid.UUID, body: UpdateCreate, principal: Manager, uow: UoW, idem: Idem
):
    u = await service.post_update(uow, principal, incident_id, body.body)
    return await idem.respond(UpdateOut.model_validate(u), 201)


@router.get("/incidents/{incident_id}/updates", operation_id="listIncidentUpdates",
            summary="The incident's status updates, oldest first", response_model=list[UpdateOut],
            responses=problem_responses(401, 403, 404, 422))  # fmt: skip
async def list_updates(incident_id: uuid.UUID, principal: Reader, uow: UoW) -> list[UpdateOut]:
    return [UpdateOut.model_validate(u) for u in await service.updates(uow, incident_id)]


@router.post("/incidents/{incident_id}/resolve", operation_id="resolveIncident",
             summary="Resolve the incident, and optionally its linked tickets with one summary",
             response_model=IncidentResolveOut, responses=problem_responses(400, 401, 403, 404, 409, 422))  # fmt: skip
async def resolve_incident(  # type: ignore[no-untyped-def]
    incident_id: uuid.UUID, body: IncidentResolveBody, principal: Manager, uow: UoW, idem: Idem
):
    i, resolved, left = await service.resolve(uow, principal, incident_id, body.summary,
                                              body.resolve_tickets)  # fmt: skip
    out = IncidentResolveOut(incident=await _out(uow, i, principal), resolved_ticket_ids=resolved,
                     left_ticket_ids=left)  # fmt: skip
    return await idem.respond(out, 200)
