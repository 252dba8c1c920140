"""Outbound notices' SQL: rules, subscriptions and profiles; who the recipients are
(contacts, identities with their engineer profile and team manager, the keys of a role,
the emergency group); what the flood rules and the suppression list say of their
addresses; and the delivery rows, written once per (event, address).

Reads of other domains' tables (contacts, customers, api_keys, engineers, teams, and the
actor of a ticket event) are single indexed lookups by id, as the escalation chain's
batch reads the tickets and engineers it needs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from app.core.db import RawSQL, UnitOfWork
from app.core.ids import uuid7
from app.mail.models import (
    EmailDelivery,
    NotificationProfile,
    NotificationRule,
    NotificationSubscription,
)

# -- rules ------------------------------------------------------------------------------


async def get_rule(uow: UnitOfWork, event_type: str, lock: bool = False) -> NotificationRule | None:
    stmt = select(NotificationRule).where(col(NotificationRule.event_type) == event_type)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def list_rules(uow: UnitOfWork, after: str | None, limit: int) -> list[NotificationRule]:
    stmt = select(NotificationRule).order_by(col(NotificationRule.event_type)).limit(limit + 1)
    if after is not None:
        stmt = stmt.where(col(NotificationRule.event_type) > after)
    return list((await uow.session.execute(stmt)).scalars())


# -- subscriptions ----------------------------------------------------------------------


async def upsert_subscription(
    uow: UnitOfWork, kind: str, subject: str, event_type: str, subscribed: bool, now: datetime
) -> NotificationSubscription:
    """One statement, so two concurrent PUTs of the same key cannot both insert."""
    S = NotificationSubscription
    stmt = (
        insert(S)
        .values(
            id=uuid7(),
            subject_kind=kind,
            subject=subject,
            event_type=event_type,
            subscribed=subscribed,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=["subject_kind", "subject", "event_type"],
            set_={"subscribed": subscribed, "updated_at": now},
        )
        .returning(S)
        .execution_options(populate_existing=True)
    )
    return (await uow.session.execute(stmt)).scalar_one()


async def delete_subscription(uow: UnitOfWork, kind: str, subject: str, event_type: str) -> bool:
    S = NotificationSubscription
    stmt = delete(S).where(
        col(S.subject_kind) == kind, col(S.subject) == subject, col(S.event_type) == event_type
    )
    result: Any = await uow.session.execute(stmt)
    return bool(result.rowcount)


async def list_subscriptions(
    uow: UnitOfWork,
    *,
    branch_id: uuid.UUID | None,
    kind: str | None,
    subject: str | None,
    event_type: str | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[NotificationSubscription]:
    """Newest first. A branch-scoped reader sees the roles' subscriptions and those of
    his branch's engineers and customers."""
    S = NotificationSubscription
    stmt = select(S).order_by(col(S.id).desc()).limit(limit + 1)
    if kind is not None:
        stmt = stmt.where(col(S.subject_kind) == kind)
    if subject is not None:
        stmt = stmt.where(col(S.subject) == subject)
    if event_type is not None:
        stmt = stmt.where(col(S.event_type) == event_type)
    if after is not None:
        stmt = stmt.where(col(S.id) < after)
    if branch_id is not None:
        stmt = stmt.where(_in_branch(branch_id))
    return list((await uow.session.execute(stmt)).scalars())


def _in_branch(branch_id: uuid.UUID) -> Any:
    return text(
        """(notification_subscriptions.subject_kind = 'role'
            OR (notification_subscriptions.subject_kind = 'engineer' AND EXISTS (
                SELECT 1 FROM engineers e WHERE e.branch_id = :scope_branch
                AND e.id::text = notification_subscriptions.subject))
            OR (notification_subscriptions.subject_kind = 'customer' AND EXISTS (
                SELECT 1 FROM customers c WHERE c.branch_id = :scope_branch
                AND c.id::text = notification_subscriptions.subject)))"""
    ).bindparams(scope_branch=branch_id)


# -- profiles ---------------------------------------------------------------------------


async def get_profile(
    uow: UnitOfWork, kind: str, subject_id: uuid.UUID, lock: bool = False
) -> NotificationProfile | None:
    P = NotificationProfile
    stmt = select(P).where(col(P.kind) == kind, col(P.subject_id) == subject_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def profiles(
    uow: UnitOfWork, keys: Iterable[tuple[str, uuid.UUID]]
) -> dict[tuple[str, uuid.UUID], NotificationProfile]:
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    P = NotificationProfile
    stmt = select(P).where(tuple_(col(P.kind), col(P.subject_id)).in_(wanted))
    return {(p.kind, p.subject_id): p for p in (await uow.session.execute(stmt)).scalars()}


def add(uow: UnitOfWork, row: Any) -> None:
    uow.session.add(row)


async def flush(uow: UnitOfWork) -> None:
    await uow.session.flush()


# -- the consumer's reads ----------------------------------------------------------------
# The drain hands the consumer a whole batch of messages (app.outbox.dispatcher's batch
# handlers), so each read below is one statement for the batch, on the transaction's own
# asyncpg connection (no ORM compile per call): what the events are (rule, ticket,
# actor, customer and contact), who their people are (identities with their team
# manager), what they said (subscriptions and profiles), and what their addresses allow.

# One row per (notice, ticket, timeline event), in the order given (`n`). The ticket is
# read here rather than through tickets.interface.get_any, one ORM query per message,
# as the escalation chain's batch reads the tickets it needs; no row is locked.
_EVENTS = RawSQL(
    """SELECT x.n, r.roles, r.urgent, r.enabled, e.actor_id, e.actor_name,
              t.id AS ticket_id, t.number, t.subject, t.status, t.priority, t.branch_id,
              t.customer_id, t.contact_id AS ticket_contact_id, t.owner_id,
              t.secondary_owner_id, t.resolution_summary, t.support_line,
              cu.name AS customer, cu.name_en AS customer_en,
              c.id AS contact_id, c.name AS contact_name, c.email AS contact_email,
              c.language AS contact_language, c.active AS contact_active,
              c.customer_id AS contact_customer_id
       FROM unnest(:notices::text[], :tickets::uuid[], :events::uuid[])
            WITH ORDINALITY AS x(notice, ticket_id, event_id, n)
       LEFT JOIN notification_rules r ON r.event_type = x.notice
       LEFT JOIN tickets t ON t.id = x.ticket_id
       LEFT JOIN ticket_events e ON e.id = x.event_id AND t.id IS NOT NULL
       LEFT JOIN customers cu ON cu.id = t.customer_id
       LEFT JOIN contacts c ON c.id = t.contact_id
       ORDER BY x.n"""
)
# The identities named and, for each engineer among them, his team manager's.
_IDENTITIES = RawSQL(
    """WITH named AS (SELECT unnest(:ids::uuid[]) AS id),
       wanted AS (
           SELECT id FROM named
           UNION
           SELECT tm.manager_id FROM named n JOIN engineers e ON e.id = n.id
           JOIN teams tm ON tm.id = e.team_id AND tm.active WHERE tm.manager_id IS NOT NULL)
       SELECT k.id, k.name AS key_name, k.active AS key_active,
              e.id IS NOT NULL AS has_profile, e.name, e.name_en, e.email, e.languages,
              e.active AS engineer_active, tm.manager_id
       FROM wanted w JOIN api_keys k ON k.id = w.id
       LEFT JOIN engineers e ON e.id = k.id
       LEFT JOIN teams tm ON tm.id = e.team_id AND tm.active"""
)
_KEYS_OF_ROLES = RawSQL(
    """SELECT id FROM api_keys
       WHERE role = ANY(:roles::text[]) AND active
         AND (:branch::uuid IS NULL OR branch_id IS NULL OR branch_id = :branch::uuid)
       ORDER BY id"""
)
_EMERGENCY = RawSQL(
    """SELECT p.subject_id FROM notification_profiles p JOIN api_keys k ON k.id = p.subject_id
       WHERE p.kind = 'engineer' AND p.emergency_group AND k.active ORDER BY p.subject_id"""
)
# Subscriptions (per notice type) and profiles of the candidates, in one read (by the
# unique key and the primary key).
_WORDS = RawSQL(
    """SELECT 's' AS what, s.event_type, s.subject_kind AS kind, s.subject, s.subscribed,
              NULL::uuid AS calendar_id, NULL::text AS digest
       FROM unnest(:event_types::text[], :kinds::text[], :subjects::text[])
            AS x(event_type, kind, subject)
       JOIN notification_subscriptions s ON s.subject_kind = x.kind AND s.subject = x.subject
            AND s.event_type = x.event_type
       UNION ALL
       SELECT 'p', NULL, p.kind, p.subject_id::text, NULL, p.calendar_id, p.digest
       FROM unnest(:pkinds::text[], :pids::uuid[]) AS y(kind, id)
       JOIN notification_profiles p ON p.kind = y.kind AND p.subject_id = y.id"""
)
# Per (address, ticket, flood key): suppressed; already mailed about this flood key on
# this ticket; and the mails of the cap window, in all and about this ticket. Mails that
# went or will go one by one (or as a digest) count; what was skipped, suppressed or
# merged into a digest does not. The batch's own messages never count here (a repeat,
# or a preview of one already consumed): the planner adds what it plans for them.
_ADDRESS_FACTS = RawSQL(
    """SELECT x.address, x.ticket_id, x.flood_key,
              EXISTS (SELECT 1 FROM mail_suppressions s
                      WHERE s.address = x.address AND s.suppressed) AS suppressed,
              (x.flood_key IS NOT NULL AND EXISTS (
                  SELECT 1 FROM email_deliveries d
                  WHERE d.ticket_id = x.ticket_id AND d.flood_key = x.flood_key
                    AND d.address = x.address AND d.state NOT IN ('skipped', 'suppressed')
                    AND (d.outbox_id IS NULL OR d.outbox_id <> ALL(:outbox::uuid[]))))
                  AS flooded,
              w.total, w.per_ticket
       FROM unnest(:a::text[], :t::uuid[], :k::text[]) AS x(address, ticket_id, flood_key)
       CROSS JOIN LATERAL (
           SELECT count(*) AS total,
                  count(*) FILTER (WHERE d.ticket_id = x.ticket_id) AS per_ticket
           FROM email_deliveries d
           WHERE d.address = x.address AND d.created_at >= :since::timestamptz
             AND d.state NOT IN ('skipped', 'suppressed', 'digested')
             AND (d.outbox_id IS NULL OR d.outbox_id <> ALL(:outbox::uuid[]))) AS w"""
)


async def _fetch(uow: UnitOfWork, stmt: RawSQL, **values: Any) -> list[Any]:
    conn = await uow.connection()
    return list(await conn.fetch(stmt.sql, *stmt.args(values)))


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What the notices need of a ticket (its row as it is now)."""

    id: uuid.UUID
    number: str
    subject: str
    status: str
    priority: str
    branch_id: uuid.UUID
    customer_id: uuid.UUID
    contact_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    secondary_owner_id: uuid.UUID | None
    resolution_summary: str | None
    support_line: str


@dataclass(frozen=True, slots=True)
class EventFacts:
    """One message's rule, ticket and actor, as `_EVENTS` reads them: `row` holds the
    rule (roles, urgent, enabled: NULL without one), the actor (actor_id, actor_name),
    the ticket's customer (customer, customer_en) and contact (contact_*)."""

    row: Any
    ticket: TicketFacts | None


def _ticket(r: Any) -> TicketFacts | None:
    if r["ticket_id"] is None:
        return None
    return TicketFacts(
        r["ticket_id"], r["number"], r["subject"], r["status"], r["priority"], r["branch_id"],
        r["customer_id"], r["ticket_contact_id"], r["owner_id"], r["secondary_owner_id"],
        r["resolution_summary"], r["support_line"],
    )  # fmt: skip


async def events(
    uow: UnitOfWork, wanted: Sequence[tuple[str, uuid.UUID | None, uuid.UUID | None]]
) -> list[EventFacts]:
    """For each (notice, ticket id or None, timeline event id or None), in order."""
    if not wanted:
        return []
    rows = await _fetch(uow, _EVENTS, notices=[w[0] for w in wanted],
                        tickets=[w[1] for w in wanted], events=[w[2] for w in wanted])  # fmt: skip
    return [EventFacts(r, _ticket(r)) for r in rows]


async def identities(uow: UnitOfWork, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """id -> key_name, key_active, has_profile, name, name_en, email, languages,
    engineer_active, manager_id; the team managers of the engineers among them too."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    return {r["id"]: r for r in await _fetch(uow, _IDENTITIES, ids=wanted)}


async def keys_of_roles(
    uow: UnitOfWork, roles: Sequence[str], branch_id: uuid.UUID | None
) -> list[uuid.UUID]:
    """The active keys of these roles that see `branch_id` (None: every key)."""
    if not roles:
        return []
    return [r[0] for r in await _fetch(uow, _KEYS_OF_ROLES, roles=list(roles), branch=branch_id)]


async def emergency_group(uow: UnitOfWork) -> list[uuid.UUID]:
    return [r[0] for r in await _fetch(uow, _EMERGENCY)]


@dataclass(frozen=True)
class Words:
    """What the candidates said: subscriptions, (notice type, kind, subject) ->
    subscribed; profiles, (kind, id) -> (calendar_id, digest)."""

    subscriptions: dict[tuple[str, str, str], bool]
    profiles: dict[tuple[str, uuid.UUID], tuple[uuid.UUID | None, str]]


async def words(
    uow: UnitOfWork,
    subjects: Iterable[tuple[str, str, str]],
    profiles: Iterable[tuple[str, uuid.UUID]],
) -> Words:
    """`subjects`: (notice type, kind, subject); `profiles`: (kind, id)."""
    subs, profs = list(dict.fromkeys(subjects)), list(dict.fromkeys(profiles))
    if not subs and not profs:
        return Words({}, {})
    rows = await _fetch(
        uow, _WORDS, event_types=[e for e, _, _ in subs], kinds=[k for _, k, _ in subs],
        subjects=[s for _, _, s in subs], pkinds=[k for k, _ in profs],
        pids=[i for _, i in profs],
    )  # fmt: skip
    out = Words({}, {})
    for r in rows:
        if r["what"] == "s":
            out.subscriptions[(r["event_type"], r["kind"], r["subject"])] = bool(r["subscribed"])
        else:
            out.profiles[(r["kind"], uuid.UUID(r["subject"]))] = (r["calendar_id"], r["digest"])
    return out


@dataclass(frozen=True)
class AddressFacts:
    suppressed: bool = False
    flooded: bool = False
    total: int = 0
    per_ticket: int = 0


FactsKey = tuple[str, uuid.UUID | None, str | None]  # address, ticket, flood key


async def address_facts(
    uow: UnitOfWork,
    wanted: Iterable[FactsKey],
    *,
    since: datetime,
    outbox_ids: Sequence[uuid.UUID],
) -> dict[FactsKey, AddressFacts]:
    """What the database says of each (address, ticket, flood key), leaving out the
    deliveries of the messages `outbox_ids` (the batch being planned)."""
    keys = list(dict.fromkeys(wanted))
    if not keys:
        return {}
    rows = await _fetch(uow, _ADDRESS_FACTS, a=[k[0] for k in keys], t=[k[1] for k in keys],
                        k=[k[2] for k in keys], since=since, outbox=list(outbox_ids))  # fmt: skip
    return {(r[0], r[1], r[2]): AddressFacts(bool(r[3]), bool(r[4]), int(r[5]), int(r[6]))
            for r in rows}  # fmt: skip


_SUPPRESSED = text("SELECT address FROM mail_suppressions WHERE address = ANY(:a) AND suppressed")


async def suppressed(uow: UnitOfWork, addresses: Sequence[str]) -> set[str]:
    if not addresses:
        return set()
    rows = (await uow.session.execute(_SUPPRESSED, {"a": list(addresses)})).all()
    return {r[0] for r in rows}


# -- deliveries -------------------------------------------------------------------------


# One statement per drain batch, its rows as arrays (a multi-row INSERT built by the ORM
# cost milliseconds to compile each time). ON CONFLICT DO NOTHING covers both unique
# keys, (event, address) and the Message-ID.
_INSERT = RawSQL(
    """INSERT INTO email_deliveries (id, outbox_id, event_type, ticket_id, ticket_number, role,
           flood_key, recipient_kind, recipient_id, address, display_name, language, urgent,
           state, reason, message_id, in_reply_to, subject, text_body, html_body, attempts,
           resends, available_at, held_until, created_at, updated_at)
       SELECT x.id, x.outbox_id, x.event_type, x.ticket_id, x.ticket_number, x.role,
              x.flood_key, x.kind, x.recipient_id, x.address, x.display_name, x.language,
              x.urgent, x.state, x.reason, x.message_id, x.in_reply_to, x.subject,
              x.text_body, x.html_body, 0, 0, x.available_at, x.held_until,
              :now::timestamptz, :now::timestamptz
       FROM unnest(:ids::uuid[], :outbox_ids::uuid[], :event_types::text[], :tickets::uuid[],
                   :numbers::text[], :roles::text[], :flood_keys::text[], :kinds::text[],
                   :recipient_ids::uuid[], :addresses::text[], :names::text[],
                   :languages::text[], :urgent::boolean[], :states::text[], :reasons::text[],
                   :message_ids::text[], :in_reply_to::text[], :subjects::text[],
                   :texts::text[], :htmls::text[], :available::timestamptz[],
                   :held::timestamptz[])
            AS x(id, outbox_id, event_type, ticket_id, ticket_number, role, flood_key, kind,
                 recipient_id, address, display_name, language, urgent, state, reason,
                 message_id, in_reply_to, subject, text_body, html_body, available_at,
                 held_until)
       ON CONFLICT DO NOTHING
       RETURNING id"""
)


async def insert_deliveries(uow: UnitOfWork, rows: dict[str, list[Any]], now: datetime) -> int:
    """Writes deliveries (`rows`: one list per column, as `_INSERT` names them).
    Returns how many were new."""
    if not rows["ids"]:
        return 0
    conn = await uow.connection()
    return len(await conn.fetch(_INSERT.sql, *_INSERT.args({**rows, "now": now})))


# -- digests ----------------------------------------------------------------------------

DIGEST_LOCK = 0x6D61696C  # "mail": one composing pass at a time, across workers

_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:k, hashtext('mail.digest'))")


async def try_digest_lock(uow: UnitOfWork) -> bool:
    return bool((await uow.session.execute(_TRY_LOCK, {"k": DIGEST_LOCK})).scalar())


async def ripe_members(uow: UnitOfWork, now: datetime, limit: int) -> list[EmailDelivery]:
    """Notices waiting for a digest whose time has come, per address, oldest first."""
    D = EmailDelivery
    stmt = (
        select(D)
        .where(col(D.state) == "digested", col(D.digest_id).is_(None), col(D.available_at) <= now)
        .order_by(col(D.address), col(D.created_at), col(D.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await uow.session.execute(stmt)).scalars())
