"""The outbox dispatcher: a registry of consumers, each a transactional fan-out.

A consumer is `async def handler(uow, message) -> None`. It runs *inside the drain's
transaction*, in a SAVEPOINT of its own, next to an `outbox_receipts` row keyed by
(consumer, message id). That is the whole contract, and it is why consumers are
transactional fan-outs rather than "do the side effect now" callbacks:

* A consumer only *writes rows* in the given unit of work: the e-mail consumer writes
  its `email_deliveries` rows, the webhook consumer its `webhook_deliveries` rows, a
  projection updates its table. Those rows, the receipt and the outbox row's
  `delivered` mark commit together or not at all. Sending the e-mail or calling the
  webhook happens later, outside this transaction, by a job that reads those delivery
  rows (with its own retries, rate limits and SSRF checks). A crash anywhere therefore
  never loses an event and never produces a second delivery row: if the transaction
  did not commit, nothing of it exists and the next drain does it again.
* Nothing slow or remote happens while the drain holds row locks, so one bad SMTP
  server cannot stall the outbox for everyone.
* Each consumer gets its own SAVEPOINT: when one fails, the others' work and receipts
  still commit; the message is retried with backoff and the receipts make the consumers
  that already succeeded skip it (`INSERT ... ON CONFLICT DO NOTHING RETURNING`: act
  only if the receipt was inserted). The same receipt makes any other repeat a no-op.

Handlers must treat `message` as read-only and must not commit, roll back or close the
session. They may raise to ask for a retry; the drain records the error and backs off.

**Batch handlers.** A consumer whose handler carries `batch_handler`
(`async def batch(uow, messages) -> None`) is given all the messages of a drain batch it
wants at once (`dispatch_batches`, before the per-message consumers), so it can read
and write for the whole batch in a few statements. The contract above holds per
message: one SAVEPOINT holds the batch's receipts (one statement, each message still
its own receipt row, and only the messages whose receipt was new are handed over) with
the handler's writes; if the handler raises, that SAVEPOINT is rolled back and the
messages are dispatched again one at a time through the per-message handler, each in a
SAVEPOINT with its own receipt, so only the failing ones are retried (with backoff, by
the drain) and the rest commit. A batch handler must therefore have the same effects
as its per-message handler called on each message in order.

Consumers are registered in code (`register()`, or a dotted path in
`BUILTIN_CONSUMERS`) and, per deployment, by dotted paths in `OUTBOX_CONSUMERS`
(a JSON list of "pkg.module:function"); `load_configured_consumers()` loads both at
worker startup. A loaded object may carry `consumer_name` (stable name stored in the
receipts, default: its dotted path) and `event_types` (patterns, default: all).
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from app.core.config import Settings, get_settings
from app.core.db import UnitOfWork
from app.outbox.models import ConsumerReceipt, OutboxMessage

log = logging.getLogger("supportline.outbox")

Handler = Callable[[UnitOfWork, OutboxMessage], Awaitable[None]]
BatchHandler = Callable[[UnitOfWork, list[OutboxMessage]], Awaitable[None]]

# Dotted paths of the consumers every deployment runs ("pkg.module:function"). Domains
# add theirs here (e.g. the e-mail and webhook consumers) rather than being imported by
# this module, so the outbox stays free of domain imports and load order is explicit.
BUILTIN_CONSUMERS: tuple[str, ...] = ("app.mail.consumer:consume", "app.hooks.consumer:consume")

CONSUMER_NAME_MAX = 64  # outbox_receipts.consumer


@dataclass(frozen=True, slots=True)
class Consumer:
    name: str
    handler: Handler
    event_types: frozenset[str] | None  # None: every event; else fnmatch patterns
    batch: BatchHandler | None = None  # the handler's `batch_handler`, if it has one

    def wants(self, event_type: str) -> bool:
        if self.event_types is None:
            return True
        return any(fnmatchcase(event_type, pattern) for pattern in self.event_types)


class ConsumerFailure(NamedTuple):
    consumer: str
    error: Exception


class Dispatcher:
    def __init__(self) -> None:
        self._consumers: dict[str, Consumer] = {}

    def register(
        self, name: str, handler: Handler, event_types: Iterable[str] | None = None
    ) -> Consumer:
        """Registers a consumer. Registering the same name and handler again is a no-op;
        the same name for another handler is an error (receipts are keyed by name)."""
        if not name or len(name) > CONSUMER_NAME_MAX:
            raise ValueError(f"consumer name must be 1 to {CONSUMER_NAME_MAX} characters")
        types = frozenset(event_types) if event_types is not None else None
        consumer = Consumer(name, handler, types, getattr(handler, "batch_handler", None))
        existing = self._consumers.get(name)
        if existing is not None:
            if existing.handler is handler and existing.event_types == types:
                return existing
            raise ValueError(f"an outbox consumer named {name!r} is already registered")
        self._consumers[name] = consumer
        return consumer

    def unregister(self, name: str) -> None:
        self._consumers.pop(name, None)

    def consumers(self) -> list[Consumer]:
        return list(self._consumers.values())

    def consumers_for(self, event_type: str) -> list[Consumer]:
        return [c for c in self._consumers.values() if c.wants(event_type)]

    def has_unbatched(self, event_type: str) -> bool:
        """Whether a consumer without a batch handler wants this event."""
        return any(c.batch is None and c.wants(event_type) for c in self._consumers.values())

    async def dispatch(
        self, uow: UnitOfWork, message: OutboxMessage, now: datetime, *, unbatched: bool = False
    ) -> list[ConsumerFailure]:
        """Runs every interested consumer once per message (`unbatched`: only those
        without a batch handler, which `dispatch_batches` ran); returns the failures.

        Each consumer runs in its own SAVEPOINT together with its receipt: a failure
        rolls back that consumer's writes and receipt only.
        """
        failures: list[ConsumerFailure] = []
        for consumer in self.consumers_for(message.event_type):
            if unbatched and consumer.batch is not None:
                continue
            failure = await self._one(uow, consumer, message, now)
            if failure is not None:
                failures.append(failure)
        return failures

    async def dispatch_batches(
        self, uow: UnitOfWork, messages: Sequence[OutboxMessage], now: datetime
    ) -> dict[uuid.UUID, list[ConsumerFailure]]:
        """Runs each consumer that has a batch handler once over the messages it wants
        (see the module's docstring); returns the failures by message id."""
        failures: dict[uuid.UUID, list[ConsumerFailure]] = {}
        for consumer in self._consumers.values():
            if consumer.batch is None:
                continue
            wanted = [m for m in messages if consumer.wants(m.event_type)]
            if not wanted:
                continue
            for message_id, failure in (await self._batch(uow, consumer, wanted, now)).items():
                failures.setdefault(message_id, []).append(failure)
        return failures

    async def _batch(
        self, uow: UnitOfWork, consumer: Consumer, messages: list[OutboxMessage], now: datetime
    ) -> dict[uuid.UUID, ConsumerFailure]:
        assert consumer.batch is not None
        try:
            async with uow.session.begin_nested():
                new = await _receipts(uow, consumer.name, [m.id for m in messages], now)
                todo = [m for m in messages if m.id in new]
                if todo:
                    await consumer.batch(uow, todo)
            return {}
        except Exception as exc:
            # Which message failed is not known: each alone, so the others still commit.
            log.warning(
                "outbox batch failed; dispatching its messages one at a time",
                extra={"fields": {"consumer": consumer.name, "messages": len(messages),
                                  "error": type(exc).__name__}},
            )  # fmt: skip
        out: dict[uuid.UUID, ConsumerFailure] = {}
        for message in messages:
            failure = await self._one(uow, consumer, message, now)
            if failure is not None:
                out[message.id] = failure
        return out

    async def _one(
        self, uow: UnitOfWork, consumer: Consumer, message: OutboxMessage, now: datetime
    ) -> ConsumerFailure | None:
        """One consumer, one message: its receipt and its handler in a SAVEPOINT."""
        message_id = message.id
        try:
            async with uow.session.begin_nested():
                stmt = (
                    insert(ConsumerReceipt)
                    .values(consumer=consumer.name, message_id=message_id, processed_at=now)
                    .on_conflict_do_nothing(index_elements=["consumer", "message_id"])
                    .returning(col(ConsumerReceipt.message_id))
                )
                inserted = (await uow.session.execute(stmt)).first()
                if inserted is None:
                    log.debug(
                        "outbox consumer already done",
                        extra={
                            "fields": {"consumer": consumer.name, "message_id": str(message_id)}
                        },
                    )
                    return None
                await consumer.handler(uow, message)
        except Exception as exc:
            return ConsumerFailure(consumer.name, exc)
        return None


# A batch's receipts in one statement; RETURNING names the messages not done before.
_RECEIPTS = text(
    "INSERT INTO outbox_receipts (consumer, message_id, processed_at)"
    " SELECT :consumer, unnest(CAST(:ids AS uuid[])), :now"
    " ON CONFLICT (consumer, message_id) DO NOTHING RETURNING message_id"
)


async def _receipts(
    uow: UnitOfWork, consumer: str, ids: list[uuid.UUID], now: datetime
) -> set[uuid.UUID]:
    result = await uow.session.execute(_RECEIPTS, {"consumer": consumer, "ids": ids, "now": now})
    return {r[0] for r in result}


dispatcher = Dispatcher()
"""The process-wide registry the drain uses by default."""


def register(name: str, handler: Handler, event_types: Iterable[str] | None = None) -> Consumer:
    return dispatcher.register(name, handler, event_types)


def unregister(name: str) -> None:
    dispatcher.unregister(name)


def import_handler(path: str) -> Handler:
    """Resolves "pkg.module:function" (or "pkg.module.function")."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"outbox consumer {path!r} is not 'pkg.module:function'")
    target: object = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"outbox consumer {path!r} is not callable")
    return target  # type: ignore[return-value]


def load_consumer(path: str, into: Dispatcher | None = None) -> Consumer:
    handler = import_handler(path)
    name = getattr(handler, "consumer_name", None) or path
    event_types = getattr(handler, "event_types", None)
    return (into or dispatcher).register(str(name), handler, event_types)


def load_configured_consumers(
    settings: Settings | None = None, into: Dispatcher | None = None
) -> list[Consumer]:
    """Built-in consumers plus those named in OUTBOX_CONSUMERS (worker startup).

    Fails loudly: a worker that cannot load a configured consumer must not start and
    mark messages delivered that this consumer never saw.
    """
    settings = settings or get_settings()
    return [load_consumer(path, into) for path in (*BUILTIN_CONSUMERS, *settings.outbox_consumers)]
