"""Spare parts over HTTP: the loaner pool and loans (备机): lend against a ticket,
return, sell, write off, extend; who holds which loaner, since when, due back when."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Response

from app.access.deps import Idem, require
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import NOT_MODIFIED, etag_for, set_etag
from app.core.pagination import Page, PageParams, page_params
from app.core.security import Permission, Principal
from app.parts.schemas.loans import (
    LoanCreate,
    LoanerPoolIn,
    LoanerPoolOut,
    LoanOut,
    LoanReturnIn,
    LoanSellIn,
    LoanUpdate,
    LoanWriteOffIn,
)
from app.parts.service import loans as service

router = APIRouter(prefix="/v1", tags=["parts"])
Reader = Annotated[Principal, Depends(require(Permission.records_read))]
Manager = Annotated[Principal, Depends(require(Permission.loans_manage))]
Paging = Annotated[PageParams, Depends(page_params)]
IfMatch = Annotated[
    str | None, Header(description="ETag from a previous read; 412 when the loan changed.")
]
_WRITE = problem_responses(400, 401, 403, 404, 409, 422)
# A pool change or a lend names its serial and ticket in the body (422 when unknown).
_BODY_WRITE = problem_responses(400, 401, 403, 409, 422)


def _etag(out: LoanOut) -> dict[str, str]:
    return {"ETag": etag_for(out.version)}


@router.post("/loaner-pool", operation_id="setLoanerPool",
             summary="Put a good serial into its warehouse's loaner pool, or take it out",
             response_model=LoanerPoolOut, responses=_BODY_WRITE)  # fmt: skip
async def set_loaner_pool(body: LoanerPoolIn, principal: Manager, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    return await idem.respond(await service.set_pool(uow, principal, body), 200)


@router.post(
    "/loans",
    operation_id="lendLoaner",
    summary="Lend a loaner unit to the ticket's customer (the same lend again answers it, 200)",
    status_code=201,
    response_model=LoanOut,
    responses=_BODY_WRITE
    | {200: {"model": LoanOut, "description": "This lend was made already: the open loan."}},
)
async def lend_loaner(body: LoanCreate, principal: Manager, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    out, created = await service.lend(uow, principal, body)
    return await idem.respond(out, 201 if created else 200, _etag(out))


@router.get(
    "/loans",
    operation_id="listLoans",
    summary="Loans, newest first: who holds which loaner, since when, due back when",
    response_model=Page[LoanOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_loans(
    principal: Reader,
    uow: UoW,
    page: Paging,
    state: Annotated[
        Literal["out", "returned", "sold", "written_off"] | None,
        Query(description="Any state when absent."),
    ] = None,
    customer_id: uuid.UUID | None = None,
    ticket_id: uuid.UUID | None = None,
    overdue: Annotated[
        bool | None, Query(description="true: out after the due-back date; false: the others.")
    ] = None,
) -> Page[LoanOut]:
    return await service.list_loans(uow, principal, page, state=state, customer_id=customer_id,
                                    ticket_id=ticket_id, overdue=overdue)  # fmt: skip


@router.get(
    "/loans/{loan_id}",
    operation_id="getLoan",
    summary="Get a loan",
    response_model=LoanOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_loan(loan_id: uuid.UUID, principal: Reader, uow: UoW, response: Response) -> LoanOut:
    out = await service.loan_out(uow, principal, loan_id)
    set_etag(response, out.version)
    return out


@router.patch("/loans/{loan_id}", operation_id="extendLoan",
              summary="Extend a loan (a later due-back date)", response_model=LoanOut,
              responses=problem_responses(400, 401, 403, 404, 409, 412, 422))  # fmt: skip
async def extend_loan(
    loan_id: uuid.UUID,
    body: LoanUpdate,
    principal: Manager,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> LoanOut:
    out = await service.extend(uow, principal, loan_id, body, if_match)
    set_etag(response, out.version)
    return out


@router.post("/loans/{loan_id}/return", operation_id="returnLoaner",
             summary="The loaner comes back, into a warehouse's pool or its defective stock",
             response_model=LoanOut, responses=_WRITE)  # fmt: skip
async def return_loaner(  # type: ignore[no-untyped-def]
    loan_id: uuid.UUID, body: LoanReturnIn, principal: Manager, uow: UoW, idem: Idem
):
    out = await service.return_loan(uow, principal, loan_id, body)
    return await idem.respond(out, 200, _etag(out))


@router.post("/loans/{loan_id}/sell", operation_id="sellLoaner",
             summary="The customer keeps the loaner, bought (no stock moves)",
             response_model=LoanOut, responses=_WRITE)  # fmt: skip
async def sell_loaner(  # type: ignore[no-untyped-def]
    loan_id: uuid.UUID, body: LoanSellIn, principal: Manager, uow: UoW, idem: Idem
):
    out = await service.sell(uow, principal, loan_id, body)
    return await idem.respond(out, 200, _etag(out))


@router.post("/loans/{loan_id}/write-off", operation_id="writeOffLoaner",
             summary="Write the lent unit off (lost): the serial is scrapped",
             response_model=LoanOut, responses=_WRITE)  # fmt: skip
async def write_off_loaner(  # type: ignore[no-untyped-def]
    loan_id: uuid.UUID, body: LoanWriteOffIn, principal: Manager, uow: UoW, idem: Idem
):
    out = await service.write_off(uow, principal, loan_id, body)
    return await idem.respond(out, 200, _etag(out))
