"""The demo's ticket and incident steps: each story registered and worked through the
ticket service at its moment, the injected clock pinned to that moment meanwhile (so
timelines, first responses and visits read like real work) and restored afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from app.core.clock import FixedClock, get_clock, set_clock
from app.core.db import UnitOfWork
from app.demo.context import DemoContext
from app.demo.data.incident import (
    INCIDENT_AT,
    INCIDENT_DESCRIPTION,
    INCIDENT_TITLE,
    INCIDENT_UPDATES,
)
from app.demo.data.stories import ACTOR_CHANNEL, STORIES, Story

# The API body each lifecycle action takes (a name in app.tickets.schemas).
ACTION_BODIES: dict[str, str] = {
    "acknowledge": "AcknowledgeBody",
    "assign": "AssignBody",
    "start": "AcknowledgeBody",
    "wait": "WaitBody",
    "resume": "ActionBody",
    "resolve": "ResolveBody",
    "confirm": "ConfirmBody",
    "reopen": "ReasonBody",
    "cancel": "ReasonBody",
}


@contextmanager
def pinned_clock(at: datetime) -> Iterator[FixedClock]:
    """The services' clock fixed at `at` (movable with .set) until the block ends."""
    previous = get_clock()
    clock = FixedClock(at)
    set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


async def step_tickets(uow: UnitOfWork, ctx: DemoContext) -> None:
    """Sixteen tickets, oldest first (so numbers and ids follow registration order)."""
    with pinned_clock(ctx.now) as clock:
        for story in sorted(STORIES, key=lambda s: s.ago, reverse=True):
            await play(uow, ctx, story, clock)


async def play(uow: UnitOfWork, ctx: DemoContext, story: Story, clock: Any) -> None:
    """Registers one ticket and runs its ops through the ticket service, each at its
    moment on the pinned clock, as the people named."""
    registered = ctx.now - story.ago
    clock.set(registered)
    ticket_id, subject = await register(uow, ctx, story, registered)
    for minutes, who, op, raw in story.ops:
        at = registered + timedelta(minutes=minutes)
        if at > ctx.now:
            raise ValueError(f"Demo ticket '{subject}': {op} at +{minutes} min is after now.")
        clock.set(at)
        await run_op(uow, ctx, ticket_id, registered, who, op, raw)


async def register(
    uow: UnitOfWork, ctx: DemoContext, story: Story, registered: datetime
) -> tuple[uuid.UUID, str]:
    """Creates the story's ticket as its registrant; returns its id and subject."""
    from app.tickets import schemas, service

    data = {
        **story.ticket,
        "customer_id": ctx.ids[f"customer:{story.customer}"],
        "contact_id": ctx.ids[f"contact:{story.contact}"] if story.contact else None,
        "device_id": ctx.ids[f"device:{story.device}"] if story.device else None,
    }
    if story.fault_minutes is not None:
        data["fault_started_at"] = registered - timedelta(minutes=story.fault_minutes)
    creator = ctx.principals[story.by]
    ticket = await service.create(uow, creator, schemas.TicketCreate.model_validate(data))
    ctx.count("tickets")
    if story.alias is not None:
        ctx.ids[f"ticket:{story.alias}"] = ticket.id
        # Later steps date their work on the ticket from its registration.
        ctx.ids[f"registered:{story.alias}"] = registered
    return ticket.id, ticket.subject


async def run_op(
    uow: UnitOfWork,
    ctx: DemoContext,
    ticket_id: uuid.UUID,
    registered: datetime,
    who: str,
    op: str,
    raw: dict[str, Any],
) -> None:
    """One op of a story (see `app.demo.data.stories.Op`), by the key alias `who`."""
    from app.demo.parts import PART_OPS, run_part_op
    from app.tickets import schemas, service

    actor = ctx.principals[who]
    args = dict(raw)
    via = args.pop("via", ACTOR_CHANNEL.get(who, "web"))
    if op in PART_OPS:
        await run_part_op(uow, ctx, ticket_id, actor, op, args, via)
    elif op == "comment":
        comment = schemas.CommentCreate.model_validate(args)
        await service.add_comment(uow, actor, ticket_id, comment, via)
    elif op == "attempt":
        attempt = schemas.AttemptCreate.model_validate(args)
        await service.add_attempt(uow, actor, ticket_id, attempt, via)
    elif op == "visit":
        visit = schemas.VisitCreate(
            arrived_at=registered + timedelta(minutes=args.pop("arrived")),
            departed_at=registered + timedelta(minutes=args.pop("departed")),
            **args,
        )
        await service.add_visit(uow, actor, ticket_id, visit, via)
    else:
        if "to" in args:
            args["owner_id"] = ctx.principals[args.pop("to")].id
        if "contact" in args:
            args["contact_id"] = ctx.ids[f"contact:{args.pop('contact')}"]
        body_model: type[BaseModel] = getattr(schemas, ACTION_BODIES[op])
        body = body_model.model_validate(args).model_dump()
        await service.act(uow, actor, ticket_id, op, body, None, via)


async def step_incident(uow: UnitOfWork, ctx: DemoContext) -> None:
    """One open major incident with two linked tickets and two status updates, dated
    like the stories (the clock pinned to each moment)."""
    from app.incidents import service

    admin = ctx.principals["admin"]
    with pinned_clock(ctx.now - timedelta(minutes=INCIDENT_AT)) as clock:
        # No product family (the outage spans two), so `--force` may declare another.
        incident = await service.declare_by_hand(
            uow, admin, INCIDENT_TITLE, INCIDENT_DESCRIPTION, None, 30,
            [ctx.ids["ticket:scgrid.bgp"], ctx.ids["ticket:scgrid.cpu"]],
        )  # fmt: skip
        ctx.count("major incidents")
        for minutes, body in INCIDENT_UPDATES:
            clock.set(ctx.now - timedelta(minutes=minutes))
            await service.post_update(uow, admin, incident.id, body)
