"""From an outbox message to its deliveries: who hears of it, in which language, when,
and what happens to each (queued, held for working hours, merged into a digest,
suppressed, or skipped and why), with the rendered mail. The consumer writes the plan
(`write`); the preview returns it and writes nothing.

Steps, for one message:

1. The notice type (`rules.notice_type`) and its rule; no rule, or a disabled one: no
   notice at all.
2. The candidates, by role in RECIPIENT_ROLES order: the ticket's contact (reporter),
   owner, secondary owner (for an assignment or a handoff, whom the event names), the
   escalation chain's recipients (key ids and `role:<role>` keys seeing the ticket's
   branch), the owner's team manager (the secondary's while nobody owns it), the
   emergency group (profiles marked so) and the management roles an incident names.
3. Each candidate hears of it if his own subscription says so, else his role's, else
   the rule (`rules.decide`); an explicit "no" is recorded as skipped.
4. One delivery per address, the first role naming it kept. Then, in order: no contact,
   inactive identity or no address -> skipped; the event's own actor (the author of a
   comment, whoever made the change; a contact's mail, through the mail identity, is
   the contact's) -> skipped; suppressed address -> suppressed; an SLA target's level
   already mailed to the address -> skipped; a digest profile (non-urgent) -> digested
   until its period ends; a cap reached -> digested; else queued, held until the next
   working instant of the recipient's calendar unless urgent."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.access.defaults import MAIL_ID
from app.calendars import service as calendars
from app.calendars.businesstime import CalendarSpec
from app.calendars.defaults import CALENDAR_CN_5X8
from app.calendars.holiday_source import china_5x8
from app.callbacks.interface import survey_link
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.ids import uuid7
from app.incidents.service import DECLARED_TO
from app.mail import ids, quiet, render, rules
from app.mail.models import RECIPIENT_ROLES
from app.mail.repository import notices as repo
from app.outbox.models import OutboxMessage
from app.tickets import interface as tickets
from app.tickets.interface import Ticket

ADDRESS_MAX = 320
EMERGENCY = "emergency_group"


@dataclass
class Person:
    """A candidate recipient in one role."""

    role: str
    kind: str  # contact | engineer (any API identity)
    id: uuid.UUID | None
    customer_id: uuid.UUID | None = None
    name: str | None = None
    email: str | None = None
    language: str = render.DEFAULT_LANGUAGE
    active: bool = True
    missing: str | None = None  # why there is nobody, when there is nobody

    @property
    def staff(self) -> bool:
        return self.kind == "engineer"

    @property
    def key(self) -> str:
        """What one delivery is per: the address, else who he is."""
        return self.email or f"{self.kind}:{self.id or self.role}"


@dataclass
class Planned:
    """One delivery row as it would be written."""

    role: str
    recipient_kind: str
    recipient_id: uuid.UUID | None
    address: str
    display_name: str | None
    language: str
    urgent: bool
    state: str
    reason: str | None
    available_at: datetime
    held_until: datetime | None
    message_id: str
    in_reply_to: str | None
    subject: str = ""
    text_body: str = ""
    html_body: str = ""
    flood_key: str | None = None


@dataclass
class Plan:
    message: OutboxMessage
    notice: str | None = None
    urgent: bool = False
    ticket_id: uuid.UUID | None = None
    ticket_number: str | None = None
    deliveries: list[Planned] = field(default_factory=list)


@dataclass
class _Context:
    message: OutboxMessage
    notice: str
    roles: list[str]  # the rule's
    urgent: bool
    now: datetime
    event: Any = None  # repo.event_facts: actor, customer, contact
    ticket: Ticket | None = None
    facts: dict[str, Any] | None = None
    incident: dict[str, Any] | None = None
    identities: dict[uuid.UUID, Any] = field(default_factory=dict)
    words: repo.Words = field(default_factory=lambda: repo.Words({}, {}))

    @property
    def actor_id(self) -> uuid.UUID | None:
        return self.event["actor_id"] if self.event is not None else None

    @property
    def actor_name(self) -> str | None:
        return self.event["actor_name"] if self.event is not None else None


def _mapping(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _address(value: object) -> str | None:
    """A usable address, lower-cased; None for none or one that cannot be mailed."""
    if not isinstance(value, str):
        return None
    address = value.strip().lower()
    if not address or len(address) > ADDRESS_MAX or address.count("@") != 1:
        return None
    if any(c.isspace() or ord(c) < 32 or c in '<>,;"' for c in address):
        return None
    local, _, domain = address.partition("@")
    return address if local and "." in domain else None


# -- 1. the notice and its context ------------------------------------------------------


async def _context(uow: UnitOfWork, message: OutboxMessage, now: datetime) -> _Context | None:
    payload = _mapping(message.payload)
    notice = rules.notice_type(message.event_type, message.aggregate_type, payload)
    if notice is None:
        return None
    ticket = None
    if message.aggregate_type == "ticket":
        ticket = await tickets.get_any(uow, message.aggregate_id)
        if ticket is None:
            return None  # a message about no ticket (a test row, deleted data): no notice
    event = await repo.event_facts(
        uow, notice, message.event_id if ticket else None,
        ticket.customer_id if ticket else None, ticket.contact_id if ticket else None,
    )  # fmt: skip
    if event["roles"] is None or not event["enabled"]:
        return None  # no rule, or turned off: nobody hears of it
    priority = payload.get("priority") or (ticket.priority if ticket else None)
    urgent = rules.is_urgent(bool(event["urgent"]), message.aggregate_type, priority)
    ctx = _Context(message, notice, list(event["roles"]), urgent, now, event, ticket)
    if ticket is None:
        ctx.incident = payload
    return ctx


def _facts(ctx: _Context) -> dict[str, Any]:
    """The ticket as the event saw it (its status and priority then) for the templates."""
    t = ctx.ticket
    assert t is not None
    payload = _mapping(ctx.message.payload)
    owner = ctx.identities.get(t.owner_id) if t.owner_id else None
    return {
        "id": str(t.id), "number": t.number, "subject": t.subject,
        "status": payload.get("status") or t.status,
        "priority": payload.get("priority") or t.priority,
        "customer": ctx.event["customer"], "customer_en": ctx.event["customer_en"],
        "owner": (owner["name"] or owner["key_name"]) if owner else None,
        "owner_en": (owner["name_en"] or owner["name"] or owner["key_name"]) if owner else None,
        "resolution_summary": t.resolution_summary, "support_line": t.support_line,
    }  # fmt: skip


# -- 2. candidates ----------------------------------------------------------------------


def _person(role: str, ident: Any) -> Person:
    languages = ident["languages"] or []
    language = render.language_of(languages[0] if languages else None)
    name = ident["name"] or ident["key_name"]
    if language == "en" and ident["name_en"]:
        name = ident["name_en"]
    active = bool(ident["key_active"]) and (
        not ident["has_profile"] or bool(ident["engineer_active"])
    )
    return Person(role, "engineer", ident["id"], name=name, email=_address(ident["email"]),
                  language=language, active=active)  # fmt: skip


def _reporter(t: Ticket, e: Any) -> Person:
    if e["contact_id"] is None:
        return Person("reporter", "contact", t.contact_id, missing="no_contact")
    return Person("reporter", "contact", e["contact_id"], customer_id=e["contact_customer_id"],
                  name=e["contact_name"], email=_address(e["contact_email"]),
                  language=render.language_of(e["contact_language"]),
                  active=bool(e["contact_active"]))  # fmt: skip


async def _named_ids(uow: UnitOfWork, ctx: _Context) -> dict[str, list[uuid.UUID]]:
    """The identities each staff role names, before the team manager (who follows)."""
    payload = _mapping(ctx.message.payload)
    out: dict[str, list[uuid.UUID]] = {}
    t = ctx.ticket
    if t is not None:
        named = rules.named(ctx.notice, payload)
        out["owner"] = [i for i in [named.owner_id or t.owner_id] if i]
        out["secondary_owner"] = [i for i in [named.secondary_id or t.secondary_owner_id] if i]
        if ctx.notice == rules.ESCALATION_NOTICE:
            chain, roles = rules.chain_recipients(payload)
            out["escalation_chain"] = chain + await repo.keys_of_roles(uow, roles, t.branch_id)
    if ctx.incident is not None:
        named_to = payload.get("recipients")
        wanted = named_to if isinstance(named_to, list) else DECLARED_TO
        chain, roles = rules.chain_recipients({"recipients": wanted})
        group = await repo.emergency_group(uow) if "group:emergency" in wanted else []
        out[EMERGENCY] = group + chain + await repo.keys_of_roles(uow, roles, None)
    return out


async def _candidates(uow: UnitOfWork, ctx: _Context) -> list[Person]:
    named = await _named_ids(uow, ctx)
    t = ctx.ticket
    wanted = [i for ids_ in named.values() for i in ids_]
    if t is not None and t.owner_id:
        wanted.append(t.owner_id)  # for the owner's name in the facts
    ctx.identities = await repo.identities(uow, wanted)  # their team managers' too
    manager = _team_manager(ctx, named)
    named["team_manager"] = [manager] if manager else []
    people: list[Person] = []
    if t is not None:
        ctx.facts = _facts(ctx)
        people.append(_reporter(t, ctx.event))
    for role in RECIPIENT_ROLES:
        for i in named.get(role, []):
            ident = ctx.identities.get(i)
            if ident is not None:
                people.append(_person(role, ident))
    return people


def _team_manager(ctx: _Context, named: dict[str, list[uuid.UUID]]) -> uuid.UUID | None:
    """The owner's team manager; while nobody owns it, the secondary owner's."""
    if ctx.ticket is None:
        return None
    for role in ("owner", "secondary_owner"):
        for i in named.get(role, []):
            ident = ctx.identities.get(i)
            if ident is not None:
                found: uuid.UUID | None = ident["manager_id"]
                return found
    return None


# -- 3. subscriptions -------------------------------------------------------------------


def _subjects(p: Person) -> list[tuple[str, str]]:
    subjects = [("role", p.role)]
    if p.kind == "engineer" and p.id:
        subjects.append(("engineer", str(p.id)))
    if p.kind == "contact" and p.customer_id:
        subjects.append(("customer", str(p.customer_id)))
    return subjects


def _person_word(p: Person, subs: dict[tuple[str, str], bool]) -> tuple[str, bool] | None:
    if p.kind == "engineer" and p.id and ("engineer", str(p.id)) in subs:
        return "engineer", subs[("engineer", str(p.id))]
    if p.kind == "contact" and p.customer_id and ("customer", str(p.customer_id)) in subs:
        return "customer", subs[("customer", str(p.customer_id))]
    return None


async def _chosen(
    uow: UnitOfWork, ctx: _Context, people: list[Person]
) -> list[tuple[Person, str | None]]:
    """One (person, skip reason or None) per key: the included first, in role order;
    an explicit opt-out is kept (skipped) only for someone nobody else names. Reads the
    candidates' subscriptions and profiles together."""
    ctx.words = await repo.words(
        uow, ctx.notice, (s for p in people for s in _subjects(p)),
        [k for p in people if (k := _profile_key(p))],
    )  # fmt: skip
    subs = ctx.words.subscriptions
    included: dict[str, Person] = {}
    opted_out: dict[str, tuple[Person, str]] = {}
    for p in people:
        d = rules.decide(p.role, ctx.roles, subs.get(("role", p.role)), _person_word(p, subs))
        if d.included:
            included.setdefault(p.key, p)
        elif d.source != "none":
            why = f"opted_out: the {d.source}'s subscription turns it off"
            opted_out.setdefault(p.key, (p, why))
    out: list[tuple[Person, str | None]] = [(p, None) for p in included.values()]
    out += [(p, why) for key, (p, why) in opted_out.items() if key not in included]
    return out


# -- 4. what happens to each ------------------------------------------------------------


def _own_action(ctx: _Context, p: Person) -> str | None:
    # What arrives by mail is recorded by the mail identity: it is the contact's own,
    # the ticket's contact unless the event names another (a colleague who replied).
    by_mail = ctx.actor_id == MAIL_ID
    writer = _mapping(_mapping(ctx.message.payload).get("data")).get("contact_id")
    own = (p.kind == "engineer" and p.id is not None and p.id == ctx.actor_id) or (
        p.role == "reporter" and by_mail and writer in (None, str(p.id))
    )
    if not own:
        return None
    if ctx.notice == "ticket.comment_added":
        return "own_comment: the recipient wrote this comment"
    return "own_action: the recipient made this change"


def _missing(p: Person) -> str | None:
    if p.missing == "no_contact":
        return "no_contact: the ticket has no contact"
    if not p.active:
        return "inactive: the recipient is no longer active"
    if p.email is None:
        what = "contact" if p.kind == "contact" else "identity has no engineer profile or it"
        return f"no_address: the {what} has no usable e-mail address"
    return None


@dataclass
class _Limits:
    addresses: dict[str, repo.AddressFacts]
    specs: dict[uuid.UUID, CalendarSpec]


async def _limits(uow: UnitOfWork, ctx: _Context, people: list[Person]) -> _Limits:
    settings = get_settings()
    calendar_ids = {CALENDAR_CN_5X8} | {
        cal for cal, _ in ctx.words.profiles.values() if cal is not None
    }
    facts = await repo.address_facts(
        uow, [p.email for p in people if p.email],
        ticket_id=ctx.ticket.id if ctx.ticket else None,
        flood_key=rules.flood_key(ctx.notice, _mapping(ctx.message.payload)),
        since=ctx.now - timedelta(minutes=settings.mail_cap_window_minutes),
        outbox_id=ctx.message.id,
    )  # fmt: skip
    return _Limits(facts, await calendars.specs(uow, calendar_ids))


def _profile_key(p: Person) -> tuple[str, uuid.UUID] | None:
    if p.kind == "engineer" and p.id:
        return ("engineer", p.id)
    if p.kind == "contact" and p.customer_id:
        return ("customer", p.customer_id)
    return None


def _calendar(ctx: _Context, p: Person, limits: _Limits) -> tuple[CalendarSpec, str]:
    """The recipient's calendar (his profile's, else China 5x8) and its digest mode."""
    key = _profile_key(p)
    calendar_id, digest = ctx.words.profiles.get(key, (None, "off")) if key else (None, "off")
    spec = limits.specs.get(calendar_id) if calendar_id is not None else None
    return spec or limits.specs.get(CALENDAR_CN_5X8) or china_5x8(), digest


def _state(ctx: _Context, p: Person, skip: str | None, limits: _Limits) -> tuple[str, str | None, datetime, datetime | None]:  # fmt: skip
    """(state, reason, available_at, held_until)."""
    now, settings = ctx.now, get_settings()
    reason = skip or _missing(p) or _own_action(ctx, p)
    if reason is not None:
        return "skipped", reason, now, None
    assert p.email is not None
    facts = limits.addresses.get(p.email, repo.AddressFacts())
    if facts.suppressed:
        return "suppressed", "suppressed: the address bounced hard and is suppressed", now, None
    if facts.flooded:
        return "skipped", "already_notified: this address had this SLA level's mail", now, None
    spec, digest = _calendar(ctx, p, limits)

    def when(at: datetime) -> datetime:
        return at if ctx.urgent else max(quiet.send_at(spec, at), at)

    if digest != "off" and not ctx.urgent:
        end = quiet.period_end(digest, spec.tz, now)
        return (
            "digested",
            f"digest_{digest}: the recipient reads these in a digest",
            when(end),
            None,
        )
    total, per_ticket = facts.total, facts.per_ticket
    window = settings.mail_cap_window_minutes
    if ctx.ticket is not None and per_ticket >= settings.mail_cap_per_ticket:
        why = f"cap_per_ticket: {per_ticket} mails about this ticket in {window} minutes"
        return "digested", why, when(now), None
    if total >= settings.mail_cap_total:
        return "digested", f"cap_total: {total} mails in {window} minutes", when(now), None
    at = when(now)
    return "queued", None, at, (at if at > now else None)


async def _rendered(
    uow: UnitOfWork, ctx: _Context, p: Person, spec: CalendarSpec, full: bool
) -> render.Rendered:
    t, payload = ctx.ticket, _mapping(ctx.message.payload)
    facts = dict(ctx.facts or {})
    if p.language == "en":
        facts["customer"] = facts.get("customer_en") or facts.get("customer")
        facts["owner"] = facts.get("owner_en") or facts.get("owner")
    survey = None
    if full and t is not None and ctx.notice == "ticket.resolved" and p.role == "reporter":
        survey = await survey_link(uow, t.id)
    return render.render(render.Notice(
        notice=ctx.notice, language=p.language, role=p.role, staff=p.staff,
        recipient_name=p.name, tz=spec.tz, ticket=facts or None, incident=ctx.incident,
        data=_mapping(payload.get("data")), before=_mapping(payload.get("before")),
        after=_mapping(payload.get("after")), actor=ctx.actor_name,
        ticket_link=render.staff_link(t.id) if t is not None and p.staff else None,
        survey_link=survey,
    ), full=full)  # fmt: skip


def _thread(ctx: _Context, domain: str) -> str:
    if ctx.ticket is not None:
        return ids.ticket_root_id(ctx.ticket.id, domain)
    return incident_root_id(ctx.message.aggregate_id, domain)


def incident_root_id(incident_id: uuid.UUID, domain: str) -> str:
    """The thread of an incident's notices. Not a ticket's root id: a reply to it must
    not be taken for a reply on a ticket (ids.ticket_from_headers ignores it)."""
    return f"<incident.{incident_id}@{domain}>"


async def plan(
    uow: UnitOfWork, message: OutboxMessage, now: datetime, *, render_all: bool = False
) -> Plan:
    """What the message makes, without writing. `render_all` (the preview) renders the
    mails of skipped and suppressed recipients too; the consumer stores only subjects
    for those."""
    ctx = await _context(uow, message, now)
    if ctx is None:
        return Plan(message)
    people = await _candidates(uow, ctx)
    chosen = await _chosen(uow, ctx, people)
    limits = await _limits(uow, ctx, [p for p, _ in chosen])
    domain = get_settings().mail_domain
    result = Plan(message, ctx.notice, ctx.urgent, ctx.ticket.id if ctx.ticket else None,
                  ctx.ticket.number if ctx.ticket else None)  # fmt: skip
    key = rules.flood_key(ctx.notice, _mapping(message.payload))
    for p, skip in chosen:
        state, reason, available_at, held = _state(ctx, p, skip, limits)
        spec, _ = _calendar(ctx, p, limits)
        full = render_all or state in ("queued", "digested")
        mail = await _rendered(uow, ctx, p, spec, full)
        result.deliveries.append(Planned(
            role=p.role, recipient_kind=p.kind, recipient_id=p.id, address=p.email or "",
            display_name=render.one_line(p.name, 200) if p.name else None,
            language=p.language, urgent=ctx.urgent, state=state, reason=reason,
            available_at=available_at, held_until=held,
            message_id=ids.delivery_message_id(message.id, p.key, domain),
            in_reply_to=_thread(ctx, domain), subject=mail.subject,
            text_body=mail.text if full else "", html_body=mail.html if full else "",
            flood_key=key if state not in ("skipped", "suppressed") else None,
        ))  # fmt: skip
    return result


async def write(uow: UnitOfWork, p: Plan, now: datetime) -> int:
    """Writes the plan's deliveries once: a delivery already there (the same event and
    address, or the same Message-ID) is left as it is. Returns how many were new."""
    ds = p.deliveries
    event = {"outbox": p.message.id, "event_type": p.notice, "ticket": p.ticket_id,
             "number": p.ticket_number, "urgent": p.urgent,
             "in_reply_to": ds[0].in_reply_to if ds else None, "now": now}  # fmt: skip
    rows: dict[str, list[Any]] = {
        "ids": [uuid7() for _ in ds], "roles": [d.role for d in ds],
        "flood_keys": [d.flood_key for d in ds], "kinds": [d.recipient_kind for d in ds],
        "recipient_ids": [d.recipient_id for d in ds], "addresses": [d.address for d in ds],
        "names": [d.display_name for d in ds], "languages": [d.language for d in ds],
        "states": [d.state for d in ds], "reasons": [d.reason for d in ds],
        "message_ids": [d.message_id for d in ds], "subjects": [d.subject for d in ds],
        "texts": [d.text_body for d in ds], "htmls": [d.html_body for d in ds],
        "available": [d.available_at for d in ds], "held": [d.held_until for d in ds],
    }  # fmt: skip
    return await repo.insert_deliveries(uow, event, rows)
