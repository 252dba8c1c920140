"""Deliveries over the API: the list and one delivery with its attempts, dead letters
retried one by one or in bulk, the sender's backlog, and the suppression list.

Scope: a key of one branch sees and retries the deliveries of its branch's tickets. The
suppression list is the whole centre's (one sender, one reputation: an address that
bounces is bad for every branch), so it is read and changed by keys of all branches.

A retried delivery is queued again with a fresh attempt budget and its `Message-ID`
unchanged; a send pass is woken once the retry commits. A delivery to a suppressed
address is not retried (release the address first): it would only be marked suppressed.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

import orjson

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import BadRequest, Conflict, Forbidden, NotFound
from app.core.pagination import Page, PageParams, encode_cursor, make_page, page_of
from app.core.security import Principal
from app.mail import jobs
from app.mail.models import EmailDelivery
from app.mail.repository import deliveries as repo
from app.mail.schemas.deliveries import (
    DeliveryAttemptOut,
    DeliveryDetail,
    DeliveryOut,
    DeliveryStats,
    RetryDeadIn,
    RetryDeadOut,
    SuppressionIn,
    SuppressionOut,
    SuppressionRelease,
)


class AddressSuppressed(Conflict):
    slug, title = "address-suppressed", "The address is on the suppression list"


# --- deliveries ---------------------------------------------------------------------------


async def list_deliveries(
    uow: UnitOfWork, principal: Principal, page: PageParams, **filters: Any
) -> Page[DeliveryOut]:
    rows = await repo.list_deliveries(uow, principal, limit=page.limit, after=page.after, **filters)
    return page_of(DeliveryOut, make_page(rows, page.limit))


async def _delivery(
    uow: UnitOfWork, principal: Principal, delivery_id: uuid.UUID, lock: bool = False
) -> EmailDelivery:
    row = await repo.get_delivery(uow, principal, delivery_id, lock=lock)
    if row is None:
        raise NotFound("Delivery not found.")
    return row


async def delivery_detail(
    uow: UnitOfWork, principal: Principal, delivery_id: uuid.UUID
) -> DeliveryDetail:
    row = await _delivery(uow, principal, delivery_id)
    history = [DeliveryAttemptOut.model_validate(a) for a in await repo.attempts_of(uow, row.id)]
    return DeliveryDetail(**DeliveryOut.model_validate(row).model_dump(), text_body=row.text_body,
                          html_body=row.html_body, history=history)  # fmt: skip


async def retry(uow: UnitOfWork, principal: Principal, delivery_id: uuid.UUID) -> DeliveryOut:
    """A dead delivery queued again, due now, with a fresh attempt budget."""
    row = await _delivery(uow, principal, delivery_id, lock=True)
    if row.state != "dead":
        raise Conflict(
            f"Only dead deliveries can be retried; this one is '{row.state}'.", state=row.state
        )
    if await repo.is_suppressed(uow, row.address):
        raise AddressSuppressed(
            "The address is on the suppression list: release it first.", field="address"
        )
    now = get_clock().now()
    if await repo.in_flight(uow, row.id, now):
        # A bounce made it dead while a sender was sending it again: queued now, a
        # second sender could send it beside the first.
        raise Conflict(
            "An attempt of this delivery is still in progress; retry it once that ends "
            f"(at the latest {row.available_at.isoformat()}).",
            state=row.state,
        )
    row.state, row.attempts, row.available_at, row.updated_at = "queued", 0, now, now
    await uow.session.flush()
    jobs.wake_after_commit(uow)
    return DeliveryOut.model_validate(row)


async def retry_dead(uow: UnitOfWork, principal: Principal, body: RetryDeadIn) -> RetryDeadOut:
    filters = body.model_dump(exclude_none=True)
    retried, suppressed, remaining = await repo.requeue_dead(
        uow, principal, get_clock().now(), **filters
    )
    if retried:
        jobs.wake_after_commit(uow)
    return RetryDeadOut(retried=retried, suppressed=suppressed, remaining=remaining)


async def stats(uow: UnitOfWork, principal: Principal) -> DeliveryStats:
    now = get_clock().now()
    found = await repo.backlog(uow, principal, now)
    oldest: datetime | None = found.pop("oldest_due_at")
    age = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
    return DeliveryStats(**found, oldest_due_age_seconds=age)


# --- the suppression list -----------------------------------------------------------------


def _whole_centre(principal: Principal) -> None:
    if principal.branch_id is not None:
        raise Forbidden(
            "The suppression list is the whole centre's: use a key of all branches.",
            permission="mail:manage",
        )


def decode_address_cursor(cursor: str) -> str:
    """The address a page of the list ended with (`encode_cursor` of it)."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value = data[0] if isinstance(data, list) and len(data) == 1 else None
    except Exception as exc:
        raise BadRequest("The cursor is not valid.", param="cursor") from exc
    if not isinstance(value, str) or not value or len(value) > 320 or not value.isprintable():
        raise BadRequest("The cursor is not valid.", param="cursor")
    return value


async def list_suppressions(
    uow: UnitOfWork,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    suppressed: bool | None,
    address: str | None,
) -> Page[SuppressionOut]:
    _whole_centre(principal)
    after = decode_address_cursor(cursor) if cursor else None
    rows = await repo.list_suppressions(
        uow, limit=limit, after=after, suppressed=suppressed, address=address
    )
    items = [SuppressionOut.model_validate(r) for r in rows[:limit]]
    more = len(rows) > limit
    return Page[SuppressionOut](
        items=items, next_cursor=encode_cursor(items[-1].address) if more and items else None
    )


async def suppress(
    uow: UnitOfWork, principal: Principal, body: SuppressionIn
) -> tuple[SuppressionOut, bool]:
    """Adds the address to the list by hand (or suppresses it again): (row, created)."""
    _whole_centre(principal)
    created = await repo.add_suppression(uow, body.address, body.reason, get_clock().now())
    row = await repo.get_suppression(uow, body.address)
    assert row is not None
    return SuppressionOut.model_validate(row), created


async def release(
    uow: UnitOfWork, principal: Principal, body: SuppressionRelease
) -> SuppressionOut:
    """Mail to the address goes out again; its bounce count starts over. Releasing an
    address that is not suppressed changes nothing. Its dead deliveries stay dead:
    retry them (`retry-dead` with the address) if they are still worth sending."""
    _whole_centre(principal)
    row = await repo.get_suppression(uow, body.address, lock=True)
    if row is None:
        raise NotFound("The address is not on the suppression list.")
    if row.suppressed or row.hard_bounces:
        await repo.release_suppression(uow, row, get_clock().now())
    return SuppressionOut.model_validate(row)
