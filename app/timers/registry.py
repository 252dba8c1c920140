"""Where timer handlers come from: the domain modules that register them with
`@timers.service.handler(kind)` or `batch_handler(kind)`, plus any named in
TIMER_HANDLER_MODULES (an extension's kinds, or a test's). Importing them once, at
worker start-up, keeps the list in one place: a kind no worker has a handler for stays
pending, and is never marked fired by a worker that does not know what it means."""

from __future__ import annotations

import importlib

from app.core.config import Settings, get_settings

HANDLER_MODULES = (
    "app.sla.timers",
    "app.assignment.timers",
    "app.escalation.timers",
    "app.incidents.timers",
    "app.parts.timers",
    "app.callbacks.timers",
)


def load_handlers(settings: Settings | None = None) -> list[str]:
    """Imports the handler modules; a module that cannot be imported stops the worker's
    start (better than leaving its timers to pile up unnoticed). Returns their names."""
    settings = settings or get_settings()
    names = [*HANDLER_MODULES, *settings.timer_handler_modules]
    for name in names:
        importlib.import_module(name)
    return names
