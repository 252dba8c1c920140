"""Inbound sources: created, read, changed, deleted by admins; their secret made (or
taken) at creation and rotation, shown then and never again.

A signature source keeps its `whsec_` secret as it is (every request's HMAC needs it); a
bearer token or basic password only as its SHA-256 digest. A rotation keeps the secret
before it (or its digest) in `previous_secret`, accepted until `previous_expires_at`
(WEBHOOK_SECRET_OVERLAP_HOURS on), so a sender's configuration can be changed without a
refused request; a second rotation within the overlap drops the oldest.

Creation takes no Idempotency-Key on purpose: the stored first response would hold the
secret in clear, which the source itself never does for a token; a repeated create
answers 409 (the key is taken) and the admin rotates if the first answer was lost."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import Page, PageParams, make_page
from app.hooks.models import HookAlert, HookRequest, HookSource
from app.hooks.repository import alerts as alerts_repo
from app.hooks.repository import sources as repository
from app.hooks.schemas.sources import (
    HookSourceCreate,
    HookSourceOut,
    HookSourceUpdate,
    HookSourceWithSecret,
)
from app.hooks.secrets import digest, is_signing_secret, new_signing_secret, new_token, rotated

_NOT_NULL = {"name", "customer_id", "category", "priority", "mapping", "resolve_on_recovery",
             "active"}  # fmt: skip


def source_out(row: HookSource) -> HookSourceOut:
    return HookSourceOut.model_validate({**_fields(row), "url_path": f"/v1/hooks/{row.key}"})


def with_secret(row: HookSource, secret: str) -> HookSourceWithSecret:
    return HookSourceWithSecret.model_validate(
        {**_fields(row), "url_path": f"/v1/hooks/{row.key}", "secret": secret}
    )


def _fields(row: HookSource) -> dict[str, Any]:
    return {name: getattr(row, name) for name in HookSourceOut.model_fields if name != "url_path"}


def _new_secret(auth: str, given: str | None) -> tuple[str, str]:
    """(what the sender is given, what is stored)."""
    if auth == "signature":
        secret = given or new_signing_secret()
        if not is_signing_secret(secret):
            raise Unprocessable(
                "A signing secret is `whsec_` and base64 of 24 to 64 bytes.", field="secret"
            )
        return secret, secret
    secret = given or new_token()
    return secret, digest(secret)


async def _check_targets(uow: UnitOfWork, customer_id: Any, category: Any) -> None:
    if customer_id is not None:
        active = await repository.customer_active(uow, customer_id)
        if active is None:
            raise Unprocessable("customer_id does not name a customer.", field="customer_id")
        if not active:
            raise Unprocessable("The customer is inactive.", field="customer_id")
    if category is not None and not await repository.category_active(uow, category):
        raise Unprocessable(f"Unknown or inactive category '{category}'.", field="category")


async def create(uow: UnitOfWork, data: HookSourceCreate) -> HookSourceWithSecret:
    await _check_targets(uow, data.customer_id, data.category)
    if await repository.key_taken(uow, data.key):
        raise Conflict(f"A source with key '{data.key}' exists.", field="key")
    shown, stored = _new_secret(data.auth, data.secret)
    now = get_clock().now()
    row = HookSource(
        **data.model_dump(exclude={"secret", "mapping"}),
        mapping=data.mapping.stored(),
        secret=stored,
        created_at=now,
        updated_at=now,
    )
    try:
        await repository.add(uow, row)
    except IntegrityError as exc:  # a concurrent create took the key
        raise Conflict(f"A source with key '{data.key}' exists.", field="key") from exc
    return with_secret(row, shown)


async def get(uow: UnitOfWork, source_id: uuid.UUID, lock: bool = False) -> HookSource:
    row = await repository.get(uow, source_id, lock=lock)
    if row is None:
        raise NotFound("Hook source not found.")
    return row


async def list_sources(
    uow: UnitOfWork, page: PageParams, active: bool | None = None
) -> Page[HookSource]:
    rows = await repository.list_sources(uow, limit=page.limit, after=page.after, active=active)
    return make_page(rows, page.limit)


def _touch(row: HookSource) -> None:
    row.version += 1
    row.updated_at = get_clock().now()


async def update(
    uow: UnitOfWork, source_id: uuid.UUID, data: HookSourceUpdate, if_match: str | None
) -> HookSource:
    row = await get(uow, source_id, lock=True)
    check_if_match(if_match, row.version)
    changes = data.model_dump(exclude_unset=True)
    for name in _NOT_NULL & changes.keys():
        if changes[name] is None:
            raise Unprocessable(f"{name} cannot be null.", field=name)
    if "basic_username" in changes and (row.auth == "basic") != (
        changes["basic_username"] is not None
    ):
        raise Unprocessable(
            "basic_username belongs to basic sources, and they need one.", field="basic_username"
        )
    await _check_targets(uow, changes.get("customer_id"), changes.get("category"))
    if data.mapping is not None:
        changes["mapping"] = data.mapping.stored()
    for name, value in changes.items():
        setattr(row, name, value)
    _touch(row)
    await repository.save(uow)
    return row


async def rotate(
    uow: UnitOfWork, source_id: uuid.UUID, given: str | None, if_match: str | None
) -> HookSourceWithSecret:
    row = await get(uow, source_id, lock=True)
    check_if_match(if_match, row.version)
    shown, stored = _new_secret(row.auth, given)
    now = get_clock().now()
    overlap = timedelta(hours=get_settings().webhook_secret_overlap_hours)
    row.previous_secret, row.previous_expires_at = rotated(row.secret, now, overlap)
    row.secret = stored
    _touch(row)
    await repository.save(uow)
    return with_secret(row, shown)


async def delete(uow: UnitOfWork, source_id: uuid.UUID, if_match: str | None) -> None:
    """Its request log and alert rows go with it; the tickets it opened stay."""
    row = await get(uow, source_id, lock=True)
    check_if_match(if_match, row.version)
    await repository.delete(uow, row)


async def list_requests(
    uow: UnitOfWork, source_id: uuid.UUID, page: PageParams, outcome: str | None = None
) -> Page[HookRequest]:
    await get(uow, source_id)
    rows = await alerts_repo.list_requests(
        uow, source_id, limit=page.limit, after=page.after, outcome=outcome
    )
    return make_page(rows, page.limit)


async def list_alerts(
    uow: UnitOfWork,
    source_id: uuid.UUID,
    page: PageParams,
    state: str | None = None,
    fingerprint: str | None = None,
) -> Page[HookAlert]:
    await get(uow, source_id)
    rows = await alerts_repo.list_alerts(
        uow, source_id, limit=page.limit, after=page.after, state=state, fingerprint=fingerprint
    )
    return make_page(rows, page.limit)
