"""Business calendar rules, and the bridge from stored calendars to the engine.

Rules: codes are unique (409); a calendar is valid as a whole — known IANA zone, "HH:MM"
times with "24:00" only as an end, intervals ending after they start and not overlapping
within a day, exactly 7 weekdays with some working time among them, a holiday country
(and subdivision) the `holidays` package knows, one override per date — or nothing is
written and the answer is a 422 listing every problem (`errors`, shaped like request
validation errors, `loc` starting with "body"). System calendars (the seeded defaults)
cannot be deactivated or renamed: 409, because the request is fine but the row's
state forbids it. Calendars are deactivated, never deleted.

For SLA code: `specs(uow, ids)` gives the engine's `CalendarSpec` of each calendar,
cached per process by (id, version, updated_at), so the engine's yearly index, which
lives on the spec instance, is built once per calendar version and process.
"""

from __future__ import annotations

import re
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from typing import Any, Protocol
from zoneinfo import available_timezones

import holidays as pyholidays
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import IntegrityError

from app.calendars import businesstime as bt
from app.calendars import repository as repo
from app.calendars.businesstime import END_OF_DAY, CalendarSpec
from app.calendars.holiday_source import PublicHolidays
from app.calendars.models import Calendar
from app.calendars.schemas import (
    CalendarCreate,
    CalendarUpdate,
    Override,
    PreviewBetween,
    PreviewDue,
)
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import Page, PageParams, make_page

__all__ = [
    "PREVIEW_HORIZON",
    "PREVIEW_RANGE",
    "StoredCalendar",
    "clear_spec_cache",
    "create",
    "get",
    "get_by_code",
    "list_calendars",
    "parse_duration",
    "preview",
    "preview_between",
    "preview_due",
    "spec_for",
    "specs",
    "to_spec",
    "update",
]

_NOT_NULL = {"code", "name", "name_en", "tz", "weekly", "overrides", "active"}
_HHMM = re.compile(r"^(\d{2}):(\d{2})$")

# -- validation -----------------------------------------------------------------------


class _Errors:
    """Problems found in one calendar, reported together as one 422."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, loc: tuple[str | int, ...], msg: str, kind: str) -> None:
        self.items.append({"loc": ["body", *loc], "msg": msg, "type": kind})

    def raise_if_any(self) -> None:
        if not self.items:
            return
        msgs = [e["msg"] for e in self.items]
        detail = msgs[0] if len(msgs) == 1 else f"{len(msgs)} problems: " + "; ".join(msgs)
        raise Unprocessable(detail, field=self.items[0]["loc"][1], errors=self.items)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def _countries() -> dict[str, dict[str, str]]:
    """Country code -> {upper-cased subdivision code: the package's spelling}."""
    return {
        country: {s.upper(): s for s in subdivisions}
        for country, subdivisions in pyholidays.list_supported_countries(
            include_aliases=False
        ).items()
    }


def _minutes(text: str, loc: tuple[str | int, ...], errors: _Errors, *, end: bool) -> int | None:
    m = _HHMM.match(text)
    h, mi = (int(m[1]), int(m[2])) if m else (99, 99)
    if h == 24 and mi == 0:
        if end:
            return 24 * 60
        errors.add(loc, "'24:00' is only allowed as the end of an interval.", "time_format")
        return None
    if h > 23 or mi > 59:
        errors.add(
            loc, f"'{text}' is not a time 'HH:MM' (00:00 to 23:59, or 24:00).", "time_format"
        )
        return None
    return h * 60 + mi


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _day(
    intervals: Iterable[tuple[str, str]], loc: tuple[str | int, ...], errors: _Errors
) -> list[list[str]]:
    """The day's intervals checked and sorted, as stored."""
    spans: list[tuple[int, int]] = []
    for i, (start, end) in enumerate(intervals):
        s = _minutes(start, (*loc, i, 0), errors, end=False)
        e = _minutes(end, (*loc, i, 1), errors, end=True)
        if s is None or e is None:
            continue
        if e <= s:
            errors.add(
                (*loc, i),
                f"The interval {start}-{end} must end after it starts.",
                "interval_order",
            )
            continue
        spans.append((s, e))
    spans.sort()
    for (s1, e1), (s2, e2) in pairwise(spans):
        if s2 < e1:
            errors.add(
                loc,
                f"The intervals {_hhmm(s1)}-{_hhmm(e1)} and {_hhmm(s2)}-{_hhmm(e2)} overlap.",
                "interval_overlap",
            )
    return [[_hhmm(s), _hhmm(e)] for s, e in spans]


def _weekly(value: list[list[tuple[str, str]]], errors: _Errors) -> list[list[list[str]]]:
    if len(value) != 7:
        errors.add(
            ("weekly",), f"weekly needs exactly 7 days (Monday first), got {len(value)}.", "days"
        )
        return []
    days = [_day(day, ("weekly", wd), errors) for wd, day in enumerate(value)]
    if not any(value) and not errors.items:
        errors.add(
            ("weekly",),
            "weekly has no working time: give at least one working interval.",
            "no_working_time",
        )
    return days


def _overrides(value: list[Override], errors: _Errors) -> list[dict[str, Any]]:
    seen: dict[date, int] = {}
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        if item.date in seen:
            errors.add(
                ("overrides", i, "date"),
                f"The date {item.date} is overridden twice (entries {seen[item.date]} and {i}).",
                "duplicate_date",
            )
            continue
        seen[item.date] = i
        hours = _day(item.hours, ("overrides", i, "hours"), errors)
        out.append({"date": item.date.isoformat(), "hours": hours, "note": item.note})
    out.sort(key=lambda o: o["date"])
    return out


def _holidays(
    country: str | None, subdivision: str | None, errors: _Errors
) -> tuple[str | None, str | None]:
    """The canonical (country, subdivision) or errors."""
    if country is None:
        if subdivision is not None:
            errors.add(
                ("holiday_subdivision",),
                "holiday_subdivision needs a holiday_country.",
                "missing_country",
            )
        return None, None
    code = country.strip().upper()
    known = _countries()
    if code not in known:
        errors.add(
            ("holiday_country",),
            f"'{country}' is not a country the holidays package knows "
            "(use an ISO 3166-1 alpha-2 code such as CN, HK, DE).",
            "unknown_country",
        )
        return None, None
    if subdivision is None:
        return code, None
    subdivisions = known[code]
    canonical = subdivisions.get(subdivision.strip().upper())
    if canonical is None:
        listed = ", ".join(sorted(subdivisions.values())) or "none"
        errors.add(
            ("holiday_subdivision",),
            f"'{subdivision}' is not a subdivision of {code} (known: {listed}).",
            "unknown_subdivision",
        )
        return code, None
    return code, canonical


def _check_tz(tz: str, errors: _Errors) -> None:
    if tz not in _zones():
        errors.add(("tz",), f"'{tz}' is not an IANA time zone (e.g. Asia/Shanghai).", "unknown_tz")


def _validated(
    *,
    tz: str,
    weekly: list[list[tuple[str, str]]] | None,
    overrides: list[Override] | None,
    holiday_country: str | None,
    holiday_subdivision: str | None,
) -> dict[str, Any]:
    """The stored form of the given calendar fields; raises one 422 listing every
    problem. `weekly` / `overrides` None: not being changed."""
    errors = _Errors()
    out: dict[str, Any] = {}
    _check_tz(tz, errors)
    if weekly is not None:
        out["weekly"] = _weekly(weekly, errors)
    if overrides is not None:
        out["overrides"] = _overrides(overrides, errors)
    out["holiday_country"], out["holiday_subdivision"] = _holidays(
        holiday_country, holiday_subdivision, errors
    )
    errors.raise_if_any()
    return out


# -- CRUD -----------------------------------------------------------------------------


async def _flush(uow: UnitOfWork, code: str) -> None:
    # The explicit check answers the common case; the unique key decides a race.
    try:
        await repo.flush(uow)
    except IntegrityError as exc:
        raise Conflict(f"A calendar with code '{code}' exists.", field="code") from exc


async def create(uow: UnitOfWork, data: CalendarCreate) -> Calendar:
    stored = _validated(
        tz=data.tz,
        weekly=data.weekly,
        overrides=data.overrides,
        holiday_country=data.holiday_country,
        holiday_subdivision=data.holiday_subdivision,
    )
    if await repo.code_taken(uow, data.code):
        raise Conflict(f"A calendar with code '{data.code}' exists.", field="code")
    now = get_clock().now()
    row = Calendar(
        code=data.code,
        name=data.name,
        name_en=data.name_en,
        tz=data.tz,
        active=data.active,
        system=False,
        created_at=now,
        updated_at=now,
        **stored,
    )
    repo.add(uow, row)
    await _flush(uow, data.code)
    return row


async def get(uow: UnitOfWork, calendar_id: uuid.UUID, *, lock: bool = False) -> Calendar:
    row = await repo.get(uow, calendar_id, lock=lock)
    if row is None:
        raise NotFound("Calendar not found.")
    return row


async def get_by_code(uow: UnitOfWork, code: str) -> Calendar:
    row = await repo.by_code(uow, code)
    if row is None:
        raise NotFound(f"Calendar '{code}' not found.")
    return row


async def list_calendars(
    uow: UnitOfWork, page: PageParams, active: bool | None = None
) -> Page[Calendar]:
    """Oldest first (by id, so the system defaults lead), cursor-paginated."""
    rows = await repo.list_page(uow, page, active)
    return make_page(rows, page.limit)


async def update(
    uow: UnitOfWork, calendar_id: uuid.UUID, data: CalendarUpdate, if_match: str | None
) -> Calendar:
    row = await get(uow, calendar_id, lock=True)
    check_if_match(if_match, row.version)
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field in _NOT_NULL:
            raise Unprocessable(f"{field} cannot be null.", field=field)
    if row.system and changes.get("active") is False:
        raise Conflict(
            f"'{row.code}' is a system calendar and cannot be deactivated.", field="active"
        )
    new_code = changes.get("code", row.code)
    if row.system and new_code != row.code:
        raise Conflict(f"'{row.code}' is a system calendar and cannot be renamed.", field="code")
    stored = _validated(
        tz=changes.get("tz", row.tz),
        weekly=data.weekly if "weekly" in changes else None,
        overrides=data.overrides if "overrides" in changes else None,
        holiday_country=changes.get("holiday_country", row.holiday_country),
        holiday_subdivision=changes.get("holiday_subdivision", row.holiday_subdivision),
    )
    if new_code != row.code and await repo.code_taken(uow, new_code, other_than=row.id):
        raise Conflict(f"A calendar with code '{new_code}' exists.", field="code")
    for field in ("code", "name", "name_en", "tz", "active"):
        if field in changes:
            setattr(row, field, changes[field])
    for field, value in stored.items():
        setattr(row, field, value)
    row.version += 1
    row.updated_at = get_clock().now()
    await _flush(uow, new_code)
    return row


# -- the engine's view ----------------------------------------------------------------


def _time(text: str) -> time:
    return END_OF_DAY if text == "24:00" else time.fromisoformat(text)


def _intervals(day: Iterable[Any]) -> list[tuple[time, time]]:
    return [(_time(start), _time(end)) for start, end in day]


class StoredCalendar(Protocol):
    """What the engine's view needs of a calendar: a `Calendar` row, or the columns
    `specs()` reads on a raw connection."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def version(self) -> int: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def tz(self) -> str: ...
    @property
    def weekly(self) -> list[Any]: ...
    @property
    def holiday_country(self) -> str | None: ...
    @property
    def holiday_subdivision(self) -> str | None: ...
    @property
    def overrides(self) -> list[Any]: ...


def to_spec(calendar: StoredCalendar) -> CalendarSpec:
    """The engine's calendar for a stored one (built fresh: prefer `spec_for` / `specs`,
    which reuse the instance and so its yearly index). Overrides become the engine's
    `date_hours`: they replace weekly hours, public holidays and declared working days."""
    provider = (
        PublicHolidays(calendar.holiday_country, calendar.holiday_subdivision)
        if calendar.holiday_country
        else None
    )
    return CalendarSpec.create(
        calendar.tz,
        [_intervals(day) for day in calendar.weekly],
        date_hours={
            date.fromisoformat(o["date"]): _intervals(o["hours"]) for o in calendar.overrides
        },
        public_holidays=provider,
    )


_CacheKey = tuple[int, datetime]  # (version, updated_at) of a calendar id
_SPEC_CACHE_SIZE = 512
_specs: OrderedDict[uuid.UUID, tuple[_CacheKey, CalendarSpec]] = OrderedDict()


def clear_spec_cache() -> None:
    _specs.clear()


def _cached(calendar_id: uuid.UUID, key: _CacheKey) -> CalendarSpec | None:
    hit = _specs.get(calendar_id)
    if hit is None or hit[0] != key:
        return None
    _specs.move_to_end(calendar_id)
    return hit[1]


def _remember(calendar_id: uuid.UUID, key: _CacheKey, spec: CalendarSpec) -> None:
    old = _specs.get(calendar_id)
    if old is not None and old[0][0] > key[0]:
        return  # a stale read (older version) must not evict the current one
    _specs[calendar_id] = (key, spec)
    _specs.move_to_end(calendar_id)
    while len(_specs) > _SPEC_CACHE_SIZE:
        _specs.popitem(last=False)


def spec_for(calendar: StoredCalendar) -> CalendarSpec:
    """The engine's calendar for a loaded row, from the per-process cache when the row
    has not changed since (same version and updated_at)."""
    key = (calendar.version, calendar.updated_at)
    spec = _cached(calendar.id, key)
    if spec is None:
        spec = to_spec(calendar)
        _remember(calendar.id, key, spec)
    return spec


async def specs(uow: UnitOfWork, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CalendarSpec]:
    """The engine's calendar of each id that names a calendar (active or not; ids that
    name none are left out). One small query (id, version, updated_at) when every spec
    is cached, a second one for the rows that are not. Works in either mode of the unit
    of work (session, or a hot path's raw connection)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    conn = await repo.connection(uow)
    out: dict[uuid.UUID, CalendarSpec] = {}
    missing: list[uuid.UUID] = []
    for r in await repo.versions(conn, wanted):
        spec = _cached(r["id"], (r["version"], r["updated_at"]))
        if spec is None:
            missing.append(r["id"])
        else:
            out[r["id"]] = spec
    if missing:
        for columns in await repo.engine_columns(conn, missing):
            out[columns.id] = spec_for(columns)
    return out


# -- preview --------------------------------------------------------------------------

PREVIEW_RANGE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))
"""Instants a preview accepts: [from, to)."""
PREVIEW_HORIZON = timedelta(days=3660)
"""How far (clock time) a preview looks: a due time or an end at most this far after
the start, so one request indexes at most about ten years of a calendar."""

_NUMBER = re.compile(r"^\s*\d+(\.\d+)?\s*$")
_TIMEDELTA = TypeAdapter(timedelta)


def _query_error(param: str, msg: str, kind: str) -> Unprocessable:
    return Unprocessable(
        msg, field=param, errors=[{"loc": ["query", param], "msg": msg, "type": kind}]
    )


def parse_duration(text: str, param: str = "duration") -> timedelta:
    """Seconds ("14400", "90.5") or an ISO 8601 duration of days, hours, minutes and
    seconds ("PT4H", "P1DT2H30M"); years and months (no fixed length) and negative
    durations are refused with a 422."""
    value = text.strip()
    if _NUMBER.match(value):
        try:
            return timedelta(seconds=float(value))
        except OverflowError:
            raise _query_error(param, f"'{text}' seconds is too long.", "duration_format") from None
    if value.startswith("-"):
        raise _query_error(param, "The duration must not be negative.", "negative_duration")
    date_part = value.upper().split("T", 1)[0]
    if not value.upper().startswith("P") or "Y" in date_part or "M" in date_part:
        raise _query_error(
            param,
            f"'{text}' is not seconds or an ISO 8601 duration of days, hours, minutes and "
            "seconds (e.g. 14400, PT4H, P1DT2H30M).",
            "duration_format",
        )
    try:
        duration = _TIMEDELTA.validate_python(value)
    except (ValidationError, OverflowError):
        raise _query_error(
            param, f"'{text}' is not a valid ISO 8601 duration.", "duration_format"
        ) from None
    if duration < timedelta(0):
        raise _query_error(param, "The duration must not be negative.", "negative_duration")
    return duration


def _in_range(value: datetime, param: str) -> None:
    lo, hi = PREVIEW_RANGE
    if not lo <= value < hi:
        raise _query_error(
            param, f"{param} must be from {lo.year} to {hi.year - 1}.", "out_of_range"
        )


def preview_due(
    spec: CalendarSpec, calendar_id: uuid.UUID, start: datetime, duration: timedelta
) -> PreviewDue:
    _in_range(start, "start")
    # Refuse what lies past the horizon before asking for it: the engine would index
    # every year up to the answer (a sparse calendar and a long duration: centuries).
    if duration > timedelta(0) and duration > bt.between(spec, start, start + PREVIEW_HORIZON):
        raise _query_error(
            "duration",
            f"The calendar has less working time than {duration} in the "
            f"{PREVIEW_HORIZON.days} days after start.",
            "beyond_horizon",
        )
    return PreviewDue(
        calendar_id=calendar_id,
        start=start.astimezone(UTC),
        start_in_working_time=bt.is_working_time(spec, start),
        duration_seconds=duration.total_seconds(),
        due_at=bt.add(spec, start, duration),
    )


def preview_between(
    spec: CalendarSpec, calendar_id: uuid.UUID, start: datetime, end: datetime
) -> PreviewBetween:
    _in_range(start, "start")
    _in_range(end, "end")
    if end < start:
        raise _query_error("end", "end must not be before start.", "end_before_start")
    if end - start > PREVIEW_HORIZON:
        raise _query_error(
            "end", f"end must be at most {PREVIEW_HORIZON.days} days after start.", "out_of_range"
        )
    return PreviewBetween(
        calendar_id=calendar_id,
        start=start.astimezone(UTC),
        start_in_working_time=bt.is_working_time(spec, start),
        end=end.astimezone(UTC),
        business_seconds=bt.between(spec, start, end).total_seconds(),
    )


async def preview(
    uow: UnitOfWork,
    calendar_id: uuid.UUID,
    start: datetime,
    *,
    duration: str | None = None,
    end: datetime | None = None,
) -> PreviewDue | PreviewBetween:
    """`start` + `duration` of working time (a due time), or the working time between
    `start` and `end`: exactly one of the two. Inactive calendars preview too."""
    if (duration is None) == (end is None):
        msg = "Give exactly one of duration (a due time) or end (working time between)."
        raise Unprocessable(
            msg,
            field="duration",
            errors=[
                {"loc": ["query", p], "msg": msg, "type": "duration_or_end"}
                for p in ("duration", "end")
            ],
        )
    # Check the parameters before the database is asked anything.
    wanted = parse_duration(duration) if duration is not None else None
    calendar = await get(uow, calendar_id)
    spec = spec_for(calendar)
    try:
        if wanted is not None:
            return preview_due(spec, calendar.id, start, wanted)
        assert end is not None
        return preview_between(spec, calendar.id, start, end)
    except (ValueError, OverflowError) as exc:  # the engine's refusals (none expected)
        raise Unprocessable(str(exc)) from None
