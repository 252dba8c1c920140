"""The callbacks API: one router module per area. The app adds their routes flat
(`core.routing.include_flat`), so each area's router is listed, not nested in one."""

from __future__ import annotations

from app.callbacks.router import callbacks, plans, policies, surveys

ROUTERS = [m.router for m in (callbacks, plans, policies, surveys)]
