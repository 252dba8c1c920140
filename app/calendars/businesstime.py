"""Business-time arithmetic: how much working time lies between two instants, and at
which instant a given amount of working time has elapsed.

Pure code: no database, no web framework, no clock. Instants are timezone-aware
`datetime`s; results are returned in UTC.

The calendar
------------
A `CalendarSpec` is a frozen, hashable value:

* `tz`: the IANA zone whose wall clock the hours are read on.
* `weekly`: working intervals per weekday (0 = Monday .. 6 = Sunday), several per day
  allowed (a lunch break is two intervals). An interval is a pair of naive
  `datetime.time`s, end after start; an end of `END_OF_DAY` (`time(0, 0)`, i.e. "24:00")
  means the following midnight, which is the only way an end can be at or before its
  start. `hours("09:00-12:00", "13:30-18:00")` builds a day from strings and accepts
  "24:00".
* `days_off`: dates not worked (local extra days off; public holidays usually come from
  `public_holidays`, see below).
* `extra_workdays`: dates worked with their own hours whatever their weekday, such as
  China's adjusted working Saturday or Sunday (调休上班). Given without hours (or with
  none) a date gets `default_hours`: the hours of the first weekday from Monday to
  Friday that has any (empty if none has, which leaves the date off).
* `date_hours`: the hours of one date, replacing everything else; an empty list makes
  the date off.
* `public_holidays`: an optional `HolidayProvider`, asked once per year for that year's
  public holidays and declared working weekend days (`holiday_source.PublicHolidays`
  reads the `holidays` package). Asking per year keeps the spec small and lets the
  calendar run into years nobody listed up front.

Precedence on a date, first match wins:
`date_hours` > `days_off` (own and public) > `extra_workdays` (own, then public, which
get `default_hours`) > `weekly`. So a public holiday can only be made a working day
through `date_hours`, and own `extra_workdays` hours win over the default hours a
public working weekend day would get.

The index: prefix sums per year
-------------------------------
Per calendar and per local calendar year the engine builds, on first use, the sorted,
disjoint working intervals of that year as integer microseconds since the Unix epoch
(UTC) and the running total of working time before each interval. Then

* working time before instant t in its year = total before the interval holding or
  preceding t (one `bisect`) plus the part of that interval before t;
* `between(a, b)` = that figure at b minus that figure at a, plus the totals of the
  whole years in between;
* `add(t, d)` bisects the running totals for (figure at t) + d, moving on a year at a
  time only when the year runs out.

So a call costs a few microseconds whatever the span; no loop walks days or minutes.
Building a year is one pass over its days (a few milliseconds, about 1,000 intervals
for a lunch-break calendar) and happens once per calendar and year. The index lives
on the spec instance and in a module cache of the last 256 calendar values, so specs
rebuilt from the same data (say per request) share it. Integers keep everything exact
to the microsecond, which `timedelta` cannot go below anyway.

Functions: `add` (and `add_each`, several durations from one start), `between`, `next_working_instant`, `is_working_time`.

Time zones and daylight saving time
-----------------------------------
Each interval is local wall-clock time on its own date, converted to UTC for that date
with `zoneinfo`, so a 09:00-18:00 day stays 9 h on a DST change day when the change
happens outside it (Europe/Berlin: 02:00 in March, 03:00 in October), and an interval
that spans the change is 1 h shorter (skipped hour) or longer (repeated hour).

Endpoints that fall inside the change itself are read with `fold=0`, the `zoneinfo`
default:

* an ambiguous time (in the repeated hour) means its first occurrence, so an interval
  ending at 02:30 on the October change day stops at the first 02:30 and the second
  pass of 02:00-02:30 is not worked;
* a non-existent time (in the skipped hour) is read with the offset in force before the
  jump, so it lands one gap later: 02:30 on the March change day means 03:30 CEST.

Intervals are then taken as a set of instants: overlaps that these readings can cause
are counted once, an interval whose end lands before its start is empty, and intervals
are clipped to their local year so that year indexes never overlap.

Choices
-------
* A zero duration returns the start instant itself, even outside working hours: no
  working time has to elapse, so the target is already met. This keeps
  `between(s, add(s, d)) == d` for every d, and callers who want "the next working
  instant" say so with `next_working_instant`.
* For a positive duration the result is the earliest instant at which the duration has
  elapsed: four hours from 14:00 on a 09:00-18:00 day is 18:00 that day, not 09:00 the
  next working day.
* `between` refuses an end before its start (ValueError) rather than returning a
  negative duration: a reversed pair is a caller's bug, and SLA code has no use for
  negative working time.
* A calendar without working time in `MAX_EMPTY_YEARS` consecutive years makes `add`
  and `next_working_instant` raise ValueError instead of searching forever; so does an
  `add` whose result would fall after year 9999.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Protocol, TypeAlias, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "ALWAYS",
    "END_OF_DAY",
    "MAX_EMPTY_YEARS",
    "CalendarSpec",
    "DayHours",
    "HolidayProvider",
    "Interval",
    "add",
    "add_each",
    "between",
    "hours",
    "is_working_time",
    "next_working_instant",
]

Interval: TypeAlias = tuple[time, time]
DayHours: TypeAlias = tuple[Interval, ...]

END_OF_DAY = time(0, 0)
"""As the end of an interval: 24:00, the midnight that ends the day."""

MAX_EMPTY_YEARS = 10
"""Consecutive years without working time after which a forward search gives up."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)
_DAY_US = 86_400_000_000
_MEAN_YEAR_US = 31_556_952_000_000  # 365.2425 days
_MIDNIGHT = time(0, 0)
_ZERO = timedelta(0)
_CACHE_ATTR = "_index_cache"
_MAX_US = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _US
_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*-\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")


class HolidayProvider(Protocol):
    """Public days off and declared working days of one year. Must be hashable (it is
    part of the calendar's value) and return the same answer for the same year."""

    def days_for_year(self, year: int, /) -> tuple[frozenset[date], frozenset[date]]:
        """(days off, extra working days) whose date falls in `year`."""
        ...


def hours(*spans: str) -> DayHours:
    """The intervals of one day from "HH:MM-HH:MM" strings (seconds optional); an end
    of "24:00" is the end of the day. `hours()` is a day off."""
    out: list[Interval] = []
    for span in spans:
        m = _HHMM.match(span)
        if m is None:
            raise ValueError(f"not a time span 'HH:MM-HH:MM': {span!r}")
        sh, sm, ss, eh, em, es = (int(g) if g else 0 for g in m.groups())
        end = END_OF_DAY if (eh, em, es) == (24, 0, 0) else time(eh, em, es)
        out.append((time(sh, sm, ss), end))
    return _day_hours(out, "hours()")


def _tod_us(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def _day_hours(value: Iterable[Interval], what: str) -> DayHours:
    """Validated, sorted intervals of one day; every time has fold=0 (see the module
    docstring on DST)."""
    if isinstance(value, str):
        raise ValueError(f"{what}: expected (start, end) pairs of datetime.time, got a string")
    spans: list[tuple[int, int, time, time]] = []
    for item in value:
        try:
            start, end = item
        except (TypeError, ValueError):
            raise ValueError(f"{what}: an interval is a (start, end) pair, got {item!r}") from None
        if not isinstance(start, time) or not isinstance(end, time):
            raise ValueError(f"{what}: interval bounds must be datetime.time, got {item!r}")
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError(f"{what}: interval bounds are naive wall-clock times, got {item!r}")
        start_us = _tod_us(start)
        end_us = _DAY_US if end == END_OF_DAY else _tod_us(end)
        if end_us <= start_us:
            raise ValueError(f"{what}: interval end must be after its start, got {item!r}")
        spans.append((start_us, end_us, start.replace(fold=0), end.replace(fold=0)))
    spans.sort()
    for prev, cur in pairwise(spans):
        if cur[0] < prev[1]:
            raise ValueError(f"{what}: intervals overlap: {prev[2:]} and {cur[2:]}")
    return tuple((s[2], s[3]) for s in spans)


def _weekly(
    value: Sequence[Iterable[Interval]] | Mapping[int, Iterable[Interval]],
) -> tuple[DayHours, ...]:
    if isinstance(value, Mapping):
        unknown = set(value) - set(range(7))
        if unknown:
            raise ValueError(
                f"weekly: weekdays are 0 (Monday) .. 6 (Sunday), got {sorted(unknown)}"
            )
        return tuple(_day_hours(value.get(wd, ()), f"weekly[{wd}]") for wd in range(7))
    if isinstance(value, str) or len(value) != 7:
        raise ValueError("weekly: expected 7 days (Monday first) or a mapping weekday -> hours")
    return tuple(_day_hours(day, f"weekly[{wd}]") for wd, day in enumerate(value))


def _check_date(d: object, what: str) -> date:
    # datetime is a subclass of date; a datetime key is a caller mixing up instants and days.
    if not isinstance(d, date) or isinstance(d, datetime):
        raise ValueError(f"{what}: expected datetime.date keys, got {d!r}")
    return d


def _dated(
    value: Mapping[date, Iterable[Interval] | None]
    | Iterable[date]
    | Iterable[tuple[date, DayHours]],
    what: str,
    default: DayHours | None,
) -> tuple[tuple[date, DayHours], ...]:
    """Canonical (sorted, hashable) form of a date -> hours table. With `default`, a date
    given without hours (or with none) gets `default`."""
    items: list[tuple[object, object]] = []
    if isinstance(value, Mapping):
        items = list(value.items())
    else:
        for entry in value:
            if isinstance(entry, tuple):
                items.append((entry[0], entry[1]))
            else:
                items.append((entry, None))
    out: dict[date, DayHours] = {}
    for key, ivs in items:
        d = _check_date(key, what)
        day = _day_hours(cast("Iterable[Interval]", ivs or ()), f"{what}[{d}]")
        if not day and default is not None:
            day = default
        out[d] = day
    return tuple(sorted(out.items()))


@dataclass(frozen=True)
class CalendarSpec:
    """A working calendar; see the module docstring. Build with `create()` (mappings and
    iterables accepted) or `always()`; the fields hold the canonical, hashable form."""

    tz: str
    weekly: tuple[DayHours, ...]
    days_off: frozenset[date] = frozenset()
    extra_workdays: tuple[tuple[date, DayHours], ...] = ()
    date_hours: tuple[tuple[date, DayHours], ...] = ()
    public_holidays: HolidayProvider | None = None

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"unknown time zone {self.tz!r}") from None
        # Normalising here too (not only in create()) keeps a directly built spec
        # hashable and its equality independent of how the caller ordered things.
        weekly = _weekly(self.weekly)
        object.__setattr__(self, "weekly", weekly)
        object.__setattr__(
            self,
            "days_off",
            frozenset(_check_date(d, "days_off") for d in self.days_off),
        )
        object.__setattr__(
            self,
            "extra_workdays",
            _dated(self.extra_workdays, "extra_workdays", _default_hours(weekly)),
        )
        object.__setattr__(self, "date_hours", _dated(self.date_hours, "date_hours", None))

    def __getstate__(self) -> dict[str, object]:
        # The index cache (see _engine()) is rebuilt on demand, not shipped.
        return {k: v for k, v in self.__dict__.items() if k != _CACHE_ATTR}

    @classmethod
    def create(
        cls,
        tz: str,
        weekly: Sequence[Iterable[Interval]] | Mapping[int, Iterable[Interval]],
        *,
        days_off: Iterable[date] = (),
        extra_workdays: Mapping[date, Iterable[Interval] | None] | Iterable[date] = (),
        date_hours: Mapping[date, Iterable[Interval]] | None = None,
        public_holidays: HolidayProvider | None = None,
    ) -> CalendarSpec:
        """`weekly` is 7 days, Monday first, or a mapping weekday -> intervals (missing
        weekdays are off). `extra_workdays` is a mapping date -> intervals (None or empty:
        `default_hours`) or just dates."""
        week = _weekly(weekly)
        return cls(
            tz=tz,
            weekly=week,
            days_off=frozenset(days_off),
            extra_workdays=_dated(extra_workdays, "extra_workdays", _default_hours(week)),
            date_hours=_dated(date_hours or {}, "date_hours", None),
            public_holidays=public_holidays,
        )

    @classmethod
    def always(cls, tz: str = "UTC") -> CalendarSpec:
        """24x7: every instant is working time."""
        return cls(tz=tz, weekly=tuple(((_MIDNIGHT, END_OF_DAY),) for _ in range(7)))

    @property
    def default_hours(self) -> DayHours:
        """Hours of an extra working day given without hours: the first of Monday..Friday
        that has any."""
        return _default_hours(self.weekly)


def _default_hours(weekly: tuple[DayHours, ...]) -> DayHours:
    for day in weekly[:5]:
        if day:
            return day
    return ()


ALWAYS = CalendarSpec.always()
"""24x7 in UTC."""


# --- the index -------------------------------------------------------------------------


class _Year:
    """Working intervals of one local year: starts[i] <= ends[i] < starts[i+1], in µs
    since the epoch; cum[i] = working µs of the year before starts[i]; cumend[i] =
    cum[i] + length of interval i (bisected by `add`)."""

    __slots__ = ("cum", "cumend", "ends", "starts", "total")

    def __init__(self, starts: list[int], ends: list[int]) -> None:
        self.starts = starts
        self.ends = ends
        cum: list[int] = []
        cumend: list[int] = []
        running = 0
        for s, e in zip(starts, ends, strict=True):
            cum.append(running)
            running += e - s
            cumend.append(running)
        self.cum = cum
        self.cumend = cumend
        self.total = running

    def before(self, t: int) -> int:
        """Working µs of the year before t (t inside the year or at its end)."""
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0
        end = self.ends[i]
        return self.cum[i] + (t if t < end else end) - self.starts[i]


class _Engine:
    """Lazily built year indexes of one calendar. Concurrent builders of the same year
    build the same value, so the cache needs no lock."""

    __slots__ = (
        "date_hours",
        "default",
        "extra",
        "off",
        "provider",
        "starts",
        "weekly",
        "years",
        "zone",
    )

    def __init__(self, spec: CalendarSpec) -> None:
        self.zone = ZoneInfo(spec.tz)
        self.weekly = spec.weekly
        self.off = spec.days_off
        self.extra = dict(spec.extra_workdays)
        self.date_hours = dict(spec.date_hours)
        self.default = spec.default_hours
        self.provider = spec.public_holidays
        self.years: dict[int, _Year] = {}
        self.starts: dict[int, int] = {}

    def year_start(self, year: int) -> int:
        t = self.starts.get(year)
        if t is None:
            t = _to_us(datetime(year, 1, 1, tzinfo=self.zone))
            self.starts[year] = t
        return t

    def year_of(self, t: int) -> int:
        # A guess from the mean Gregorian year is off by at most one year near New Year;
        # the cached boundaries settle it without building a datetime per call.
        year = 1970 + t // _MEAN_YEAR_US
        while t < self.year_start(year):
            year -= 1
        while t >= self.year_start(year + 1):
            year += 1
        return year

    def year(self, year: int) -> _Year:
        ix = self.years.get(year)
        if ix is None:
            ix = self._build(year)
            self.years[year] = ix
        return ix

    def _build(self, year: int) -> _Year:
        zone = self.zone
        lo = self.year_start(year)
        hi = self.year_start(year + 1)
        if self.provider is not None:
            public_off, public_work = self.provider.days_for_year(year)
        else:
            public_off, public_work = frozenset(), frozenset()
        own_off, own_extra, date_hours = self.off, self.extra, self.date_hours
        weekly, default = self.weekly, self.default

        raw: list[tuple[int, int]] = []
        day = date(year, 1, 1)
        while day.year == year:
            ivs = date_hours.get(day)
            if ivs is None:
                if day in own_off or day in public_off:
                    ivs = ()
                else:
                    ivs = own_extra.get(day)
                    if ivs is None:
                        ivs = default if day in public_work else weekly[day.weekday()]
            for a, b in ivs:
                s = _to_us(datetime.combine(day, a, zone))
                if b == END_OF_DAY:
                    e = _to_us(datetime.combine(day + _ONE_DAY, _MIDNIGHT, zone))
                else:
                    e = _to_us(datetime.combine(day, b, zone))
                raw.append((s, e))
            day += _ONE_DAY

        # Sorting and merging make the year a set of instants even where fold=0 readings
        # of DST-change endpoints overlap or invert, and merge days that touch at
        # midnight (24x7) so that the interval count stays small.
        raw.sort()
        starts: list[int] = []
        ends: list[int] = []
        for s, e in raw:
            s = max(s, lo)
            e = min(e, hi)
            if e <= s:
                continue
            if ends and s <= ends[-1]:
                if e > ends[-1]:
                    ends[-1] = e
            else:
                starts.append(s)
                ends.append(e)
        return _Year(starts, ends)


@lru_cache(maxsize=256)
def _shared_engine(spec: CalendarSpec) -> _Engine:
    return _Engine(spec)


def _engine(cal: CalendarSpec) -> _Engine:
    # Kept in the instance __dict__ but outside the dataclass fields, so it is no part
    # of the value (eq, hash, repr, asdict). Hashing the spec walks all its fields: do
    # it once per instance, not per call.
    eng: _Engine | None = cal.__dict__.get(_CACHE_ATTR)
    if eng is None:
        eng = _shared_engine(cal)
        object.__setattr__(cal, _CACHE_ATTR, eng)
    return eng


def _to_us(dt: datetime) -> int:
    return (dt - _EPOCH) // _US


def _from_us(t: int) -> datetime:
    return _EPOCH + timedelta(microseconds=t)


def _instant(dt: datetime, name: str) -> int:
    if not isinstance(dt, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {dt.isoformat()}")
    return _to_us(dt)


def _no_time(cal: CalendarSpec, t: int) -> ValueError:
    return ValueError(
        f"calendar has no working time in the {MAX_EMPTY_YEARS} years after "
        f"{_from_us(t).isoformat()} ({cal.tz})"
    )


# --- the API ---------------------------------------------------------------------------


def add(cal: CalendarSpec, start: datetime, duration: timedelta) -> datetime:
    """The earliest instant (UTC) at which `duration` of working time has elapsed since
    `start`; counting begins at the next working instant if `start` is outside hours.
    A zero duration returns `start` itself (in UTC).

    Raises ValueError for a naive `start`, a negative duration, or a calendar without
    working time in `MAX_EMPTY_YEARS` consecutive years."""
    return add_each(cal, start, (duration,))[0]


def add_each(cal: CalendarSpec, start: datetime, durations: Sequence[timedelta]) -> list[datetime]:
    """`[add(cal, start, d) for d in durations]`, reading `start` and the working time
    before it once (an SLA clock asks for its warning and its due time together)."""
    t = _instant(start, "start")
    wanted: list[int] = []
    for duration in durations:
        if not isinstance(duration, timedelta):
            raise TypeError(f"duration must be a timedelta, got {type(duration).__name__}")
        w = duration // _US
        if w < 0:
            raise ValueError(f"duration must not be negative, got {duration}")
        # Working time never runs faster than the clock: refuse at once rather than
        # index every year up to 9999 first.
        if t + w > _MAX_US:
            raise ValueError(f"{start.isoformat()} + {duration} of working time is after year 9999")
        wanted.append(w)
    out: list[datetime] = []
    base: tuple[_Engine, int, int] | None = None
    for w in wanted:
        if w == 0:
            out.append(_from_us(t))
            continue
        if base is None:
            eng = _engine(cal)
            year = eng.year_of(t)
            base = (eng, year, eng.year(year).before(t))
        out.append(_from_us(_after(cal, t, *base, w)))
    return out


def _after(cal: CalendarSpec, t: int, eng: _Engine, year: int, before: int, wanted: int) -> int:
    """The instant `wanted` working µs after t, which lies in `year` with `before` working
    µs of that year before it."""
    ix = eng.year(year)
    need = before + wanted
    empty = 0
    while need > ix.total:
        need -= ix.total
        year += 1
        ix = eng.year(year)
        if ix.total:
            empty = 0
        else:
            empty += 1
            if empty >= MAX_EMPTY_YEARS:
                raise _no_time(cal, t)
    i = bisect_left(ix.cumend, need)
    return ix.starts[i] + need - ix.cum[i]


def between(cal: CalendarSpec, start: datetime, end: datetime) -> timedelta:
    """Working time in [start, end). Raises ValueError if either is naive or end < start."""
    s = _instant(start, "start")
    e = _instant(end, "end")
    if e < s:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    if e == s:
        return _ZERO
    eng = _engine(cal)
    ys = eng.year_of(s)
    ye = eng.year_of(e)
    first = eng.year(ys)
    if ys == ye:
        return timedelta(microseconds=first.before(e) - first.before(s))
    total = first.total - first.before(s)
    for year in range(ys + 1, ye):
        total += eng.year(year).total
    total += eng.year(ye).before(e)
    return timedelta(microseconds=total)


def next_working_instant(cal: CalendarSpec, t: datetime) -> datetime:
    """The first instant at or after `t` (UTC) that is working time: `t` itself inside
    working hours, else the start of the next working interval. Raises ValueError like
    `add` when there is none."""
    x = _instant(t, "t")
    eng = _engine(cal)
    year = eng.year_of(x)
    ix = eng.year(year)
    i = bisect_right(ix.ends, x)
    empty = 0
    while i == len(ix.ends):
        year += 1
        ix = eng.year(year)
        i = 0
        if not ix.ends:
            empty += 1
            if empty >= MAX_EMPTY_YEARS:
                raise _no_time(cal, x)
    start = ix.starts[i]
    return _from_us(start if start > x else x)


def is_working_time(cal: CalendarSpec, t: datetime) -> bool:
    """Whether the instant `t` lies inside working hours."""
    x = _instant(t, "t")
    eng = _engine(cal)
    ix = eng.year(eng.year_of(x))
    i = bisect_right(ix.starts, x) - 1
    return i >= 0 and x < ix.ends[i]
