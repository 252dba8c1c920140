"""Mail in over HTTP: a mail gateway posts the raw RFC 5322 message (idempotent by its
`Message-ID`), and admins list what was received."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from app.access.deps import require
from app.core.bodies import read_limited
from app.core.config import get_settings
from app.core.db import UoW
from app.core.errors import Problem, UnsupportedMediaType, problem_responses
from app.core.pagination import Page, PageParams, page_params
from app.core.security import Permission, Principal
from app.mail.schemas.inbound import InboundOut, InboundReceived, Outcome, Source
from app.mail.service import inbound as service

router = APIRouter(prefix="/v1/mail", tags=["mail"])
Ingester = Annotated[Principal, Depends(require(Permission.mail_ingest))]
Manager = Annotated[Principal, Depends(require(Permission.mail_manage))]
Paging = Annotated[PageParams, Depends(page_params)]
RAW_TYPES = ("message/rfc822", "text/plain")
_RAW = {"schema": {"type": "string", "format": "binary"}}
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The raw message (RFC 5322), as the gateway received it.",
        "content": {t: _RAW for t in RAW_TYPES},
    }
}
_DEFERRED: dict[int | str, dict[str, Any]] = {
    503: {
        "model": Problem,
        "description": "The message cannot be taken now (mail-in settings, a busy "
        "database): nothing was stored; send it again after `Retry-After`.",
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }
}


async def _raw_body(request: Request) -> bytes:
    """The body, refused (415) unless raw mail, and (413) once it passes the limit:
    counted as it arrives, so an oversized message is never held whole."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in RAW_TYPES:
        raise UnsupportedMediaType(
            "Post the raw message as `message/rfc822` (or `text/plain`).", allowed=list(RAW_TYPES)
        )
    return await read_limited(request, get_settings().mail_in_max_bytes, "Messages")


@router.post(
    "/inbound",
    operation_id="receiveMail",
    summary="Take one inbound e-mail (raw RFC 5322): a reply, a new ticket, a bounce",
    description="The same `Message-ID` again is not taken twice: it answers 200 with what "
    "became of it the first time. A refused message (an unknown sender without a default "
    "customer, mail from our own domain) is recorded, and answered 422 or 409.",
    status_code=202,
    response_model=InboundReceived,
    responses=problem_responses(401, 403, 409, 413, 415, 422)
    | _DEFERRED
    | {
        200: {"model": InboundReceived, "description": "Received before: what became of it."},
        202: {"description": "Taken: what became of it (a comment, a ticket, a bounce ...)."},
    },
    openapi_extra=_BODY,
)
async def receive_mail(
    request: Request, principal: Ingester, uow: UoW, response: Response
) -> InboundReceived:
    raw = await _raw_body(request)
    received = await service.receive(uow, raw, "http", caller=principal)
    refused = received.refused()
    if refused is not None:
        # A refusal is recorded, so that the same message again is answered the same:
        # committed here, before the problem is raised (which would roll it back).
        await uow.commit()
        raise refused
    response.status_code = 200 if received.duplicate else 202
    return InboundReceived.model_validate(
        {
            **received.message.model_dump(),
            "duplicate": received.duplicate,
            "ticket_number": received.ticket_number,
        }
    )


@router.get(
    "/inbound",
    operation_id="listInboundMail",
    summary="Received e-mail, newest first, and what became of each message",
    response_model=Page[InboundOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_inbound_mail(
    principal: Manager,
    uow: UoW,
    page: Paging,
    outcome: Annotated[Outcome | None, Query(description="Any outcome when absent.")] = None,
    source: Annotated[Source | None, Query(description="lmtp or http; both when absent.")] = None,
    ticket_id: uuid.UUID | None = None,
) -> Page[InboundOut]:
    return await service.list_inbound(
        uow, principal, page, outcome=outcome, source=source, ticket_id=ticket_id
    )
