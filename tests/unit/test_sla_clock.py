"""The pure clock arithmetic: due and warning times from business time used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.calendars.businesstime import CalendarSpec, hours
from app.sla.clock import plan, used_seconds

# Mon-Fri 09:00-18:00 in Shanghai, no holidays: 2026-03-02 is a Monday.
OFFICE = CalendarSpec.create("Asia/Shanghai", {d: [hours("09:00-18:00")[0]] for d in range(5)})
ALWAYS = CalendarSpec.always()


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour - 8, minute, tzinfo=UTC)


def test_fresh_clock_on_24x7_is_wall_clock() -> None:
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    warn, due = plan(ALWAYS, 4 * 3600, 75, 0, start)
    assert (warn, due) == (start + timedelta(hours=3), start + timedelta(hours=4))


def test_business_hours_carry_over_the_night_and_weekend() -> None:
    # 4 business hours from Friday 16:00: 2 h on Friday, 2 h on Monday.
    warn, due = plan(OFFICE, 4 * 3600, 75, 0, cst(6, 16))
    assert due == cst(9, 11)
    assert warn == cst(9, 10)


def test_used_time_is_carried_and_a_passed_warning_is_due_at_once() -> None:
    since = cst(3, 10)
    warn, due = plan(OFFICE, 4 * 3600, 75, 3 * 3600 + 1800, since)
    assert due == cst(3, 10, 30)
    assert warn == since  # 75% was passed before this segment: due now
    _, due = plan(OFFICE, 3600, 75, 7200, since)  # already over its target
    assert due == since


def test_used_seconds_counts_only_business_time_of_the_open_segment() -> None:
    assert used_seconds(OFFICE, 600, None, cst(3, 12)) == 600  # paused: nothing added
    assert used_seconds(OFFICE, 600, cst(3, 17), cst(4, 10)) == 600 + 3600 + 3600
    assert used_seconds(OFFICE, 0, cst(3, 17), cst(3, 16)) == 0  # now before since
