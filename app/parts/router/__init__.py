"""The spare-parts API: one router module per area. The app adds their routes flat
(`core.routing.include_flat`), so each area's router is listed, not nested in one."""

from __future__ import annotations

from app.parts.router import catalogue, loans, reports, requests, rma, stock

ROUTERS = [m.router for m in (catalogue, stock, requests, rma, loans, reports)]
