"""The pure duty rules: which shift covers a local time (weekly, overnight, whole day,
validity, one-off), whose on-call turn it is, an absence beating everything, and shifts
keeping their local hours across a DST change."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.people.duty import RotationSpec, ShiftSpec, Span, duty_reason

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
SID = uuid.UUID("0192f3c4-0000-7000-8000-0000000000b1")
RID = uuid.UUID("0192f3c4-0000-7000-8000-0000000000d1")
A, B, C = (uuid.UUID(f"0192f3c4-0000-7000-8000-0000000000e{i}") for i in range(1, 4))

# 2026-03-02 is a Monday.
MON = date(2026, 3, 2)


def weekly(
    weekday: int,
    starts: str,
    ends: str,
    valid_from: date | None = None,
    valid_until: date | None = None,
) -> ShiftSpec:
    return ShiftSpec(
        SID,
        weekday,
        None,
        time.fromisoformat(starts),
        time.fromisoformat(ends),
        valid_from,
        valid_until,
    )


def once(on: date, starts: str, ends: str) -> ShiftSpec:
    return ShiftSpec(SID, None, on, time.fromisoformat(starts), time.fromisoformat(ends))


def local(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm))


@pytest.mark.parametrize(
    ("shift", "when", "covered"),
    [
        # Monday 09:00-18:00: start inclusive, end exclusive, other weekdays not.
        (weekly(0, "09:00", "18:00"), local(MON, "08:59"), False),
        (weekly(0, "09:00", "18:00"), local(MON, "09:00"), True),
        (weekly(0, "09:00", "18:00"), local(MON, "17:59"), True),
        (weekly(0, "09:00", "18:00"), local(MON, "18:00"), False),
        (weekly(0, "09:00", "18:00"), local(MON + timedelta(days=1), "10:00"), False),
        (weekly(0, "09:00", "18:00"), local(MON + timedelta(days=7), "10:00"), True),
        # Monday 22:00-06:00: Monday night and Tuesday morning, not Monday morning.
        (weekly(0, "22:00", "06:00"), local(MON, "21:59"), False),
        (weekly(0, "22:00", "06:00"), local(MON, "22:00"), True),
        (weekly(0, "22:00", "06:00"), local(MON, "23:59"), True),
        (weekly(0, "22:00", "06:00"), local(MON + timedelta(days=1), "00:00"), True),
        (weekly(0, "22:00", "06:00"), local(MON + timedelta(days=1), "05:59"), True),
        (weekly(0, "22:00", "06:00"), local(MON + timedelta(days=1), "06:00"), False),
        (weekly(0, "22:00", "06:00"), local(MON, "03:00"), False),  # Sunday's night: no
        (weekly(0, "22:00", "06:00"), local(MON + timedelta(days=1), "22:30"), False),
        # 00:00-00:00: the whole of Monday, nothing of Sunday or Tuesday.
        (weekly(0, "00:00", "00:00"), local(MON, "00:00"), True),
        (weekly(0, "00:00", "00:00"), local(MON, "12:00"), True),
        (weekly(0, "00:00", "00:00"), local(MON, "23:59"), True),
        (weekly(0, "00:00", "00:00"), local(MON - timedelta(days=1), "23:59"), False),
        (weekly(0, "00:00", "00:00"), local(MON + timedelta(days=1), "00:00"), False),
        # Validity: from the first Monday of March to the second, inclusive.
        (weekly(0, "09:00", "18:00", MON, MON + timedelta(days=7)), local(MON, "10:00"), True),
        (
            weekly(0, "09:00", "18:00", MON, MON + timedelta(days=7)),
            local(MON + timedelta(days=7), "10:00"),
            True,
        ),
        (
            weekly(0, "09:00", "18:00", MON, MON + timedelta(days=7)),
            local(MON - timedelta(days=7), "10:00"),
            False,
        ),
        (
            weekly(0, "09:00", "18:00", MON, MON + timedelta(days=7)),
            local(MON + timedelta(days=14), "10:00"),
            False,
        ),
        # The overnight part of the last valid night is still covered.
        (
            weekly(0, "22:00", "06:00", valid_until=MON),
            local(MON + timedelta(days=1), "05:00"),
            True,
        ),
        (
            weekly(0, "22:00", "06:00", valid_from=MON + timedelta(days=1)),
            local(MON + timedelta(days=1), "05:00"),
            False,
        ),
        # One-off shifts: on their date only, whatever the weekday; overnight too.
        (once(MON, "08:00", "20:00"), local(MON, "08:00"), True),
        (once(MON, "08:00", "20:00"), local(MON, "20:00"), False),
        (once(MON, "08:00", "20:00"), local(MON + timedelta(days=7), "12:00"), False),
        (once(MON, "20:00", "08:00"), local(MON + timedelta(days=1), "07:00"), True),
        (once(MON, "20:00", "08:00"), local(MON, "07:00"), False),
    ],
)
def test_shift_covers(shift: ShiftSpec, when: datetime, covered: bool) -> None:
    assert shift.covers(when) is covered


def test_shift_kind_helpers() -> None:
    assert weekly(0, "22:00", "06:00").overnight
    assert weekly(0, "00:00", "00:00").overnight
    assert not weekly(0, "09:00", "18:00").overnight
    assert weekly(0, "09:00", "18:00").applies_on(MON)
    assert not weekly(0, "09:00", "18:00").applies_on(MON + timedelta(days=1))
    assert once(MON, "09:00", "18:00").applies_on(MON)


START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai


@pytest.mark.parametrize(
    ("at", "member"),
    [
        (START - timedelta(seconds=1), None),  # before the rotation starts
        (START, A),
        (START + timedelta(hours=23, minutes=59), A),
        (START + timedelta(hours=24), B),
        (START + timedelta(hours=48), C),
        (START + timedelta(hours=72), A),  # round again
        (START + timedelta(days=300, hours=1), [A, B, C][300 % 3]),
    ],
)
def test_rotation_turns(at: datetime, member: uuid.UUID | None) -> None:
    rotation = RotationSpec(RID, START, 24, (A, B, C))
    assert rotation.on_call(at) == member


def test_rotation_weekly_turns_and_empty() -> None:
    rotation = RotationSpec(RID, START, 168, (A, B))
    assert rotation.on_call(START + timedelta(days=6)) == A
    assert rotation.on_call(START + timedelta(days=7)) == B
    assert rotation.on_call(START + timedelta(days=14)) == A
    assert RotationSpec(RID, START, 168, ()).on_call(START) is None


def test_span_is_half_open() -> None:
    span = Span(START, START + timedelta(hours=1))
    assert span.contains(START) and not span.contains(START + timedelta(hours=1))
    assert not span.contains(START - timedelta(seconds=1))


def test_duty_reason_shift_then_on_call_and_absence_beats_both() -> None:
    shift = weekly(0, "09:00", "18:00")
    at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
    assert duty_reason(at, SHANGHAI, [shift], []) == f"shift:{SID}"
    # A shift wins over an on-call turn; the turn answers outside the shift.
    assert duty_reason(at, SHANGHAI, [shift], [], [RID]) == f"shift:{SID}"
    evening = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # Monday 20:00 in Shanghai
    assert duty_reason(evening, SHANGHAI, [shift], []) is None
    assert duty_reason(evening, SHANGHAI, [shift], [], [RID]) == f"on_call:{RID}"
    # An absence takes the engineer off duty whatever the roster says.
    leave = Span(at - timedelta(days=1), at + timedelta(days=1))
    assert duty_reason(at, SHANGHAI, [shift], [leave]) is None
    assert duty_reason(evening, SHANGHAI, [shift], [leave], [RID]) is None
    # An absence that is over (or not begun) changes nothing.
    past = Span(at - timedelta(days=2), at - timedelta(days=1))
    assert duty_reason(at, SHANGHAI, [shift], [past]) == f"shift:{SID}"


def test_duty_reason_reads_shifts_in_the_given_zone() -> None:
    shift = weekly(0, "09:00", "18:00")
    at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 03:00 in Berlin
    assert duty_reason(at, SHANGHAI, [shift], []) is not None
    assert duty_reason(at, BERLIN, [shift], []) is None


@pytest.mark.parametrize(
    ("utc", "on_duty"),
    [
        # Winter (CET, UTC+1): Monday 2026-03-23, 09:00 local is 08:00 UTC.
        (datetime(2026, 3, 23, 7, 59, tzinfo=UTC), False),
        (datetime(2026, 3, 23, 8, 0, tzinfo=UTC), True),
        (datetime(2026, 3, 23, 16, 59, tzinfo=UTC), True),
        (datetime(2026, 3, 23, 17, 0, tzinfo=UTC), False),
        # Summer (CEST, UTC+2) after 2026-03-29: Monday 2026-03-30, 09:00 is 07:00 UTC.
        (datetime(2026, 3, 30, 6, 59, tzinfo=UTC), False),
        (datetime(2026, 3, 30, 7, 0, tzinfo=UTC), True),
        (datetime(2026, 3, 30, 15, 59, tzinfo=UTC), True),
        (datetime(2026, 3, 30, 16, 0, tzinfo=UTC), False),
    ],
)
def test_dst_keeps_local_hours(utc: datetime, on_duty: bool) -> None:
    shift = weekly(0, "09:00", "18:00")
    assert (duty_reason(utc, BERLIN, [shift], []) is not None) is on_duty


def test_overnight_shift_across_the_dst_change() -> None:
    # Saturday 2026-03-28 22:00 CET to Sunday 06:00 CEST: the clocks jump at 02:00, so
    # the night is one hour shorter in real time but runs the same wall-clock hours.
    shift = weekly(5, "22:00", "06:00")
    assert duty_reason(datetime(2026, 3, 28, 21, 0, tzinfo=UTC), BERLIN, [shift], [])
    assert duty_reason(datetime(2026, 3, 29, 3, 59, tzinfo=UTC), BERLIN, [shift], [])  # 05:59
    assert duty_reason(datetime(2026, 3, 29, 4, 0, tzinfo=UTC), BERLIN, [shift], []) is None
