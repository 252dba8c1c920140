"""One request to `/v1/hooks/{key}`, from the source's lookup to its recorded result.

In this order: the body within HOOK_MAX_BODY_BYTES (413, the router: read before the
database is touched, so a sender trickling its body holds no pooled connection and no
open transaction), the source (404, the same for an unknown and an inactive key), the
credentials (401: nothing is recorded for a request that is not the source's), its rate
(429: only the source's own requests count, so whoever merely knows its URL cannot use
up its rate and have its real alerts refused), then JSON (415), the payload of the
source's kind (400/422), and its alerts (app/hooks/service/alerts.py).

Every authenticated request is a `hook_requests` row, in the transaction of its effect.
A signature source's `webhook-id` is claimed by that row's unique index: the same id
again (a retry, a replay, two copies at once) finds the first row and answers its stored
result (200, or the same refusal), changing nothing but the log's replay row. Bearer
and basic sources carry no id (Alertmanager sends none); their repeats are made harmless
by the alerts' state per fingerprint."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import (
    AppError,
    BadRequest,
    MalformedJSON,
    NotFound,
    TooManyRequests,
    Unprocessable,
    UnsupportedMediaType,
    WebhookUnauthorized,
)
from app.core.inputs import bad_character
from app.hooks import credentials, payloads, ratelimit
from app.hooks.models import HookSource
from app.hooks.repository import alerts as repository
from app.hooks.repository import sources as sources_repo
from app.hooks.schemas.ingress import HookReceived
from app.hooks.schemas.sources import KEY_PATTERN
from app.hooks.service import alerts as alerts_service

_KEY = re.compile(KEY_PATTERN)
JSON_TYPES = ("application/json",)
ERROR_MAX = 2000
WEBHOOK_ID_MAX = 200  # hook_requests.webhook_id


@dataclass
class Received:
    """What a request came to: the answer, whether it replays an earlier one, and the
    problem to answer instead (recorded first: the router commits, then raises)."""

    out: HookReceived | None
    replay: bool = False
    problem: AppError | None = None


async def find_source(uow: UnitOfWork, key: str) -> HookSource:
    # A key no source can have (the pattern of every key) costs no query.
    source = await sources_repo.active_by_key(uow, key) if _KEY.fullmatch(key) else None
    if source is None:
        raise NotFound("No active webhook source has this key.")
    return source


async def check_rate(source: HookSource) -> None:
    limit = ratelimit.limit_of(source.rate_limit_per_minute)
    verdict = await ratelimit.hit(source.id, limit)
    if not verdict.allowed:
        raise TooManyRequests(
            f"More than {limit} requests this minute from this source.",
            retry_after=verdict.retry_after,
        )


def _secrets(source: HookSource) -> credentials.SourceSecrets:
    return credentials.SourceSecrets(
        auth=source.auth,
        secret=source.secret,
        previous_secret=source.previous_secret,
        previous_expires_at=source.previous_expires_at,
        basic_username=source.basic_username,
    )


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


def _read(source: HookSource, headers: Mapping[str, str], body: bytes) -> list[payloads.Alert]:
    """The payload's alerts, or the problem that refuses it."""
    if not _is_json(headers.get("content-type", "")):
        raise UnsupportedMediaType(
            "Post the payload as `application/json`.", allowed=list(JSON_TYPES)
        )
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedJSON("The body is not valid JSON.") from None
    try:
        return payloads.parse(source.kind, decoded)
    except payloads.PayloadError as exc:
        raise Unprocessable(
            f"Not a payload of a {source.kind} source: {exc.msg}", errors=[exc.as_error()]
        ) from None


async def receive(
    uow: UnitOfWork, source: HookSource, headers: Mapping[str, str], body: bytes
) -> Received:
    now = get_clock().now()
    tolerance = get_settings().hook_timestamp_tolerance_seconds
    try:
        webhook_id = credentials.check(_secrets(source), headers, body, now, tolerance)
    except credentials.CredentialError as exc:
        raise WebhookUnauthorized(str(exc)) from None
    await check_rate(source)
    if webhook_id is not None:
        _check_webhook_id(webhook_id)
    base: dict[str, Any] = {
        "source_id": source.id,
        "webhook_id": webhook_id,
        "received_at": now,
        "body_bytes": len(body),
    }
    try:
        alerts = _read(source, headers, body)
    except AppError as problem:
        refused = {"outcome": "rejected", "status_code": problem.status, "alerts": [],
                   "error": (problem.detail or problem.title)[:ERROR_MAX]}  # fmt: skip
        if await repository.claim_request(uow, {**base, **refused}) is None:
            return await _replay(uow, base)
        return Received(None, problem=problem)
    if webhook_id is None:  # no replay key to claim: repeats may take the hot path
        fast = await alerts_service.apply_repeats(uow, source, alerts, now, len(body))
        if fast is not None:
            return Received(_answer(fast[0], "accepted", fast[1]))
    request_id = await repository.claim_request(
        uow, {**base, "outcome": "accepted", "status_code": 202, "alerts": []}
    )
    if request_id is None:
        return await _replay(uow, base)
    results = await alerts_service.apply(uow, source, alerts, now)
    await repository.finish_request(uow, request_id, alerts=results)
    return Received(_answer(request_id, "accepted", results))


def _check_webhook_id(webhook_id: str) -> None:
    """An id that can be stored as it is: not cut to fit (two ids sharing a prefix would
    replay each other), and without the control characters PostgreSQL refuses (NUL) or
    a log line should not hold."""
    if len(webhook_id) > WEBHOOK_ID_MAX:
        raise BadRequest(f"webhook-id is limited to {WEBHOOK_ID_MAX} characters.")
    if bad_character(webhook_id, multiline=False) is not None:
        raise BadRequest("webhook-id must not contain a control character.")


def _answer(request_id: uuid.UUID, outcome: str, results: list[Any]) -> HookReceived:
    return HookReceived.model_validate(
        {"request_id": request_id, "outcome": outcome, "alerts": results}
    )


_REFUSALS: dict[int, type[AppError]] = {
    400: MalformedJSON,
    415: UnsupportedMediaType,
    422: Unprocessable,
}


async def _replay(uow: UnitOfWork, base: dict[str, Any]) -> Received:
    """The first request with this webhook-id, as it was answered; the replay logged."""
    first = await repository.first_request(uow, base["source_id"], base["webhook_id"])
    await repository.claim_request(
        uow, {**base, "outcome": "replay", "status_code": 200 if first.outcome == "accepted"
              else first.status_code, "alerts": [], "error": None},
    )  # fmt: skip
    if first.outcome == "rejected":
        kind = _REFUSALS.get(first.status_code, Unprocessable)
        return Received(None, replay=True, problem=kind(first.error, replay_of=str(first.id)))
    return Received(_answer(first.id, "replay", first.alerts), replay=True)
