"""Quiet hours and digest periods, as pure time arithmetic on the business calendars.

A non-urgent notice waits for its recipient's working time: at once inside it, else at
the next working instant of his calendar (so not at midnight, on a weekend or a public
holiday, and on China's adjusted working weekends it does go). A manager's digest
closes at the end of its period (the hour, or the local day) and then waits the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.calendars.businesstime import CalendarSpec, next_working_instant


def send_at(cal: CalendarSpec, now: datetime) -> datetime:
    """When a non-urgent notice may go: `now` inside working time, else the start of
    the next working interval. A calendar with no working time ahead (everything off)
    does not hold a notice forever: it goes now."""
    try:
        return next_working_instant(cal, now).astimezone(UTC)
    except ValueError:
        return now


def held_until(cal: CalendarSpec, now: datetime) -> datetime | None:
    """The instant a notice is held until, or None when it may go now."""
    at = send_at(cal, now)
    return at if at > now else None


def period_end(mode: str, tz: str, at: datetime) -> datetime:
    """The end of the digest period holding `at` (UTC): the next full hour, or the next
    local midnight in `tz` (a day of 23 or 25 hours across a DST change is one day)."""
    zone = ZoneInfo(tz)
    local = at.astimezone(zone)
    if mode == "hourly":
        start = local.replace(minute=0, second=0, microsecond=0)
        return (start.astimezone(UTC) + timedelta(hours=1)).astimezone(UTC)
    if mode == "daily":
        day = local.date() + timedelta(days=1)
        return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    raise ValueError(f"no digest period {mode!r}")
