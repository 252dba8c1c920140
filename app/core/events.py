"""In-process domain events: how one domain reacts to another's change inside the same
unit of work, without importing it.

A domain that changes something others care about defines the event (a frozen
dataclass in its own `events` module) and publishes it with `await publish(uow, event)`
where the change happens. A domain that reacts subscribes a handler with
`@subscribe(EventType, order=N)` in its own `subscribers` module. The publisher never
knows who listens, so the import arrows point from the reacting domain to the one it
reacts to, never back (docs/architecture.md, "Domains and their order").

- Handlers run at once, in the publisher's transaction, in ascending `order` (ties in
  registration order): their writes commit with the change or not at all, and a
  handler's exception propagates to the publisher, which rolls the whole change back.
- The outbox is different: it is how the outside hears of a change after the commit
  (webhooks, e-mail). A handler may write an outbox row; an event is never delivered
  twice or late, because it is never stored.
- Which modules subscribe is declared once, in `app.wiring.SUBSCRIBER_MODULES`; the
  first publish imports that module (so that the API, the workers, the CLI and tests
  all run the same handlers, and none can forget to load them).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

E = TypeVar("E")
Handler = Callable[[Any, Any], Awaitable[None]]

WIRING_MODULE = "app.wiring"
_handlers: dict[type, list[tuple[int, int, Handler]]] = {}
_loaded = False


def subscribe(event_type: type[E], *, order: int) -> Callable[[Handler], Handler]:
    """Registers `handler(uow, event)` for `event_type`. `order` places it among the
    event's handlers: a declared order, so that a reaction that needs another's result
    (say, escalation after assignment) runs after it."""

    def register(handler: Handler) -> Handler:
        found = _handlers.setdefault(event_type, [])
        if any(h is handler for _, _, h in found):
            return handler  # a module imported twice registers once
        found.append((order, len(found), handler))
        found.sort(key=lambda item: (item[0], item[1]))
        return handler

    return register


def handlers(event_type: type) -> list[Handler]:
    _ensure_loaded()
    return [h for _, _, h in _handlers.get(event_type, ())]


async def publish(uow: Any, event: object) -> None:
    """Runs every handler of the event's type, in order, in the caller's unit of work."""
    for handler in handlers(type(event)):
        await handler(uow, event)


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        importlib.import_module(WIRING_MODULE).load()
        _loaded = True
