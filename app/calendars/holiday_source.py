"""Public holidays and declared working days from the maintained `holidays` package
(https://github.com/vacanza/holidays), never from a hand-typed list.

What the package gives, per country, subdivision and year:

* the holidays of the chosen categories (default: the package's default, public) as
  dates, including the days off it moves ("observed") and, for China, the weekdays
  given off in exchange for a weekend day (调休, labelled "休息日（由 … 调休）");
* `weekend_workdays`: the Saturdays and Sundays declared working days in exchange
  (China's 调休上班; also e.g. Taiwan, Vietnam, Russia, Belarus, Kazakhstan).
  Countries without such swaps (Germany) give none.

Both go to the business-time engine as `days_off` and `extra_workdays` (worked with the
calendar's normal weekday hours), through `PublicHolidays`, a hashable
`HolidayProvider` the engine asks once per year it indexes: calendars stay small values
and run into any year without anyone listing years up front.

The package decides what a year holds. Years after the last published government
notice are its estimate (for China: the statutory days with weekend days moved to the
next working day, and no working weekend days), and years outside its range are empty.

A year's figures are the package's population of that year. Its `weekend_workdays`
also carries swapped working days of other years (a 2002 holiday paid back on
29 December 2001 is listed whatever year is asked), so they are kept by date, not by
the year asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import holidays as pyholidays

from app.calendars.businesstime import CalendarSpec, DayHours, hours

__all__ = [
    "CHINA_LUNCH_BREAK_HOURS",
    "CHINA_OFFICE_HOURS",
    "PublicHolidays",
    "china_5x8",
    "office_calendar",
    "public_days",
]

CHINA_OFFICE_HOURS: DayHours = hours("09:00-18:00")
CHINA_LUNCH_BREAK_HOURS: DayHours = hours("09:00-12:00", "13:30-18:00")


@lru_cache(maxsize=1024)
def _year(
    country: str, subdivision: str | None, categories: tuple[str, ...], year: int
) -> tuple[frozenset[date], frozenset[date]]:
    try:
        entity = pyholidays.country_holidays(
            country,
            subdiv=subdivision,
            years=year,
            expand=False,
            categories=categories or None,
        )
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from None
    off = frozenset(d for d in entity if d.year == year)
    # A date listed both ways would be a package bug; off wins, as in the engine.
    work = frozenset(d for d in entity.weekend_workdays if d.year == year) - off
    return off, work


@lru_cache(maxsize=256)
def _normalise(
    country: str, subdivision: str | None, categories: tuple[str, ...]
) -> tuple[str, str | None, tuple[str, ...]]:
    country = country.strip().upper()
    # Subdivision codes are not all upper case in the package; keep them as given.
    subdivision = subdivision.strip() if subdivision else None
    categories = tuple(sorted({c.strip().lower() for c in categories}))
    try:
        pyholidays.country_holidays(
            country, subdiv=subdivision, expand=False, categories=categories or None
        )
    except NotImplementedError as exc:
        # The package says "not available" with NotImplementedError; to callers this is
        # a bad argument.
        raise ValueError(str(exc)) from None
    return country, subdivision, categories


def public_days(
    country: str,
    subdivision: str | None,
    years: Iterable[int],
    *,
    categories: Iterable[str] = (),
) -> tuple[frozenset[date], frozenset[date]]:
    """(public days off, declared working weekend days) of `country` (ISO 3166 code,
    e.g. "CN", "DE") and `subdivision` (e.g. "BY", or None) whose dates fall in `years`.
    `categories` are the package's holiday categories (default: its default, "public").
    Raises ValueError for a country, subdivision or category the package does not know."""
    country, subdivision, cats = _normalise(country, subdivision, tuple(categories))
    off: set[date] = set()
    work: set[date] = set()
    for year in set(years):
        o, w = _year(country, subdivision, cats, year)
        off |= o
        work |= w
    return frozenset(off), frozenset(work)


@dataclass(frozen=True)
class PublicHolidays:
    """`HolidayProvider` backed by the `holidays` package, for `CalendarSpec.public_holidays`."""

    country: str
    subdivision: str | None = None
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        country, subdivision, categories = _normalise(
            self.country, self.subdivision, tuple(self.categories)
        )
        object.__setattr__(self, "country", country)
        object.__setattr__(self, "subdivision", subdivision)
        object.__setattr__(self, "categories", categories)

    def days_for_year(self, year: int, /) -> tuple[frozenset[date], frozenset[date]]:
        return _year(self.country, self.subdivision, self.categories, year)


def office_calendar(
    country: str,
    tz: str,
    day_hours: DayHours,
    *,
    subdivision: str | None = None,
    workdays: Iterable[int] = range(5),
    days_off: Iterable[date] = (),
) -> CalendarSpec:
    """Working `day_hours` on `workdays` (0 = Monday; default Monday..Friday) in `tz`,
    with the country's public holidays off and its declared working weekend days worked
    with `day_hours`."""
    wanted = set(workdays)
    return CalendarSpec.create(
        tz,
        [day_hours if wd in wanted else () for wd in range(7)],
        days_off=days_off,
        public_holidays=PublicHolidays(country, subdivision),
    )


def china_5x8(*, lunch_break: bool = False, tz: str = "Asia/Shanghai") -> CalendarSpec:
    """China 5x8: Monday..Friday 09:00-18:00 (with `lunch_break`, 09:00-12:00 and
    13:30-18:00) in Asia/Shanghai, CN public holidays off, adjusted working days worked."""
    return office_calendar("CN", tz, CHINA_LUNCH_BREAK_HOURS if lunch_break else CHINA_OFFICE_HOURS)
