"""Callback policies over HTTP: the default (every customer without one of its own) and
a customer's own; reading is open to every key, changing them is management's."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from app.access.deps import require
from app.callbacks.schemas.policies import CallbackPolicyIn, CallbackPolicyOut
from app.callbacks.service import policies as service
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import NOT_MODIFIED, set_etag
from app.core.security import Permission, Principal

router = APIRouter(prefix="/v1", tags=["callbacks"])
Reader = Annotated[Principal, Depends(require(Permission.records_read))]
Manager = Annotated[Principal, Depends(require(Permission.callbacks_manage))]
IfMatch = Annotated[
    str | None, Header(description="ETag from a previous read; 412 when the policy changed.")
]


def _etag(response: Response, out: CallbackPolicyOut) -> None:
    # An inherited answer is version 0 of the customer's own; the default's version
    # in the tag keeps a cached copy from looking current after the default changed.
    if out.inherited:
        set_etag(response, service.INHERITED_VERSION, f"default{out.version}")
    else:
        set_etag(response, out.version)


@router.get(
    "/callback-policy",
    operation_id="getDefaultCallbackPolicy",
    summary="The default callback policy (customers without one of their own)",
    response_model=CallbackPolicyOut,
    responses=problem_responses(401, 403, 404) | NOT_MODIFIED,
)
async def get_default_policy(principal: Reader, uow: UoW, response: Response) -> CallbackPolicyOut:
    out = await service.get_default(uow)
    _etag(response, out)
    return out


@router.put(
    "/callback-policy",
    operation_id="putDefaultCallbackPolicy",
    summary="Replace the default callback policy (keys of every branch only)",
    response_model=CallbackPolicyOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def put_default_policy(
    body: CallbackPolicyIn, principal: Manager, uow: UoW, response: Response,
    if_match: IfMatch = None,
) -> CallbackPolicyOut:  # fmt: skip
    out = await service.put_default(uow, principal, body, if_match)
    _etag(response, out)
    return out


@router.get(
    "/customers/{customer_id}/callback-policy",
    operation_id="getCustomerCallbackPolicy",
    summary="The callback policy that applies to a customer (its own, else the default)",
    response_model=CallbackPolicyOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_customer_policy(
    customer_id: uuid.UUID, principal: Reader, uow: UoW, response: Response
) -> CallbackPolicyOut:
    out = await service.get_for_customer(uow, principal, customer_id)
    _etag(response, out)
    return out


@router.put(
    "/customers/{customer_id}/callback-policy",
    operation_id="putCustomerCallbackPolicy",
    summary="Give a customer a callback policy of its own (201 when new)",
    response_model=CallbackPolicyOut,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422)
    | {201: {"model": CallbackPolicyOut, "description": "The customer's own policy, new."}},
)
async def put_customer_policy(
    customer_id: uuid.UUID, body: CallbackPolicyIn, principal: Manager, uow: UoW,
    response: Response, if_match: IfMatch = None,
) -> CallbackPolicyOut:  # fmt: skip
    out, created = await service.put_for_customer(uow, principal, customer_id, body, if_match)
    response.status_code = 201 if created else 200
    _etag(response, out)
    return out


@router.delete(
    "/customers/{customer_id}/callback-policy",
    operation_id="deleteCustomerCallbackPolicy",
    summary="Remove a customer's own callback policy (the default applies again)",
    status_code=204,
    response_class=Response,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def delete_customer_policy(
    customer_id: uuid.UUID, principal: Manager, uow: UoW, if_match: IfMatch = None
) -> Response:
    await service.delete_for_customer(uow, principal, customer_id, if_match)
    return Response(status_code=204)
