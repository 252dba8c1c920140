"""Where timer handlers come from: the domain modules that register them with
`@timers.service.handler(kind)`. Importing them here, once, at worker start-up keeps the
list in one place (a kind without a handler is logged and left pending)."""

from __future__ import annotations

import importlib

HANDLER_MODULES = ("app.sla.timers",)


def load_handlers() -> None:
    for name in HANDLER_MODULES:
        importlib.import_module(name)
