"""Outbound notices' rules over HTTP: notification rules, subscriptions, profiles and the
preview.

- Rules exist per notice type (the defaults, `app.mail.defaults`); they are changed,
  never created or deleted (a notice type is code: its template and where it comes
  from). Rules and role subscriptions are the whole installation's: a key scoped to a
  branch may read them but not change them (403).
- An engineer's or a customer's subscriptions and profile are managed by holders of
  mail:manage who see the engineer's or customer's branch (another branch's: 404); an
  engineer also manages his own, except his membership of the emergency group.
- A preview plans a notice as the consumer would, now, and writes nothing: it runs in
  a savepoint that is always rolled back."""

from __future__ import annotations

import uuid
from typing import Any

from app.calendars import service as calendars
from app.calendars.defaults import CALENDAR_CN_5X8
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.ids import uuid7
from app.core.pagination import CodePageParams, Page, PageParams, encode_cursor, make_page
from app.core.security import Permission, Principal
from app.customers import service as customers
from app.mail import rules
from app.mail.models import RECIPIENT_ROLES, NotificationProfile, NotificationRule
from app.mail.repository import notices as repo
from app.mail.schemas.notices import (
    CustomerProfileIn,
    EngineerProfileIn,
    PreviewIn,
    PreviewOut,
    PreviewRecipientOut,
    ProfileOut,
    RuleOut,
    RuleUpdate,
    SubscriptionOut,
)
from app.mail.service import planning
from app.outbox import service as outbox
from app.outbox.models import OutboxMessage
from app.people.service import engineers
from app.tickets import interface as tickets

# What a preview's sample event carries for notice types whose source event says more.
_SAMPLE_DATA: dict[str, dict[str, Any]] = {
    **{f"ticket.waiting_{on}": {"waiting_on": on} for on in rules.WAITING_ON},
    rules.AWAITING_APPROVAL: {"state": "awaiting_approval"},
}

# -- rules ------------------------------------------------------------------------------


def _require_global(principal: Principal, what: str) -> None:
    if principal.branch_id is not None:
        raise Forbidden(f"{what} apply to every branch: change them with a key of all branches.")


async def _rule(uow: UnitOfWork, event_type: str, lock: bool = False) -> NotificationRule:
    rule = await repo.get_rule(uow, event_type, lock=lock)
    if rule is None:
        raise NotFound(f"No notification rule for '{event_type}'.")
    return rule


async def list_rules(uow: UnitOfWork, page: CodePageParams) -> Page[RuleOut]:
    rows = await repo.list_rules(uow, page.after, page.limit)
    items = [RuleOut.model_validate(r) for r in rows[: page.limit]]
    cursor = encode_cursor(items[-1].event_type) if len(rows) > page.limit and items else None
    return Page[RuleOut](items=items, next_cursor=cursor)


async def get_rule(uow: UnitOfWork, event_type: str) -> NotificationRule:
    return await _rule(uow, event_type)


async def update_rule(
    uow: UnitOfWork, principal: Principal, event_type: str, body: RuleUpdate, if_match: str | None
) -> NotificationRule:
    _require_global(principal, "Notification rules")
    rule = await _rule(uow, event_type, lock=True)
    check_if_match(if_match, rule.version)
    changes = body.model_dump(exclude_unset=True)
    for name in ("urgent", "enabled"):
        if name in changes and changes[name] is None:
            raise Unprocessable(f"{name} cannot be null.", field=name)
    if "roles" in changes and changes["roles"] is None:
        raise Unprocessable("roles cannot be null (send [] for nobody).", field="roles")
    moved = {k: v for k, v in changes.items() if getattr(rule, k) != v}
    if moved:
        for k, v in moved.items():
            setattr(rule, k, list(v) if k == "roles" else v)
        rule.version += 1
        rule.updated_at = get_clock().now()
        await repo.flush(uow)
    return rule


# -- subscriptions ----------------------------------------------------------------------


async def _check_subject(
    uow: UnitOfWork, principal: Principal, kind: str, subject: str, *, changing: bool = True
) -> str:
    """The subject in its stored form, once the principal may manage it."""
    if kind == "role":
        if subject not in RECIPIENT_ROLES:
            raise Unprocessable(
                f"'{subject}' is no recipient role ({', '.join(RECIPIENT_ROLES)}).",
                field="subject",
            )
        principal.require(Permission.mail_manage)
        if changing:
            _require_global(principal, "Role subscriptions")
        return subject
    try:
        subject_id = uuid.UUID(subject)
    except ValueError:
        raise Unprocessable(f"subject must be the {kind}'s id.", field="subject") from None
    await _check_person(uow, principal, kind, subject_id)
    return str(subject_id)


async def _check_person(
    uow: UnitOfWork, principal: Principal, kind: str, subject_id: uuid.UUID
) -> None:
    """An engineer manages his own; holders of mail:manage those of their branch."""
    if kind == "engineer" and subject_id == principal.id:
        await engineers.get_engineer(uow, principal, subject_id)
        return
    principal.require(Permission.mail_manage)
    if kind == "engineer":
        await engineers.get_engineer(uow, principal, subject_id)
    else:
        await customers.get_customer(uow, principal, subject_id)


async def put_subscription(
    uow: UnitOfWork, principal: Principal, kind: str, subject: str, event_type: str,
    subscribed: bool,
) -> SubscriptionOut:  # fmt: skip
    stored = await _check_subject(uow, principal, kind, subject)
    await _rule(uow, event_type)
    row = await repo.upsert_subscription(
        uow, kind, stored, event_type, subscribed, get_clock().now()
    )
    return SubscriptionOut.model_validate(row)


async def delete_subscription(
    uow: UnitOfWork, principal: Principal, kind: str, subject: str, event_type: str
) -> None:
    stored = await _check_subject(uow, principal, kind, subject)
    if not await repo.delete_subscription(uow, kind, stored, event_type):
        raise NotFound("No such subscription.")


async def list_subscriptions(
    uow: UnitOfWork,
    principal: Principal,
    page: PageParams,
    *,
    subject_kind: str | None,
    subject: str | None,
    event_type: str | None,
) -> Page[SubscriptionOut]:
    """Holders of mail:manage list every subscription they may see; anyone else his
    own (as an engineer)."""
    if not principal.can(Permission.mail_manage):
        if subject_kind not in (None, "engineer") or subject not in (None, str(principal.id)):
            raise Forbidden("Without mail:manage you list only your own subscriptions.")
        subject_kind, subject = "engineer", str(principal.id)
    rows = await repo.list_subscriptions(
        uow, branch_id=principal.branch_id, kind=subject_kind, subject=subject,
        event_type=event_type, after=page.after, limit=page.limit,
    )  # fmt: skip
    result = make_page(rows, page.limit)
    items = [SubscriptionOut.model_validate(r) for r in result.items]
    return Page[SubscriptionOut](items=items, next_cursor=result.next_cursor)


# -- profiles ---------------------------------------------------------------------------


def _profile_out(kind: str, subject_id: uuid.UUID, p: NotificationProfile | None) -> ProfileOut:
    if p is None:
        return ProfileOut(
            kind=kind, subject_id=subject_id, calendar_id=None,
            effective_calendar_id=CALENDAR_CN_5X8, digest="off", emergency_group=False,
            stored=False, version=0, updated_at=None,
        )  # fmt: skip
    return ProfileOut(
        kind=kind, subject_id=subject_id, calendar_id=p.calendar_id,
        effective_calendar_id=p.calendar_id or CALENDAR_CN_5X8, digest=p.digest,
        emergency_group=p.emergency_group, stored=True, version=p.version,
        updated_at=p.updated_at,
    )  # fmt: skip


async def get_profile(
    uow: UnitOfWork, principal: Principal, kind: str, subject_id: uuid.UUID
) -> ProfileOut:
    await _check_person(uow, principal, kind, subject_id)
    return _profile_out(kind, subject_id, await repo.get_profile(uow, kind, subject_id))


async def put_profile(
    uow: UnitOfWork,
    principal: Principal,
    kind: str,
    subject_id: uuid.UUID,
    body: EngineerProfileIn | CustomerProfileIn,
    if_match: str | None,
) -> ProfileOut:
    await _check_person(uow, principal, kind, subject_id)
    emergency = bool(getattr(body, "emergency_group", False))
    if body.calendar_id is not None:
        try:
            await calendars.get(uow, body.calendar_id)
        except NotFound:
            raise Unprocessable("calendar_id does not name a calendar.",
                                field="calendar_id") from None  # fmt: skip
    profile = await repo.get_profile(uow, kind, subject_id, lock=True)
    check_if_match(if_match, profile.version if profile else 0)
    was_member = bool(profile and profile.emergency_group)
    if emergency != was_member and not principal.can(Permission.mail_manage):
        raise Forbidden("Only mail:manage changes membership of the emergency group.",
                        permission=Permission.mail_manage.value)  # fmt: skip
    now = get_clock().now()
    if profile is None:
        profile = NotificationProfile(kind=kind, subject_id=subject_id, version=1, updated_at=now)
        repo.add(uow, profile)
    elif (profile.calendar_id, profile.digest, profile.emergency_group) != (
        body.calendar_id, body.digest, emergency,
    ):  # fmt: skip
        profile.version += 1
        profile.updated_at = now
    profile.calendar_id, profile.digest, profile.emergency_group = (
        body.calendar_id, body.digest, emergency,
    )  # fmt: skip
    await repo.flush(uow)
    return _profile_out(kind, subject_id, profile)


# -- preview ----------------------------------------------------------------------------


async def _sample(uow: UnitOfWork, principal: Principal, body: PreviewIn) -> OutboxMessage:
    """The outbox message a preview plans: the one named, or a sample of the notice
    type about the ticket as it is now."""
    by_event = body.event_type is not None or body.ticket_id is not None
    if body.outbox_id is not None and (by_event or body.data is not None):
        raise Unprocessable("Give outbox_id alone, or event_type and ticket_id.", field="outbox_id")
    if body.outbox_id is None and (body.event_type is None or body.ticket_id is None):
        missing = "event_type" if body.event_type is None else "ticket_id"
        raise Unprocessable("Give outbox_id, or both event_type and ticket_id.", field=missing)
    if body.outbox_id is not None:
        message = await outbox.get(uow, body.outbox_id)
        if message.aggregate_type == "ticket":
            await tickets.get(uow, principal, message.aggregate_id)  # 404 outside the branch
        return message
    assert body.event_type is not None and body.ticket_id is not None
    if await repo.get_rule(uow, body.event_type) is None:
        raise Unprocessable(f"No notification rule for '{body.event_type}'.", field="event_type")
    if body.event_type.startswith("incident."):
        raise Unprocessable("Preview an incident's notice by its outbox_id.", field="event_type")
    try:
        t = await tickets.get(uow, principal, body.ticket_id)
    except NotFound:
        raise Unprocessable("ticket_id does not name a ticket.", field="ticket_id") from None
    await _check_named(uow, principal, body.data or {})
    data = {**_SAMPLE_DATA.get(body.event_type, {}), **(body.data or {})}
    source = rules.source_event(body.event_type)
    source = "rma.changed" if source == "rma.*" else source
    payload = tickets.outbox_payload(t.id, t.number, t.branch_id, t.status, t.priority, data=data)
    return OutboxMessage(id=uuid7(), event_type=source, aggregate_type="ticket",
                         aggregate_id=t.id, payload=payload)  # fmt: skip


async def _check_named(uow: UnitOfWork, principal: Principal, data: dict[str, Any]) -> None:
    """The people a sample names itself (an escalation's `recipients`, a handoff's
    `to_id`) must be engineers the key sees: a preview shows each recipient's name and
    address, and a key of one branch may not read another branch's that way."""
    if principal.branch_id is None:
        return
    raw = data.get("recipients")
    named = [data.get("to_id"), *(raw if isinstance(raw, list) else [])]
    for value in named:
        try:
            found = uuid.UUID(value) if isinstance(value, str) else None
        except ValueError:
            found = None
        if found is None:
            continue
        try:
            await engineers.get_engineer(uow, principal, found)
        except NotFound:
            raise Unprocessable(
                f"data names {found}, no engineer of the key's branch.", field="data"
            ) from None


async def preview(uow: UnitOfWork, principal: Principal, body: PreviewIn) -> PreviewOut:
    message = await _sample(uow, principal, body)
    savepoint = await uow.session.begin_nested()
    try:
        plan = await planning.plan(uow, message, get_clock().now(), render_all=True)
    finally:
        await savepoint.rollback()
    recipients = [
        PreviewRecipientOut(
            role=d.role,
            recipient_kind=d.recipient_kind,
            recipient_id=d.recipient_id,
            address=d.address,
            display_name=d.display_name,
            language=d.language,
            urgent=d.urgent,
            state=d.state,  # type: ignore[arg-type]
            reason=d.reason,
            available_at=d.available_at,
            held_until=d.held_until,
            message_id=d.message_id,
            in_reply_to=d.in_reply_to,
            subject=d.subject,
            text=d.text_body,
            html=d.html_body,
        )
        for d in plan.deliveries
    ]
    return PreviewOut(
        notice_type=plan.notice, outbox_id=body.outbox_id, ticket_id=plan.ticket_id,
        urgent=plan.urgent, recipients=recipients,
    )  # fmt: skip
