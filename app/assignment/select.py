"""The choice among engineers on duty (DOMAIN section 4), as a pure function: in the
ticket's branch, then a near one (same parent branch or region), then any; by least
open weighted load; then longest since the last assignment. It also says which of these
rules decided, for the timeline ("why him?")."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.people.roster import OnDuty

SAME, NEAR, OTHER = 0, 1, 2
MATCH_NAMES = {SAME: "same", NEAR: "near", OTHER: "other"}
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Place:
    """Where the ticket is: its branch, that branch's parent and region."""

    branch_id: uuid.UUID
    parent_id: uuid.UUID | None
    region: str | None


def branch_match(c: OnDuty, place: Place) -> int:
    if c.branch_id == place.branch_id:
        return SAME
    related = {place.branch_id, place.parent_id} - {None}
    if c.branch_id in related or (c.parent_branch_id is not None and c.parent_branch_id in related):
        return NEAR
    if place.region is not None and c.region == place.region:
        return NEAR
    return OTHER


def _key(c: OnDuty, place: Place) -> tuple[int, int, datetime, uuid.UUID]:
    return (branch_match(c, place), c.open_load, c.last_assigned_at or _NEVER, c.id)


# What separated the winner from the runner-up, by position in the key.
_RULES = ("branch", "least_load", "longest_since_last_assignment", "tie_broken_by_id")


def rank(candidates: list[OnDuty], place: Place) -> list[OnDuty]:
    """Those with room, best first."""
    free = [c for c in candidates if c.open_tickets < c.max_load]
    return sorted(free, key=lambda c: _key(c, place))


def rule(ranked: list[OnDuty], place: Place, winner: int = 0) -> str:
    """Why `ranked[winner]` was chosen over the next one (or 'only_candidate')."""
    if len(ranked) == winner + 1:
        return "only_candidate"
    a, b = _key(ranked[winner], place), _key(ranked[winner + 1], place)
    for i, name in enumerate(_RULES):
        if a[i] != b[i]:
            if name == "branch":
                return "same_branch" if a[0] == SAME else "nearest_branch"
            return name
    return _RULES[-1]


def explain(ranked: list[OnDuty], place: Place, limit: int = 5) -> list[dict[str, Any]]:
    """The first candidates with what they were compared on (for the event)."""
    return [
        {
            "engineer_id": str(c.id),
            "name": c.name,
            "branch": MATCH_NAMES[branch_match(c, place)],
            "open_load": c.open_load,
            "open_tickets": c.open_tickets,
            "max_load": c.max_load,
            "last_assigned_at": c.last_assigned_at.isoformat() if c.last_assigned_at else None,
            "on_duty": c.reason,
        }
        for c in ranked[:limit]
    ]
