from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, Response, UploadFile

from app.access.deps import Idem, IdempotentWrite, idempotent_write, require
from app.core.channels import Channel
from app.core.config import get_settings
from app.core.db import UoW
from app.core.errors import PayloadTooLarge, problem_responses
from app.core.etag import NOT_MODIFIED, IfMatch, etag_for, set_etag
from app.core.logging import ticket_var
from app.core.pagination import Page, PageParams, make_page, page_of, page_params
from app.core.querymodel import query_model
from app.core.security import Permission, Principal
from app.sla.schemas import ClockOut
from app.tickets import service
from app.tickets.schemas import (
    AcknowledgeBody,
    ActionBody,
    AssignBody,
    AttachmentOut,
    AttemptCreate,
    AttemptOut,
    CommentCreate,
    CommentOut,
    ConfirmBody,
    EventOut,
    ReasonBody,
    ResolveBody,
    TicketCreate,
    TicketListQuery,
    TicketOut,
    TicketSummary,
    TicketUpdate,
    VisitCreate,
    VisitOut,
    VisitUpdate,
    WaitBody,
)

router = APIRouter(prefix="/v1", tags=["tickets"])
Reader = Annotated[Principal, Depends(require(Permission.tickets_read))]
Creating = Annotated[
    IdempotentWrite, Depends(idempotent_write(Permission.tickets_create), scope="function")
]
Editor = Annotated[Principal, Depends(require(Permission.tickets_update))]
Worker = Annotated[Principal, Depends(require(Permission.tickets_work))]
Commenter = Annotated[Principal, Depends(require(Permission.tickets_comment))]
Paging = Annotated[PageParams, Depends(page_params)]


async def _ticket_response(uow: UoW, response: Response, ticket: Any) -> TicketOut:
    ticket_var.set(str(ticket.id))
    out = await service.full_out(uow, ticket)
    # The SLA part changes without a new version: a running clock falls due, a timer
    # stamps a breach. The ETag counts the clocks shown breached, so If-None-Match never
    # answers 304 over a breach the client has not seen; If-Match still reads the version.
    breached = sum(1 for clock in out.sla if clock.status == "breached")
    set_etag(response, ticket.version, f"b{breached}" if breached else "")
    return out


@router.post(
    "/tickets",
    operation_id="createTicket",
    summary="Register a ticket from any channel",
    status_code=201,
    response_model=TicketOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def create_ticket(body: TicketCreate, write: Creating) -> Response:
    out = await service.create(write.uow, write.principal, body)
    ticket_var.set(str(out.id))
    return await write.idem.respond(
        out, 201, {"ETag": etag_for(out.version), "Location": f"/v1/tickets/{out.id}"}
    )


@router.get(
    "/tickets",
    operation_id="listTickets",
    summary="List tickets, newest first, with filters and text search",
    response_model=Page[TicketSummary],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_tickets(
    principal: Reader,
    query: Annotated[TicketListQuery, Depends(query_model(TicketListQuery))],
) -> Response:
    # No unit of work: the page is one read statement on the raw pool, and a generator
    # dependency (its exit stack and shielded exit) cost more than the checkout.
    body = await service.list_for_query(principal, query)
    return Response(body, media_type="application/json")


@router.get(
    "/devices/{device_id}/tickets",
    operation_id="listDeviceTickets",
    summary="A device's service history: its tickets, newest first",
    response_model=Page[TicketSummary],
    responses=problem_responses(400, 401, 403, 404),
)
async def list_device_tickets(
    device_id: uuid.UUID, principal: Reader, uow: UoW, paging: Paging
) -> Response:
    body = await service.device_history_page(uow, principal, device_id, paging.after, paging.limit)
    return Response(body, media_type="application/json")


@router.get(
    "/tickets/by-number/{number}",
    operation_id="getTicketByNumber",
    summary="Get a ticket by its number (e.g. T2026-000123)",
    response_model=TicketOut,
    responses=problem_responses(401, 403, 404) | NOT_MODIFIED,
)
async def get_ticket_by_number(
    number: str, principal: Reader, uow: UoW, response: Response
) -> TicketOut:
    return await _ticket_response(
        uow, response, await service.get_by_number(uow, principal, number)
    )


@router.get(
    "/tickets/{ticket_id}",
    operation_id="getTicket",
    summary="Get a ticket",
    response_model=TicketOut,
    responses=problem_responses(401, 403, 404) | NOT_MODIFIED,
)
async def get_ticket(
    ticket_id: uuid.UUID, principal: Reader, uow: UoW, response: Response
) -> TicketOut:
    return await _ticket_response(uow, response, await service.get(uow, principal, ticket_id))


@router.patch(
    "/tickets/{ticket_id}",
    operation_id="updateTicket",
    summary="Change a ticket's fields (priority, category, subject, ...)",
    response_model=TicketOut,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
)
async def update_ticket(
    ticket_id: uuid.UUID,
    body: TicketUpdate,
    principal: Editor,
    uow: UoW,
    response: Response,
    channel: Channel,
    if_match: IfMatch = None,
) -> TicketOut:
    ticket = await service.update(uow, principal, ticket_id, body, if_match, channel)
    return await _ticket_response(uow, response, ticket)


_ACTION_DOCS = {
    "acknowledge": (
        "acknowledgeTicket",
        "Acknowledge a new ticket (first response)",
        AcknowledgeBody,
        Permission.tickets_work,
    ),
    "assign": (
        "assignTicket",
        "Assign the ticket's owner by hand",
        AssignBody,
        Permission.tickets_assign,
    ),
    "start": ("startTicket", "Start work on the ticket", AcknowledgeBody, Permission.tickets_work),
    "wait": (
        "waitTicket",
        "Wait on the customer, parts or the vendor",
        WaitBody,
        Permission.tickets_work,
    ),
    "resume": ("resumeTicket", "Resume work after waiting", ActionBody, Permission.tickets_work),
    "resolve": (
        "resolveTicket",
        "Resolve with a resolution summary",
        ResolveBody,
        Permission.tickets_work,
    ),
    "confirm": (
        "confirmTicket",
        "Record the reporter's confirmation, which closes the ticket",
        ConfirmBody,
        Permission.tickets_confirm,
    ),
    "reopen": (
        "reopenTicket",
        "Reopen a resolved (or recently closed) ticket",
        ReasonBody,
        Permission.tickets_reopen,
    ),
    "cancel": ("cancelTicket", "Cancel an open ticket", ReasonBody, Permission.tickets_cancel),
}


def _action_route(action: str) -> None:
    operation_id, summary, body_model, permission = _ACTION_DOCS[action]
    Actor = Annotated[Principal, Depends(require(permission))]

    async def endpoint(  # type: ignore[no-untyped-def]
        ticket_id: uuid.UUID,
        body: Any,
        principal: Actor,
        uow: UoW,
        idem: Idem,
        channel: Channel,
        if_match: IfMatch = None,
    ):
        ticket = await service.act(
            uow,
            principal,
            ticket_id,
            action,
            body.model_dump(),
            if_match,
            channel,
        )
        ticket_var.set(str(ticket.id))
        out = await service.full_out(uow, ticket)
        return await idem.respond(out, 200, {"ETag": etag_for(ticket.version)})

    endpoint.__name__ = f"{action}_ticket"
    # Annotations are strings under `from __future__ import annotations`; these two name
    # closure locals, so hand FastAPI the objects themselves.
    endpoint.__annotations__["body"] = body_model
    endpoint.__annotations__["principal"] = Actor
    router.add_api_route(
        f"/tickets/{{ticket_id}}/{action}",
        endpoint,
        methods=["POST"],
        operation_id=operation_id,
        summary=summary,
        response_model=TicketOut,
        responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
    )


for _action in _ACTION_DOCS:
    _action_route(_action)


@router.get(
    "/tickets/{ticket_id}/clocks",
    operation_id="listTicketClocks",
    summary="The ticket's SLA clocks with their running and paused segments",
    response_model=list[ClockOut],
    responses=problem_responses(401, 403, 404),
)
async def list_ticket_clocks(ticket_id: uuid.UUID, principal: Reader, uow: UoW) -> list[ClockOut]:
    return await service.clocks(uow, principal, ticket_id)


@router.get(
    "/tickets/{ticket_id}/events",
    operation_id="listTicketEvents",
    summary="The ticket's timeline, oldest first",
    response_model=Page[EventOut],
    responses=problem_responses(400, 401, 403, 404),
)
async def list_ticket_events(
    ticket_id: uuid.UUID, principal: Reader, uow: UoW, paging: Paging
) -> Page[EventOut]:
    rows = await service.list_events(uow, principal, ticket_id, paging.after, paging.limit)
    page = make_page(rows, paging.limit)
    return page_of(EventOut, page)


@router.post(
    "/tickets/{ticket_id}/comments",
    operation_id="addTicketComment",
    summary="Add a public or internal comment",
    status_code=201,
    response_model=CommentOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def add_comment(  # type: ignore[no-untyped-def]
    ticket_id: uuid.UUID,
    body: CommentCreate,
    principal: Commenter,
    uow: UoW,
    idem: Idem,
    channel: Channel,
):
    comment = await service.add_comment(uow, principal, ticket_id, body, channel)
    return await idem.respond(CommentOut.model_validate(comment), 201)


@router.get(
    "/tickets/{ticket_id}/comments",
    operation_id="listTicketComments",
    summary="List comments, oldest first (internal ones only for staff roles)",
    response_model=Page[CommentOut],
    responses=problem_responses(400, 401, 403, 404),
)
async def list_comments(
    ticket_id: uuid.UUID, principal: Reader, uow: UoW, paging: Paging
) -> Page[CommentOut]:
    # Integrations (customer portals, CRM) never see internal notes.
    include_internal = principal.role.value != "integration"
    rows = await service.list_comments(
        uow, principal, ticket_id, paging.after, paging.limit, include_internal
    )
    page = make_page(rows, paging.limit)
    return page_of(CommentOut, page)


@router.post(
    "/tickets/{ticket_id}/attempts",
    operation_id="logTicketAttempt",
    summary="Log a diagnosis or fix attempt with its outcome",
    status_code=201,
    response_model=AttemptOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def log_attempt(  # type: ignore[no-untyped-def]
    ticket_id: uuid.UUID,
    body: AttemptCreate,
    principal: Worker,
    uow: UoW,
    idem: Idem,
    channel: Channel,
):
    attempt = await service.add_attempt(uow, principal, ticket_id, body, channel)
    return await idem.respond(AttemptOut.model_validate(attempt), 201)


@router.get(
    "/tickets/{ticket_id}/attempts",
    operation_id="listTicketAttempts",
    summary="List the ticket's attempts",
    response_model=list[AttemptOut],
    responses=problem_responses(401, 403, 404),
)
async def list_attempts(ticket_id: uuid.UUID, principal: Reader, uow: UoW) -> list[AttemptOut]:
    return [
        AttemptOut.model_validate(a) for a in await service.list_attempts(uow, principal, ticket_id)
    ]


@router.post(
    "/tickets/{ticket_id}/visits",
    operation_id="logTicketVisit",
    summary="Log an on-site visit (arrival, departure)",
    status_code=201,
    response_model=VisitOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def log_visit(  # type: ignore[no-untyped-def]
    ticket_id: uuid.UUID,
    body: VisitCreate,
    principal: Worker,
    uow: UoW,
    idem: Idem,
    channel: Channel,
):
    visit = await service.add_visit(uow, principal, ticket_id, body, channel)
    return await idem.respond(
        VisitOut.model_validate(visit), 201, {"ETag": etag_for(visit.version)}
    )


@router.patch(
    "/tickets/{ticket_id}/visits/{visit_id}",
    operation_id="updateTicketVisit",
    summary="Record the departure (or notes) of a visit",
    response_model=VisitOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def update_visit(
    ticket_id: uuid.UUID,
    visit_id: uuid.UUID,
    body: VisitUpdate,
    principal: Worker,
    uow: UoW,
    response: Response,
    channel: Channel,
    if_match: IfMatch = None,
) -> VisitOut:
    visit = await service.update_visit(uow, principal, ticket_id, visit_id, body, if_match, channel)
    set_etag(response, visit.version)
    return VisitOut.model_validate(visit)


@router.get(
    "/tickets/{ticket_id}/visits",
    operation_id="listTicketVisits",
    summary="List the ticket's on-site visits",
    response_model=list[VisitOut],
    responses=problem_responses(401, 403, 404),
)
async def list_visits(ticket_id: uuid.UUID, principal: Reader, uow: UoW) -> list[VisitOut]:
    return [
        VisitOut.model_validate(v) for v in await service.list_visits(uow, principal, ticket_id)
    ]


@router.post(
    "/tickets/{ticket_id}/attachments",
    operation_id="addTicketAttachment",
    summary="Attach a file (logs, screenshots); multipart field `file`",
    status_code=201,
    response_model=AttachmentOut,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
)
async def add_attachment(  # type: ignore[no-untyped-def]
    request: Request,
    ticket_id: uuid.UUID,
    principal: Commenter,
    uow: UoW,
    idem: Idem,
    channel: Channel,
    file: Annotated[UploadFile, File(description="The file; size and type are limited.")],
):
    limit = get_settings().attachment_max_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(f"Attachments are limited to {limit} bytes.", limit=limit)
    attachment = await service.add_attachment(
        uow, principal, ticket_id, file.filename, file.content_type, content, channel
    )
    return await idem.respond(AttachmentOut.model_validate(attachment), 201)


@router.get(
    "/tickets/{ticket_id}/attachments",
    operation_id="listTicketAttachments",
    summary="List attachment metadata",
    response_model=list[AttachmentOut],
    responses=problem_responses(401, 403, 404),
)
async def list_attachments(
    ticket_id: uuid.UUID, principal: Reader, uow: UoW
) -> list[AttachmentOut]:
    return [
        AttachmentOut.model_validate(a)
        for a in await service.list_attachments(uow, principal, ticket_id)
    ]


@router.get(
    "/tickets/{ticket_id}/attachments/{attachment_id}/content",
    operation_id="downloadTicketAttachment",
    summary="Download an attachment's bytes",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file."},
        **problem_responses(401, 403, 404),
    },
)
async def download_attachment(
    ticket_id: uuid.UUID, attachment_id: uuid.UUID, principal: Reader, uow: UoW
) -> Response:
    attachment, data = await service.get_attachment_content(
        uow, principal, ticket_id, attachment_id
    )
    return Response(
        data,
        media_type=attachment.content_type,
        headers={
            # Never rendered inline: an uploaded HTML file must not run in our origin.
            "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(attachment.filename)}",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
