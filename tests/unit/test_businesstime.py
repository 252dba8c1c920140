"""Business-time engine: fixed cases (China 2026 breaks with their adjusted working days,
lunch breaks, DST, overrides, errors) and properties on random calendars, checked
against a slow day-by-day reference."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.calendars.businesstime import (
    ALWAYS,
    END_OF_DAY,
    CalendarSpec,
    DayHours,
    add,
    add_each,
    between,
    hours,
    is_working_time,
    next_working_instant,
)
from app.calendars.holiday_source import china_5x8

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
CN = china_5x8()
CN_LUNCH = china_5x8(lunch_break=True)
NINE_TO_SIX = hours("09:00-18:00")


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=SH)


def berlin(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=BERLIN)


# --- China 2026: Spring Festival and National Day with adjusted working days ------------


@pytest.mark.parametrize(
    ("opened", "duration", "due"),
    [
        # Friday before Spring Festival: the Saturday 14 Feb is an adjusted working day.
        (sh(2026, 2, 13, 16), 4 * H, sh(2026, 2, 14, 11)),
        # Opened on that working Saturday: 15-23 Feb are off, work resumes Tue 24 Feb.
        (sh(2026, 2, 14, 17), 4 * H, sh(2026, 2, 24, 12)),
        # Opened during the break: counting starts on 24 Feb.
        (sh(2026, 2, 18, 10), 4 * H, sh(2026, 2, 24, 13)),
        # 3 business days (27 h) from Thursday 12 Feb: Thu 8 h, Fri 9 h, Sat 9 h, Tue 1 h.
        (sh(2026, 2, 12, 10), 27 * H, sh(2026, 2, 24, 10)),
        # Saturday 28 Feb is the second adjusted working day.
        (sh(2026, 2, 27, 17), 2 * H, sh(2026, 2, 28, 10)),
        # National Day: 1-7 Oct off, Thursday 8 Oct the first working day.
        (sh(2026, 9, 30, 17), 4 * H, sh(2026, 10, 8, 12)),
        # Sunday 20 Sep is an adjusted working day, Saturday 19 Sep is not.
        (sh(2026, 9, 19, 10), 2 * H, sh(2026, 9, 20, 11)),
        # Saturday 10 Oct is an adjusted working day.
        (sh(2026, 10, 9, 17), 2 * H, sh(2026, 10, 10, 10)),
        # 30 business days from Monday 5 Jan end on Friday 13 Feb at closing time.
        (sh(2026, 1, 5, 9), 30 * 9 * H, sh(2026, 2, 13, 18)),
    ],
)
def test_china_2026_breaks(opened: datetime, duration: timedelta, due: datetime) -> None:
    result = add(CN, opened, duration)
    assert result == due
    assert result.tzinfo is UTC
    assert between(CN, opened, result) == duration


def test_china_2026_business_time_over_the_breaks() -> None:
    # 13, 14, 24-27 and 28 Feb are worked: 7 days of 9 h.
    assert between(CN, sh(2026, 2, 13), sh(2026, 3, 1)) == 63 * H
    # October: 8, 9, 10 and the 15 weekdays from the 12th.
    assert between(CN, sh(2026, 10, 1), sh(2026, 11, 1)) == 18 * 9 * H
    for day in range(15, 24):
        assert between(CN, sh(2026, 2, day), sh(2026, 2, day) + timedelta(days=1)) == 0 * H


def test_spans_across_years() -> None:
    whole = between(CN, sh(2025, 1, 1), sh(2028, 1, 1))
    parts = sum(
        (between(CN, sh(y, 1, 1), sh(y + 1, 1, 1)) for y in (2025, 2026, 2027)), timedelta(0)
    )
    assert whole == parts
    assert add(CN, sh(2025, 1, 1), whole) == sh(2027, 12, 31, 18)


# --- lunch break ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opened", "duration", "due"),
    [
        (sh(2026, 3, 2, 11), 2 * H, sh(2026, 3, 2, 14, 30)),
        # Opened during lunch: counting starts at 13:30.
        (sh(2026, 3, 2, 12, 30), 1 * H, sh(2026, 3, 2, 14, 30)),
        # Exactly used up at 12:00: due at 12:00, not at 13:30.
        (sh(2026, 3, 2, 11), 1 * H, sh(2026, 3, 2, 12)),
        # One business day (7.5 h) from 10:00.
        (sh(2026, 3, 2, 10), timedelta(hours=7, minutes=30), sh(2026, 3, 3, 10)),
        # Opened after hours.
        (sh(2026, 3, 2, 19), 4 * H, sh(2026, 3, 3, 14, 30)),
    ],
)
def test_lunch_break(opened: datetime, duration: timedelta, due: datetime) -> None:
    assert add(CN_LUNCH, opened, duration) == due
    assert between(CN_LUNCH, opened, due) == duration


def test_lunch_break_day_length() -> None:
    assert between(CN_LUNCH, sh(2026, 3, 2), sh(2026, 3, 3)) == timedelta(hours=7, minutes=30)
    assert not is_working_time(CN_LUNCH, sh(2026, 3, 2, 12, 15))
    assert is_working_time(CN_LUNCH, sh(2026, 3, 2, 13, 30))
    assert not is_working_time(CN_LUNCH, sh(2026, 3, 2, 18))


# --- daylight saving time ---------------------------------------------------------------


def _berlin_daily(day: DayHours) -> CalendarSpec:
    return CalendarSpec.create("Europe/Berlin", [day] * 7)


def test_dst_day_outside_the_change_keeps_its_hours() -> None:
    cal = _berlin_daily(NINE_TO_SIX)
    assert between(cal, berlin(2026, 3, 29), berlin(2026, 3, 30)) == 9 * H
    assert between(cal, berlin(2026, 10, 25), berlin(2026, 10, 26)) == 9 * H
    # 09:00 CET and 09:00 CEST are different UTC hours.
    assert next_working_instant(cal, berlin(2026, 3, 28, 20)) == datetime(
        2026, 3, 29, 7, tzinfo=UTC
    )
    assert next_working_instant(cal, berlin(2026, 3, 27, 20)) == datetime(
        2026, 3, 28, 8, tzinfo=UTC
    )


def test_dst_interval_spanning_the_change() -> None:
    cal = _berlin_daily(hours("01:00-04:00"))
    assert between(cal, berlin(2026, 3, 29), berlin(2026, 3, 30)) == 2 * H
    assert between(cal, berlin(2026, 10, 25), berlin(2026, 10, 26)) == 4 * H
    assert between(cal, berlin(2026, 3, 28), berlin(2026, 3, 29)) == 3 * H


def test_dst_whole_days() -> None:
    cal = CalendarSpec.always("Europe/Berlin")
    assert between(cal, berlin(2026, 3, 29), berlin(2026, 3, 30)) == 23 * H
    assert between(cal, berlin(2026, 10, 25), berlin(2026, 10, 26)) == 25 * H
    assert add(cal, berlin(2026, 3, 29), 24 * H) == berlin(2026, 3, 30, 1)


def test_dst_endpoints_inside_the_change_read_with_fold_0() -> None:
    # 02:30 does not exist on 29 March; fold=0 reads it as 03:30 CEST.
    gap = _berlin_daily(hours("02:30-06:00"))
    assert between(gap, berlin(2026, 3, 29), berlin(2026, 3, 30)) == timedelta(hours=2, minutes=30)
    assert next_working_instant(gap, berlin(2026, 3, 29)) == berlin(2026, 3, 29, 3, 30)
    # 02:30 happens twice on 25 October; fold=0 is the first time (CEST).
    fold = _berlin_daily(hours("01:00-02:30"))
    assert between(fold, berlin(2026, 10, 25), berlin(2026, 10, 26)) == timedelta(
        hours=1, minutes=30
    )
    assert add(fold, berlin(2026, 10, 25), timedelta(hours=1, minutes=30)) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )


def test_dst_intervals_reordered_by_fold_0_count_once() -> None:
    # 02:30-02:45 reads as 03:30-03:45 CEST, inside 03:00-04:00: one hour, not 1 h 15.
    cal = CalendarSpec.create(
        "Europe/Berlin",
        [()] * 7,
        date_hours={date(2026, 3, 29): hours("02:30-02:45", "03:00-04:00")},
    )
    assert between(cal, berlin(2026, 3, 29), berlin(2026, 3, 30)) == H
    assert add(cal, berlin(2026, 3, 29), H) == berlin(2026, 3, 29, 4)


def test_new_year_inside_a_gap() -> None:
    # Lima skipped 00:00-01:00 on 1 January 1986: the year boundary itself does not exist.
    lima = ZoneInfo("America/Lima")
    cal = CalendarSpec.always("America/Lima")
    # Aware arithmetic in Python is wall-clock arithmetic: stay in UTC to add real hours.
    start = datetime(1985, 12, 31, 12, tzinfo=lima).astimezone(UTC)
    assert between(cal, start, start + 48 * H) == 48 * H
    assert add(cal, start, 48 * H) == start + 48 * H
    day = CalendarSpec.create("America/Lima", [hours("00:00-24:00")] * 7)
    assert between(day, datetime(1986, 1, 1, tzinfo=lima), datetime(1986, 1, 2, tzinfo=lima)) == (
        23 * H
    )


def test_dst_add_across_the_weekend_of_the_change() -> None:
    cal = CalendarSpec.create("Europe/Berlin", [NINE_TO_SIX] * 5 + [(), ()])
    # Friday 17:00 CET + 2 h = Monday 10:00 CEST.
    assert add(cal, berlin(2026, 3, 27, 17), 2 * H) == datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert add(cal, berlin(2026, 10, 23, 17), 2 * H) == datetime(2026, 10, 26, 9, tzinfo=UTC)


# --- 24x7 -------------------------------------------------------------------------------


@given(
    start=st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
    duration=st.timedeltas(timedelta(0), timedelta(days=800)),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]),
)
@settings(deadline=None, max_examples=200)
def test_always_is_wall_clock_arithmetic(start: datetime, duration: timedelta, tz: str) -> None:
    cal = CalendarSpec.always(tz)
    assert add(cal, start, duration) == start + duration
    assert between(cal, start, start + duration) == duration
    assert next_working_instant(cal, start) == start


def test_always_constant() -> None:
    start = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert add(ALWAYS, start, 2 * H) == datetime(2027, 1, 1, 1, tzinfo=UTC)
    assert CalendarSpec.always() == ALWAYS
    assert ALWAYS.weekly[6] == ((time(0), END_OF_DAY),)


# --- overrides and precedence -----------------------------------------------------------


def test_date_hours_override() -> None:
    cal = CalendarSpec.create(
        "Asia/Shanghai",
        [NINE_TO_SIX] * 5 + [(), ()],
        date_hours={
            date(2026, 3, 3): hours("09:00-12:00"),  # half day
            date(2026, 3, 4): [],  # off
            date(2026, 3, 7): hours("10:00-11:00"),  # a Saturday made working
        },
        public_holidays=CN.public_holidays,
    )
    assert between(cal, sh(2026, 3, 3), sh(2026, 3, 4)) == 3 * H
    assert between(cal, sh(2026, 3, 4), sh(2026, 3, 5)) == 0 * H
    assert between(cal, sh(2026, 3, 7), sh(2026, 3, 8)) == 1 * H
    assert add(cal, sh(2026, 3, 3, 11), 2 * H) == sh(2026, 3, 5, 10)


def test_date_hours_beats_public_holiday_and_days_off_beat_extra_workdays() -> None:
    base = china_5x8()
    cal = CalendarSpec.create(
        base.tz,
        base.weekly,
        date_hours={date(2026, 2, 17): hours("10:00-12:00")},  # a Spring Festival day
        days_off={date(2026, 2, 14)},  # the adjusted Saturday, given off locally
        extra_workdays={date(2026, 2, 14): hours("09:00-10:00")},
        public_holidays=base.public_holidays,
    )
    assert between(cal, sh(2026, 2, 17), sh(2026, 2, 18)) == 2 * H
    assert between(cal, sh(2026, 2, 14), sh(2026, 2, 15)) == 0 * H
    assert between(base, sh(2026, 2, 14), sh(2026, 2, 15)) == 9 * H


def test_extra_days_off_and_extra_workdays() -> None:
    cal = CalendarSpec.create(
        "Asia/Shanghai",
        [NINE_TO_SIX] * 5 + [(), ()],
        days_off=[date(2026, 3, 5)],
        extra_workdays={date(2026, 3, 7): None, date(2026, 3, 8): hours("14:00-16:00")},
    )
    assert between(cal, sh(2026, 3, 5), sh(2026, 3, 6)) == 0 * H
    assert between(cal, sh(2026, 3, 7), sh(2026, 3, 8)) == 9 * H  # default hours
    assert between(cal, sh(2026, 3, 8), sh(2026, 3, 9)) == 2 * H
    # Friday 17:00 + 3 h: Fri 1 h, Sat 09:00 + 2 h.
    assert add(cal, sh(2026, 3, 6, 17), 3 * H) == sh(2026, 3, 7, 11)


def test_default_hours_is_the_first_weekday_with_hours() -> None:
    cal = CalendarSpec.create(
        "UTC",
        {1: hours("08:00-12:00"), 2: NINE_TO_SIX},
        extra_workdays=[date(2026, 3, 8)],
    )
    assert cal.default_hours == hours("08:00-12:00")
    assert dict(cal.extra_workdays) == {date(2026, 3, 8): hours("08:00-12:00")}


def test_spec_is_a_value() -> None:
    a = CalendarSpec.create("UTC", {0: [(time(13), time(14)), (time(9), time(10))]})
    b = CalendarSpec.create("UTC", {0: hours("09:00-10:00", "13:00-14:00")})
    assert a == b
    assert hash(a) == hash(b)
    add(a, datetime(2026, 1, 1, tzinfo=UTC), H)  # the cached index is not part of the value
    assert a == b
    assert hash(a) == hash(b)


def test_24_00_as_end_of_day() -> None:
    cal = CalendarSpec.create("Asia/Shanghai", [hours("20:00-24:00")] * 7)
    assert cal.weekly[0] == ((time(20), END_OF_DAY),)
    assert add(cal, sh(2026, 3, 2, 23), 2 * H) == sh(2026, 3, 3, 21)
    assert between(cal, sh(2026, 3, 2), sh(2026, 3, 9)) == 28 * H


# --- edge cases and errors --------------------------------------------------------------


def test_zero_duration_returns_start_even_outside_hours() -> None:
    sunday = sh(2026, 3, 1, 3, 7, 11, 5)
    assert add(CN, sunday, timedelta(0)) == sunday
    assert add(CN, sunday, timedelta(0)).tzinfo is UTC
    assert between(CN, sunday, sunday) == timedelta(0)


def test_start_outside_hours_counts_from_next_working_instant() -> None:
    assert add(CN, sh(2026, 3, 1, 3), timedelta(seconds=1)) == sh(2026, 3, 2, 9, 0, 1)
    assert next_working_instant(CN, sh(2026, 3, 1, 3)) == sh(2026, 3, 2, 9)
    assert next_working_instant(CN, sh(2026, 3, 2, 10)) == sh(2026, 3, 2, 10)
    # End of hours is not working time: the next instant is tomorrow morning.
    assert next_working_instant(CN, sh(2026, 3, 2, 18)) == sh(2026, 3, 3, 9)


def test_microseconds_are_exact() -> None:
    start = sh(2026, 3, 2, 17, 59, 59, 999_999)
    assert add(CN, start, timedelta(microseconds=2)) == sh(2026, 3, 3, 9, 0, 0, 1)
    assert between(CN, start, sh(2026, 3, 3, 9, 0, 0, 1)) == timedelta(microseconds=2)


def test_negative_duration_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add(CN, sh(2026, 3, 2, 10), -timedelta(microseconds=1))


def test_naive_datetimes_refused() -> None:
    naive = datetime(2026, 3, 2, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        add(CN, naive, H)
    with pytest.raises(ValueError, match="timezone-aware"):
        add(CN, naive, timedelta(0))
    with pytest.raises(ValueError, match="timezone-aware"):
        between(CN, naive, sh(2026, 3, 3))
    with pytest.raises(ValueError, match="timezone-aware"):
        between(CN, sh(2026, 3, 1), naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_working_instant(CN, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_working_time(CN, naive)


def test_end_before_start_refused() -> None:
    with pytest.raises(ValueError, match="before start"):
        between(CN, sh(2026, 3, 3), sh(2026, 3, 2))


def test_calendar_without_working_time() -> None:
    never = CalendarSpec.create("UTC", [()] * 7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="no working time"):
        add(never, start, timedelta(seconds=1))
    with pytest.raises(ValueError, match="no working time"):
        next_working_instant(never, start)
    assert between(never, start, start + timedelta(days=1000)) == timedelta(0)
    assert add(never, start, timedelta(0)) == start


def test_result_beyond_year_9999_refused_at_once() -> None:
    with pytest.raises(ValueError, match="9999"):
        add(ALWAYS, datetime(9999, 6, 1, tzinfo=UTC), timedelta(days=400))


def test_spec_pickles_without_its_index() -> None:
    cal = china_5x8()
    add(cal, sh(2026, 3, 2, 10), H)
    copy = pickle.loads(pickle.dumps(cal))
    assert copy == cal
    assert "_index_cache" not in copy.__dict__
    assert add(copy, sh(2026, 2, 13, 16), 4 * H) == sh(2026, 2, 14, 11)


def test_sparse_calendar_within_the_search_cap() -> None:
    once = CalendarSpec.create("UTC", [()] * 7, date_hours={date(2031, 6, 1): hours("09:00-10:00")})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert add(once, start, H) == datetime(2031, 6, 1, 10, tzinfo=UTC)
    assert next_working_instant(once, start) == datetime(2031, 6, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    "weekly",
    [
        {0: [(time(10), time(9))]},  # end before start
        {0: [(time(9), time(9))]},  # empty
        {0: [(time(9), time(12)), (time(11), time(13))]},  # overlap
        {7: NINE_TO_SIX},  # no such weekday
        [NINE_TO_SIX] * 6,  # 6 days
        {0: [(time(9, tzinfo=UTC), time(10))]},  # not wall-clock
        {0: ["09:00-10:00"]},
    ],
)
def test_bad_weekly_refused(weekly: object) -> None:
    with pytest.raises(ValueError):
        CalendarSpec.create("UTC", weekly)  # type: ignore[arg-type]


def test_bad_specs_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        CalendarSpec.create("Mars/Olympus", [NINE_TO_SIX] * 7)
    with pytest.raises(ValueError, match="date"):
        CalendarSpec.create("UTC", [NINE_TO_SIX] * 7, days_off=[datetime(2026, 1, 1)])
    for bad in ("9-18", "25:00-26:00", "24:00-24:00", "10:00-09:00"):
        with pytest.raises(ValueError):
            hours(bad)


def test_year_boundary_west_of_utc() -> None:
    ny = ZoneInfo("America/New_York")
    cal = CalendarSpec.create("America/New_York", [hours("20:00-24:00")] * 7)
    start = datetime(2026, 12, 31, 22, tzinfo=ny)  # already 2027 in UTC
    assert add(cal, start, 3 * H) == datetime(2027, 1, 1, 21, tzinfo=ny)
    assert between(cal, start, datetime(2027, 1, 2, tzinfo=ny)) == 6 * H


# --- properties on random calendars -----------------------------------------------------

ZONES = [
    "UTC",
    "Asia/Shanghai",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST
    "America/Santiago",  # DST change at midnight
    "Asia/Kolkata",
]
WINDOW = (date(2025, 12, 1), date(2027, 6, 30))


@dataclass(frozen=True)
class FixedHolidays:
    off: frozenset[date]
    work: frozenset[date]

    def days_for_year(self, year: int, /) -> tuple[frozenset[date], frozenset[date]]:
        return (
            frozenset(d for d in self.off if d.year == year),
            frozenset(d for d in self.work if d.year == year),
        )


@st.composite
def day_hours(draw: st.DrawFn) -> DayHours:
    # Boundaries in seconds since midnight; 86400 is 24:00.
    points = sorted(draw(st.sets(st.integers(0, 86_400), max_size=6)))
    out = []
    for s, e in zip(points[0::2], points[1::2], strict=False):
        start = time(s // 3600, s // 60 % 60, s % 60)
        end = END_OF_DAY if e == 86_400 else time(e // 3600, e // 60 % 60, e % 60)
        out.append((start, end))
    return tuple(out)


dates = st.dates(*WINDOW)


@st.composite
def calendars(draw: st.DrawFn) -> CalendarSpec:
    weekly = [draw(day_hours()) for _ in range(7)]
    provider = None
    if draw(st.booleans()):
        provider = FixedHolidays(
            draw(st.frozensets(dates, max_size=20)), draw(st.frozensets(dates, max_size=10))
        )
    return CalendarSpec.create(
        draw(st.sampled_from(ZONES)),
        weekly,
        days_off=draw(st.frozensets(dates, max_size=30)),
        extra_workdays=draw(st.dictionaries(dates, st.none() | day_hours(), max_size=10)),
        date_hours=draw(st.dictionaries(dates, day_hours(), max_size=10)),
        public_holidays=provider,
    )


instants = st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC))
spans = st.timedeltas(timedelta(0), timedelta(days=60))
PROPS = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


def _density(cal: CalendarSpec) -> tuple[int, int]:
    """Working µs per week of the weekly hours, and µs in a week."""
    week = 0
    for day in cal.weekly:
        for a, b in day:
            end = 86_400 if b == END_OF_DAY else b.hour * 3600 + b.minute * 60 + b.second
            week += (end - (a.hour * 3600 + a.minute * 60 + a.second)) * 1_000_000
    return week, 7 * 86_400 * 1_000_000


def _scaled(cal: CalendarSpec, span: timedelta) -> timedelta:
    """The working time a calendar of this density holds in `span` of wall-clock time, so
    that sparse random calendars are not asked for decades of work."""
    assume(any(cal.weekly))
    worked, week = _density(cal)
    return timedelta(microseconds=(span // timedelta(microseconds=1)) * worked // week)


def reference_between(cal: CalendarSpec, start: datetime, end: datetime) -> timedelta:
    """Day by day, straight from the rules: no index, no prefix sums, no year split."""
    zone = ZoneInfo(cal.tz)
    date_hours = dict(cal.date_hours)
    extra = dict(cal.extra_workdays)
    pieces: list[tuple[datetime, datetime]] = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        public_off, public_work = (
            cal.public_holidays.days_for_year(day.year) if cal.public_holidays else ((), ())
        )
        if day in date_hours:
            ivs = date_hours[day]
        elif day in cal.days_off or day in public_off:
            ivs = ()
        elif day in extra:
            ivs = extra[day]
        elif day in public_work:
            ivs = cal.default_hours
        else:
            ivs = cal.weekly[day.weekday()]
        for a, b in ivs:
            s = datetime.combine(day, a, zone)
            e = (
                datetime.combine(day + timedelta(days=1), time(0), zone)
                if b == END_OF_DAY
                else datetime.combine(day, b, zone)
            )
            pieces.append((s.astimezone(UTC), e.astimezone(UTC)))
        day += timedelta(days=1)
    total = timedelta(0)
    covered = start
    for s, e in sorted(pieces):
        s, e = max(s, covered), min(e, end)
        if e > s:
            total += e - s
            covered = e
    return total


@given(cal=calendars(), start=instants, duration=spans)
@PROPS
def test_between_inverts_add(cal: CalendarSpec, start: datetime, duration: timedelta) -> None:
    duration = _scaled(cal, duration)
    due = add(cal, start, duration)
    assert due >= start
    assert between(cal, start, due) == duration
    if duration:
        # Earliest: the last microsecond before `due` is working time.
        tick = timedelta(microseconds=1)
        assert between(cal, due - tick, due) == tick


@given(cal=calendars(), start=instants, d1=spans, d2=spans)
@PROPS
def test_add_monotonic_in_duration(
    cal: CalendarSpec, start: datetime, d1: timedelta, d2: timedelta
) -> None:
    d1, d2 = sorted((_scaled(cal, d1), _scaled(cal, d2)))
    assert add(cal, start, d1) <= add(cal, start, d2)


@given(cal=calendars(), s1=instants, s2=instants, duration=spans)
@PROPS
def test_add_monotonic_in_start(
    cal: CalendarSpec, s1: datetime, s2: datetime, duration: timedelta
) -> None:
    duration = _scaled(cal, duration)
    s1, s2 = sorted((s1, s2))
    assert add(cal, s1, duration) <= add(cal, s2, duration)


@given(cal=calendars(), a=instants, gap1=spans, gap2=spans)
@PROPS
def test_between_additive_and_matches_reference(
    cal: CalendarSpec, a: datetime, gap1: timedelta, gap2: timedelta
) -> None:
    b = a + gap1
    c = b + gap2
    assert between(cal, a, b) + between(cal, b, c) == between(cal, a, c)
    assert between(cal, a, c) == reference_between(cal, a, c)


@given(cal=calendars(), t=instants)
@PROPS
def test_next_working_instant_and_is_working_time(cal: CalendarSpec, t: datetime) -> None:
    assume(any(cal.weekly))
    nxt = next_working_instant(cal, t)
    assert nxt >= t
    assert between(cal, t, nxt) == timedelta(0)
    assert is_working_time(cal, nxt)
    assert is_working_time(cal, t) == (nxt == t)


def test_add_each_is_add_for_every_duration() -> None:
    """add_each reads the start once; its answers are add's, including a zero duration
    (the start itself) and durations that run into the next year."""
    cal = CalendarSpec.create("Asia/Shanghai", [hours("09:00-12:00", "13:30-18:00")] * 5 + [(), ()])
    durations = [
        timedelta(0),
        timedelta(minutes=1),
        timedelta(hours=4),
        timedelta(hours=7, minutes=30),
        timedelta(days=200),
    ]
    for start in (
        datetime(2026, 3, 2, 1, 40, tzinfo=UTC),
        datetime(2026, 12, 31, 9, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 6, 6, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
    ):
        assert add_each(cal, start, durations) == [add(cal, start, d) for d in durations]
