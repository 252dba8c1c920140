"""The retry schedule of outbound webhooks (Svix's) and `Retry-After`: pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from app.hooks import schedule

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_eight_attempts_immediately_then_5s_5min_30min_2h_5h_10h_10h() -> None:
    waits = [schedule.delay_after(n) for n in range(1, 8)]
    assert waits == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert schedule.delay_after(0) == 0  # the first attempt: at once
    assert schedule.MAX_ATTEMPTS == 8
    assert schedule.delay_after(8) is None and schedule.next_attempt_at(NOW, 8) is None
    # The whole schedule spans about 27.5 hours.
    assert sum(schedule.SCHEDULE_SECONDS) == 27 * 3600 + 35 * 60 + 5


@pytest.mark.parametrize("attempts", range(1, 8))
def test_next_attempt_follows_the_schedule(attempts: int) -> None:
    expected = NOW + timedelta(seconds=schedule.SCHEDULE_SECONDS[attempts])
    assert schedule.next_attempt_at(NOW, attempts, 500) == expected
    assert schedule.next_attempt_at(NOW, attempts, None) == expected  # no answer at all


def test_retry_after_in_seconds_is_honoured_on_429_and_503_only() -> None:
    for status in (429, 503):
        assert schedule.next_attempt_at(NOW, 1, status, "120") == NOW + timedelta(seconds=120)
    # Not on another status: the schedule.
    assert schedule.next_attempt_at(NOW, 1, 500, "120") == NOW + timedelta(seconds=5)
    assert schedule.next_attempt_at(NOW, 1, 502, "120") == NOW + timedelta(seconds=5)


def test_retry_after_as_an_http_date() -> None:
    at = NOW + timedelta(minutes=7)
    header = format_datetime(at, usegmt=True)  # "Mon, 02 Mar 2026 08:07:00 GMT"
    assert schedule.parse_retry_after(header, NOW) == 420
    assert schedule.next_attempt_at(NOW, 1, 503, header) == at


def test_retry_after_never_earlier_than_the_schedule() -> None:
    # Attempt 3 failed: the schedule says 30 min; a receiver asking for 1 s waits 30 min.
    assert schedule.next_attempt_at(NOW, 3, 429, "1") == NOW + timedelta(minutes=30)
    past = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert schedule.next_attempt_at(NOW, 1, 429, past) == NOW + timedelta(seconds=5)


def test_retry_after_is_capped() -> None:
    assert schedule.parse_retry_after("99999999", NOW) == schedule.RETRY_AFTER_MAX_SECONDS
    far = format_datetime(NOW + timedelta(days=30), usegmt=True)
    assert schedule.parse_retry_after(far, NOW) == schedule.RETRY_AFTER_MAX_SECONDS
    assert schedule.next_attempt_at(NOW, 1, 429, "99999999") == NOW + timedelta(hours=10)


@pytest.mark.parametrize("value", [None, "", "  ", "soon", "-5", "1.5", "Mon, 99 Foo"])
def test_unreadable_retry_after_falls_back_to_the_schedule(value: str | None) -> None:
    assert schedule.parse_retry_after(value, NOW) is None
    assert schedule.next_attempt_at(NOW, 2, 429, value) == NOW + timedelta(minutes=5)


def test_the_schedule_is_spent_whatever_retry_after_says() -> None:
    assert schedule.next_attempt_at(NOW, 8, 429, "5") is None
