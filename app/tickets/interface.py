"""The tickets package as other domains see it: the only module of `app.tickets` (with
`app.tickets.events`, the events it publishes) that another domain imports. Through it
a domain reads a ticket, locks it, changes its owner or status through the state
machine (`act`, `set_owner`, `target_status`), marks it changed (`touch`) and records
its timeline events (`record_event`, as `SYSTEM` for what nobody did by hand;
`insert_select`, the fragment a domain's one-statement hot path writes them with). Its
tables are written here and nowhere else; an import-linter contract in pyproject.toml
holds every other domain to this module."""

from __future__ import annotations

from app.tickets.lifecycle import target_status
from app.tickets.models import OPEN_STATUSES, Ticket
from app.tickets.repository import get, get_any, get_for_update, owner_branch
from app.tickets.schemas import CommentCreate, TicketCreate, TicketOut
from app.tickets.service import (
    act,
    add_attachment,
    add_comment,
    allowed_actions,
    create,
    full_out,
    set_line,
    set_owner,
    set_secondary,
    touch,
)
from app.tickets.timeline import (
    SYSTEM,
    SystemEvents,
    insert_select,
    insert_system_events,
    outbox_payload,
    record_event,
)

__all__ = [
    "OPEN_STATUSES",
    "SYSTEM",
    "CommentCreate",
    "SystemEvents",
    "Ticket",
    "TicketCreate",
    "TicketOut",
    "act",
    "add_attachment",
    "add_comment",
    "allowed_actions",
    "create",
    "full_out",
    "get",
    "get_any",
    "get_for_update",
    "insert_select",
    "insert_system_events",
    "outbox_payload",
    "owner_branch",
    "record_event",
    "set_line",
    "set_owner",
    "set_secondary",
    "target_status",
    "touch",
]
