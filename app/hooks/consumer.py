"""The outbox consumer of outbound webhooks ("webhooks"): each event becomes one
`webhook_deliveries` row per active subscription whose patterns match its type, written
in the drain's transaction with the consumer's receipt. Nothing is sent here: the sender
(app.hooks.sender) reads the due rows, woken once the drain commits.

The drain hands it a whole batch (`consume_batch`, its `batch_handler`): one read of the
active subscriptions (a handful of rows: no cache, so a new subscription counts from the
next batch in every worker) and one INSERT for the batch's deliveries. Patterns are
matched as the drain matches consumers' (`fnmatchcase`: `ticket.*`, `sla.breached`, `*`).

Exactly once, by two keys: the drain's receipt (webhooks, message), and should it run
again anyway (a receipt purged) the row's (subscription, event id) key: the envelope's
id is derived from the outbox message, so the second run writes nothing new.

A subscription is not sent the notice of its own disabling (`webhook.subscription_
disabled` whose `subscription_id` is its own): it would only fail there too."""

from __future__ import annotations

import uuid
from fnmatch import fnmatchcase
from typing import Any

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.ids import uuid7
from app.hooks import envelope, jobs
from app.hooks.repository import deliveries as deliveries_repo
from app.hooks.repository import subscriptions as subs_repo
from app.hooks.sender import DISABLED_EVENT
from app.outbox.models import OutboxMessage


def matches(patterns: list[str], event_type: str) -> bool:
    return any(fnmatchcase(event_type, p) for p in patterns)


def _is_own_notice(message: OutboxMessage, subscription_id: uuid.UUID) -> bool:
    return message.event_type == DISABLED_EVENT and message.payload.get("subscription_id") == str(
        subscription_id
    )


async def consume_batch(uow: UnitOfWork, messages: list[OutboxMessage]) -> None:
    subscriptions = await subs_repo.active_patterns(uow)
    if not subscriptions:
        return
    now = get_clock().now()
    rows: list[dict[str, Any]] = []
    for message in messages:
        targets = [
            sid
            for sid, patterns in subscriptions
            if matches(patterns, message.event_type) and not _is_own_notice(message, sid)
        ]
        if not targets:
            continue
        body = envelope.build(message.id, message.event_type, message.created_at,
                              message.payload)  # fmt: skip
        event_id = envelope.event_id(message.id)
        rows += [
            {"id": uuid7(), "subscription_id": sid,
             "event_id": event_id, "event_type": message.event_type, "body": body,
             "state": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
            for sid in targets
        ]  # fmt: skip
    if rows and await deliveries_repo.insert_new(uow, rows):
        jobs.wake_after_commit(uow)


async def consume(uow: UnitOfWork, message: OutboxMessage) -> None:
    await consume_batch(uow, [message])


consume.consumer_name = "webhooks"  # type: ignore[attr-defined]
consume.batch_handler = consume_batch  # type: ignore[attr-defined]
