"""Pure clock arithmetic: business time used, and when a clock warns and falls due.

A clock's state is (target, warn percent, business seconds used by its closed running
segments, since when it runs). Everything else follows on its calendar, so a priority
or contract change only swaps the target and recomputes: the paused intervals were never
counted in `used` and stay out of it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.calendars.businesstime import CalendarSpec, add_each, between


def used_seconds(
    spec: CalendarSpec, closed_used: int, running_since: datetime | None, now: datetime
) -> int:
    """Business seconds used by `now`: the closed segments plus the open one, if any."""
    if running_since is None or now <= running_since:
        return closed_used
    return closed_used + int(between(spec, running_since, now).total_seconds())


def plan(
    spec: CalendarSpec,
    target_seconds: int,
    warn_percent: int,
    closed_used: int,
    running_since: datetime,
) -> tuple[datetime, datetime]:
    """(warn at, due at) of a clock running since `running_since` with `closed_used`
    business seconds already behind it. A point already passed is `running_since`
    itself: due now (the caller decides whether it was announced already)."""
    warn_point = target_seconds * warn_percent // 100
    warn, due = add_each(
        spec,
        running_since,
        (
            timedelta(seconds=max(warn_point - closed_used, 0)),
            timedelta(seconds=max(target_seconds - closed_used, 0)),
        ),
    )
    return warn, due
