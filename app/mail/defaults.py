"""The notification rules a new installation starts with: who hears of which notice.

One rule per notice type (`rules.notice_type`), naming recipient roles (models.
RECIPIENT_ROLES). `RULES` is plain data with fixed ids, frozen into migration 0011
(`alembic/versions/0011_mail_callback_defaults.py`) as the calendars are into 0003: a
changed rule here needs a new migration. `ensure_mail_defaults` inserts them
with ON CONFLICT DO NOTHING, so an operator's changes are never overwritten.

Why these (DOMAIN 8, issue 12 item 1): the reporter hears of what he must act on or
should know (received, waiting on him, resolved asking for confirmation, closed,
reopened, cancelled, staff replies, escalated); the owner of what is his to do
(assigned, customer replies, SLA warning and breach, parts and RMA steps, reopened); the
secondary owner of what is handed to him; the team manager of what needs a manager (an
R&D request to approve, a ticket nobody could take, an escalation due, a part request
to approve); the escalation chain of its own notices; the emergency group and management
of major incidents, which are urgent. Waiting on parts or on the vendor is there but
off: many centres tell customers by phone; an operator turns it on with one PATCH."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.mail.models import NotificationRule


def _rule(n: int, event_type: str, roles: list[str], *, urgent: bool = False,
          enabled: bool = True) -> dict[str, Any]:  # fmt: skip
    return {
        "id": uuid.UUID(f"01a20a8b-77d6-7300-8000-{n:012d}"),
        "event_type": event_type,
        "roles": roles,
        "urgent": urgent,
        "enabled": enabled,
    }


REPORTER, OWNER, SECONDARY = "reporter", "owner", "secondary_owner"
CHAIN, MANAGER, EMERGENCY = "escalation_chain", "team_manager", "emergency_group"

RULES: list[dict[str, Any]] = [
    # The ticket's life, as the customer sees it.
    _rule(1, "ticket.created", [REPORTER]),
    _rule(2, "ticket.waiting_customer", [REPORTER]),
    _rule(3, "ticket.waiting_parts", [REPORTER], enabled=False),
    _rule(4, "ticket.waiting_vendor", [REPORTER], enabled=False),
    _rule(5, "ticket.resolved", [REPORTER]),
    _rule(6, "ticket.closed", [REPORTER]),
    _rule(7, "ticket.reopened", [REPORTER, OWNER]),
    _rule(8, "ticket.cancelled", [REPORTER]),
    _rule(9, "ticket.comment_added", [REPORTER, OWNER]),
    # Who works it.
    _rule(20, "ticket.assigned", [OWNER]),
    _rule(21, "ticket.secondary_assigned", [SECONDARY]),
    _rule(22, "ticket.unassigned", [MANAGER]),
    _rule(23, "ticket.assignment_failed", [MANAGER]),
    _rule(24, "ticket.priority_changed", [OWNER]),
    _rule(25, "ticket.handoff_started", [SECONDARY]),
    _rule(26, "ticket.handoff_reported", [OWNER]),
    _rule(27, "ticket.handoff_overdue", [OWNER]),
    # Service levels and escalation.
    _rule(40, "sla.warning", [OWNER]),
    _rule(41, "sla.breached", [OWNER]),
    _rule(42, "ticket.escalation_notice", [CHAIN]),
    _rule(43, "ticket.escalated", [REPORTER, SECONDARY]),
    _rule(44, "ticket.escalation_due", [MANAGER]),
    _rule(45, "ticket.escalation_requested", [MANAGER]),
    _rule(46, "ticket.escalation_approved", [OWNER]),
    _rule(47, "ticket.escalation_rejected", [OWNER]),
    _rule(48, "ticket.escalation_closure_proposed", [SECONDARY]),
    _rule(49, "ticket.escalation_closure_refused", [OWNER]),
    # Spare parts, RMAs and loaners on the ticket.
    _rule(60, "part_request.awaiting_approval", [MANAGER]),
    _rule(61, "part_request.approved", [OWNER]),
    _rule(62, "part_request.rejected", [OWNER]),
    _rule(63, "part_request.dispatched", [OWNER]),
    _rule(64, "part_request.return_overdue", [OWNER]),
    _rule(65, "rma.changed", [OWNER]),
    _rule(66, "loan.due_soon", [REPORTER, OWNER]),
    _rule(67, "loan.overdue", [OWNER]),
    # Major incidents: the emergency group and management, at once.
    _rule(80, "incident.declared", [EMERGENCY], urgent=True),
    _rule(81, "incident.updated", [EMERGENCY], urgent=True),
    _rule(82, "incident.update_due", [EMERGENCY], urgent=True),
    _rule(83, "incident.resolved", [EMERGENCY], urgent=True),
]

NOTICE_TYPES: tuple[str, ...] = tuple(r["event_type"] for r in RULES)


async def ensure_mail_defaults(uow: UnitOfWork) -> None:
    now = get_clock().now()
    rows = [{**r, "version": 1, "created_at": now, "updated_at": now} for r in RULES]
    stmt = insert(NotificationRule).values(rows).on_conflict_do_nothing()
    await uow.session.execute(stmt)
