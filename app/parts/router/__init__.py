"""The spare-parts API: one router module per area, assembled here."""

from __future__ import annotations

from fastapi import APIRouter

from app.parts.router import catalogue, loans, reports, requests, rma, stock

router = APIRouter()
for _module in (catalogue, stock, requests, rma, loans, reports):
    router.include_router(_module.router)
