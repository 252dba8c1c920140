"""When an outbound webhook is tried again: the schedule, and `Retry-After`. Pure.

The schedule is Svix's: the first attempt at once, then after 5 s, 5 min, 30 min, 2 h,
5 h, 10 h and 10 h: eight attempts over about 27.5 hours, then the delivery is `failed`
(redeliverable through the API). A receiver that answers 429 or 503 with `Retry-After`
(seconds, or an HTTP date) is waited for as it asks, never sooner than the schedule says
and never longer than RETRY_AFTER_MAX_SECONDS (a receiver cannot park a delivery for a
week; the longest step of the schedule is the cap)."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

# The wait before attempt n+1 after attempt n failed, n = 1..7 (index 0: the first try).
SCHEDULE_SECONDS: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_ATTEMPTS = len(SCHEDULE_SECONDS)
RETRY_AFTER_MAX_SECONDS = max(SCHEDULE_SECONDS)
RETRY_AFTER_STATUSES = frozenset({429, 503})


def delay_after(attempts: int) -> float | None:
    """The wait after `attempts` failed attempts before the next one; None when the
    schedule is spent (`attempts` >= MAX_ATTEMPTS)."""
    if attempts < 1:
        return 0.0
    if attempts >= MAX_ATTEMPTS:
        return None
    return SCHEDULE_SECONDS[attempts]


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` in seconds from `now` (RFC 9110 §10.2.3: delay-seconds or an
    HTTP-date), capped at RETRY_AFTER_MAX_SECONDS; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        seconds = float(int(value[:12]))
    else:
        try:
            at = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if at.tzinfo is None:  # an HTTP-date is GMT; a zoneless one is read as such
            at = at.replace(tzinfo=now.tzinfo)
        seconds = (at - now).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_SECONDS)


def next_attempt_at(
    now: datetime, attempts: int, status: int | None = None, retry_after: str | None = None
) -> datetime | None:
    """When to try again after `attempts` failed attempts, the last answered `status`
    (None: no answer) with `retry_after` (the header, if any). None: give up."""
    delay = delay_after(attempts)
    if delay is None:
        return None
    if status in RETRY_AFTER_STATUSES:
        asked = parse_retry_after(retry_after, now)
        if asked is not None:
            delay = max(delay, asked)
    return now + timedelta(seconds=delay)
