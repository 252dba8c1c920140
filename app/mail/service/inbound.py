"""Mail in: a raw message, from the LMTP listener or the HTTP endpoint, taken once.

`receive` claims the message's `Message-ID` (a unique row, in the transaction of its
effect, so a repeat is dropped and a crash leaves neither), then, in this order:
a delivery report updates our delivery and the suppression list; mail from our own
domain (or carrying one of our own ids) is refused as a loop; automatic mail is
recorded and left alone; a reply goes onto the ticket its `In-Reply-To`/`References`
name (our ids), else the ticket whose number is in its subject, as the contact's public
comment (channel `email`), reopening a resolved ticket and resuming one waiting on the
customer; anything else opens a ticket for the sender's contact, or for the default
customer, or is refused.

Who may write onto a ticket: a reply threaded by our headers from anyone (they hold
our mail: a colleague it was forwarded to); one matched only by the number in its
subject from the ticket's customer's contacts and from addresses that wrote to the
ticket before, so that typing another customer's ticket number leads nowhere (it opens
a ticket of the sender's own instead)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from app.access.defaults import mail_principal
from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import AppError, NotFound, Unprocessable
from app.core.ids import uuid7
from app.core.pagination import Page, PageParams, make_page
from app.core.security import Principal
from app.mail import ids
from app.mail.inbound.loops import Recipient, from_domains
from app.mail.inbound.parse import ParsedMail, Part, Unreadable, parse
from app.mail.inbound.text import truncate
from app.mail.models import InboundMessage
from app.mail.repository import inbound as repository
from app.mail.schemas.inbound import InboundOut
from app.tickets import interface as tickets

TEXT_MAX = 20_000  # a comment's body, a ticket's description
PARSE_INLINE_MAX = 256 * 1024  # bytes of a message read on the event loop itself
SUBJECT_MAX = 300  # a ticket's subject
MAX_ATTACHMENTS = 20  # kept from one message; the rest are named in the comment
_ROOM = 2_000  # what a comment may add to the text: a sender line, notes of attachments
TRUNCATED = "[……邮件过长，已截断；全文见附件 message.txt / Message truncated; full text attached]"
NO_TEXT = "（邮件无正文 / The message has no text.）"
NO_SUBJECT = "（无主题 / no subject）"
REOPEN_REASON = "客户邮件回复 / The customer replied by e-mail."
# Refusals: the code before the colon of `reason`, and what the HTTP and LMTP answers
# make of it. A loop is refused but never bounced (a bounce to ourselves is the loop).
LOOPS = ("own_domain", "own_message")
_PREFIXES = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|antw|vs|回复|答复|回覆|转发|轉寄|转寄)\s*[:：]\s*"
    r"|\[T\d{4}-\d{6,}\]\s*)+",
    re.IGNORECASE,
)

__all__ = [
    "LOOPS",
    "MailDeferred",
    "MailLoop",
    "MailRefused",
    "Received",
    "Unreadable",
    "list_inbound",
    "receive",
]


class MailDeferred(AppError):
    """The message cannot be taken now, through no fault of its own (the mail-in
    settings name a customer or a category that is missing): an MTA or a gateway keeps
    it and tries again, nothing is lost while an admin fixes the setting."""

    status, slug, title = 503, "mail-deferred", "The message cannot be taken now"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.headers["Retry-After"] = "300"


class MailRefused(AppError):
    """A message recorded as refused (an unknown sender, an inactive customer, one
    outside the key's branch); the same message again answers the same."""

    status, slug, title = 422, "mail-refused", "The message was refused"
    error_type = "mail_refused"


class MailLoop(MailRefused):
    """Mail from our own domain, or one of our own messages back: refused as a loop."""

    status, slug, title = 409, "mail-loop", "Mail from ourselves is refused (a loop)"


@dataclass
class Effect:
    outcome: str
    reason: str | None = None
    ticket_id: uuid.UUID | None = None
    ticket_number: str | None = None
    delivery_id: uuid.UUID | None = None


@dataclass
class Received:
    """A message as stored, what became of it, and whether it was a repeat."""

    message: InboundOut
    duplicate: bool
    ticket_number: str | None

    @property
    def refusal(self) -> str | None:
        """The refusal's code (`unknown_sender`, `own_domain`, ...), if refused."""
        if self.message.outcome != "refused":
            return None
        return (self.message.reason or "refused").split(":", 1)[0]

    def refused(self) -> MailRefused | None:
        """The problem that answers a refused message over HTTP, or None."""
        code = self.refusal
        if code is None:
            return None
        kind = MailLoop if code in LOOPS else MailRefused
        m = self.message
        return kind(m.reason, refusal=code, inbound_id=str(m.id), message_id=m.message_id,
                    duplicate=self.duplicate)  # fmt: skip


@dataclass
class _Ctx:
    uow: UnitOfWork
    actor: Principal
    mail: ParsedMail
    inbound_id: uuid.UUID
    now: datetime
    kept: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _refused(code: str, detail: str) -> Effect:
    return Effect("refused", f"{code}: {detail}")


def _actor(caller: Principal | None) -> Principal:
    """The mail identity, within the branch of the key that posted the message."""
    actor = mail_principal()
    if caller is not None and caller.branch_id is not None:
        actor = dataclasses.replace(actor, branch_id=caller.branch_id)
    return actor


async def receive(
    uow: UnitOfWork,
    raw: bytes,
    source: str,
    *,
    envelope_from: str | None = None,
    caller: Principal | None = None,
) -> Received:
    """Takes one raw message (`source`: lmtp or http). `envelope_from` is the SMTP
    reverse-path when there is one ('' for the null path `<>`). `Unreadable` when it is
    no message; `MailDeferred` when it must be tried again later."""
    # A large message is read in a thread: reading costs up to about a second of CPU
    # (inbound/text.py), which would hold up every other request of this process.
    mail = await asyncio.to_thread(parse, raw) if len(raw) > PARSE_INLINE_MAX else parse(raw)
    now = get_clock().now()
    values = {"id": uuid7(), "message_id": mail.message_id, "source": source,
              "from_address": mail.from_address, "subject": mail.subject,
              "outcome": "refused", "reason": "being handled", "size": mail.size,
              "received_at": now}  # fmt: skip
    inbound_id = await repository.claim(uow, values)
    if inbound_id is None:
        row = await repository.by_message_id(uow, mail.message_id)
        assert row is not None
        return await _received(uow, row, duplicate=True)
    ctx = _Ctx(uow, _actor(caller), mail, inbound_id, now)
    effect = await _handle(ctx, envelope_from)
    result = {"outcome": effect.outcome, "reason": effect.reason,
              "ticket_id": effect.ticket_id, "delivery_id": effect.delivery_id}  # fmt: skip
    await repository.finish(uow, inbound_id, result)
    out = InboundOut.model_validate({**values, **result})
    return Received(out, False, effect.ticket_number)


async def _received(uow: UnitOfWork, row: InboundMessage, duplicate: bool) -> Received:
    number = None
    if row.ticket_id is not None:
        ticket = await tickets.get_any(uow, row.ticket_id)
        number = ticket.number if ticket is not None else None
    return Received(InboundOut.model_validate(row), duplicate, number)


async def _handle(ctx: _Ctx, envelope_from: str | None) -> Effect:
    settings, mail = get_settings(), ctx.mail
    if mail.report is not None:
        return await _bounce(ctx)
    own = [settings.mail_domain, settings.mail_from.rsplit("@", 1)[-1].strip(" >")]
    if from_domains(mail.from_address, own):
        return _refused("own_domain", f"mail from our own domain ({mail.from_address})")
    if ids.deliveries_from_headers([mail.message_id], settings.mail_domain):
        return _refused("own_message", "one of our own messages came back")
    automatic = mail.automatic or ("null return path" if envelope_from == "" else None)
    if automatic is not None:
        # Kept with the ticket it answers (the admin list by ticket shows an
        # out-of-office), but nothing is written on the ticket and nothing answers it.
        ticket = await _threaded(ctx)
        reason = f"automatic ({automatic}): recorded, not answered"
        return Effect("auto_reply", reason, ticket.id if ticket else None)
    ticket = await _threaded(ctx)
    if ticket is not None:
        return await _reply(ctx, ticket, "headers")
    ticket = await _by_subject(ctx)
    if ticket is not None:
        return await _reply(ctx, ticket, f"subject {ticket.number}")
    return await _open(ctx)


# --- Which ticket -----------------------------------------------------------------------


async def _visible(ctx: _Ctx, ticket_id: uuid.UUID | None) -> tickets.Ticket | None:
    """The ticket, locked, if the mail identity (within the caller's branch) sees it."""
    if ticket_id is None:
        return None
    try:
        return await tickets.get_for_update(ctx.uow, ctx.actor, ticket_id)
    except NotFound:
        return None


async def _threaded(ctx: _Ctx) -> tickets.Ticket | None:
    """The ticket our ids in `In-Reply-To`/`References` name: its root id, else one of
    its deliveries (a client that kept only the id of the mail it answers)."""
    domain = get_settings().mail_domain
    ticket = await _visible(ctx, ids.ticket_from_headers(ctx.mail.thread_ids, domain))
    if ticket is None:
        ours = ids.deliveries_from_headers(ctx.mail.thread_ids, domain)
        if ours:
            ticket = await _visible(ctx, await repository.ticket_of_deliveries(ctx.uow, ours))
    return ticket


async def _by_subject(ctx: _Ctx) -> tickets.Ticket | None:
    number = ids.number_from_subject(ctx.mail.subject)
    if number is None:
        return None
    ticket = await _visible(ctx, await repository.ticket_by_number(ctx.uow, number))
    if ticket is None:
        return None
    address = ctx.mail.from_address
    if await repository.contact_by_address(ctx.uow, address, ticket.customer_id) is not None:
        return ticket
    return ticket if await repository.wrote_to(ctx.uow, ticket.id, address) else None


# --- A reply ----------------------------------------------------------------------------


async def _reply(ctx: _Ctx, ticket: tickets.Ticket, matched_by: str) -> Effect:
    status = ticket.status
    if status == "cancelled" or (
        status == "closed" and "reopen" not in tickets.allowed_actions(ticket, ctx.now)
    ):
        # Too late to reopen: the customer's new words become a ticket of their own.
        return await _open(ctx, follows=ticket.number)
    contact = await repository.contact_by_address(
        ctx.uow, ctx.mail.from_address, ticket.customer_id
    )
    keep = _plan_attachments(ctx)
    try:
        data = tickets.CommentCreate(body=_comment_text(ctx))
    except ValidationError as exc:  # the text is cleaned to the comment's rules before
        raise Unreadable("The message's text cannot be a comment.") from exc
    comment = await tickets.add_comment(ctx.uow, ctx.actor, ticket.id, data, "email")
    await _attach(ctx, ticket.id, keep)
    _record(ctx, ticket, contact.id if contact else None, matched_by, comment_id=str(comment.id))
    if status in ("resolved", "closed"):
        body_ = {"reason": REOPEN_REASON}
        await tickets.act(ctx.uow, ctx.actor, ticket.id, "reopen", body_, None, "email")
        return Effect("reopened", f"{matched_by}; reopened from {status}", ticket.id, ticket.number)
    reason = matched_by
    if status == "waiting_customer":
        # The answer the ticket waited for: back to work (and its SLA clock runs again).
        await tickets.act(ctx.uow, ctx.actor, ticket.id, "resume", {}, None, "email")
        reason = f"{matched_by}; resumed from waiting_customer"
    return Effect("comment", reason, ticket.id, ticket.number)


def _notes(ctx: _Ctx) -> str:
    """The attachments not kept, for the comment (the first ones by name)."""
    if not ctx.skipped:
        return ""
    named = [f"- {s[:300]}" for s in ctx.skipped[:MAX_ATTACHMENTS]]
    more = len(ctx.skipped) - MAX_ATTACHMENTS
    if more > 0:
        named.append(f"- …… 另有 {more} 个 / {more} more")
    return "\n\n未保存的附件 / Attachments not kept:\n" + "\n".join(named)


def _comment_text(ctx: _Ctx, prefix: str = "") -> str:
    notes = _notes(ctx)
    text = ctx.mail.text
    if not text:
        files = "、".join(ctx.kept)
        text = f"（邮件无正文，附件 / No text; attached: {files}）" if files else NO_TEXT
    body, _ = truncate(prefix + text, TEXT_MAX - len(notes), TRUNCATED)
    return (body + notes).strip() or NO_TEXT


def _record(
    ctx: _Ctx, ticket: Any, contact_id: uuid.UUID | None, matched_by: str, **extra: Any
) -> None:
    """The mail on the ticket's timeline: who wrote (the contact, or the address), how
    it was matched, what was kept. Not announced: the comment's own event is."""
    data = {"inbound_id": str(ctx.inbound_id), "message_id": ctx.mail.message_id,
            "from": ctx.mail.from_address, "from_name": ctx.mail.from_name,
            "contact_id": str(contact_id) if contact_id else None, "matched_by": matched_by,
            "attachments": ctx.kept, "skipped": ctx.skipped[:MAX_ATTACHMENTS],
            "skipped_count": len(ctx.skipped), **extra}  # fmt: skip
    tickets.record_event(
        ctx.uow, ticket, ctx.actor, "email", "ticket.email_received", data=data, announce=False
    )


# --- Attachments ------------------------------------------------------------------------


def _plan_attachments(ctx: _Ctx) -> list[Part]:
    """The parts kept within the ticket attachment limits (size, types, a count a
    message); the others are named in `ctx.skipped` for the comment."""
    settings, mail = get_settings(), ctx.mail
    parts = list(mail.parts)
    if len(mail.text) > TEXT_MAX - _ROOM:
        # The comment will be cut: the whole text goes with it as a file.
        parts.append(Part("message.txt", "text/plain", mail.full_text.encode()))
    keep: list[Part] = []
    for part in parts:
        media = part.content_type.lower()
        if len(keep) >= MAX_ATTACHMENTS:
            ctx.skipped.append(f"{part.filename}: more than {MAX_ATTACHMENTS} in one message")
        elif len(part.content) > settings.attachment_max_bytes:
            ctx.skipped.append(f"{part.filename}: {len(part.content)} bytes, over the limit of "
                               f"{settings.attachment_max_bytes}")  # fmt: skip
        elif media not in settings.attachment_allowed_types:
            ctx.skipped.append(f"{part.filename}: files of type {media} are not accepted")
        else:
            keep.append(part)
            ctx.kept.append(part.filename)
    return keep


async def _attach(ctx: _Ctx, ticket_id: uuid.UUID, keep: list[Part]) -> None:
    for part in keep:
        await tickets.add_attachment(
            ctx.uow, ctx.actor, ticket_id, part.filename, part.content_type, part.content, "email"
        )


# --- A new ticket -----------------------------------------------------------------------


def _subject(subject: str) -> str:
    """A new ticket's subject: reply and forward prefixes and old ticket tags off."""
    return _PREFIXES.sub("", subject).strip()[:SUBJECT_MAX].strip() or NO_SUBJECT


async def _open(ctx: _Ctx, follows: str | None = None) -> Effect:
    settings, mail = get_settings(), ctx.mail
    contact = await repository.contact_by_address(ctx.uow, mail.from_address)
    if contact is not None and not contact.active:
        return _refused(
            "inactive_sender", f"{mail.from_address}: its contact or customer is inactive"
        )
    if contact is not None:
        customer_id, contact_id = contact.customer_id, contact.id
    else:
        code = settings.mail_in_default_customer
        if not code:
            return _refused("unknown_sender", f"{mail.from_address} is no contact's address")
        found = await repository.customer_by_code(ctx.uow, code)
        if found is None or not found[1]:
            raise MailDeferred(f"MAIL_IN_DEFAULT_CUSTOMER '{code}' names no active customer.")
        customer_id, contact_id = found[0], None
    keep = _plan_attachments(ctx)
    prefix = f"关联工单 / Follow-up to {follows}\n\n" if follows else ""
    if contact_id is None:
        sender = f"{mail.from_name} <{mail.from_address}>" if mail.from_name else mail.from_address
        prefix += f"发件人 / From: {sender}\n\n"
    try:
        data = tickets.TicketCreate.model_validate(
            {
                "customer_id": customer_id,
                "contact_id": contact_id,
                "channel": "email",
                "category": settings.mail_in_category,
                "service_type": "remote",
                "priority": settings.mail_in_priority,
                "subject": _subject(mail.subject),
                "description": _comment_text(ctx, prefix),
            }
        )
        out = await tickets.create(ctx.uow, ctx.actor, data)
    except NotFound:
        return _refused("out_of_scope", "the sender's customer is outside the key's branch")
    except ValidationError as exc:
        if any(e["loc"][:1] in (("subject",), ("description",)) for e in exc.errors()):
            # The message's own text: it will never be taken, however often it is sent
            # again (deferring it would have the MTA retry it for days).
            raise Unreadable("The message's text cannot be a ticket.") from exc
        raise MailDeferred(f"No ticket can be opened from mail: {exc}") from exc
    except Unprocessable as exc:
        # The mail-in settings (category, priority) name what does not exist.
        raise MailDeferred(f"No ticket can be opened from mail: {exc}") from exc
    await _attach(ctx, out.id, keep)
    ticket = await tickets.get_any(ctx.uow, out.id)
    extra = {"follows": follows} if follows else {}
    _record(ctx, ticket, contact_id, "new", **extra)
    reason = f"follow-up to {follows}" if follows else ("new" if contact else "default customer")
    return Effect("ticket", reason, out.id, out.number)


# --- A delivery report ------------------------------------------------------------------


def _recipient_for(address: str, failed: list[Recipient], single: bool) -> Recipient | None:
    """The report's recipient a delivery is about: its address (as finally or first
    addressed); or, for a report about one delivery, its one failure (an alias
    forwarded elsewhere fails under another name)."""
    for r in failed:
        if address in (r.address, r.original):
            return r
    return failed[0] if single and len(failed) == 1 else None


async def _bounce(ctx: _Ctx) -> Effect:
    """The deliveries the report names (by their Message-ID) are dead; a hard failure
    counts toward the address's suppression. Only our own deliveries count: a report
    about mail we never sent (backscatter, a forged report) changes nothing."""
    settings, report = get_settings(), ctx.mail.report
    assert report is not None
    ours = ids.deliveries_from_headers(report.original_ids, settings.mail_domain)
    rows = await repository.deliveries(ctx.uow, ours, ctx.actor.branch_id) if ours else []
    if not rows:
        return Effect("bounce", "names no delivery of ours: nothing done")
    failed = [r for r in report.recipients if r.action == "failed"]
    first = rows[0]
    if not failed:
        actions = sorted({r.action or "?" for r in report.recipients}) or ["no recipients"]
        return Effect("bounce", f"{', '.join(actions)}: nothing to do", first.ticket_id,
                      delivery_id=first.id)  # fmt: skip
    notes = [await _bounce_one(ctx, d, _recipient_for(d.address, failed, len(rows) == 1))
             for d in rows]  # fmt: skip
    return Effect("bounce", "; ".join(notes)[:500], first.ticket_id, delivery_id=first.id)


async def _bounce_one(
    ctx: _Ctx, delivery: repository.DeliveryRow, recipient: Recipient | None
) -> str:
    settings = get_settings()
    if recipient is None:
        return f"{delivery.address}: not among the failed recipients"
    status = recipient.status or "failed"
    reason = f"bounced: {status} {recipient.diagnostic}".strip()[:200]
    error = recipient.diagnostic[:2000] or reason
    if not await repository.mark_bounced(ctx.uow, delivery.id, reason, error, ctx.now):
        return f"{delivery.address}: {delivery.state}, left as it was"
    note = f"{delivery.address}: dead ({status})"
    if recipient.hard:
        since = ctx.now - timedelta(days=settings.mail_bounce_window_days)
        count, suppressed = await repository.count_hard_bounce(
            ctx.uow, delivery.address, reason, ctx.now, settings.mail_suppress_after_bounces, since
        )
        note += f", hard bounce {count}" + (", suppressed" if suppressed else "")
    if delivery.ticket_id is not None:
        ticket = await tickets.get_any(ctx.uow, delivery.ticket_id)
        if ticket is not None:
            data = {"delivery_id": str(delivery.id), "address": delivery.address,
                    "status": status, "diagnostic": recipient.diagnostic, "hard": recipient.hard,
                    "inbound_id": str(ctx.inbound_id)}  # fmt: skip
            tickets.record_event(ctx.uow, ticket, ctx.actor, "email", "ticket.email_bounced",
                                 data=data, announce=False)  # fmt: skip
    return note


# --- The admin list ---------------------------------------------------------------------


async def list_inbound(
    uow: UnitOfWork,
    principal: Principal,
    page: PageParams,
    *,
    outcome: str | None = None,
    source: str | None = None,
    ticket_id: uuid.UUID | None = None,
) -> Page[InboundOut]:
    rows = await repository.list_inbound(
        uow, principal, limit=page.limit, after=page.after,
        outcome=outcome, source=source, ticket_id=ticket_id,
    )  # fmt: skip
    found = make_page(rows, page.limit)
    items = [InboundOut.model_validate(r) for r in found.items]
    return Page[InboundOut](items=items, next_cursor=found.next_cursor)
