"""Public holidays and adjusted working days read from the `holidays` package, checked
against the State Council's 2026 schedule (国务院办公厅关于2026年部分节假日安排的通知)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.calendars.businesstime import CalendarSpec, between, hours
from app.calendars.holiday_source import (
    CHINA_LUNCH_BREAK_HOURS,
    CHINA_OFFICE_HOURS,
    PublicHolidays,
    china_5x8,
    office_calendar,
    public_days,
)

SH = ZoneInfo("Asia/Shanghai")


def _days(first: date, last: date) -> set[date]:
    return {first + timedelta(days=i) for i in range((last - first).days + 1)}


def _worked(cal: CalendarSpec, day: date) -> timedelta:
    start = datetime(day.year, day.month, day.day, tzinfo=SH)
    return between(cal, start, start + timedelta(days=1))


def test_china_2026_adjusted_working_days() -> None:
    _, work = public_days("CN", None, [2026])
    assert work == {
        date(2026, 1, 4),  # New Year
        date(2026, 2, 14),  # Spring Festival
        date(2026, 2, 28),
        date(2026, 5, 9),  # Labour Day
        date(2026, 9, 20),  # National Day
        date(2026, 10, 10),
    }
    assert all(d.weekday() >= 5 for d in work)


@pytest.mark.parametrize(
    ("first", "last", "name"),
    [
        (date(2026, 1, 1), date(2026, 1, 3), "New Year"),
        (date(2026, 2, 15), date(2026, 2, 23), "Spring Festival, 9 days"),
        (date(2026, 4, 4), date(2026, 4, 6), "Qingming"),
        (date(2026, 5, 1), date(2026, 5, 5), "Labour Day"),
        (date(2026, 6, 19), date(2026, 6, 21), "Dragon Boat"),
        (date(2026, 9, 25), date(2026, 9, 27), "Mid-Autumn"),
        (date(2026, 10, 1), date(2026, 10, 7), "National Day, 7 days"),
    ],
)
def test_china_2026_breaks_are_off(first: date, last: date, name: str) -> None:
    off, _ = public_days("CN", None, [2026])
    cal = china_5x8()
    for day in _days(first, last):
        # The package lists the weekdays off; weekends in a break are off anyway.
        assert day in off or day.weekday() >= 5, (name, day)
        assert _worked(cal, day) == timedelta(0), (name, day)
    # The day before and after each break is worked (or a plain weekend).
    for day in (first - timedelta(days=1), last + timedelta(days=1)):
        assert day not in off, (name, day)


def test_china_5x8_works_the_adjusted_weekend_days() -> None:
    cal = china_5x8()
    for day in public_days("CN", None, [2026])[1]:
        assert _worked(cal, day) == timedelta(hours=9)
    lunch = china_5x8(lunch_break=True)
    assert _worked(lunch, date(2026, 2, 14)) == timedelta(hours=7, minutes=30)
    # The weekend days around them are not worked.
    assert _worked(cal, date(2026, 2, 7)) == timedelta(0)
    assert _worked(cal, date(2026, 9, 19)) == timedelta(0)


def test_china_2026_working_days_count() -> None:
    # 365 days - 104 weekend days - 19 weekdays off (the package's list minus its 3
    # weekend dates) + 6 adjusted working days = 248.
    off, work = public_days("CN", None, [2026])
    weekdays_off = {d for d in off if d.weekday() < 5}
    assert len(weekdays_off) == 19
    cal = china_5x8()
    total = between(cal, datetime(2026, 1, 1, tzinfo=SH), datetime(2027, 1, 1, tzinfo=SH))
    assert total == timedelta(hours=9 * (365 - 104 - 19 + len(work)))
    assert total == timedelta(hours=9 * 248)


def test_working_days_swapped_across_years_stay_in_their_year() -> None:
    # The 2002 New Year break was paid back on Saturday and Sunday 29-30 December 2001.
    _, work_2001 = public_days("CN", None, [2001])
    _, work_2002 = public_days("CN", None, [2002])
    assert {date(2001, 12, 29), date(2001, 12, 30)} <= work_2001
    assert all(d.year == 2001 for d in work_2001)
    assert all(d.year == 2002 for d in work_2002)
    off, work = public_days("CN", None, [2001, 2002])
    assert work == work_2001 | work_2002
    assert date(2002, 1, 2) in off


def test_germany_bavaria_has_no_adjusted_working_days() -> None:
    off, work = public_days("DE", "BY", [2026])
    assert work == frozenset()
    assert date(2026, 1, 6) in off  # Epiphany, Bavaria only
    assert date(2026, 6, 4) in off  # Corpus Christi
    national, _ = public_days("DE", None, [2026])
    assert date(2026, 1, 6) not in national
    assert national < off
    # Assumption Day is Catholic-category in Bavaria, not in the default public set.
    assert date(2026, 8, 15) not in off
    catholic, _ = public_days("DE", "BY", [2026], categories=["public", "catholic"])
    assert date(2026, 8, 15) in catholic


def test_office_calendar_for_bavaria() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    cal = office_calendar("DE", "Europe/Berlin", hours("08:00-16:30"), subdivision="BY")
    tue = datetime(2026, 1, 6, tzinfo=berlin)  # Epiphany
    assert between(cal, tue, tue + timedelta(days=1)) == timedelta(0)
    wed = datetime(2026, 1, 7, tzinfo=berlin)
    assert between(cal, wed, wed + timedelta(days=1)) == timedelta(hours=8, minutes=30)


def test_provider_is_a_hashable_value() -> None:
    a = PublicHolidays(" cn ")
    b = PublicHolidays("CN")
    assert a == b
    assert hash(a) == hash(b)
    assert a.days_for_year(2026) == public_days("CN", None, [2026])
    assert china_5x8() == china_5x8()
    assert china_5x8().weekly[0] == CHINA_OFFICE_HOURS
    assert china_5x8(lunch_break=True).weekly[4] == CHINA_LUNCH_BREAK_HOURS
    assert china_5x8().weekly[5:] == ((), ())


def test_unknown_country_subdivision_or_category() -> None:
    with pytest.raises(ValueError, match="XX"):
        PublicHolidays("XX")
    with pytest.raises(ValueError, match="ZZ"):
        public_days("DE", "ZZ", [2026])
    with pytest.raises(ValueError):
        public_days("DE", None, [2026], categories=["nonsense"])


def test_no_years_no_days() -> None:
    assert public_days("CN", None, []) == (frozenset(), frozenset())
