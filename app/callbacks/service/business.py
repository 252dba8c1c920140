"""Business days of a calendar, and the instants the callback rules name (pure: no I/O).

A *business day* is a local date of the calendar with any working time in it, so
weekends, public holidays and China's adjusted working days (调休) come from the
calendar as they do for the SLA. Counting in days, not in working hours, is what the
rules say: "10:00 on the next business day", "three business days after the
resolution" mean dates to the people who read them, whatever a day's hours are.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.calendars.businesstime import CalendarSpec, between, next_working_instant

_ONE_DAY = timedelta(days=1)
# A calendar without a business day in a year (a misconfigured one) is an error, not an
# endless search.
MAX_SEARCH_DAYS = 400


def local_date(cal: CalendarSpec, at: datetime) -> date:
    return at.astimezone(ZoneInfo(cal.tz)).date()


def at_local(cal: CalendarSpec, day: date, clock: time) -> datetime:
    """The instant (UTC) of the local wall-clock time `clock` on `day`."""
    return datetime.combine(day, clock, ZoneInfo(cal.tz)).astimezone(UTC)


def has_business_day(cal: CalendarSpec, at: datetime) -> bool:
    """Whether the calendar has working time within MAX_SEARCH_DAYS after `at`."""
    return between(cal, at, at + timedelta(days=MAX_SEARCH_DAYS)) > timedelta(0)


def is_business_day(cal: CalendarSpec, day: date) -> bool:
    start = at_local(cal, day, time(0))
    return between(cal, start, at_local(cal, day + _ONE_DAY, time(0))) > timedelta(0)


def business_day_on_or_after(cal: CalendarSpec, day: date) -> date:
    for _ in range(MAX_SEARCH_DAYS):
        if is_business_day(cal, day):
            return day
        day += _ONE_DAY
    raise ValueError(f"calendar has no business day within {MAX_SEARCH_DAYS} days of {day}")


def nth_business_day_after(cal: CalendarSpec, day: date, n: int) -> date:
    """The n-th business day after `day` (n >= 1; `day` itself does not count)."""
    for _ in range(n):
        day = business_day_on_or_after(cal, day + _ONE_DAY)
    return day


def next_working(cal: CalendarSpec, at: datetime) -> datetime:
    """The first working instant at or after `at`; ValueError beyond MAX_SEARCH_DAYS, as
    the day searches (a call is not retried, nor planned, more than a year ahead)."""
    found = next_working_instant(cal, at)
    if found - at > timedelta(days=MAX_SEARCH_DAYS):
        raise ValueError(f"calendar has no working time within {MAX_SEARCH_DAYS} days of {at}")
    return found


def slot(cal: CalendarSpec, day: date, clock: time) -> datetime:
    """`clock` on `day`, or the next working instant when that is not working time (a
    10:00 callback on a day whose hours start at 13:00 is due at 13:00)."""
    return next_working(cal, at_local(cal, day, clock))


def callback_due(
    cal: CalendarSpec, resolved_at: datetime, after_days: int, clock: time
) -> datetime:
    """When a resolution callback is due: `clock` on the `after_days`-th business day
    after the resolution's date; with 0, the same day if it is a business day and
    `clock` is still ahead, else the next business day."""
    day = local_date(cal, resolved_at)
    if after_days == 0:
        day = business_day_on_or_after(cal, day)
        if slot(cal, day, clock) <= resolved_at:
            day = nth_business_day_after(cal, day, 1)
    else:
        day = nth_business_day_after(cal, day, after_days)
    return slot(cal, day, clock)


def silence_due(cal: CalendarSpec, resolved_at: datetime, days: int) -> datetime:
    """When a silent resolved ticket closes: the resolution's local time of day on the
    `days`-th business day after its date (resolved Wednesday 15:00, three business
    days, no holiday: Monday 15:00), so the reporter has `days` whole business days.
    A resolution on a day off counts from the start of the next business day (resolved
    Saturday noon: Monday, Tuesday and Wednesday are the reporter's, and the close comes
    at Thursday 00:00), else a weekend would take part of a business day away."""
    zone = ZoneInfo(cal.tz)
    local = resolved_at.astimezone(zone)
    start, clock = local.date(), local.time()
    if not is_business_day(cal, start):
        start, clock = business_day_on_or_after(cal, start), time(0)
    day = nth_business_day_after(cal, start, days)
    return datetime.combine(day, clock, zone).astimezone(UTC)


def retry_due(cal: CalendarSpec, now: datetime, minutes: int) -> datetime:
    """The next try after no answer: `minutes` later, moved to the next working instant
    when that falls outside working hours (nobody calls a customer at 20:00)."""
    return next_working(cal, now + timedelta(minutes=minutes))


def on_business_day(cal: CalendarSpec, at: datetime) -> datetime:
    """A contact plan's occurrence: `at` if it is working time; on a business day
    outside its hours, the next working instant; on a day off, its local time of day on
    the next business day (a call planned on a holiday moves to the day after)."""
    if is_working(cal, at):
        return at.astimezone(UTC)
    local = at.astimezone(ZoneInfo(cal.tz))
    if is_business_day(cal, local.date()):
        return next_working(cal, at)
    return slot(cal, business_day_on_or_after(cal, local.date()), local.time())


def is_working(cal: CalendarSpec, at: datetime) -> bool:
    return next_working_instant(cal, at) == at.astimezone(UTC)
