"""`POST /v1/hooks/{key}`: where monitoring posts its alerts. Authenticated by the
source's own scheme (a Standard Webhooks signature, a bearer token or basic auth), not
by an API key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from app.core.bodies import read_limited
from app.core.config import get_settings
from app.core.db import UoW
from app.core.errors import Problem, problem_responses
from app.hooks.schemas.ingress import HookPayload, HookReceived
from app.hooks.service import ingress as service

router = APIRouter(prefix="/v1", tags=["hooks"])

_PROBLEM_CONTENT = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
}
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An Alertmanager v4 webhook body (kind `alertmanager`), or a generic "
        'alert object or `{"alerts": [...]}` (kind `generic`).',
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HookPayload"}}},
    },
    "parameters": [
        {
            "name": h,
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": d,
        }
        for h, d in (
            ("webhook-id", "Signature sources: the message id (a replay answers 200)."),
            ("webhook-timestamp", "Signature sources: Unix seconds, within the tolerance."),
            ("webhook-signature", "Signature sources: `v1,<base64>`, space-separated."),
            ("Authorization", "Bearer and basic sources: `Bearer <token>` / `Basic ...`."),
        )
    ],
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
_EXTRA: dict[int | str, dict[str, Any]] = {
    # This route's own meaning of the shared statuses (an API key plays no part here).
    400: {"description": "Malformed JSON, or a `webhook-id` too long or holding a control "
          "character."},
    401: {"description": "A missing or wrong signature, token or password, or a "
          "`webhook-timestamp` more than HOOK_TIMESTAMP_TOLERANCE_SECONDS off."},
    404: {"description": "No active source has this key."},
    413: {"description": "The body is over HOOK_MAX_BODY_BYTES."},
    415: {"description": "Not `application/json`."},
    429: {"description": "More requests this minute than the source's rate: send again "
          "after `Retry-After` seconds.", "headers": _RETRY_AFTER},
    # Names the payload's model so that FastAPI lists it among the components, which the
    # request body above refers to; app.core.openapi gives every 422 the Problem schema.
    422: {"model": HookPayload, "description": "Not a payload of the source's kind."},
    200: {"model": HookReceived, "description": "A replayed `webhook-id`: the first result."},
    202: {"description": "Taken: what became of each alert."},
    503: {
        "model": Problem,
        "description": "`hook-deferred`: the source's customer or category cannot take "
        "tickets now; `retry`: the request collided with a concurrent one. Nothing was "
        "recorded either way; send it again after `Retry-After`.",
        "content": _PROBLEM_CONTENT,
        "headers": _RETRY_AFTER,
    },
}  # fmt: skip


def _responses() -> dict[int | str, dict[str, Any]]:
    """The shared Problem entries, with this route's descriptions (and headers) over
    them."""
    shared = problem_responses(400, 401, 404, 413, 415, 429)
    return {s: {**shared.get(s, {}), **extra} for s, extra in _EXTRA.items()}


async def _body(request: Request) -> bytes:
    return await read_limited(request, get_settings().hook_max_body_bytes, "Webhook bodies")


@router.post(
    "/hooks/{key}",
    operation_id="receiveHook",
    summary="Receive alerts from a webhook source (Alertmanager, generic JSON)",
    description="Each alert is followed by its fingerprint: a firing alert opens a ticket "
    "once (repeats are counted on it), a resolved one records the recovery (and resolves "
    "the ticket, by the source's setting). A replayed `webhook-id` answers 200 with the "
    "first result and changes nothing.",
    status_code=202,
    response_model=HookReceived,
    responses=_responses(),
    openapi_extra=_BODY,
)
async def receive_hook(key: str, request: Request, uow: UoW, response: Response) -> HookReceived:
    body = await _body(request)
    source = await service.find_source(uow, key)
    received = await service.receive(uow, source, request.headers, body)
    if received.problem is not None:
        # Recorded, so that the same webhook-id again is answered the same: committed
        # here, before the problem is raised (which would roll it back).
        await uow.commit()
        raise received.problem
    assert received.out is not None
    response.status_code = 200 if received.replay else 202
    return received.out
