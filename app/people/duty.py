"""Who is on duty at an instant: pure functions of the roster and the time (the time is
passed in; tests pin it). Shifts are in local time of the engineer's team (or branch),
so a 09:00-18:00 shift stays 09:00-18:00 across DST changes; an end at or before the
start runs past midnight (22:00-06:00, or 00:00-00:00 for the whole day)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class ShiftSpec:
    id: uuid.UUID
    weekday: int | None  # 0 = Monday; None for a one-off shift
    on_date: date | None
    starts: time
    ends: time
    valid_from: date | None = None
    valid_until: date | None = None

    def applies_on(self, day: date) -> bool:
        """Whether the shift starts on this local date."""
        if self.on_date is not None:
            return day == self.on_date
        if day.weekday() != self.weekday:
            return False
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_until is None or day <= self.valid_until

    @property
    def overnight(self) -> bool:
        return self.ends <= self.starts

    def covers(self, local: datetime) -> bool:
        """Whether this shift runs at the local (naive wall-clock) time."""
        t = local.time()
        if self.applies_on(local.date()) and t >= self.starts and (self.overnight or t < self.ends):
            return True
        # The part after midnight of a shift that started the day before.
        yesterday = local.date() - timedelta(days=1)
        return self.overnight and self.applies_on(yesterday) and t < self.ends


@dataclass(frozen=True, slots=True)
class RotationSpec:
    id: uuid.UUID
    starts_at: datetime
    period_hours: int
    members: tuple[uuid.UUID, ...]

    def on_call(self, at: datetime) -> uuid.UUID | None:
        """The member whose turn it is at `at` (turns of `period_hours`, in order)."""
        if not self.members or at < self.starts_at:
            return None
        turn = int((at - self.starts_at) // timedelta(hours=self.period_hours))
        return self.members[turn % len(self.members)]


@dataclass(frozen=True, slots=True)
class Span:
    starts_at: datetime
    ends_at: datetime

    def contains(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


def duty_reason(
    at: datetime,
    tz: ZoneInfo,
    shifts: Iterable[ShiftSpec],
    absences: Iterable[Span],
    on_call_rotations: Iterable[uuid.UUID] = (),
) -> str | None:
    """Why the engineer is on duty at `at` ("shift:<id>" or "on_call:<rotation id>"), or
    None when off duty. An absence beats every shift and on-call turn."""
    if any(a.contains(at) for a in absences):
        return None
    local = at.astimezone(tz).replace(tzinfo=None)
    for s in shifts:
        if s.covers(local):
            return f"shift:{s.id}"
    for rotation_id in on_call_rotations:
        return f"on_call:{rotation_id}"
    return None
