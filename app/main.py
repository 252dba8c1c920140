"""create_app(): routers, middleware, error handlers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from app import models  # noqa: F401  (complete metadata before the first query)
from app.access.deps import SECURITY_REQUIREMENT, SECURITY_SCHEMES
from app.access.router import router as access_router
from app.assignment.router import router as assignment_router
from app.branches.router import router as branches_router
from app.calendars.router import router as calendars_router
from app.callbacks.router import ROUTERS as CALLBACK_ROUTERS
from app.catalogue.router import router as catalogue_router
from app.contracts.router import router as contracts_router
from app.core.config import get_settings
from app.core.db import dispose_engine
from app.core.docs import install_docs
from app.core.errors import install_error_handlers
from app.core.etag import ConditionalReadMiddleware
from app.core.health import router as health_router
from app.core.idempotency import IdempotentReplay, replay_handler
from app.core.logging import configure_logging
from app.core.openapi import build_openapi
from app.core.queue import close_pool
from app.core.requests import RequestContextMiddleware
from app.core.routing import include_flat
from app.customers.router import router as customers_router
from app.devices.router import router as devices_router
from app.escalation.router import router as escalation_router
from app.hooks.router import ROUTERS as HOOK_ROUTERS
from app.incidents.router import router as incidents_router
from app.mail.router import ROUTERS as MAIL_ROUTERS
from app.outbox.router import router as outbox_router
from app.parts.router import ROUTERS as PARTS_ROUTERS
from app.people.router import router as people_router
from app.sla.router import router as sla_router
from app.tickets.router import router as tickets_router
from app.timers.router import router as timers_router

ROUTERS = [
    health_router,
    access_router,
    branches_router,
    catalogue_router,
    calendars_router,
    customers_router,
    contracts_router,
    devices_router,
    people_router,
    tickets_router,
    assignment_router,
    escalation_router,
    incidents_router,
    *PARTS_ROUTERS,
    *CALLBACK_ROUTERS,
    *MAIL_ROUTERS,
    *HOOK_ROUTERS,
    sla_router,
    outbox_router,
    timers_router,
]

TAGS = [
    {"name": "health", "description": "Liveness, readiness and metrics."},
    {"name": "access", "description": "API keys, roles and branch scope."},
    {"name": "branches", "description": "Branches and service points (分公司/服务网点)."},
    {"name": "catalogue", "description": "Categories, product families and service levels."},
    {
        "name": "calendars",
        "description": "Business calendars (工作日历): working hours, public holidays, "
        "overrides; preview of due times and working time.",
    },
    {"name": "customers", "description": "Customers and their contacts (客户档案)."},
    {
        "name": "contracts",
        "description": "Service contracts (维保合同) and the devices they cover.",
    },
    {"name": "devices", "description": "The installed base (客户设备档案)."},
    {
        "name": "people",
        "description": "Engineers, teams, duty rosters (值班表), on-call rotations, absences, "
        "and who is on duty.",
    },
    {"name": "tickets", "description": "Tickets (工单): lifecycle, timeline, work log, files."},
    {
        "name": "escalation",
        "description": "Escalation across support lines, to R&D (with approval and a fault "
        "handling work order) and to the vendor (升级转单).",
    },
    {
        "name": "parts",
        "description": "Spare parts (备件): catalogue, warehouses, the stock ledger, part "
        "requests on tickets, warranty, RMAs (返修) and loaners (备机), reports.",
    },
    {
        "name": "mail",
        "description": "E-mail both ways: notification rules and subscriptions, quiet hours, "
        "deliveries and dead letters, the suppression list, previews, and mail in.",
    },
    {
        "name": "hooks",
        "description": "Webhooks in: sources (monitoring, Alertmanager) whose alerts open, "
        "update and resolve tickets, each alert once (监控告警接入).",
    },
    {
        "name": "webhooks",
        "description": "Webhooks out: subscriptions to events, signed deliveries (Standard "
        "Webhooks), retries, the delivery log and redelivery.",
    },
    {
        "name": "callbacks",
        "description": "Callbacks after resolution (客户回访), contact plans for key customers "
        "(定期主动式电话支持) and satisfaction surveys (满意度调查).",
    },
    {
        "name": "incidents",
        "description": "Major incidents (重大事故): declaration, affected tickets, status "
        "updates on a timer, resolution.",
    },
    {
        "name": "assignment",
        "description": "Automatic assignment, secondary owners (第二责任人), handoffs and "
        "deferral (任务分派).",
    },
    {
        "name": "sla",
        "description": "SLA policies: targets per service level and priority (服务响应时间承诺).",
    },
    {"name": "outbox", "description": "Event outbox: delivery state and dead letters (admin)."},
    {
        "name": "timers",
        "description": "Durable timers (SLA warnings and breaches, later escalations and "
        "callbacks): pending, dead, the workers' lag, retry (admin).",
    },
]

DESCRIPTION = """
Supportline: the backend of a technical-support and after-sales service centre.

* Authenticate with `Authorization: Bearer <api key>` (or `X-API-Key`).
* Every error is RFC 9457 `application/problem+json`.
* Every POST accepts `Idempotency-Key`; reads return `ETag`, writes accept `If-Match`.
* Lists are cursor-paginated: pass `next_cursor` back as `cursor`.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Everything imported so far lives as long as the process: move it out of the
    # collector's reach. A full collection over those ~130k objects stalled a worker for
    # about 58 ms and set the p99 of every endpoint (bench/README.md, "GC pauses").
    gc.collect()
    gc.freeze()
    yield
    await close_pool()
    await dispose_engine()


class SupportlineAPI(FastAPI):
    """FastAPI with RequestContextMiddleware outside every other layer, Starlette's
    ServerErrorMiddleware included: every response, a 500 too, carries the request id,
    and an answered exception does not cost the client its connection (requests.py)."""

    def build_middleware_stack(self) -> ASGIApp:
        return RequestContextMiddleware(super().build_middleware_stack())


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    app = SupportlineAPI(
        title="Supportline API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # FastAPI's native OpenTelemetry asks the global providers on every request
        # whether it is configured (about 1% of a request); off unless asked for.
        telemetry=None
        if settings.otel_enabled
        else {"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    app.add_exception_handler(IdempotentReplay, replay_handler)
    app.add_middleware(ConditionalReadMiddleware)
    include_flat(app, ROUTERS)
    install_docs(app)
    app.openapi = lambda: build_openapi(app, SECURITY_SCHEMES, SECURITY_REQUIREMENT)  # type: ignore[method-assign]
    return app


app = create_app()
