"""What an outbox message means to the mailer, as pure functions: which notice it is
(the event type a rule and a subscription name), whether it may wait for the
recipient's working hours, who it names beyond the ticket's current people, what it must
reach an address only once about, and which of the candidate recipients hear of it.

No database, no clock: the consumer and the preview feed it what they read."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Notices of the ticket aggregate whose event type alone does not say what they are.
WAITING_ON = ("customer", "parts", "vendor")
AWAITING_APPROVAL = "part_request.awaiting_approval"
RMA_CHANGED = "rma.changed"
ESCALATION_NOTICE = "ticket.escalation_notice"
SLA_EVENTS = ("sla.warning", "sla.breached")
URGENT_PRIORITIES = ("P1", "P2")
# A notice's event type -> the outbox event types it comes from (fnmatch patterns), for
# the consumer's `event_types`; a notice not listed comes from its own type.
SOURCES: dict[str, str] = {
    **{f"ticket.waiting_{on}": "ticket.waiting" for on in WAITING_ON},
    AWAITING_APPROVAL: "part_request.created",
    RMA_CHANGED: "rma.*",
}


def source_event(notice: str) -> str:
    """The outbox event type (or pattern) a notice type comes from."""
    return SOURCES.get(notice, notice)


def _data(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    data = payload.get("data")
    return data if isinstance(data, Mapping) else {}


def notice_type(event_type: str, aggregate_type: str, payload: Mapping[str, Any]) -> str | None:
    """The notice an outbox message is, or None when it is no notice of ours.

    Spare parts, RMAs and loans are announced twice, on the ticket (its timeline's
    outbox row) and on their own aggregate: only the ticket's is mailed, because it
    carries the ticket's facts and has a thread to join. An RMA's steps are one notice
    (its state in the data), so one rule and one subscription cover them."""
    if aggregate_type == "incident":
        return event_type if event_type.startswith("incident.") else None
    if aggregate_type != "ticket":
        return None
    data = _data(payload)
    if event_type == "ticket.waiting":
        on = data.get("waiting_on")
        return f"ticket.waiting_{on}" if on in WAITING_ON else None
    if event_type == "part_request.created":
        return AWAITING_APPROVAL if data.get("state") == "awaiting_approval" else None
    if event_type.startswith("rma."):
        return RMA_CHANGED
    return event_type


def is_urgent(rule_urgent: bool, aggregate_type: str, priority: object) -> bool:
    """Urgent notices never wait for working hours: the rule says so, the ticket is P1
    or P2, or it is a major incident's."""
    return rule_urgent or aggregate_type == "incident" or priority in URGENT_PRIORITIES


def flood_key(notice: str, payload: Mapping[str, Any]) -> str | None:
    """What a notice must reach an address only once about: an SLA target (its clock)
    at one level, a warning or a breach, and each level of the escalation chain. A
    clock announced again (its target swapped, the ticket reopened) mails nobody twice."""
    data = _data(payload)
    clock = data.get("clock_id")
    if not isinstance(clock, str) or not clock:
        return None
    if notice in SLA_EVENTS:
        return f"{notice}:{clock}"
    if notice == ESCALATION_NOTICE:
        return f"escalation:{clock}:{data.get('after')}:{data.get('level')}"
    return None


def _uuid(value: object) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class Named:
    """Who the event itself names for the roles (None: the ticket's current holder)."""

    owner_id: uuid.UUID | None = None
    secondary_id: uuid.UUID | None = None


def named(notice: str, payload: Mapping[str, Any]) -> Named:
    """An assignment is told to whom it was made, even if the ticket moved on before
    the notice went; a handoff to whom it was handed."""
    after = payload.get("after")
    after = after if isinstance(after, Mapping) else {}
    if notice == "ticket.assigned":
        return Named(owner_id=_uuid(after.get("owner_id")))
    if notice == "ticket.secondary_assigned":
        return Named(secondary_id=_uuid(after.get("secondary_owner_id")))
    if notice == "ticket.handoff_started":
        return Named(secondary_id=_uuid(_data(payload).get("to_id")))
    return Named()


def chain_recipients(payload: Mapping[str, Any]) -> tuple[list[uuid.UUID], list[str]]:
    """An escalation notice's or an incident's recipients: (identities, role names), from
    `recipients` in the data (escalation) or the payload (incidents): API key ids and
    `role:<role>`; `group:<name>` entries are the caller's (the emergency group)."""
    raw = _data(payload).get("recipients", payload.get("recipients"))
    ids: list[uuid.UUID] = []
    roles: list[str] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, str):
            continue
        if item.startswith("role:"):
            roles.append(item.removeprefix("role:"))
        elif (found := _uuid(item)) is not None:
            ids.append(found)
    return list(dict.fromkeys(ids)), list(dict.fromkeys(roles))


def names_group(payload: Mapping[str, Any], group: str) -> bool:
    raw = payload.get("recipients")
    return isinstance(raw, list) and f"group:{group}" in raw


@dataclass(frozen=True)
class Decision:
    """Whether a candidate hears of a notice, and what said so."""

    included: bool
    source: str  # "rule", "role", "engineer", "customer"; "none" when nothing names him


def decide(
    role: str,
    rule_roles: list[str] | tuple[str, ...],
    role_subscription: bool | None,
    person_subscription: tuple[str, bool] | None,
) -> Decision:
    """The most specific word wins: the person's own subscription (engineer, or the
    contact's customer), then his role's, then the rule. An opt-in reaches only the
    people the event concerns (a candidate by some role): it never mails strangers."""
    if person_subscription is not None:
        kind, subscribed = person_subscription
        return Decision(subscribed, kind)
    if role_subscription is not None:
        return Decision(role_subscription, "role")
    if role in rule_roles:
        return Decision(True, "rule")
    return Decision(False, "none")
