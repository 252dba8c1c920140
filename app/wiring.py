"""Where the domains are plugged into each other: the modules that subscribe handlers to
domain events (`app.core.events`). `core.events` imports this module on the first
publish, so every process (API, workers, CLI, tests) runs the same handlers. A new
domain that reacts to another adds its `subscribers` module here."""

from __future__ import annotations

import importlib

SUBSCRIBER_MODULES = (
    "app.tickets.subscribers",
    "app.assignment.subscribers",
    "app.escalation.subscribers",
    "app.incidents.subscribers",
    "app.parts.subscribers",
    "app.callbacks.subscribers",
)


def load() -> list[str]:
    for name in SUBSCRIBER_MODULES:
        importlib.import_module(name)
    return list(SUBSCRIBER_MODULES)
