"""Timer handlers of escalation: the functional escalation an SLA warning or breach asked
for, and the levels of the hierarchical notice chain."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text

from app.core.db import UnitOfWork
from app.escalation import service
from app.escalation.models import EscalationNotice
from app.escalation.sla import ESCALATE_TIMER, NOTICE_TIMER
from app.tickets import service as tickets
from app.tickets.models import OPEN_STATUSES, Ticket
from app.timers.service import DueTimer, batch_handler, handler


@batch_handler(ESCALATE_TIMER)
async def escalate(
    uow: UnitOfWork, due: list[DueTimer], now: datetime
) -> dict[uuid.UUID, datetime]:
    await service.sla_escalations(uow, [t.subject_id for t in due], now)
    return {}


@handler(NOTICE_TIMER)
async def notice(uow: UnitOfWork, timer: DueTimer, now: datetime) -> None:
    """Sends one level of the chain, unless what it is about is over: a warning's notice
    once the clock is met or stopped, a breach's once the ticket is no longer open."""
    n = await uow.session.get(EscalationNotice, timer.subject_id, with_for_update=True)
    if n is None or n.state != "pending":
        return
    row = (
        await uow.session.execute(
            text(
                "SELECT c.state, c.outcome, t.status, t.owner_id,"
                " (SELECT tm.manager_id FROM engineers e JOIN teams tm ON tm.id = e.team_id"
                "   WHERE e.id = t.owner_id) AS manager_id"
                " FROM ticket_clocks c JOIN tickets t ON t.id = c.ticket_id WHERE c.id = :c"
            ),
            {"c": n.clock_id},
        )
    ).first()
    live = (
        row is not None
        and row.status in OPEN_STATUSES
        and (
            (n.after == "warning" and row.state == "running" and row.outcome is None)
            or (n.after == "breach" and row.outcome == "breached")
        )
    )
    if not live:
        n.state = "cancelled"
        return
    assert row is not None
    recipients = []
    for r in n.recipients:
        if r == "team_manager":
            if row.manager_id is not None:
                recipients.append(str(row.manager_id))
        else:
            recipients.append(str(r))
    n.state, n.sent_at = "sent", now
    ticket = await uow.session.get(Ticket, n.ticket_id)
    assert ticket is not None
    tickets.record_event(
        uow, ticket, service.SYSTEM, None, "ticket.escalation_notice",
        data={"level": n.level, "after": n.after, "recipients": recipients,
              "clock_id": str(n.clock_id)},
    )  # fmt: skip
