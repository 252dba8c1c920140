"""From outbox messages to their deliveries: who hears of each, in which language, when,
and what happens to each delivery (queued, held for working hours, merged into a
digest, suppressed, or skipped and why), with the rendered mail. The consumer writes
the plans (`write`); the preview returns one and writes nothing.

The drain hands the consumer a whole batch (`plan_many`): every read is one statement
for the batch (the events with their rule, ticket, actor, customer and contact; the
identities; the subscriptions and profiles; the addresses' flood and cap counts; the
calendars), then each message is planned in order in Python. The flood rule and the
caps count what the batch's earlier messages planned (`_Ledger`) as well as what the
database holds, so a batch plans what the same messages consumed one by one would.

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
from collections import Counter
from collections.abc import Mapping, Sequence
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
from app.mail import ids, quiet, render, rules, smtp
from app.mail.models import RECIPIENT_ROLES
from app.mail.repository import notices as repo
from app.outbox.models import OutboxMessage

ADDRESS_MAX = 320
EMERGENCY = "emergency_group"
Ticket = repo.TicketFacts


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
    payload: dict[str, Any]
    notice: str
    roles: list[str]  # the rule's
    urgent: bool
    now: datetime
    event: Any = None  # the row of repo.events: rule, actor, customer, contact
    ticket: Ticket | None = None
    facts: dict[str, Any] | None = None
    incident: dict[str, Any] | None = None
    named: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    chosen: list[tuple[Person, str | None]] = field(default_factory=list)

    @property
    def actor_id(self) -> uuid.UUID | None:
        return self.event["actor_id"] if self.event is not None else None

    @property
    def actor_name(self) -> str | None:
        return self.event["actor_name"] if self.event is not None else None

    @property
    def ticket_id(self) -> uuid.UUID | None:
        return self.ticket.id if self.ticket is not None else None

    @property
    def flood_key(self) -> str | None:
        return rules.flood_key(self.notice, self.payload)


@dataclass
class _Batch:
    """What the batch's reads found, shared by its messages."""

    identities: dict[uuid.UUID, Any] = field(default_factory=dict)
    words: repo.Words = field(default_factory=lambda: repo.Words({}, {}))
    addresses: dict[repo.FactsKey, repo.AddressFacts] = field(default_factory=dict)
    specs: dict[uuid.UUID, CalendarSpec] = field(default_factory=dict)


def _mapping(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _address(value: object) -> str | None:
    """A usable address, lower-cased; None for none or one that cannot be mailed."""
    if not isinstance(value, str):
        return None
    address = value.strip().lower()
    if not address or len(address) > ADDRESS_MAX or address.count("@") != 1:
        return None
    try:
        smtp.check_address(address)  # the sender's own rules: what it could not send
    except smtp.Unbuildable:
        return None
    local, _, domain = address.partition("@")
    return address if local and "." in domain else None


# -- 1. the notices and their context ---------------------------------------------------


async def _contexts(
    uow: UnitOfWork, messages: Sequence[OutboxMessage], now: datetime
) -> list[_Context | None]:
    """Each message's context, or None when it is no notice (no rule, a disabled one, a
    message about no ticket: a test row, deleted data)."""
    out: list[_Context | None] = [None] * len(messages)
    wanted: list[tuple[int, str, dict[str, Any]]] = []
    for i, m in enumerate(messages):
        payload = _mapping(m.payload)
        notice = rules.notice_type(m.event_type, m.aggregate_type, payload)
        if notice is not None:
            wanted.append((i, notice, payload))
    found = await repo.events(uow, [
        (notice, messages[i].aggregate_id if messages[i].aggregate_type == "ticket" else None,
         messages[i].event_id) for i, notice, _ in wanted
    ])  # fmt: skip
    for (i, notice, payload), facts in zip(wanted, found, strict=True):
        m, e, ticket = messages[i], facts.row, facts.ticket
        if m.aggregate_type == "ticket" and ticket is None:
            continue
        if e["roles"] is None or not e["enabled"]:
            continue  # no rule, or turned off: nobody hears of it
        priority = payload.get("priority") or (ticket.priority if ticket else None)
        urgent = rules.is_urgent(bool(e["urgent"]), m.aggregate_type, priority)
        ctx = _Context(m, payload, notice, list(e["roles"]), urgent, now, e, ticket)
        if ticket is None:
            ctx.incident = payload
        out[i] = ctx
    return out


def _facts(ctx: _Context, identities: dict[uuid.UUID, Any]) -> dict[str, Any]:
    """The ticket as the event saw it (its status and priority then) for the templates."""
    t = ctx.ticket
    assert t is not None
    owner = identities.get(t.owner_id) if t.owner_id else None
    return {
        "id": str(t.id), "number": t.number, "subject": t.subject,
        "status": ctx.payload.get("status") or t.status,
        "priority": ctx.payload.get("priority") or t.priority,
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


class _Keys:
    """The keys of roles and the emergency group, read once per batch when asked."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.of_roles: dict[tuple[tuple[str, ...], uuid.UUID | None], list[uuid.UUID]] = {}
        self.emergency: list[uuid.UUID] | None = None

    async def roles(self, roles: list[str], branch_id: uuid.UUID | None) -> list[uuid.UUID]:
        key = (tuple(roles), branch_id)
        if key not in self.of_roles:
            self.of_roles[key] = await repo.keys_of_roles(self.uow, roles, branch_id)
        return self.of_roles[key]

    async def group(self) -> list[uuid.UUID]:
        if self.emergency is None:
            self.emergency = await repo.emergency_group(self.uow)
        return self.emergency


async def _named_ids(keys: _Keys, ctx: _Context) -> dict[str, list[uuid.UUID]]:
    """The identities each staff role names, before the team manager (who follows)."""
    payload = ctx.payload
    out: dict[str, list[uuid.UUID]] = {}
    t = ctx.ticket
    if t is not None:
        named = rules.named(ctx.notice, payload)
        out["owner"] = [i for i in [named.owner_id or t.owner_id] if i]
        out["secondary_owner"] = [i for i in [named.secondary_id or t.secondary_owner_id] if i]
        if ctx.notice == rules.ESCALATION_NOTICE:
            chain, roles = rules.chain_recipients(payload)
            out["escalation_chain"] = chain + await keys.roles(roles, t.branch_id)
    if ctx.incident is not None:
        named_to = payload.get("recipients")
        wanted = named_to if isinstance(named_to, list) else DECLARED_TO
        chain, roles = rules.chain_recipients({"recipients": wanted})
        group = await keys.group() if "group:emergency" in wanted else []
        out[EMERGENCY] = group + chain + await keys.roles(roles, None)
    return out


async def _identities(uow: UnitOfWork, ctxs: list[_Context]) -> dict[uuid.UUID, Any]:
    """Every context's named identities (`ctx.named`), read together with their team
    managers."""
    keys = _Keys(uow)
    wanted: list[uuid.UUID] = []
    for ctx in ctxs:
        ctx.named = await _named_ids(keys, ctx)
        wanted += [i for ids_ in ctx.named.values() for i in ids_]
        if ctx.ticket is not None and ctx.ticket.owner_id:
            wanted.append(ctx.ticket.owner_id)  # for the owner's name in the facts
    return await repo.identities(uow, wanted)  # their team managers' too


def _candidates(ctx: _Context, identities: dict[uuid.UUID, Any]) -> list[Person]:
    named = dict(ctx.named)
    manager = _team_manager(ctx, named, identities)
    named["team_manager"] = [manager] if manager else []
    people: list[Person] = []
    if ctx.ticket is not None:
        ctx.facts = _facts(ctx, identities)
        people.append(_reporter(ctx.ticket, ctx.event))
    for role in RECIPIENT_ROLES:
        for i in named.get(role, []):
            ident = identities.get(i)
            if ident is not None:
                people.append(_person(role, ident))
    return people


def _team_manager(
    ctx: _Context, named: dict[str, list[uuid.UUID]], identities: dict[uuid.UUID, Any]
) -> uuid.UUID | None:
    """The owner's team manager; while nobody owns it, the secondary owner's."""
    if ctx.ticket is None:
        return None
    for role in ("owner", "secondary_owner"):
        for i in named.get(role, []):
            ident = identities.get(i)
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


def _person_word(
    notice: str, p: Person, subs: dict[tuple[str, str, str], bool]
) -> tuple[str, bool] | None:
    if p.kind == "engineer" and p.id and (notice, "engineer", str(p.id)) in subs:
        return "engineer", subs[(notice, "engineer", str(p.id))]
    if p.kind == "contact" and p.customer_id and (notice, "customer", str(p.customer_id)) in subs:
        return "customer", subs[(notice, "customer", str(p.customer_id))]
    return None


def _chosen(ctx: _Context, people: list[Person], words: repo.Words) -> list[tuple[Person, str | None]]:  # fmt: skip
    """One (person, skip reason or None) per key: the included first, in role order;
    an explicit opt-out is kept (skipped) only for someone nobody else names."""
    subs = words.subscriptions
    included: dict[str, Person] = {}
    opted_out: dict[str, tuple[Person, str]] = {}
    for p in people:
        d = rules.decide(p.role, ctx.roles, subs.get((ctx.notice, "role", p.role)),
                         _person_word(ctx.notice, p, subs))  # fmt: skip
        if d.included:
            included.setdefault(p.key, p)
        elif d.source != "none":
            why = f"opted_out: the {d.source}'s subscription turns it off"
            opted_out.setdefault(p.key, (p, why))
    out: list[tuple[Person, str | None]] = [(p, None) for p in included.values()]
    out += [(p, why) for key, (p, why) in opted_out.items() if key not in included]
    return out


async def _choose(uow: UnitOfWork, ctxs: list[_Context], batch: _Batch) -> None:
    """Every context's candidates and `ctx.chosen`, reading the candidates' subscriptions
    and profiles together."""
    people = {id(ctx): _candidates(ctx, batch.identities) for ctx in ctxs}
    batch.words = await repo.words(
        uow, ((ctx.notice, *s) for ctx in ctxs for p in people[id(ctx)] for s in _subjects(p)),
        [k for ctx in ctxs for p in people[id(ctx)] if (k := _profile_key(p))],
    )  # fmt: skip
    for ctx in ctxs:
        ctx.chosen = _chosen(ctx, people[id(ctx)], batch.words)


# -- 4. what happens to each ------------------------------------------------------------


def _own_action(ctx: _Context, p: Person) -> str | None:
    # What arrives by mail is recorded by the mail identity: it is the contact's own,
    # the ticket's contact unless the event names another (a colleague who replied).
    by_mail = ctx.actor_id == MAIL_ID
    writer = _mapping(ctx.payload.get("data")).get("contact_id")
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


async def _limits(uow: UnitOfWork, ctxs: list[_Context], batch: _Batch, now: datetime) -> None:
    """The addresses' flood and cap counts and the calendars, for the whole batch."""
    settings = get_settings()
    calendar_ids = {CALENDAR_CN_5X8} | {
        cal for cal, _ in batch.words.profiles.values() if cal is not None
    }
    batch.addresses = await repo.address_facts(
        uow, ((p.email, ctx.ticket_id, ctx.flood_key)
              for ctx in ctxs for p, _ in ctx.chosen if p.email),
        since=now - timedelta(minutes=settings.mail_cap_window_minutes),
        outbox_ids=[ctx.message.id for ctx in ctxs],
    )  # fmt: skip
    batch.specs = await calendars.specs(uow, calendar_ids)


@dataclass
class _Ledger:
    """What the batch's earlier messages planned, which the database cannot show yet:
    mails counted by the caps (queued ones, per address and per address and ticket) and
    the flood keys reached (queued or digested)."""

    total: Counter[str] = field(default_factory=Counter)
    per_ticket: Counter[tuple[str, uuid.UUID]] = field(default_factory=Counter)
    flooded: set[tuple[str, uuid.UUID, str]] = field(default_factory=set)

    def facts(self, base: repo.AddressFacts, address: str, ticket: uuid.UUID | None,
              key: str | None) -> repo.AddressFacts:  # fmt: skip
        return repo.AddressFacts(
            base.suppressed,
            base.flooded or (ticket is not None and key is not None
                             and (address, ticket, key) in self.flooded),
            base.total + self.total[address],
            base.per_ticket + (self.per_ticket[(address, ticket)] if ticket else 0),
        )  # fmt: skip

    def add(self, d: Planned, ticket: uuid.UUID | None) -> None:
        if d.state == "queued":
            self.total[d.address] += 1
            if ticket is not None:
                self.per_ticket[(d.address, ticket)] += 1
        if d.flood_key is not None and ticket is not None and d.state in ("queued", "digested"):
            self.flooded.add((d.address, ticket, d.flood_key))


def _profile_key(p: Person) -> tuple[str, uuid.UUID] | None:
    if p.kind == "engineer" and p.id:
        return ("engineer", p.id)
    if p.kind == "contact" and p.customer_id:
        return ("customer", p.customer_id)
    return None


def _calendar(p: Person, batch: _Batch) -> tuple[CalendarSpec, str]:
    """The recipient's calendar (his profile's, else China 5x8) and its digest mode."""
    key = _profile_key(p)
    calendar_id, digest = batch.words.profiles.get(key, (None, "off")) if key else (None, "off")
    spec = batch.specs.get(calendar_id) if calendar_id is not None else None
    return spec or batch.specs.get(CALENDAR_CN_5X8) or china_5x8(), digest


def _state(
    ctx: _Context, p: Person, skip: str | None, batch: _Batch, ledger: _Ledger
) -> tuple[str, str | None, datetime, datetime | None]:
    """(state, reason, available_at, held_until)."""
    now, settings = ctx.now, get_settings()
    reason = skip or _missing(p) or _own_action(ctx, p)
    if reason is not None:
        return "skipped", reason, now, None
    assert p.email is not None
    where = (p.email, ctx.ticket_id, ctx.flood_key)
    facts = ledger.facts(batch.addresses.get(where, repo.AddressFacts()), *where)
    if facts.suppressed:
        return "suppressed", "suppressed: the address bounced hard and is suppressed", now, None
    if facts.flooded:
        return "skipped", "already_notified: this address had this SLA level's mail", now, None
    spec, digest = _calendar(p, batch)

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
    t, payload = ctx.ticket, ctx.payload
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


async def _plan(
    uow: UnitOfWork, ctx: _Context, batch: _Batch, ledger: _Ledger, render_all: bool
) -> Plan:
    domain = get_settings().mail_domain
    message = ctx.message
    result = Plan(message, ctx.notice, ctx.urgent, ctx.ticket_id,
                  ctx.ticket.number if ctx.ticket else None)  # fmt: skip
    key, thread = ctx.flood_key, _thread(ctx, domain)
    for p, skip in ctx.chosen:
        state, reason, available_at, held = _state(ctx, p, skip, batch, ledger)
        spec, _ = _calendar(p, batch)
        full = render_all or state in ("queued", "digested")
        mail = await _rendered(uow, ctx, p, spec, full)
        result.deliveries.append(Planned(
            role=p.role, recipient_kind=p.kind, recipient_id=p.id, address=p.email or "",
            display_name=render.one_line(p.name, 200) if p.name else None,
            language=p.language, urgent=ctx.urgent, state=state, reason=reason,
            available_at=available_at, held_until=held,
            message_id=ids.delivery_message_id(message.id, p.key, domain),
            in_reply_to=thread, subject=mail.subject,
            text_body=mail.text if full else "", html_body=mail.html if full else "",
            flood_key=key if state not in ("skipped", "suppressed") else None,
        ))  # fmt: skip
    for d in result.deliveries:
        ledger.add(d, ctx.ticket_id)
    return result


async def plan_many(
    uow: UnitOfWork, messages: Sequence[OutboxMessage], now: datetime, *,
    render_all: bool = False,
) -> list[Plan]:  # fmt: skip
    """What each message makes, in order, without writing. `render_all` (the preview)
    renders the mails of skipped and suppressed recipients too; the consumer stores
    only subjects for those."""
    found = await _contexts(uow, messages, now)
    ctxs = [c for c in found if c is not None]
    batch, ledger = _Batch(), _Ledger()
    if ctxs:
        batch.identities = await _identities(uow, ctxs)
        await _choose(uow, ctxs, batch)
        await _limits(uow, ctxs, batch, now)
    return [
        await _plan(uow, ctx, batch, ledger, render_all) if ctx is not None else Plan(message)
        for message, ctx in zip(messages, found, strict=True)
    ]


async def plan(
    uow: UnitOfWork, message: OutboxMessage, now: datetime, *, render_all: bool = False
) -> Plan:
    """What one message makes (the preview's question)."""
    return (await plan_many(uow, [message], now, render_all=render_all))[0]


async def write(uow: UnitOfWork, plans: Sequence[Plan], now: datetime) -> int:
    """Writes the plans' deliveries once, in one statement: a delivery already there
    (the same event and address, or the same Message-ID) is left as it is. Returns how
    many were new."""
    rows: dict[str, list[Any]] = {name: [] for name in (
        "ids", "outbox_ids", "event_types", "tickets", "numbers", "roles", "flood_keys",
        "kinds", "recipient_ids", "addresses", "names", "languages", "urgent", "states",
        "reasons", "message_ids", "in_reply_to", "subjects", "texts", "htmls", "available",
        "held",
    )}  # fmt: skip
    for p in plans:
        for d in p.deliveries:
            for name, value in (
                ("ids", uuid7()), ("outbox_ids", p.message.id), ("event_types", p.notice),
                ("tickets", p.ticket_id), ("numbers", p.ticket_number), ("roles", d.role),
                ("flood_keys", d.flood_key), ("kinds", d.recipient_kind),
                ("recipient_ids", d.recipient_id), ("addresses", d.address),
                ("names", d.display_name), ("languages", d.language), ("urgent", d.urgent),
                ("states", d.state), ("reasons", d.reason), ("message_ids", d.message_id),
                ("in_reply_to", d.in_reply_to), ("subjects", d.subject),
                ("texts", d.text_body), ("htmls", d.html_body),
                ("available", d.available_at), ("held", d.held_until),
            ):  # fmt: skip
                rows[name].append(value)
    return await repo.insert_deliveries(uow, rows, now)
