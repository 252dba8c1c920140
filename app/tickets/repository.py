"""The queries of the ticket domain, each scoped to the principal's branch."""

from __future__ import annotations

import typing
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select

from app.contracts.repository import COVERING_CONTRACT_SQL
from app.core.db import RawSQL, UnitOfWork, raw_pool
from app.core.errors import NotFound
from app.core.security import Principal
from app.outbox import rows as outbox_rows
from app.tickets import timeline
from app.tickets.models import (
    Attachment,
    AttachmentBlob,
    Ticket,
    TicketAttempt,
    TicketComment,
    TicketEvent,
    TicketVisit,
)
from app.tickets.schemas import TicketSummary
from app.timers import rows as timer_rows

_sequences_ready: set[str] = set()


async def ensure_number_sequence(uow: UnitOfWork, year: int) -> None:
    """Numbers are T{year}-{n:06d} from a per-year PostgreSQL sequence: no hot row to
    lock (a counter table would serialise every ticket creation), and numbers restart
    each year. Gaps after a rollback are accepted, as with any sequence."""
    seq = f"ticket_number_{year}"
    if seq not in _sequences_ready:
        # The advisory lock makes concurrent first-of-the-year creations wait for
        # each other instead of racing on CREATE SEQUENCE.
        await uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtext('ticket_number'))"))
        await uow.session.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {seq}"))

        async def remember() -> None:
            _sequences_ready.add(seq)

        # Only once committed: a rolled-back transaction takes its CREATE SEQUENCE along.
        uow.after_commit(remember)


@dataclass
class CreateContext:
    customer_branch_id: uuid.UUID | None
    customer_active: bool
    contact_customer_id: uuid.UUID | None
    device_customer_id: uuid.UUID | None
    category_active: bool | None
    contract_id: uuid.UUID | None
    contract_level: str | None
    default_level: str | None


_CONTEXT_SELECT = f"""
    SELECT c.branch_id AS customer_branch_id, c.active AS customer_active,
           (SELECT customer_id FROM contacts WHERE id = :contact_id) AS contact_customer_id,
           (SELECT customer_id FROM devices WHERE id = :device_id) AS device_customer_id,
           (SELECT active FROM categories WHERE code = :category) AS category_active,
           k.id AS contract_id, k.service_level AS contract_level,
           (SELECT code FROM service_levels WHERE is_default AND active LIMIT 1) AS default_level
    FROM (SELECT 1) AS one
    LEFT JOIN customers c ON c.id = :customer_id
    LEFT JOIN LATERAL ({COVERING_CONTRACT_SQL}    ) k ON true
"""
_CONTEXT_SQL = text(_CONTEXT_SELECT)


async def create_context(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    contact_id: uuid.UUID | None,
    device_id: uuid.UUID | None,
    category: str,
    today: date,
) -> CreateContext:
    """Everything a change of customer-side references must check, in one round trip
    (contract coverage is the contracts domain's rule, embedded as a subquery)."""
    row = (
        await uow.session.execute(
            _CONTEXT_SQL,
            {
                "customer_id": customer_id,
                "contact_id": contact_id,
                "device_id": device_id,
                "category": category,
                "today": today,
            },
        )
    ).one()
    return CreateContext(*row)


# Ticket creation is the hottest write: two statements on the raw connection, no ORM.
# The first reads everything the checks need (customer and its branch, contact and device
# owners, category, branch, covering contract, and the SLA targets of the resulting level
# for the priority); the caller checks it and computes the clocks' due times in Python
# (business calendars); the second inserts the ticket, its first timeline event, its
# outbox row, its SLA clocks with their first segments and their timers, all in one
# statement, so atomically without an explicit transaction. Typed casts on every
# parameter: asyncpg prepares the statements, and `:x IS NULL` alone has no type.
_CREATE_CONTEXT = RawSQL(
    f"""
    SELECT ctx.*,
           (:branch_id::uuid IS NULL
            OR EXISTS (SELECT 1 FROM branches WHERE id = :branch_id::uuid)) AS branch_exists,
           (SELECT json_agg(json_build_object(
                       'metric', st.metric, 'minutes', st.minutes,
                       'calendar_id', st.calendar_id,
                       'calendar_stamp', cal.version || '@' || cal.updated_at,
                       'warn_percent', st.warn_percent))
            FROM sla_policies p
            JOIN sla_targets st ON st.policy_id = p.id
            JOIN calendars cal ON cal.id = st.calendar_id
            WHERE p.active AND st.priority = :priority::text
              AND p.service_level = COALESCE(ctx.contract_level, ctx.default_level)) AS targets,
           (SELECT p.auto_assign FROM sla_policies p
            WHERE p.active AND p.service_level = COALESCE(ctx.contract_level, ctx.default_level)
           ) AS auto_assign
    FROM ({
        _CONTEXT_SELECT.replace(":customer_id", ":customer_id::uuid")
        .replace(":contact_id", ":contact_id::uuid")
        .replace(":device_id", ":device_id::uuid")
        .replace(":category", ":category::text")
        .replace(":today", ":today::date")
    }) AS ctx
    """
)

# Numbers are padded to six digits and grow past them (PostgreSQL's lpad truncates).
_CREATE = RawSQL(
    f"""
    WITH t AS (
        INSERT INTO tickets (
            id, number, branch_id, customer_id, contact_id, device_id, contract_id,
            uncontracted, service_level, channel, category, service_type, impact, urgency,
            priority, priority_source, status, subject, description, product_version,
            affected_system, fault_started_at, external_ref, owner_id, created_by,
            reopen_count, version, created_at, updated_at, search_vector)
        SELECT
            :id::uuid, :prefix::text || lpad(s.n::text, greatest(6, length(s.n::text)), '0'),
            :branch_id::uuid, :customer_id::uuid, :contact_id::uuid, :device_id::uuid,
            :contract_id::uuid, :contract_id::uuid IS NULL, :service_level::text,
            :channel::text, :category::text, :service_type::text, :impact::text,
            :urgency::text, :priority::text, :priority_source::text, 'new', :subject::text,
            :description::text, :product_version::text, :affected_system::text,
            :fault_started_at::timestamptz, :external_ref::text, NULL, :created_by::uuid,
            0, 1, :now::timestamptz, :now::timestamptz, to_tsvector('simple', :doc::text)
        FROM (SELECT nextval(:seq::regclass) AS n) AS s
        RETURNING id, number
    ), facts AS (
        SELECT t.id, t.number, :after::jsonb || jsonb_build_object('number', t.number) AS after
        FROM t
    ), e AS (
        {
        timeline.insert_select(
            id=":event_id::uuid",
            ticket_id="f.id",
            type="'ticket.created'",
            actor_id=":created_by::uuid",
            actor_name=":actor_name::text",
            actor_role=":actor_role::text",
            channel=":channel::text",
            at=":now::timestamptz",
            after="f.after",
            source="facts f",
        )
    }
    ), o AS (
        {
        outbox_rows.insert_select(
            id=":outbox_id::uuid",
            event_type="'ticket.created'",
            aggregate_type="'ticket'",
            aggregate_id="f.id",
            event_id=":event_id::uuid",
            payload='''jsonb_build_object('ticket_id', f.id, 'number', f.number,
                                  'branch_id', :branch_id::uuid, 'status', 'new',
                                  'priority', :priority::text, 'before', NULL,
                                  'after', f.after, 'data', NULL)''',
            now=":now::timestamptz",
            source="facts f",
        )
    }
    ), c AS (
        INSERT INTO ticket_clocks (id, ticket_id, metric, target_seconds, calendar_id,
                                   warn_percent, state, started_at, used_seconds,
                                   running_since, warn_at, due_at, updated_at)
        SELECT x.id, t.id, x.metric, x.secs, x.cal, x.warn, 'running', :now::timestamptz, 0,
               :now::timestamptz, x.warn_at, x.due_at, :now::timestamptz
        FROM t, unnest(:clock_ids::uuid[], :clock_metrics::text[], :clock_seconds::int[],
                       :clock_calendars::uuid[], :clock_warn::int[],
                       :clock_warn_at::timestamptz[], :clock_due_at::timestamptz[])
                AS x(id, metric, secs, cal, warn, warn_at, due_at)
    ), sg AS (
        INSERT INTO ticket_clock_segments (id, clock_id, kind, reason, started_at)
        SELECT x.id, x.clock_id, 'running', 'created', :now::timestamptz
        FROM t, unnest(:segment_ids::uuid[], :clock_ids::uuid[]) AS x(id, clock_id)
    ), tm AS (
        -- Each clock's warning timer (due at its warn_at), and the timers other domains
        -- start with the ticket (events.TicketCreating): derived here from the clocks' arrays rather than sent as arrays
        -- of their own (each array parameter costs the API its encoding). A timer due
        -- before the scheduler's next pass is handed over at once (enqueued_version).
        {
        timer_rows.insert_select(
            id="x.id",
            kind="x.kind",
            subject_id="x.subject_id",
            due_at="x.due_at",
            soon="x.due_at <= :soon::timestamptz",
            now=":now::timestamptz",
            source='''t, (
            SELECT y.id, :clock_timer_kind::text AS kind, y.clock_id AS subject_id,
                   y.warn_at AS due_at
            FROM unnest(:clock_timer_ids::uuid[], :clock_ids::uuid[],
                        :clock_warn_at::timestamptz[]) AS y(id, clock_id, warn_at)
            UNION ALL
            SELECT z.id, z.kind, :id::uuid, z.due_at
            FROM unnest(:extra_timer_ids::uuid[], :extra_timer_kinds::text[],
                        :extra_timer_dues::timestamptz[]) AS z(id, kind, due_at)
        ) AS x''',
        )
    }
    )
    SELECT number FROM t
    """
)


@dataclass
class NewTicketContext(CreateContext):
    branch_exists: bool
    targets: list[dict[str, Any]]
    auto_assign: bool = False


async def new_ticket_context(uow: UnitOfWork, values: dict[str, Any]) -> NewTicketContext:
    conn = await uow.connection()
    row = await conn.fetchrow(_CREATE_CONTEXT.sql, *_CREATE_CONTEXT.args(values))
    assert row is not None
    return NewTicketContext(
        customer_branch_id=row["customer_branch_id"],
        customer_active=bool(row["customer_active"]),
        contact_customer_id=row["contact_customer_id"],
        device_customer_id=row["device_customer_id"],
        category_active=row["category_active"],
        contract_id=row["contract_id"],
        contract_level=row["contract_level"],
        default_level=row["default_level"],
        branch_exists=bool(row["branch_exists"]),
        targets=row["targets"] or [],
        auto_assign=bool(row["auto_assign"]),
    )


async def insert_ticket(uow: UnitOfWork, values: dict[str, Any]) -> str:
    """Inserts the ticket with everything that goes with it; returns its number."""
    conn = await uow.connection()
    number = await conn.fetchval(_CREATE.sql, *_CREATE.args(values))
    assert number is not None
    return str(number)


async def get_for_update(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID) -> Ticket:
    stmt = principal.scope(select(Ticket).where(Ticket.id == ticket_id), Ticket.branch_id)
    # FOR NO KEY UPDATE: enough to serialise changes of the ticket, and it lets a timer
    # firing meanwhile insert the ticket's timeline event (whose foreign key takes FOR KEY
    # SHARE on the ticket; FOR UPDATE would block it and could deadlock the two).
    ticket = (await uow.session.execute(stmt.with_for_update(key_share=True))).scalar_one_or_none()
    if ticket is None:
        raise NotFound("Ticket not found.")
    return ticket


async def get_any(uow: UnitOfWork, ticket_id: uuid.UUID, lock: bool = False) -> Ticket | None:
    """A ticket whatever its branch, for a worker acting on its own (a timer firing)."""
    stmt = select(Ticket).where(Ticket.id == ticket_id)
    if lock:
        stmt = stmt.with_for_update(key_share=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def get(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID) -> Ticket:
    stmt = principal.scope(select(Ticket).where(Ticket.id == ticket_id), Ticket.branch_id)
    ticket = (await uow.session.execute(stmt)).scalar_one_or_none()
    if ticket is None:
        raise NotFound("Ticket not found.")
    return ticket


async def get_by_number(uow: UnitOfWork, principal: Principal, number: str) -> Ticket:
    stmt = principal.scope(select(Ticket).where(Ticket.number == number), Ticket.branch_id)
    ticket = (await uow.session.execute(stmt)).scalar_one_or_none()
    if ticket is None:
        raise NotFound("Ticket not found.")
    return ticket


@dataclass
class TicketFilters:
    status: list[str] | None = None
    priority: list[str] | None = None
    customer_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    branch_id: uuid.UUID | None = None
    category: str | None = None
    channel: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    tsquery: str | None = None
    sla: str | None = None
    due_before: datetime | None = None
    now: datetime | None = None


# Lists load neither the long texts nor the search vector: pages stay small and fast.
SUMMARY_COLUMNS = tuple(k for k in TicketSummary.model_fields if k != "allowed_actions")


def _summary_column(name: str) -> str:
    # Ids as text: PostgreSQL writes them as the JSON shows them, where asyncpg's UUID
    # objects cost orjson a Python call each (a page has up to 400 of them). Timestamps
    # as UTC `timestamp`, which the raw pool reads as the API's text (`db.api_time`):
    # asyncpg's aware datetimes cost five times as much to decode.
    annotation = TicketSummary.model_fields[name].annotation
    kinds = (annotation, *typing.get_args(annotation))
    if uuid.UUID in kinds:
        return f"{name}::text AS {name}"
    if datetime in kinds:
        return f"({name} AT TIME ZONE 'UTC') AS {name}"
    return name


_SUMMARY_SELECT = ", ".join(_summary_column(c) for c in SUMMARY_COLUMNS)


def list_query(
    principal: Principal, f: TicketFilters, after: uuid.UUID | None, limit: int
) -> tuple[str, list[Any]]:
    """The list as (SQL, positional arguments) for asyncpg: built by hand because this is
    the hottest read (no per-request SQLAlchemy compilation). Order by id descending:
    UUIDv7 ids are creation order, unique, and every filter index ends with id, so any
    page (the first or the ten-thousandth, through the keyset cursor) is a range scan."""
    conds: list[str] = []
    args: list[Any] = []

    def arg(value: Any, cast: str) -> str:
        args.append(value)
        return f"${len(args)}::{cast}"

    def one_of(column: str, values: list[str]) -> str:
        # A single value stays `=` so the planner keeps the (column, id) index order
        # even on a generic plan; several become `= ANY`.
        if len(values) == 1:
            return f"{column} = {arg(values[0], 'text')}"
        return f"{column} = ANY({arg(values, 'text[]')})"

    if principal.branch_id is not None:
        conds.append(f"branch_id = {arg(principal.branch_id, 'uuid')}")
    if f.status:
        conds.append(one_of("status", f.status))
    if f.priority:
        conds.append(one_of("priority", f.priority))
    for column, value in (
        ("customer_id", f.customer_id),
        ("device_id", f.device_id),
        ("owner_id", f.owner_id),
        ("branch_id", f.branch_id),
    ):
        if value is not None:
            conds.append(f"{column} = {arg(value, 'uuid')}")
    for column, text_value in (("category", f.category), ("channel", f.channel)):
        if text_value is not None:
            conds.append(f"{column} = {arg(text_value, 'text')}")
    if f.created_from is not None:
        conds.append(f"created_at >= {arg(f.created_from, 'timestamptz')}")
    if f.created_to is not None:
        conds.append(f"created_at < {arg(f.created_to, 'timestamptz')}")
    if f.tsquery is not None:
        conds.append(f"search_vector @@ to_tsquery('simple', {arg(f.tsquery, 'text')})")
    # SLA filters read the clocks; the partial indexes on ticket_clocks keep them small.
    if f.sla == "breached":
        conds.append("id IN (SELECT ticket_id FROM ticket_clocks WHERE outcome = 'breached')")
    elif f.sla == "at_risk":
        conds.append(
            "id IN (SELECT ticket_id FROM ticket_clocks WHERE state = 'running' "
            f"AND outcome IS NULL AND warn_at <= {arg(f.now, 'timestamptz')})"
        )
    if f.due_before is not None:
        conds.append(
            "id IN (SELECT ticket_id FROM ticket_clocks WHERE state = 'running' "
            f"AND outcome IS NULL AND due_at < {arg(f.due_before, 'timestamptz')})"
        )
    if after is not None:
        conds.append(f"id < {arg(after, 'uuid')}")
    where = f" WHERE {' AND '.join(conds)}" if conds else ""
    sql = (
        f"SELECT {_SUMMARY_SELECT} FROM tickets{where} "
        # tickets.id: a bare `id` would sort by the text column of the select list.
        f"ORDER BY tickets.id DESC LIMIT {arg(limit + 1, 'int')}"
    )
    return sql, args


async def list_tickets(
    principal: Principal, f: TicketFilters, after: uuid.UUID | None, limit: int
) -> list[dict[str, Any]]:
    """Up to `limit + 1` rows as plain dicts (the extra one tells that a next page exists),
    ids and timestamps as the API's text. The statement runs on a connection of the raw
    pool (its codecs read the timestamps), taken and given back around it: a single read
    needs no transaction."""
    sql, args = list_query(principal, f, after, limit)
    conn = await raw_pool()
    # zip over the known column names: half the cost of dict(record), which looks
    # every name up again in the record's mapping.
    keys = SUMMARY_COLUMNS
    return [dict(zip(keys, r, strict=True)) for r in await conn.fetch(sql, *args)]


async def owner_branch(
    uow: UnitOfWork, owner_id: uuid.UUID
) -> tuple[bool, uuid.UUID | None] | None:
    """(active, branch_id) of the API identity that would own a ticket, or None."""
    row = (
        await uow.session.execute(
            text("SELECT active, branch_id FROM api_keys WHERE id = :id"), {"id": owner_id}
        )
    ).first()
    return (bool(row[0]), row[1]) if row else None


async def device_branch(uow: UnitOfWork, device_id: uuid.UUID) -> uuid.UUID | None:
    """The branch of the customer owning a device (None when there is no such device)."""
    row = (
        await uow.session.execute(
            text(
                "SELECT c.branch_id FROM devices d JOIN customers c ON c.id = d.customer_id "
                "WHERE d.id = :id"
            ),
            {"id": device_id},
        )
    ).first()
    return row[0] if row else None


# --- the work log, the timeline and attachments --------------------------------------------


async def events_of(
    uow: UnitOfWork, ticket_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[TicketEvent]:
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
    if after is not None:
        stmt = stmt.where(TicketEvent.id > after)
    stmt = stmt.order_by(col(TicketEvent.id)).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def comments_of(
    uow: UnitOfWork, ticket_id: uuid.UUID, after: uuid.UUID | None, limit: int, internal: bool
) -> list[TicketComment]:
    stmt = select(TicketComment).where(TicketComment.ticket_id == ticket_id)
    if not internal:
        stmt = stmt.where(TicketComment.visibility == "public")
    if after is not None:
        stmt = stmt.where(TicketComment.id > after)
    stmt = stmt.order_by(col(TicketComment.id)).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def failed_attempts(uow: UnitOfWork, ticket_id: uuid.UUID) -> int:
    sql = "SELECT count(*) FROM ticket_attempts WHERE ticket_id = :t AND outcome = 'failed'"
    return int((await uow.session.execute(text(sql), {"t": ticket_id})).scalar_one())


async def attempts_of(uow: UnitOfWork, ticket_id: uuid.UUID) -> list[TicketAttempt]:
    stmt = (
        select(TicketAttempt)
        .where(col(TicketAttempt.ticket_id) == ticket_id)
        .order_by(col(TicketAttempt.id))
    )
    return list((await uow.session.execute(stmt)).scalars())


async def visit_for_update(uow: UnitOfWork, visit_id: uuid.UUID) -> TicketVisit | None:
    return await uow.session.get(TicketVisit, visit_id, with_for_update=True)


async def visits_of(uow: UnitOfWork, ticket_id: uuid.UUID) -> list[TicketVisit]:
    stmt = (
        select(TicketVisit).where(TicketVisit.ticket_id == ticket_id).order_by(col(TicketVisit.id))
    )
    return list((await uow.session.execute(stmt)).scalars())


async def attachments_of(uow: UnitOfWork, ticket_id: uuid.UUID) -> list[Attachment]:
    stmt = select(Attachment).where(Attachment.ticket_id == ticket_id).order_by(col(Attachment.id))
    return list((await uow.session.execute(stmt)).scalars())


async def attachment_with_content(
    uow: UnitOfWork, ticket_id: uuid.UUID, attachment_id: uuid.UUID
) -> tuple[Attachment, bytes] | None:
    """The ticket's attachment and its bytes, or None (another ticket's included)."""
    attachment = await uow.session.get(Attachment, attachment_id)
    if attachment is None or attachment.ticket_id != ticket_id:
        return None
    blob = await uow.session.get(AttachmentBlob, attachment_id)
    assert blob is not None
    return attachment, blob.data
