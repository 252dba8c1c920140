"""Queries of what sources send: the request log (`hook_requests`, its `webhook-id`
claimed by a unique index) and the alerts followed per fingerprint (`hook_alerts`,
locked in a stable order), with the lookups the mapping needs (a customer by code, a
device by serial)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from app.core.db import UnitOfWork
from app.core.ids import uuid7
from app.customers.models import Customer
from app.devices.models import Device
from app.hooks.models import HookAlert, HookRequest

_REPLAY_KEY = text("webhook_id IS NOT NULL AND outcome <> 'replay'")


# -- requests ----------------------------------------------------------------------------


async def claim_request(uow: UnitOfWork, values: dict[str, Any]) -> uuid.UUID | None:
    """Inserts the request's row; None when its (source, webhook-id) is recorded already.
    A concurrent request with the same id waits here until the first one's transaction
    ends (the unique index), then finds it: one of them acts, the other replays."""
    stmt = (
        insert(HookRequest)
        .values(id=uuid7(), **values)
        .on_conflict_do_nothing(index_elements=["source_id", "webhook_id"], index_where=_REPLAY_KEY)
        .returning(col(HookRequest.id))
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def first_request(uow: UnitOfWork, source_id: uuid.UUID, webhook_id: str) -> HookRequest:
    stmt = select(HookRequest).where(
        col(HookRequest.source_id) == source_id,
        col(HookRequest.webhook_id) == webhook_id,
        col(HookRequest.outcome) != "replay",
    )
    return (await uow.session.execute(stmt)).scalar_one()


async def finish_request(uow: UnitOfWork, request_id: uuid.UUID, **values: Any) -> None:
    stmt = update(HookRequest).where(col(HookRequest.id) == request_id).values(**values)
    await uow.session.execute(stmt)


async def list_requests(
    uow: UnitOfWork,
    source_id: uuid.UUID,
    *,
    limit: int,
    after: uuid.UUID | None,
    outcome: str | None = None,
) -> list[HookRequest]:
    stmt: Any = select(HookRequest).where(col(HookRequest.source_id) == source_id)
    if outcome is not None:
        stmt = stmt.where(col(HookRequest.outcome) == outcome)
    if after is not None:
        stmt = stmt.where(col(HookRequest.id) < after)
    stmt = stmt.order_by(col(HookRequest.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


# -- alerts ------------------------------------------------------------------------------


async def lock_alerts(
    uow: UnitOfWork, source_id: uuid.UUID, fingerprints: list[str], now: datetime
) -> tuple[dict[str, HookAlert], set[str]]:
    """The source's alerts of these fingerprints, each row made if missing and locked
    (FOR UPDATE) until the transaction ends, and the fingerprints whose row is new.

    Rows are inserted and locked in one order, the fingerprints' code point order (the
    "C" collation is that order), so two requests on overlapping alerts wait for each
    other instead of deadlocking. A new row starts `resolved`, never fired, no ticket:
    the caller gives it its first state."""
    ordered = sorted(set(fingerprints))
    rows = [
        {"id": uuid7(), "source_id": source_id, "fingerprint": fp, "state": "resolved",
         "fire_count": 0, "first_seen_at": now, "last_seen_at": now,
         "labels": {}, "annotations": {}, "name": ""}
        for fp in ordered
    ]  # fmt: skip
    stmt = (
        insert(HookAlert)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["source_id", "fingerprint"])
        .returning(col(HookAlert.fingerprint))
    )
    new = set((await uow.session.execute(stmt)).scalars())
    locked = (
        select(HookAlert)
        .where(col(HookAlert.source_id) == source_id, col(HookAlert.fingerprint).in_(ordered))
        .order_by(text('hook_alerts.fingerprint COLLATE "C"'))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    found = {a.fingerprint: a for a in (await uow.session.execute(locked)).scalars()}
    return found, new


async def save(uow: UnitOfWork) -> None:
    await uow.session.flush()


async def list_alerts(
    uow: UnitOfWork,
    source_id: uuid.UUID,
    *,
    limit: int,
    after: uuid.UUID | None,
    state: str | None = None,
    fingerprint: str | None = None,
) -> list[HookAlert]:
    stmt: Any = select(HookAlert).where(col(HookAlert.source_id) == source_id)
    if state is not None:
        stmt = stmt.where(col(HookAlert.state) == state)
    if fingerprint is not None:
        stmt = stmt.where(col(HookAlert.fingerprint) == fingerprint)
    if after is not None:
        stmt = stmt.where(col(HookAlert.id) < after)
    stmt = stmt.order_by(col(HookAlert.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


# -- what the mapping names --------------------------------------------------------------


async def active_customer_by_code(uow: UnitOfWork, code: str) -> uuid.UUID | None:
    stmt = select(col(Customer.id)).where(col(Customer.code) == code, col(Customer.active))
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def active_devices_by_serial(
    uow: UnitOfWork, serial: str
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(device id, customer id) of the active devices with this serial (unique per model,
    so a few at most)."""
    stmt = (
        select(col(Device.id), col(Device.customer_id))
        .where(col(Device.serial) == serial, col(Device.active))
        .order_by(col(Device.id))
        .limit(10)
    )
    return [(r[0], r[1]) for r in (await uow.session.execute(stmt)).all()]
