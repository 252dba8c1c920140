"""Quiet hours (app/mail/quiet.py) with pinned instants on the real China 5x8 calendar
(the `holidays` package's State Council schedule): a non-urgent notice waits for the
next working instant, across a weekend, the 2026 National Day week (1-7 October, 4
October a Sunday, the adjusted working Saturday 10 October) and Mid-Autumn (25
September); inside working time it goes at once. Digest periods end on the hour or at
local midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.calendars.businesstime import CalendarSpec, hours
from app.calendars.holiday_source import china_5x8
from app.mail.quiet import held_until, period_end, send_at

CST = ZoneInfo("Asia/Shanghai")


def cst(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=CST)


@pytest.fixture(scope="module")
def cal() -> CalendarSpec:
    return china_5x8()


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Inside working time: at once.
        (cst(2026, 9, 29, 10), cst(2026, 9, 29, 10)),
        (cst(2026, 9, 30, 17, 59), cst(2026, 9, 30, 17, 59)),
        # The evening before the National Day week: not until Thursday 8 October.
        (cst(2026, 9, 30, 18), cst(2026, 10, 8, 9)),
        (cst(2026, 9, 30, 23, 30), cst(2026, 10, 8, 9)),
        # In the middle of the holiday (the Sunday inside it too).
        (cst(2026, 10, 3, 12), cst(2026, 10, 8, 9)),
        (cst(2026, 10, 4, 3), cst(2026, 10, 8, 9)),
        # A weekday of the week given off in exchange (调休): still off.
        (cst(2026, 10, 7, 10), cst(2026, 10, 8, 9)),
        # Friday night after it: Saturday 10 October is a declared working day.
        (cst(2026, 10, 9, 20), cst(2026, 10, 10, 9)),
        (cst(2026, 10, 10, 11), cst(2026, 10, 10, 11)),
        # And Sunday 11 October is off again.
        (cst(2026, 10, 10, 18, 30), cst(2026, 10, 12, 9)),
        # Mid-Autumn on Friday 25 September: Thursday evening waits for Monday.
        (cst(2026, 9, 24, 19), cst(2026, 9, 28, 9)),
        # An ordinary weekend: Saturday waits for Monday; so does Friday night.
        (cst(2026, 11, 14, 2), cst(2026, 11, 16, 9)),
        (cst(2026, 11, 13, 23), cst(2026, 11, 16, 9)),
        # Early morning of a working day: its 09:00.
        (cst(2026, 11, 17, 6, 15), cst(2026, 11, 17, 9)),
    ],
)  # fmt: skip
def test_a_non_urgent_notice_waits_for_the_next_working_instant(
    cal: CalendarSpec, now: datetime, expected: datetime
) -> None:
    at = send_at(cal, now.astimezone(UTC))
    assert at == expected and at.tzinfo is not None
    assert at.utcoffset() == timedelta(0)  # stored as UTC
    assert held_until(cal, now.astimezone(UTC)) == (expected if expected > now else None)


def test_a_lunch_break_and_another_zone_are_the_recipients_own() -> None:
    lunch = china_5x8(lunch_break=True)
    assert send_at(lunch, cst(2026, 11, 17, 12, 30)) == cst(2026, 11, 17, 13, 30)
    berlin = CalendarSpec.create("Europe/Berlin", [hours("08:00-17:00")] * 5 + [(), ()])
    # 17:30 in Shanghai on a Tuesday is 10:30 in Berlin (CET): at once.
    assert held_until(berlin, cst(2026, 11, 17, 17, 30)) is None
    # 02:00 in Shanghai is 19:00 the day before in Berlin: its next morning, 08:00 CET.
    expected = datetime(2026, 11, 17, 8, tzinfo=ZoneInfo("Europe/Berlin"))
    assert send_at(berlin, cst(2026, 11, 17, 2)) == expected


def test_a_calendar_without_working_time_holds_nothing_forever() -> None:
    never = CalendarSpec.create("Asia/Shanghai", [(), (), (), (), (), (), ()])
    now = cst(2026, 10, 1, 3).astimezone(UTC)
    assert send_at(never, now) == now and held_until(never, now) is None


def test_around_the_clock_never_holds() -> None:
    always = CalendarSpec.always("Asia/Shanghai")
    now = cst(2026, 10, 1, 3).astimezone(UTC)
    assert held_until(always, now) is None


def test_digest_periods_end_on_the_hour_and_at_local_midnight() -> None:
    at = cst(2026, 9, 30, 10, 20).astimezone(UTC)
    assert period_end("hourly", "Asia/Shanghai", at) == cst(2026, 9, 30, 11)
    assert period_end("hourly", "Asia/Shanghai", cst(2026, 9, 30, 11)) == cst(2026, 9, 30, 12)
    assert period_end("daily", "Asia/Shanghai", at) == cst(2026, 10, 1)
    assert period_end("daily", "Asia/Shanghai", cst(2026, 9, 30, 23, 59)) == cst(2026, 10, 1)
    # India's half-hour offset: the local hour, not the UTC one.
    kolkata = ZoneInfo("Asia/Kolkata")
    assert period_end("hourly", "Asia/Kolkata", datetime(2026, 9, 30, 10, 20, tzinfo=kolkata)) == (
        datetime(2026, 9, 30, 11, tzinfo=kolkata)
    )
    # A 23-hour day (Berlin, 29 March 2026): still one day, midnight to midnight.
    berlin = ZoneInfo("Europe/Berlin")
    end = period_end("daily", "Europe/Berlin", datetime(2026, 3, 29, 1, tzinfo=berlin))
    assert end == datetime(2026, 3, 30, tzinfo=berlin)
    with pytest.raises(ValueError):
        period_end("weekly", "Asia/Shanghai", at)


def test_a_daily_digest_closed_on_a_holiday_eve_goes_after_it(cal: CalendarSpec) -> None:
    # What the consumer does for a daily digest reader: the period's end, then quiet hours.
    end = period_end("daily", "Asia/Shanghai", cst(2026, 9, 30, 15).astimezone(UTC))
    assert end == cst(2026, 10, 1)
    assert send_at(cal, end) == cst(2026, 10, 8, 9)
    assert date(2026, 10, 8).weekday() == 3  # Thursday
