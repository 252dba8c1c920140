"""The ticket state machine and the priority matrix: pure rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

WAITING = ("waiting_customer", "waiting_parts", "waiting_vendor")
ACTIVE = ("new", "assigned", "in_progress", *WAITING)


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]
    target: str | None  # None: the status does not change (assign) or depends on the body


TRANSITIONS: dict[str, Transition] = {
    "acknowledge": Transition(("new",), "assigned"),
    "assign": Transition(ACTIVE, None),
    "start": Transition(("new", "assigned"), "in_progress"),
    "wait": Transition(("in_progress",), None),
    "resume": Transition(WAITING, "in_progress"),
    "resolve": Transition(("in_progress", *WAITING), "resolved"),
    "confirm": Transition(("resolved",), "closed"),
    "reopen": Transition(("resolved", "closed"), "in_progress"),
    "cancel": Transition(ACTIVE, "cancelled"),
}


def can_reopen_closed(closed_at: datetime | None, now: datetime, window: timedelta) -> bool:
    return closed_at is not None and now - closed_at <= window


def allowed_actions(
    status: str, closed_at: datetime | None, now: datetime, reopen_window: timedelta
) -> list[str]:
    actions = _status_actions(status)
    if status == "closed" and not can_reopen_closed(closed_at, now, reopen_window):
        return [a for a in actions if a != "reopen"]
    return list(actions)  # a copy: callers may change theirs


def _status_actions(status: str) -> list[str]:
    actions = _BY_STATUS.get(status)
    if actions is None:
        actions = _BY_STATUS[status] = [n for n, t in TRANSITIONS.items() if status in t.sources]
    return actions


# The actions of each status, computed once: a list page asks for fifty at a time.
_BY_STATUS: dict[str, list[str]] = {}


class PageActions:
    """`allowed_actions` for the rows of one page, all at the same `now`: a dict lookup
    per row, the lists shared between rows (callers must not change them). A closed
    ticket may be reopened while `closed_at >= now - window`, which is
    `can_reopen_closed` exactly.

    `closed_at` is the API's text of a UTC instant, as the list reads it
    (`core.db.api_time`): `...:SS.ffffffZ`, or `...:SSZ` when the fraction is zero. With
    the fraction written out both are fixed-width, so text order is time order."""

    __slots__ = ("_closed_final", "_closed_open", "_reopen_from")

    def __init__(self, now: datetime, reopen_window: timedelta) -> None:
        self._reopen_from = f"{(now - reopen_window).astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}Z"
        self._closed_open = _status_actions("closed")
        self._closed_final = [a for a in self._closed_open if a != "reopen"]

    def of(self, status: str, closed_at: str | None) -> list[str]:
        if status == "closed":
            if closed_at is not None and _with_fraction(closed_at) >= self._reopen_from:
                return self._closed_open
            return self._closed_final
        return _BY_STATUS.get(status) or _status_actions(status)


def _with_fraction(api_time: str) -> str:
    return api_time if api_time[-8] == "." else f"{api_time[:-1]}.000000Z"


def target_status(action: str, status: str, wait_on: str | None = None) -> str:
    """The status after `action`; callers check `allowed_actions` first."""
    if action == "assign":
        return "assigned" if status == "new" else status
    if action == "wait":
        return f"waiting_{wait_on}"
    target = TRANSITIONS[action].target
    assert target is not None
    return target


# Impact x urgency -> priority (DOMAIN section 2): P1 only when both are high,
# a single "low" never yields more than P3.
PRIORITY_MATRIX: dict[tuple[str, str], str] = {
    ("high", "high"): "P1",
    ("high", "medium"): "P2",
    ("medium", "high"): "P2",
    ("high", "low"): "P3",
    ("medium", "medium"): "P3",
    ("low", "high"): "P3",
    ("medium", "low"): "P4",
    ("low", "medium"): "P4",
    ("low", "low"): "P4",
}


def derive_priority(
    given: str | None, impact: str | None, urgency: str | None
) -> tuple[str, str] | None:
    """(priority, source) or None when neither a priority nor impact and urgency are given."""
    if given is not None:
        return given, "given"
    if impact is not None and urgency is not None:
        return PRIORITY_MATRIX[(impact, urgency)], "derived"
    return None
