"""`POST /v1/hooks/{key}`: where monitoring posts its alerts. Authenticated by the
source's own scheme (a Standard Webhooks signature, a bearer token or basic auth), not
by an API key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from app.core.config import get_settings
from app.core.db import UoW
from app.core.errors import PayloadTooLarge, Problem, problem_responses
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
_EXTRA: dict[int | str, dict[str, Any]] = {
    # Names the payload's model so that FastAPI lists it among the components, which the
    # request body above refers to; app.core.openapi gives every 422 the Problem schema.
    422: {"model": HookPayload, "description": "Not a payload of the source's kind."},
    200: {"model": HookReceived, "description": "A replayed `webhook-id`: the first result."},
    202: {"description": "Taken: what became of each alert."},
    503: {
        "model": Problem,
        "description": "The source's customer or category cannot take tickets now: nothing "
        "was recorded; send it again after `Retry-After`.",
        "content": _PROBLEM_CONTENT,
    },
}


async def _body(request: Request) -> bytes:
    """The body, refused (413) once it passes the limit: counted as it arrives, so an
    oversized one is never held whole."""
    limit = get_settings().hook_max_body_bytes
    too_large = PayloadTooLarge(f"Webhook bodies are limited to {limit} bytes.", limit=limit)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


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
    responses=problem_responses(400, 401, 404, 413, 415, 429) | _EXTRA,
    openapi_extra=_BODY,
)
async def receive_hook(key: str, request: Request, uow: UoW, response: Response) -> HookReceived:
    source = await service.find_source(uow, key)
    await service.check_rate(source)
    body = await _body(request)
    received = await service.receive(uow, source, request.headers, body)
    if received.problem is not None:
        # Recorded, so that the same webhook-id again is answered the same: committed
        # here, before the problem is raised (which would roll it back).
        await uow.commit()
        raise received.problem
    assert received.out is not None
    response.status_code = 200 if received.replay else 202
    return received.out
