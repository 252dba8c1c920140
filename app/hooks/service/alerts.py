"""Alerts become tickets, once: every alert of a request applied in the request's one
transaction, each under the lock of its (source, fingerprint) row.

The rows are made if missing and locked first, all of them, in fingerprint order
(repository.alerts.lock_alerts), so two requests about overlapping alerts (Alertmanager
resending a group, a second Alertmanager of an HA pair) wait for each other and the
second sees what the first did: one ticket per alert, never two.

Per alert, by its own `status` (never the group's):

- firing, no ticket yet (new, or only ever seen resolved): a ticket is opened through
  the tickets interface as the webhooks identity, channel `webhook`, with the customer,
  device, category and priority of the mapping (app/hooks/mapping.py) or the source's;
  its `external_ref` is the fingerprint. `opened`.
- firing, its ticket open: an `alert.repeated` event (not announced, no comment, the
  ticket's version untouched, so an engineer's ETag survives Alertmanager's
  `repeat_interval`), `fire_count` + 1. `repeated`.
- firing, its ticket resolved: reopened ("告警再次触发 / alert fired again"). `reopened`.
- firing again after a recovery (or, from Alertmanager, with another `startsAt`), its
  ticket closed or cancelled: a new ticket, whose `alert.refired` event names the old
  one (id and number); the row's `previous_ticket_id` keeps it. `refired`.
- firing still (the same firing), its ticket closed or cancelled: counted, nothing
  opened (`closed_while_firing`): whoever closed it decided about this very firing, and
  Alertmanager's repeats of it must not undo that every `repeat_interval`.
- resolved, firing before: the row is resolved and its ticket gets `alert.recovered`
  (announced). With the source's `resolve_on_recovery` the ticket is resolved when its
  state machine allows it (in progress, or waiting): `recovered_resolved`. A ticket
  still `new` or `assigned` is left open (`recovered`, the event saying why): nobody has
  looked at it, and starting it in someone's name would stop its response clock, i.e.
  report a response that never happened (an SLA met by a machine). The engineer who
  takes it sees the recovery on the timeline and resolves it in one step. Mature alert
  tools make the same split (an incident acknowledged by a person is theirs to close).
- resolved, never seen firing (Alertmanager's resolved after `group_wait` of an alert
  that fired and recovered in between): recorded, nothing opened. `resolved_unknown`.
- resolved again (`repeat_interval` resends resolved alerts): nothing. `already_resolved`.

Many P1 alerts on devices of one product family open P1 tickets on those devices through
the same `create` as any other, so the major-incident rule (app/incidents) sees them.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.access.defaults import hooks_principal
from app.core.db import UnitOfWork
from app.core.errors import AppError
from app.core.ids import uuid7
from app.core.security import Principal
from app.hooks import mapping
from app.hooks.models import HookAlert, HookSource
from app.hooks.payloads import Alert
from app.hooks.repository import alerts as repository
from app.hooks.repository import repeats
from app.hooks.repository import sources as sources_repo
from app.tickets import interface as tickets

CHANNEL = "webhook"
SUBJECT_MAX = 300
DESCRIPTION_MAX = 20_000
AFFECTED_MAX = 300
# The longest customer or category code and device serial (their columns): a longer
# candidate is compared with nothing, never cut until it happens to equal one.
CODE_MAX = 64
SERIAL_MAX = 100
REOPEN_REASON = "告警再次触发 / alert fired again"
RESOLUTION = "告警已恢复，自动解决 / The alert recovered; resolved automatically."
NOT_STARTED = (
    "未自动解决：工单尚未开始处理 / Not resolved automatically: nobody has started work "
    "on the ticket."
)
# A request of more alerts than this takes the general path (one statement's arrays).
REPEATS_AT_ONCE = 200
RESOLVABLE = ("in_progress", "waiting_customer", "waiting_parts", "waiting_vendor")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\s]+")


class HookDeferred(AppError):
    """The source's own defaults cannot take a ticket now (its customer or category was
    deactivated): nothing is recorded, and the sender (Alertmanager retries on 5xx, not
    4xx) sends again while an admin fixes the source."""

    status, slug, title = 503, "hook-deferred", "The alert cannot be taken now"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.headers["Retry-After"] = "60"


@dataclass
class _Ctx:
    uow: UnitOfWork
    source: HookSource
    now: datetime
    actor: Principal = field(default_factory=hooks_principal)
    customers: dict[str, uuid.UUID | None] = field(default_factory=dict)
    devices: dict[str, list[tuple[uuid.UUID, uuid.UUID]]] = field(default_factory=dict)
    categories: dict[str, bool] = field(default_factory=dict)
    defaults_checked: bool = False


def _result(
    alert: Alert, action: str, ticket_id: Any = None, number: str | None = None
) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint,
        "status": alert.status,
        "action": action,
        "ticket_id": str(ticket_id) if ticket_id else None,
        "ticket_number": number,
    }


async def apply(
    uow: UnitOfWork, source: HookSource, alerts: list[Alert], now: datetime
) -> list[dict[str, Any]]:
    """Applies the request's alerts; per alert (in the request's order) what was done."""
    ctx = _Ctx(uow, source, now)
    rows, fresh = await repository.lock_alerts(uow, source.id, [a.fingerprint for a in alerts], now)
    results = []
    for alert in alerts:
        row = rows[alert.fingerprint]
        is_new = alert.fingerprint in fresh
        fresh.discard(alert.fingerprint)  # the same fingerprint twice: the second is known
        if alert.status == "firing":
            results.append(await _fire(ctx, row, alert, is_new))
        else:
            results.append(await _recover(ctx, row, alert, is_new))
    await repository.save(uow)
    return results


async def apply_repeats(
    uow: UnitOfWork, source: HookSource, alerts: list[Alert], now: datetime, body_bytes: int
) -> tuple[uuid.UUID, list[dict[str, Any]]] | None:
    """The hot path (app/hooks/repository/repeats.py): when every alert of the request
    repeats a firing on an open ticket, all of it in one statement, the request's row
    included; returns its id and the results. None when the request is anything else
    (nothing written: `apply` takes it)."""
    fingerprints = [a.fingerprint for a in alerts]
    if not alerts or any(a.status != "firing" for a in alerts):
        return None
    if len(set(fingerprints)) != len(fingerprints) or len(alerts) > REPEATS_AT_ONCE:
        return None
    request_id = uuid7()
    actor = hooks_principal()
    done = await repeats.apply_if_all_repeat(
        uow,
        repeats.values(
            source_id=source.id, source_key=source.key, request_id=request_id, now=now,
            body_bytes=body_bytes, actor=actor, channel=CHANNEL, alerts=alerts,
            event_ids=[uuid7() for _ in alerts],
        ),
    )  # fmt: skip
    if done is None:
        return None
    by_fingerprint = {a.fingerprint: a for a in alerts}
    return request_id, [_result(by_fingerprint[fp], "repeated", t, n) for fp, t, n in done]


def _seen(row: HookAlert, alert: Alert, now: datetime) -> None:
    row.name = alert.name[:300]
    row.labels = alert.labels
    row.annotations = alert.annotations
    row.generator_url = alert.generator_url
    row.starts_at = alert.starts_at or row.starts_at
    row.ends_at = alert.ends_at
    row.last_seen_at = now


# -- firing ------------------------------------------------------------------------------


async def _fire(ctx: _Ctx, row: HookAlert, alert: Alert, fresh: bool) -> dict[str, Any]:
    again = _new_episode(row, alert)
    _seen(row, alert, ctx.now)
    row.fire_count += 1
    row.state, row.resolved_at = "firing", None
    ticket = (
        None if row.ticket_id is None else await tickets.get_any(ctx.uow, row.ticket_id, lock=True)
    )
    if ticket is None:
        opened = await _open(ctx, alert, row, previous=None)
        return _result(alert, "opened", opened.id, opened.number)
    if ticket.status in tickets.OPEN_STATUSES:
        data = {"fingerprint": alert.fingerprint, "count": row.fire_count,
                "source": ctx.source.key}  # fmt: skip
        tickets.record_event(ctx.uow, ticket, ctx.actor, CHANNEL, "alert.repeated",
                             data=data, announce=False)  # fmt: skip
        return _result(alert, "repeated", ticket.id, ticket.number)
    if ticket.status == "resolved":
        await tickets.act(ctx.uow, ctx.actor, ticket.id, "reopen", {"reason": REOPEN_REASON},
                          None, CHANNEL)  # fmt: skip
        return _result(alert, "reopened", ticket.id, ticket.number)
    if not again:
        # Closed or cancelled while the alert still fires (a false alarm cancelled, a
        # fix confirmed before the metric settled): Alertmanager repeats it every
        # `repeat_interval`, and a ticket per repeat is the flood someone just closed.
        # Counted; a new ticket only once it recovers and fires again.
        return _result(alert, "closed_while_firing", ticket.id, ticket.number)
    # Closed or cancelled, and this is a new firing: a new ticket, linked to the old.
    opened = await _open(ctx, alert, row, previous=ticket)
    return _result(alert, "refired", opened.id, opened.number)


def _new_episode(row: HookAlert, alert: Alert) -> bool:
    """Whether this firing is a new one rather than a repeat of the firing we hold: the
    alert recovered in between, or (Alertmanager) it started at another instant."""
    if row.state == "resolved":
        return True
    return bool(alert.starts_at and row.starts_at and alert.starts_at != row.starts_at)


async def _open(
    ctx: _Ctx, alert: Alert, row: HookAlert, previous: tickets.Ticket | None
) -> tickets.Ticket:
    data = await _ticket_data(ctx, alert)
    out = await tickets.create(ctx.uow, ctx.actor, data)
    ticket = await tickets.get_any(ctx.uow, out.id)
    assert ticket is not None
    if previous is not None:
        row.previous_ticket_id = previous.id
        tickets.record_event(
            ctx.uow, ticket, ctx.actor, CHANNEL, "alert.refired",
            data={"fingerprint": alert.fingerprint, "source": ctx.source.key,
                  "count": row.fire_count, "previous_ticket_id": str(previous.id),
                  "previous_ticket_number": previous.number},
        )  # fmt: skip
    row.ticket_id = ticket.id
    return ticket


# -- resolved ----------------------------------------------------------------------------


async def _recover(ctx: _Ctx, row: HookAlert, alert: Alert, fresh: bool) -> dict[str, Any]:
    if not fresh and row.state == "resolved":
        held = None if row.ticket_id is None else await tickets.get_any(ctx.uow, row.ticket_id)
        return _result(alert, "already_resolved", row.ticket_id, held.number if held else None)
    _seen(row, alert, ctx.now)
    row.state, row.resolved_at = "resolved", ctx.now
    if fresh or row.ticket_id is None:
        return _result(alert, "resolved_unknown")
    ticket = await tickets.get_any(ctx.uow, row.ticket_id, lock=True)
    if ticket is None:
        return _result(alert, "recovered")
    resolve = ctx.source.resolve_on_recovery and ticket.status in RESOLVABLE
    data: dict[str, Any] = {
        "fingerprint": alert.fingerprint,
        "source": ctx.source.key,
        "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
        "auto_resolve": resolve,
    }
    if ctx.source.resolve_on_recovery and not resolve and ticket.status in ("new", "assigned"):
        data["note"] = NOT_STARTED
    tickets.record_event(ctx.uow, ticket, ctx.actor, CHANNEL, "alert.recovered", data=data)
    if not resolve:
        return _result(alert, "recovered", ticket.id, ticket.number)
    await tickets.act(ctx.uow, ctx.actor, ticket.id, "resolve",
                      {"resolution_summary": RESOLUTION}, None, CHANNEL)  # fmt: skip
    return _result(alert, "recovered_resolved", ticket.id, ticket.number)


# -- the ticket's fields -----------------------------------------------------------------


def one_line(text: str, limit: int) -> str:
    """`text` as a one-line ticket field: controls and runs of white space made one
    space, trimmed to `limit` (an ellipsis marking the cut)."""
    flat = _CONTROL.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def subject_of(alert: Alert) -> str:
    name = alert.name or alert.labels.get("alertname", "")
    parts = [p for p in (name, alert.summary) if p]
    subject = one_line(": ".join(parts), SUBJECT_MAX)
    return subject or one_line(f"告警 / Alert {alert.fingerprint}", SUBJECT_MAX)


def description_of(alert: Alert, source: HookSource) -> str:
    lines: list[str] = []
    if alert.summary:
        lines += [alert.summary, ""]
    detail = alert.annotations.get("description")
    if detail:
        lines += [detail, ""]
    lines.append(f"来源 / Source: {source.name} ({source.key})")
    lines.append(f"指纹 / Fingerprint: {alert.fingerprint}")
    if alert.starts_at:
        lines.append(f"开始 / Started: {alert.starts_at.isoformat()}")
    if alert.generator_url:
        lines.append(f"链接 / Generator: {alert.generator_url}")
    if alert.labels:
        lines += ["", "标签 / Labels:"]
        lines += [f"  {k}={v}" for k, v in sorted(alert.labels.items())]
    others = {k: v for k, v in alert.annotations.items() if k not in ("summary", "description")}
    if others:
        lines += ["", "注释 / Annotations:"]
        lines += [f"  {k}: {v}" for k, v in sorted(others.items())]
    text = "\n".join(lines)
    if len(text) > DESCRIPTION_MAX:
        text = text[: DESCRIPTION_MAX - 20] + "\n[……已截断 / truncated]"
    return text


async def _ticket_data(ctx: _Ctx, alert: Alert) -> tickets.TicketCreate:
    wanted = mapping.candidates(
        {**alert.raw, "labels": alert.labels, "annotations": alert.annotations},
        ctx.source.mapping or {},
    )
    customer_id = await _customer(ctx, wanted.customer_code)
    device_id, customer_id = await _device(ctx, wanted.device_serial, customer_id)
    category = await _category(ctx, wanted.category)
    if customer_id is None or category is None:
        await _check_defaults(ctx)
    affected = alert.labels.get("instance") or alert.labels.get("job") or ""
    return tickets.TicketCreate(
        customer_id=customer_id or ctx.source.customer_id,
        device_id=device_id,
        channel=CHANNEL,
        category=category or ctx.source.category,
        priority=wanted.priority or ctx.source.priority,  # type: ignore[arg-type]
        subject=subject_of(alert),
        description=description_of(alert, ctx.source),
        fault_started_at=alert.starts_at,
        affected_system=one_line(affected, AFFECTED_MAX) or None,
        external_ref=alert.fingerprint[:200],
    )


async def _customer(ctx: _Ctx, code: str | None) -> uuid.UUID | None:
    if code is None or len(code) > CODE_MAX:  # longer than any code: names none
        return None
    if code not in ctx.customers:
        ctx.customers[code] = await repository.active_customer_by_code(ctx.uow, code)
    return ctx.customers[code]


async def _device(
    ctx: _Ctx, serial: str | None, customer_id: uuid.UUID | None
) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """The device of the serial and the ticket's customer: the mapped customer's device
    if it has one; else, with no customer mapped, the device's own customer; else (a
    serial of another customer's device) no device."""
    if serial is None or len(serial) > SERIAL_MAX:
        return None, customer_id
    if serial not in ctx.devices:
        ctx.devices[serial] = await repository.active_devices_by_serial(ctx.uow, serial)
    found = ctx.devices[serial]
    owner = customer_id or ctx.source.customer_id
    for device_id, device_customer in found:
        if device_customer == owner:
            return device_id, owner
    if customer_id is None and found:
        device_id, device_customer = found[0]
        if await sources_repo.customer_active(ctx.uow, device_customer):
            return device_id, device_customer
    return None, customer_id


async def _category(ctx: _Ctx, code: str | None) -> str | None:
    if code is None or len(code) > CODE_MAX:
        return None
    if code not in ctx.categories:
        ctx.categories[code] = bool(await sources_repo.category_active(ctx.uow, code))
    return code if ctx.categories[code] else None


async def _check_defaults(ctx: _Ctx) -> None:
    """The source's own customer and category still take tickets (checked once, only
    when an alert falls back on them)."""
    if ctx.defaults_checked:
        return
    s = ctx.source
    if not await sources_repo.customer_active(ctx.uow, s.customer_id):
        raise HookDeferred(f"The source's customer is inactive; fix source '{s.key}'.")
    if not await sources_repo.category_active(ctx.uow, s.category):
        raise HookDeferred(f"The source's category '{s.category}' is inactive; fix the source.")
    ctx.defaults_checked = True
