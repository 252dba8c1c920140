"""Digests: the notices written `digested` (a flood cap reached, or a manager who reads
his non-urgent notices hourly or daily) become one mail per address once their time
has come.

When that is was decided by the consumer, in each waiting notice's `available_at`: at
once for a cap's overflow (after quiet hours, unless urgent), at the end of the
recipient's digest period for a digest profile (then after quiet hours). So composing is
only "take every waiting notice due now, group by address": one digest delivery per
address (`outbox_id` NULL, `ids.digest_message_id`, the members' `digest_id` set to it,
the members staying `digested`). A digest whose members are all about one ticket joins
that ticket's thread and carries its number in the subject.

`compose_due(uow, now)` runs in the caller's transaction (M2's `send_digests` job) and
returns how many digests it wrote. One pass at a time (a transaction-scoped advisory
lock: a second pass returns 0 at once), members locked FOR UPDATE SKIP LOCKED."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from app.calendars import service as calendars
from app.calendars.defaults import CALENDAR_CN_5X8
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.ids import uuid7
from app.mail import ids, render
from app.mail.models import EmailDelivery
from app.mail.repository import notices as repo

DIGEST_EVENT = "mail.digest"
BATCH = 5000  # members per pass; the rest wait for the next one
DEFAULT_TZ = "Asia/Shanghai"


def _groups(members: Sequence[EmailDelivery]) -> dict[tuple[str, bool], list[EmailDelivery]]:
    """Members per (address, staff or not), in their order: a contact and an engineer who
    share an address get a digest each, so staff links never reach a customer."""
    groups: dict[tuple[str, bool], list[EmailDelivery]] = {}
    for m in members:
        groups.setdefault((m.address, m.recipient_kind == "engineer"), []).append(m)
    return groups


async def compose_due(uow: UnitOfWork, now: datetime) -> int:
    """Writes one digest per address for the waiting notices due by `now`."""
    if not await repo.try_digest_lock(uow):
        return 0
    members = await repo.ripe_members(uow, now, BATCH)
    if not members:
        return 0
    zones, default_tz = await _zones(uow, members)
    suppressed = await repo.suppressed(uow, sorted({m.address for m in members}))
    written = 0
    for (address, _staff), batch in _groups(members).items():
        tz = zones.get(batch[0].recipient_id, default_tz) if batch[0].recipient_id else default_tz
        digest = _digest(batch, now, tz, address in suppressed)
        repo.add(uow, digest)
        await repo.flush(uow)  # the members' digest_id names it
        for m in batch:
            m.digest_id, m.updated_at = digest.id, now
        written += 1
    await repo.flush(uow)
    return written


async def _zones(
    uow: UnitOfWork, members: Sequence[EmailDelivery]
) -> tuple[dict[uuid.UUID, str], str]:
    """Each engineer recipient's calendar zone, for the times listed, and the default
    calendar's (contacts, engineers without a profile)."""
    keys = [("engineer", m.recipient_id) for m in members
            if m.recipient_kind == "engineer" and m.recipient_id]  # fmt: skip
    profiles = await repo.profiles(uow, keys)  # type: ignore[arg-type]
    cal_ids = {p.calendar_id for p in profiles.values() if p.calendar_id} | {CALENDAR_CN_5X8}
    specs = await calendars.specs(uow, cal_ids)
    default = specs[CALENDAR_CN_5X8].tz if CALENDAR_CN_5X8 in specs else DEFAULT_TZ
    out: dict[uuid.UUID, str] = {}
    for (_, rid), p in profiles.items():
        spec = specs.get(p.calendar_id) if p.calendar_id else None
        out[rid] = spec.tz if spec else default
    return out, default


def _digest(batch: list[EmailDelivery], now: datetime, tz: str, suppressed: bool) -> EmailDelivery:
    first, last = batch[0], batch[-1]
    staff = first.recipient_kind == "engineer"
    tickets = {m.ticket_id for m in batch}
    one = next(iter(tickets)) if len(tickets) == 1 else None
    number = last.ticket_number if one else None
    items = [render.DigestItem(m.created_at, m.subject,
                               render.staff_link(m.ticket_id) if m.ticket_id else None)
             for m in batch]  # fmt: skip
    mail = render.render_digest(last.language, last.display_name, tz, items, staff=staff,
                                ticket={"number": number} if number else None)  # fmt: skip
    domain = get_settings().mail_domain
    digest_id = uuid7()
    return EmailDelivery(
        id=digest_id, outbox_id=None, event_type=DIGEST_EVENT, ticket_id=one,
        ticket_number=number, role=first.role, recipient_kind=first.recipient_kind,
        recipient_id=first.recipient_id, address=first.address,
        display_name=last.display_name, language=last.language,
        urgent=any(m.urgent for m in batch),
        state="suppressed" if suppressed else "queued",
        reason="suppressed: the address bounced hard and is suppressed" if suppressed else None,
        message_id=ids.digest_message_id(digest_id, domain),
        in_reply_to=ids.ticket_root_id(one, domain) if one else None,
        subject=mail.subject, text_body=mail.text, html_body=mail.html,
        available_at=now, created_at=now, updated_at=now,
    )  # fmt: skip
