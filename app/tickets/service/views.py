"""Reading tickets: one ticket (with its SLA clocks), the list and the device history
(pages built from plain rows), the timeline, and the actions a ticket allows now."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from app.core.channels import CHANNELS
from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import (
    BadRequest,
    NotFound,
)
from app.core.pagination import page_json
from app.core.search import query as search_query
from app.core.security import Principal
from app.sla import service as sla
from app.sla.schemas import ClockOut
from app.tickets import lifecycle, repository
from app.tickets.models import (
    PRIORITIES,
    STATUSES,
    Ticket,
    TicketEvent,
)
from app.tickets.schemas import (
    TicketListQuery,
    TicketOut,
)


def _reopen_window() -> timedelta:
    return timedelta(days=get_settings().reopen_window_days)


def allowed_actions(ticket: Any, now: datetime | None = None) -> list[str]:
    return lifecycle.allowed_actions(
        ticket.status, ticket.closed_at, now or get_clock().now(), _reopen_window()
    )


async def clocks(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID) -> list[ClockOut]:
    await repository.get(uow, principal, ticket_id)
    return await sla.details(uow, ticket_id, get_clock().now())


async def list_page(
    principal: Principal,
    filters: repository.TicketFilters,
    after: uuid.UUID | None,
    limit: int,
) -> bytes:
    """A page of `TicketSummary` items, as JSON (see `page_json`): one statement on the
    raw pool, outside any unit of work."""
    now, window = get_clock().now(), _reopen_window()
    filters.now = now
    rows = await repository.list_tickets(principal, filters, after, limit)
    actions = lifecycle.PageActions(now, window).of
    for row in rows:
        row["allowed_actions"] = actions(row["status"], row["closed_at"])
    return page_json(rows, limit)


def _csv(values: list[str] | None, allowed: tuple[str, ...], name: str) -> list[str] | None:
    if not values:
        return None
    items = [v for raw in values for v in raw.split(",") if v]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise BadRequest(f"Unknown {name}: {', '.join(bad)}.", allowed=list(allowed))
    return items


async def list_for_query(principal: Principal, query: TicketListQuery) -> bytes:
    """`GET /v1/tickets`: the query's filters checked (400 naming the bad value) and
    its page read."""
    paging = query.page()
    tsquery = None
    if query.q is not None:
        tsquery = search_query(query.q)
        if tsquery is None:
            raise BadRequest("q has no searchable word.", param="q")
    if query.channel is not None and query.channel not in CHANNELS:
        raise BadRequest(f"Unknown channel: {query.channel}.", allowed=list(CHANNELS))
    filters = repository.TicketFilters(
        **query.model_dump(exclude={"limit", "cursor", "q", "status", "priority"}),
        status=_csv(query.status, STATUSES, "status"),
        priority=_csv(query.priority, PRIORITIES, "priority"),
        tsquery=tsquery,
    )
    return await list_page(principal, filters, paging.after, paging.limit)


async def get(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID) -> Ticket:
    """A ticket the principal may see (404 otherwise, another branch's included)."""
    return await repository.get(uow, principal, ticket_id)


async def get_by_number(uow: UnitOfWork, principal: Principal, number: str) -> Ticket:
    return await repository.get_by_number(uow, principal, number)


async def device_history_page(
    uow: UnitOfWork, principal: Principal, device_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> bytes:
    """A device's service history (its tickets, newest first); 404 for a device the
    principal cannot see."""
    branch = await repository.device_branch(uow, device_id)
    if branch is None or not principal.sees_branch(branch):
        raise NotFound("Device not found.")
    return await list_page(principal, repository.TicketFilters(device_id=device_id), after, limit)


async def full_out(uow: UnitOfWork, ticket: Any) -> TicketOut:
    """The ticket as its own GET shows it: with its SLA clocks."""
    out = to_out(ticket)
    out.sla = await sla.briefs(uow, ticket.id)
    return out


def to_out(ticket: Any) -> TicketOut:
    out = TicketOut.model_validate(ticket)
    out.allowed_actions = allowed_actions(ticket)  # type: ignore[assignment]
    return out


async def list_events(
    uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[TicketEvent]:
    await repository.get(uow, principal, ticket_id)
    return await repository.events_of(uow, ticket_id, after, limit)
