"""The e-mail API: one router module per area, added flat by the app."""

from __future__ import annotations

from app.mail.router import deliveries, inbound, notices

ROUTERS = [m.router for m in (notices, deliveries, inbound)]
