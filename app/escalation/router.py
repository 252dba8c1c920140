"""Escalation of a ticket: by hand, and the R&D workflow (approve, accept or reject back,
propose closure, confirm or refuse)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from app.access.deps import Idem, require
from app.core.channels import Channel
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import IfMatch, set_etag
from app.core.pagination import CodePageParams, Page, code_page_params, page_of
from app.core.security import Permission, Principal
from app.escalation import policies, service
from app.escalation.schemas import (
    AcceptBody,
    AdviceBody,
    ClosureAnswer,
    EscalationCreate,
    EscalationOut,
    EscalationPolicyIn,
    EscalationPolicyOut,
    NoteBody,
)

router = APIRouter(prefix="/v1", tags=["escalation"])
Worker = Annotated[Principal, Depends(require(Permission.tickets_work))]
Reader = Annotated[Principal, Depends(require(Permission.tickets_read))]
Writer = Annotated[Principal, Depends(require(Permission.catalogue_write))]
_ERRORS = problem_responses(400, 401, 403, 404, 409, 422)


@router.post(
    "/tickets/{ticket_id}/escalations",
    operation_id="escalateTicket",
    summary="Escalate the ticket to the next support line (or a given one further up)",
    status_code=201,
    response_model=EscalationOut,
    responses=_ERRORS,
)
async def escalate_ticket(  # type: ignore[no-untyped-def]
    ticket_id: uuid.UUID,
    body: EscalationCreate,
    principal: Worker,
    uow: UoW,
    idem: Idem,
    channel: Channel,
):
    e = await service.escalate_by_hand(
        uow, principal, ticket_id, body.reason, body.to_line,
        body.work_order.model_dump(mode="json") if body.work_order else None,
        body.vendor, body.vendor_case_ref, channel,
    )  # fmt: skip
    return await idem.respond(EscalationOut.model_validate(e), 201)


@router.get(
    "/tickets/{ticket_id}/escalations",
    operation_id="listTicketEscalations",
    summary="The ticket's escalations, oldest first",
    response_model=list[EscalationOut],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_escalations(
    ticket_id: uuid.UUID, principal: Reader, uow: UoW
) -> list[EscalationOut]:
    return [
        EscalationOut.model_validate(e) for e in await service.list_for(uow, principal, ticket_id)
    ]


def _path(action: str) -> str:
    return f"/tickets/{{ticket_id}}/escalations/{{escalation_id}}/{action}"


@router.post(_path("approve"), operation_id="approveEscalation",
             summary="Approve an escalation to R&D (a manager of the requesting line)",
             response_model=EscalationOut, responses=_ERRORS)  # fmt: skip
async def approve_escalation(  # type: ignore[no-untyped-def]
    ticket_id: uuid.UUID, escalation_id: uuid.UUID, principal: Worker, uow: UoW, idem: Idem,
    channel: Channel,
):  # fmt: skip
    e = await service.approve(uow, principal, ticket_id, escalation_id, channel)
    return await idem.respond(EscalationOut.model_validate(e), 200)


@router.post(_path("accept"), operation_id="acceptEscalation",
             summary="Accept an escalation to R&D, naming the R&D owner (R&D's manager)",
             response_model=EscalationOut, responses=_ERRORS)  # fmt: skip
async def accept_escalation(  # type: ignore[no-untyped-def]
    ticket_id: uuid.UUID, escalation_id: uuid.UUID, body: AcceptBody, principal: Worker,
    uow: UoW, idem: Idem, channel: Channel,
):  # fmt: skip
    e = await service.accept(uow, principal, ticket_id, escalation_id, body.rd_owner_id, channel)
    return await idem.respond(EscalationOut.model_validate(e), 200)


@router.post(_path("reject"), operation_id="rejectEscalation",
             summary="Reject an escalation back to the requesting line with advice "
             "(R&D's manager)",
             response_model=EscalationOut, responses=_ERRORS)  # fmt: skip
async def reject_escalation(  # type: ignore[no-untyped-def]
    ticket_id: uuid.UUID, escalation_id: uuid.UUID, body: AdviceBody, principal: Worker,
    uow: UoW, idem: Idem, channel: Channel,
):  # fmt: skip
    e = await service.reject(uow, principal, ticket_id, escalation_id, body.advice, channel)
    return await idem.respond(EscalationOut.model_validate(e), 200)


@router.post(_path("propose-closure"), operation_id="proposeEscalationClosure",
             summary="R&D proposes to close the escalation (the fault is fixed)",
             response_model=EscalationOut, responses=_ERRORS)  # fmt: skip
async def propose_closure(  # type: ignore[no-untyped-def]
    ticket_id: uuid.UUID, escalation_id: uuid.UUID, body: NoteBody, principal: Worker,
    uow: UoW, idem: Idem, channel: Channel,
):  # fmt: skip
    e = await service.propose_closure(uow, principal, ticket_id, escalation_id, body.note,
                                      channel)  # fmt: skip
    return await idem.respond(EscalationOut.model_validate(e), 200)


@router.post(_path("answer-closure"), operation_id="answerEscalationClosure",
             summary="The requester confirms the closure (back to his line) or refuses it",
             response_model=EscalationOut, responses=_ERRORS)  # fmt: skip
async def answer_closure(  # type: ignore[no-untyped-def]
    ticket_id: uuid.UUID, escalation_id: uuid.UUID, body: ClosureAnswer, principal: Worker,
    uow: UoW, idem: Idem, channel: Channel,
):  # fmt: skip
    e = await service.answer_closure(uow, principal, ticket_id, escalation_id, body.confirm,
                                     body.note, channel)  # fmt: skip
    return await idem.respond(EscalationOut.model_validate(e), 200)


@router.get(
    "/escalation-policies",
    operation_id="listEscalationPolicies",
    summary="Escalation policies per service level ('*' is the default)",
    response_model=Page[EscalationPolicyOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_policies(
    principal: Reader, uow: UoW, page: Annotated[CodePageParams, Depends(code_page_params)]
) -> Page[EscalationPolicyOut]:
    rows = await policies.list_policies(uow, page)
    return page_of(EscalationPolicyOut, rows)


@router.put(
    "/escalation-policies/{service_level}",
    operation_id="putEscalationPolicy",
    summary="Create or replace the escalation policy of a service level ('*': the default)",
    response_model=EscalationPolicyOut,
    responses={201: {"model": EscalationPolicyOut, "description": "Created"},
               **problem_responses(400, 401, 403, 412, 422)},
)  # fmt: skip
async def put_policy(
    service_level: Annotated[str, Path(max_length=64)],
    body: EscalationPolicyIn,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> EscalationPolicyOut:
    policy, created = await policies.put(uow, service_level, body, if_match)
    response.status_code = 201 if created else 200
    set_etag(response, policy.version)
    return EscalationPolicyOut.model_validate(policy)
