"""The outbox consumer of e-mail notices ("mail"): each notice-worthy event becomes its
deliveries (`email_deliveries`), written in the drain's transaction with the consumer's
receipt. Nothing is sent here: the sender (app.mail.sender) reads the queued rows.

The drain hands it a whole batch at once (`consume_batch`, its `batch_handler`): the
batch is planned in a few statements and its deliveries written in one; a failed batch
is dispatched again one message at a time (`consume`), each with its own receipt.

Exactly once, by two keys: the drain's receipt (mail, message) makes a repeated dispatch
a no-op, and should it run again anyway (a receipt purged, a consumer renamed) each row
is inserted ON CONFLICT DO NOTHING on (event, address) and on its Message-ID, which is
made from the same two, so the second run writes nothing."""

from __future__ import annotations

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.mail import jobs, rules
from app.mail.defaults import NOTICE_TYPES
from app.mail.service import planning
from app.outbox.models import OutboxMessage


async def consume_batch(uow: UnitOfWork, messages: list[OutboxMessage]) -> None:
    now = get_clock().now()
    plans = await planning.plan_many(uow, messages, now)
    if not any(p.deliveries for p in plans):
        return
    written = await planning.write(uow, plans, now)
    if written and any(
        d.state == "queued" and d.available_at <= now for p in plans for d in p.deliveries
    ):
        # Sent now rather than at the sender's next tick (held mails wait for the cron).
        jobs.wake_after_commit(uow)


async def consume(uow: UnitOfWork, message: OutboxMessage) -> None:
    await consume_batch(uow, [message])


consume.consumer_name = "mail"  # type: ignore[attr-defined]
# The events a default rule's notice comes from: the drain hands nothing else to this
# consumer (no receipt rows for events no rule can name).
consume.event_types = sorted({rules.source_event(n) for n in NOTICE_TYPES})  # type: ignore[attr-defined]
consume.batch_handler = consume_batch  # type: ignore[attr-defined]
