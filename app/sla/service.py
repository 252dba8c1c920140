"""SLA clocks on tickets: started with the ticket, paused and resumed with it, stopped by
what meets them, recomputed when the priority or contract changes, and announced by
timers when they pass their warning point or fall due.

Every change here runs inside the ticket change's transaction (the caller's unit of
work), with the clock's segments, its timers and, for warnings and breaches, the
timeline event and the outbox row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from app.calendars import service as calendar_service
from app.calendars.businesstime import CalendarSpec, between
from app.core import events
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.ids import uuid7
from app.sla import announcements, repository
from app.sla import clock as clockmath
from app.sla.events import SlaAnnounced
from app.sla.models import ClockSegment, TicketClock
from app.sla.schemas import ClockBrief, ClockOut, SegmentOut
from app.timers import service as timers

# One timer per clock, due at the clock's next announcement: its warning point, then (set
# again by the warning) its due time. Half the rows and timer updates of a timer per point.
CLOCK_TIMER = "sla.clock"
WARN = announcements.WARN
BREACH = announcements.BREACH
SYSTEM_NAME, SYSTEM_ROLE = announcements.SYSTEM_NAME, announcements.SYSTEM_ROLE


class TicketFacts(Protocol):
    """What the clocks read of the ticket the tickets domain hands in (its own model;
    this package does not import it: the tickets domain builds on this one)."""

    id: uuid.UUID
    status: str
    priority: str
    service_level: str | None
    service_type: str
    created_at: datetime


# Which metrics start with a ticket: on-site only for on-site service; a spare part's
# clock starts with its part request (the spare-parts domain).
STARTED_WITH_TICKET = ("first_response", "onsite", "resolution")


def applies(metric: str, service_type: str) -> bool:
    return metric != "onsite" or service_type == "onsite"


# --- calendars: specs cached by (id, version) -----------------------------------------

_specs: dict[uuid.UUID, tuple[str, CalendarSpec]] = {}


async def calendar_specs_for(
    uow: UnitOfWork, stamps: dict[uuid.UUID, str]
) -> dict[uuid.UUID, CalendarSpec]:
    """Specs of calendars whose stamps (version @ updated_at) the caller already read:
    ticket creation reads them with its context, so no query at all while they are
    cached. The engine caches a calendar's yearly index on the spec object, so reusing
    the same spec while the calendar is unchanged is what keeps `add` in microseconds."""
    out: dict[uuid.UUID, CalendarSpec] = {}
    missing = []
    for cid, stamp in stamps.items():
        hit = _specs.get(cid)
        if hit is not None and hit[0] == stamp:
            out[cid] = hit[1]
        else:
            missing.append(cid)
    if missing:
        loaded = await calendar_specs(uow, missing)
        for cid in missing:
            _specs[cid] = (stamps[cid], loaded[cid])
        out.update(loaded)
    return out


async def calendar_specs(
    uow: UnitOfWork, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, CalendarSpec]:
    """Specs of these calendars at their current versions (the calendars domain checks
    the versions in one small query and caches the specs)."""
    return await calendar_service.specs(uow, set(ids))


# --- starting clocks --------------------------------------------------------------------


@dataclass
class NewClock:
    """A clock to insert with a new ticket (the creation statement takes these)."""

    id: uuid.UUID
    metric: str
    target_seconds: int
    calendar_id: uuid.UUID
    warn_percent: int
    warn_at: datetime
    due_at: datetime


def new_clocks(
    targets: list[dict[str, Any]],
    specs: dict[uuid.UUID, CalendarSpec],
    service_type: str,
    now: datetime,
) -> list[NewClock]:
    """The clocks a ticket starts with, from its policy's targets for its priority."""
    out = []
    for t in targets:
        if t["metric"] not in STARTED_WITH_TICKET or not applies(t["metric"], service_type):
            continue
        calendar_id = uuid.UUID(str(t["calendar_id"]))
        seconds = int(t["minutes"]) * 60
        warn_at, due_at = clockmath.plan(
            specs[calendar_id], seconds, int(t["warn_percent"]), 0, now
        )
        out.append(
            NewClock(uuid7(), t["metric"], seconds, calendar_id, int(t["warn_percent"]),
                     warn_at, due_at)
        )  # fmt: skip
    return out


# --- reading ----------------------------------------------------------------------------


clocks_of = repository.clocks_of
segments_of = repository.segments_of


async def clocks_due_before(
    uow: UnitOfWork, ticket_id: uuid.UUID, until: datetime
) -> list[TicketClock]:
    """The ticket's running clocks that fall due before `until` (a deferral that long
    would miss them)."""
    return await repository.running_due_before(uow, ticket_id, until)


# --- changes ----------------------------------------------------------------------------


async def _open_segment(uow: UnitOfWork, clock: TicketClock) -> ClockSegment | None:
    return await repository.open_segment(uow, clock.id)


async def _close_running(
    uow: UnitOfWork, clock: TicketClock, spec: CalendarSpec, at: datetime
) -> None:
    """Ends the running segment at `at`, folding its business time into `used_seconds`."""
    seg = await _open_segment(uow, clock)
    if seg is not None:
        seg.ended_at = max(at, seg.started_at)
    clock.used_seconds = clockmath.used_seconds(spec, clock.used_seconds, clock.running_since, at)
    clock.running_since = None


async def _arm(uow: UnitOfWork, clock: TicketClock, spec: CalendarSpec) -> None:
    """Recomputes warn/due of a running clock and sets its timers (a moved timer gets a
    new version, so a job already in Redis for the old time does nothing)."""
    assert clock.running_since is not None
    warn_at, due_at = clockmath.plan(
        spec, clock.target_seconds, clock.warn_percent, clock.used_seconds, clock.running_since
    )
    clock.warn_at, clock.due_at = warn_at, due_at
    if clock.outcome is None:
        await timers.schedule(uow, CLOCK_TIMER, clock.id, next_announcement(clock))
    else:
        await timers.cancel(uow, CLOCK_TIMER, [clock.id])


def next_announcement(clock: TicketClock) -> datetime:
    assert clock.warn_at is not None and clock.due_at is not None
    return clock.warn_at if clock.warned_at is None else clock.due_at


async def _disarm(uow: UnitOfWork, clock: TicketClock) -> None:
    clock.warn_at = None
    clock.due_at = None
    await timers.cancel(uow, CLOCK_TIMER, [clock.id])


async def pause(uow: UnitOfWork, clock: TicketClock, spec: CalendarSpec, reason: str,
                at: datetime) -> None:  # fmt: skip
    if clock.state != "running":
        return
    await _close_running(uow, clock, spec, at)
    if clock.outcome != "breached":
        # Paused late, before its timer fired: the breach it would have announced is
        # announced now, or the pause would hide it until the clock runs again.
        await _breach_if_late(uow, clock, at)
    repository.add_segment(uow, clock.id, "paused", reason, at)
    clock.state = "paused"
    clock.updated_at = at
    await _disarm(uow, clock)


async def run(uow: UnitOfWork, clock: TicketClock, spec: CalendarSpec, reason: str,
              at: datetime) -> None:  # fmt: skip
    """Resumes a paused clock, or restarts a stopped one (reopen): either way it counts
    on from the business time it had used, and the gap is not counted."""
    if clock.state == "running":
        return
    seg = await _open_segment(uow, clock)
    if seg is not None:
        seg.ended_at = max(at, seg.started_at)
    repository.add_segment(uow, clock.id, "running", reason, at)
    clock.state = "running"
    clock.running_since = at
    clock.stopped_at = None
    if clock.outcome in ("met", "cancelled"):
        clock.outcome = None  # a breach, once recorded, stays: it happened
    clock.updated_at = at
    await _arm(uow, clock, spec)


async def stop(uow: UnitOfWork, clock: TicketClock, spec: CalendarSpec, outcome: str,
               at: datetime) -> None:  # fmt: skip
    """Stops a clock at `at` (which may be earlier than now: a visit logged afterwards).
    Met means met in time; a clock already breached stays breached."""
    if clock.state == "stopped":
        return
    if clock.state == "running":
        await _close_running(uow, clock, spec, at)
    else:
        seg = await _open_segment(uow, clock)
        if seg is not None:
            seg.ended_at = max(at, seg.started_at)
    late = (
        clock.outcome != "breached" and outcome == "met" and await _breach_if_late(uow, clock, at)
    )
    if clock.outcome != "breached" and not late:
        clock.outcome = outcome
    clock.state = "stopped"
    clock.stopped_at = at
    clock.updated_at = at
    await _disarm(uow, clock)


async def _breach_if_late(uow: UnitOfWork, clock: TicketClock, at: datetime) -> bool:
    """A clock found late by a ticket change before its timer fired (a worker was down,
    or the job is still queued): a breach, announced like any other and stamped, as the
    timer would have, when it fell due (announcements.py). True if it was late."""
    if clock.used_seconds <= clock.target_seconds:
        return False
    fell_due = clock.due_at if clock.due_at is not None and clock.due_at <= at else at
    clock.outcome, clock.breached_at = "breached", fell_due
    await _publish(uow, clock, BREACH, fell_due)
    return True


# --- what ticket changes do to the clocks ------------------------------------------------


async def _with_specs(
    uow: UnitOfWork, ticket: TicketFacts
) -> tuple[list[TicketClock], dict[uuid.UUID, CalendarSpec]]:
    # Lock order: the clocks' timers before the clocks, the order a firing timer takes
    # them (`timers.fire` locks its timer, then the handler its clock); the other way
    # round, a ticket change and a timer firing together could deadlock.
    await repository.lock_clock_timers(uow, ticket.id, CLOCK_TIMER)
    clocks = await clocks_of(uow, ticket.id, lock=True)
    return clocks, await calendar_specs(uow, [c.calendar_id for c in clocks])


async def on_action(
    uow: UnitOfWork, ticket: TicketFacts, action: str, waiting_on: str | None, at: datetime
) -> None:
    """Called by the ticket service after a lifecycle action changed the status."""
    if action == "assign":
        return  # no clock cares who owns the ticket
    clocks, specs = await _with_specs(uow, ticket)
    if not clocks:
        return
    by_metric = {c.metric: c for c in clocks}
    if action in ("acknowledge", "start") and "first_response" in by_metric:
        fr = by_metric["first_response"]
        await stop(uow, fr, specs[fr.calendar_id], "met", at)
    elif action == "wait":
        level = ticket.service_level
        policy = None if level is None else await repository.policy(uow, level)
        pauses = waiting_on == "customer" or (
            waiting_on == "vendor" and policy is not None and policy.pause_on_vendor
        )
        if pauses:
            for c in clocks:
                await pause(uow, c, specs[c.calendar_id], f"waiting_{waiting_on}", at)
    elif action == "resume":
        for c in clocks:
            if c.state == "paused":
                await run(uow, c, specs[c.calendar_id], "resumed", at)
    elif action == "resolve":
        for c in clocks:
            # Resolving answers the customer; an on-site visit that never happened was
            # not needed after all.
            outcome = "cancelled" if c.metric in ("onsite", "part_onsite") else "met"
            await stop(uow, c, specs[c.calendar_id], outcome, at)
    elif action == "reopen":
        res = by_metric.get("resolution")
        if res is not None:
            await run(uow, res, specs[res.calendar_id], "reopened", at)
    elif action in ("cancel", "confirm"):
        for c in clocks:
            await stop(uow, c, specs[c.calendar_id], "cancelled", at)


async def on_first_response(uow: UnitOfWork, ticket: TicketFacts, at: datetime) -> None:
    """A public reply from staff meets the first-response target."""
    clocks, specs = await _with_specs(uow, ticket)
    for c in clocks:
        if c.metric == "first_response" and c.state != "stopped":
            await stop(uow, c, specs[c.calendar_id], "met", at)


async def on_visit_arrival(uow: UnitOfWork, ticket: TicketFacts, arrived_at: datetime) -> None:
    clocks, specs = await _with_specs(uow, ticket)
    for c in clocks:
        if c.metric == "onsite" and c.state != "stopped":
            await stop(uow, c, specs[c.calendar_id], "met", arrived_at)


# --- the part-on-site clock (the spare-parts domain's requests) ------------------------


async def start_part_clock(
    uow: UnitOfWork, ticket: TicketFacts, at: datetime
) -> TicketClock | None:
    """A part request opened: the ticket's part-on-site clock runs from `at` on its
    target (none under a policy without one). A clock already running for an earlier
    request goes on (the promise is the first part's); a stopped one, met or cancelled
    by an earlier request's delivery, starts afresh for this one; a paused one (the
    ticket waits on the customer) stays paused. Returns the clock."""
    target = (await targets_for(uow, ticket.service_level, ticket.priority)).get("part_onsite")
    if target is None or ticket.status in ("closed", "cancelled", "resolved"):
        return None
    clocks, _ = await _with_specs(uow, ticket)
    clock = next((c for c in clocks if c.metric == "part_onsite"), None)
    seconds, calendar_id = int(target["minutes"]) * 60, target["calendar_id"]
    spec = (await calendar_specs(uow, [calendar_id]))[calendar_id]
    if clock is None:
        # The first request of the ticket: a new clock, running from now.
        clock = TicketClock(
            ticket_id=ticket.id, metric="part_onsite", target_seconds=seconds,
            calendar_id=calendar_id, warn_percent=int(target["warn_percent"]),
            state="running", started_at=at, running_since=at, used_seconds=0, updated_at=at,
        )  # fmt: skip
        await repository.add_clock(uow, clock)
    elif clock.state == "stopped":
        # Met or cancelled by an earlier request's delivery: afresh for this one.
        seg = await _open_segment(uow, clock)
        if seg is not None:
            seg.ended_at = max(at, seg.started_at)
        clock.target_seconds, clock.calendar_id = seconds, calendar_id
        clock.warn_percent = int(target["warn_percent"])
        clock.state, clock.outcome, clock.started_at = "running", None, at
        clock.used_seconds, clock.running_since, clock.stopped_at = 0, at, None
        clock.warned_at = clock.breached_at = None
        clock.updated_at = at
    else:
        return clock  # running for an earlier request, or paused with the ticket
    repository.add_segment(uow, clock.id, "running", "part_requested", at)
    await _arm(uow, clock, spec)
    return clock


async def stop_part_clock(uow: UnitOfWork, ticket: TicketFacts, outcome: str, at: datetime) -> None:
    """The ticket's part requests are all delivered (`met`, or breached if late) or
    cancelled (`cancelled`): its part-on-site clock stops."""
    clocks, specs = await _with_specs(uow, ticket)
    for c in clocks:
        if c.metric == "part_onsite" and c.state != "stopped":
            await stop(uow, c, specs[c.calendar_id], outcome, at)


def _business(spec: CalendarSpec, segments: list[ClockSegment], until: datetime) -> int:
    """Business seconds of the running segments, on `spec`, up to `until`."""
    total = 0
    for seg in segments:
        if seg.kind != "running":
            continue
        end = min(seg.ended_at or until, until)
        if end > seg.started_at:
            total += int(between(spec, seg.started_at, end).total_seconds())
    return total


async def recompute(uow: UnitOfWork, ticket: TicketFacts, at: datetime) -> dict[str, Any]:
    """The priority, the service level (contract) or the service type changed. Each
    clock takes its new target and counts, from the ticket's start, the business time of
    its running segments on its new calendar: the paused intervals stay excluded, and a
    move between a 24x7 and a business-hours target counts the past the new way. A
    metric that now applies starts with the pause history the ticket's other clocks
    share; one that no longer applies is cancelled. Returns before/after targets."""
    clocks, _ = await _with_specs(uow, ticket)
    targets = await targets_for(uow, ticket.service_level, ticket.priority)
    specs = await calendar_specs(
        uow, [c.calendar_id for c in clocks] + [t["calendar_id"] for t in targets.values()]
    )
    segments = await segments_of(uow, [c.id for c in clocks])
    changes: dict[str, Any] = {}
    await _start_now_applying(uow, ticket, clocks, targets, segments, at, changes)
    for c in clocks:
        await _retarget(uow, ticket, c, targets, specs, segments, at, changes)
    return changes


async def _start_now_applying(
    uow: UnitOfWork,
    ticket: TicketFacts,
    clocks: list[TicketClock],
    targets: dict[str, dict[str, Any]],
    segments: list[ClockSegment],
    at: datetime,
    changes: dict[str, Any],
) -> None:
    """Starts the clocks of the metrics that apply only now (added to `clocks` and
    `segments`, their change to `changes`)."""
    by_metric = {c.metric: c for c in clocks}
    for metric, target in targets.items():
        if metric in by_metric or metric not in STARTED_WITH_TICKET:
            continue
        if not applies(metric, ticket.service_type) or ticket.status in ("closed", "cancelled"):
            continue
        # The resolution clock carries the ticket's pauses (every clock pauses together).
        template = by_metric.get("resolution")
        history = [g for g in segments if template is not None and g.clock_id == template.id]
        clock = await _start_late(uow, ticket, metric, target, history, at)
        if template is not None and template.state == "paused":
            spec = (await calendar_specs(uow, [clock.calendar_id]))[clock.calendar_id]
            waiting = [g for g in history if g.kind == "paused" and g.ended_at is None]
            reason = waiting[-1].reason if waiting else "waiting_customer"
            await pause(uow, clock, spec, reason, at)
        by_metric[metric] = clock
        segments.extend(await segments_of(uow, [clock.id]))
        clocks.append(clock)
        changes[metric] = {"from_seconds": None, "to_seconds": clock.target_seconds}


async def _retarget(
    uow: UnitOfWork,
    ticket: TicketFacts,
    c: TicketClock,
    targets: dict[str, dict[str, Any]],
    specs: dict[uuid.UUID, CalendarSpec],
    segments: list[ClockSegment],
    at: datetime,
    changes: dict[str, Any],
) -> None:
    """Gives a clock its new target and counts it again on its new calendar; cancels
    it when its metric no longer applies (its change to `changes`)."""
    found = targets.get(c.metric)
    if found is None or not applies(c.metric, ticket.service_type):
        if c.state != "stopped":
            await stop(uow, c, specs[c.calendar_id], "cancelled", at)
            changes[c.metric] = {"from_seconds": c.target_seconds, "to_seconds": None}
        return
    target = found
    seconds = int(target["minutes"]) * 60
    if (seconds, target["calendar_id"], int(target["warn_percent"])) == (
        c.target_seconds, c.calendar_id, c.warn_percent
    ):  # fmt: skip
        return
    changes.setdefault(c.metric, {"from_seconds": c.target_seconds, "to_seconds": seconds})
    spec = specs[target["calendar_id"]]
    own = [g for g in segments if g.clock_id == c.id]
    c.target_seconds = seconds
    c.calendar_id = target["calendar_id"]
    c.warn_percent = int(target["warn_percent"])
    c.updated_at = at
    if c.state == "running":
        # Close the open segment now and count everything again on the new calendar.
        for g in own:
            if g.ended_at is None:
                g.ended_at = max(at, g.started_at)
        c.used_seconds = _business(spec, own, at)
        c.running_since = at
        repository.add_segment(uow, c.id, "running", "recomputed", at)
        warn_point = seconds * c.warn_percent // 100
        if c.warned_at is not None and c.outcome is None and c.used_seconds < warn_point:
            c.warned_at = None  # the new warning point is still ahead
        await _arm(uow, c, spec)
    else:
        c.used_seconds = _business(spec, own, c.stopped_at or at)
        if c.state == "stopped" and c.outcome == "met" and c.used_seconds > seconds:
            await _publish(uow, c, BREACH, c.stopped_at or at)
            c.outcome, c.breached_at = "breached", c.stopped_at


async def _start_late(
    uow: UnitOfWork,
    ticket: TicketFacts,
    metric: str,
    target: dict[str, Any],
    history: list[ClockSegment],
    at: datetime,
) -> TicketClock:
    """A clock for a metric that applies only now, as if it had run since the ticket
    was created, with the ticket's pauses (copied from `history`) excluded."""
    clock = TicketClock(
        ticket_id=ticket.id,
        metric=metric,
        target_seconds=int(target["minutes"]) * 60,
        calendar_id=target["calendar_id"],
        warn_percent=int(target["warn_percent"]),
        state="running",
        started_at=ticket.created_at,
        updated_at=at,
    )
    await repository.add_clock(uow, clock)
    copied = [
        ClockSegment(clock_id=clock.id, kind=g.kind, reason=g.reason, started_at=g.started_at,
                     ended_at=g.ended_at or at)
        for g in history
    ] or [ClockSegment(clock_id=clock.id, kind="running", reason="created",
                       started_at=ticket.created_at, ended_at=at)]  # fmt: skip
    repository.add_segments(uow, copied)
    spec = (await calendar_specs(uow, [clock.calendar_id]))[clock.calendar_id]
    clock.used_seconds = _business(spec, copied, at)
    clock.running_since = at
    repository.add_segment(uow, clock.id, "running", "recomputed", at)
    await _arm(uow, clock, spec)
    return clock


targets_for = repository.targets_for


# --- warnings and breaches -------------------------------------------------------------
# Announced by the clocks' timers in batches (announcements.py), or here when a ticket
# change finds a clock already late.


async def _publish(uow: UnitOfWork, clock: TicketClock, event_type: str, at: datetime) -> None:
    """A breach a ticket change found (the clock stopped late, or a recompute): announced
    as its timer would have (announcements.py), with the ticket's facts as they are."""
    await uow.session.flush()
    facts = await repository.ticket_facts(uow, clock.ticket_id)
    assert facts is not None
    data = announcements.event_data(
        clock.id, clock.metric, clock.due_at, clock.warn_at, clock.target_seconds
    )
    item = announcements.announced({**facts, "id": clock.id}, event_type, at, data)
    now = get_clock().now()  # when it was found; `at` is when it fell due
    await events.publish(uow, SlaAnnounced([item], now, SYSTEM_NAME, SYSTEM_ROLE))


def remaining(clock: TicketClock, spec: CalendarSpec, now: datetime) -> tuple[int, int]:
    """(business seconds used, business seconds remaining; negative once overdue)."""
    used = clockmath.used_seconds(spec, clock.used_seconds, clock.running_since, now)
    return used, clock.target_seconds - used


# --- views ------------------------------------------------------------------------------


def _segment_out(seg: ClockSegment, spec: CalendarSpec, now: datetime) -> SegmentOut:
    business = None
    if seg.kind == "running":
        end = max(seg.ended_at or now, seg.started_at)
        business = int(between(spec, seg.started_at, end).total_seconds())
    return SegmentOut(
        kind=seg.kind,  # type: ignore[arg-type]
        reason=seg.reason,
        started_at=seg.started_at,
        ended_at=seg.ended_at,
        business_seconds=business,
    )


def status_of(clock: TicketClock) -> str:
    if clock.state == "stopped":
        return clock.outcome or "cancelled"
    return "breached" if clock.outcome == "breached" else clock.state


def brief(clock: TicketClock) -> ClockBrief:
    return ClockBrief(
        metric=clock.metric,  # type: ignore[arg-type]
        status=status_of(clock),  # type: ignore[arg-type]
        target_seconds=clock.target_seconds,
        warn_at=clock.warn_at,
        due_at=clock.due_at,
        breached_at=clock.breached_at,
    )


async def briefs(uow: UnitOfWork, ticket_id: uuid.UUID) -> list[ClockBrief]:
    return [brief(c) for c in await clocks_of(uow, ticket_id)]


async def details(uow: UnitOfWork, ticket_id: uuid.UUID, now: datetime) -> list[ClockOut]:
    clocks = await clocks_of(uow, ticket_id)
    specs = await calendar_specs(uow, [c.calendar_id for c in clocks])
    segments = await segments_of(uow, [c.id for c in clocks])
    out = []
    for c in clocks:
        spec = specs[c.calendar_id]
        used, left = remaining(c, spec, now)
        segs = [_segment_out(s, spec, now) for s in segments if s.clock_id == c.id]
        out.append(
            ClockOut(
                id=c.id,
                metric=c.metric,  # type: ignore[arg-type]
                status=status_of(c),  # type: ignore[arg-type]
                state=c.state,  # type: ignore[arg-type]
                outcome=c.outcome,  # type: ignore[arg-type]
                target_seconds=c.target_seconds,
                calendar_id=c.calendar_id,
                warn_percent=c.warn_percent,
                started_at=c.started_at,
                warn_at=c.warn_at,
                due_at=c.due_at,
                warned_at=c.warned_at,
                breached_at=c.breached_at,
                stopped_at=c.stopped_at,
                used_seconds=used,
                remaining_seconds=left,
                segments=segs,
            )
        )
    return out
