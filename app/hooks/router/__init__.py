"""The webhooks' routers, in the order the spec lists them."""

from __future__ import annotations

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
