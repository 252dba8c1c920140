"""The webhooks' routers, in the order the spec lists them."""

from __future__ import annotations

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []

# Inbound (helper A): the sources' admin API before `POST /v1/hooks/{key}`, whose path
# would otherwise also match `/v1/hooks/sources`.
from app.hooks.router import ingress as _in_ingress  # noqa: E402
from app.hooks.router import sources as _in_sources  # noqa: E402

ROUTERS += [_in_sources.router, _in_ingress.router]

# Outbound (helper B): subscriptions, then the delivery log.
from app.hooks.router import deliveries as _out_deliveries  # noqa: E402
from app.hooks.router import subscriptions as _out_subscriptions  # noqa: E402

ROUTERS += [_out_subscriptions.router, _out_deliveries.router]
