"""Timer handlers of spare parts, one module per area (listed in app.timers.registry)."""

from app.parts.timers import loans, requests, rma

__all__ = ["loans", "requests", "rma"]
