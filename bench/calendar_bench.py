"""Cost of the business-time engine (app/calendars/businesstime.py): no database, no HTTP.

    .venv/bin/python -m bench.calendar_bench [--calls 100000] [--seed 1]

Prints, for a China 5x8 lunch-break calendar (09:00-12:00, 13:30-18:00, CN holidays and
adjusted working days) and for 24x7:

* `add` and `between` over `--calls` random cases: throughput of a plain loop (calls/s,
  mean µs per call) and the per-call distribution (p50/p99/max, each call timed alone
  with perf_counter_ns, so those figures include ~0.1 µs of timer overhead). Starts are
  uniform over 2026; `between` ends are start + up to 60 calendar days; `add` durations
  are up to 60 working days of the calendar (7.5 h or 24 h each);
* `add` of exactly 30 working days;
* the cold cost of one year's index, with the holidays already read and with the
  `holidays` package read for the first time.

Indexes are warmed before the timed loops: the figures are the steady state of a
long-lived process.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

from app.calendars import holiday_source
from app.calendars.businesstime import CalendarSpec, add, between, hours
from app.calendars.holiday_source import china_5x8, public_days

YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)


def _percentiles(ns: list[int]) -> tuple[float, float, float]:
    ns.sort()
    n = len(ns)
    return ns[n // 2] / 1000, ns[min(n - 1, int(n * 0.99))] / 1000, ns[-1] / 1000


def _measure(name: str, fn: Callable[[int], object], calls: int) -> None:
    """fn(i) runs case i. One untimed-per-call loop for throughput, one timed per call."""
    # The inputs are long-lived; frozen, they stop costing full collections mid-loop.
    gc.collect()
    gc.freeze()
    t0 = time.perf_counter_ns()
    for i in range(calls):
        fn(i)
    total = time.perf_counter_ns() - t0
    per_call: list[int] = []
    clock = time.perf_counter_ns
    for i in range(calls):
        a = clock()
        fn(i)
        per_call.append(clock() - a)
    p50, p99, worst = _percentiles(per_call)
    mean = total / calls / 1000
    print(
        f"  {name:<34} {calls / (total / 1e9):>11,.0f} /s {mean:>8.2f} µs"
        f" {p50:>8.2f} {p99:>8.2f} {worst:>9.1f}"
    )


def _header(title: str) -> None:
    print(f"\n{title}")
    print(f"  {'':<34} {'throughput':>14} {'mean':>11} {'p50 µs':>8} {'p99 µs':>8} {'max µs':>9}")


def _starts(rng: random.Random, n: int) -> list[datetime]:
    year_us = YEAR // timedelta(microseconds=1)
    return [YEAR_START + timedelta(microseconds=rng.randrange(year_us)) for _ in range(n)]


def _bench_calendar(
    label: str, cal: CalendarSpec, day: timedelta, calls: int, rng: random.Random
) -> None:
    starts = _starts(rng, calls)
    ends = [s + timedelta(seconds=rng.randrange(60 * 86_400)) for s in starts]
    day_us = day // timedelta(microseconds=1)
    durations = [timedelta(microseconds=rng.randrange(60 * day_us)) for _ in range(calls)]
    thirty = 30 * day
    # Build every year the cases touch before timing.
    for s, e, d in zip(starts, ends, durations, strict=True):
        between(cal, s, e)
        add(cal, s, d)
        add(cal, s, thirty)
    _header(f"{label}  ({calls:,} calls each)")
    _measure("add(start, ≤60 working days)", lambda i: add(cal, starts[i], durations[i]), calls)
    _measure("between(start, start + ≤60 days)", lambda i: between(cal, starts[i], ends[i]), calls)
    _measure("add(start, 30 working days)", lambda i: add(cal, starts[i], thirty), calls)


def _bench_build(rounds: int) -> None:
    print("\nCold index of one year (2026), China 5x8 lunch break")
    base = china_5x8(lunch_break=True)
    public_days("CN", None, [2026])

    def fresh(i: int) -> CalendarSpec:
        # A days_off date far in the past makes a new calendar value: no shared index.
        return CalendarSpec.create(
            base.tz,
            base.weekly,
            days_off=[date(1900, 1, 1) + timedelta(days=i)],
            public_holidays=base.public_holidays,
        )

    def first_call(cal: CalendarSpec) -> int:
        t0 = time.perf_counter_ns()
        between(cal, YEAR_START, YEAR_START + timedelta(hours=1))
        return time.perf_counter_ns() - t0

    warm = [first_call(fresh(i)) for i in range(rounds)]
    print(
        f"  holidays already read:           median {statistics.median(warm) / 1e6:6.2f} ms"
        f"  max {max(warm) / 1e6:6.2f} ms  ({rounds} calendars)"
    )
    cold: list[int] = []
    for i in range(min(rounds, 20)):
        holiday_source._year.cache_clear()
        cold.append(first_call(fresh(rounds + i)))
    print(
        f"  holidays read for the year too:  median {statistics.median(cold) / 1e6:6.2f} ms"
        f"  max {max(cold) / 1e6:6.2f} ms  ({len(cold)} calendars)"
    )
    whole_day = hours("00:00-24:00")
    always = [
        first_call(
            CalendarSpec.create(
                "Asia/Shanghai", [whole_day] * 7, days_off=[date(1900, 1, 1) + timedelta(days=i)]
            )
        )
        for i in range(rounds)
    ]
    print(
        f"  24x7 (no holidays):              median {statistics.median(always) / 1e6:6.2f} ms"
        f"  max {max(always) / 1e6:6.2f} ms  ({rounds} calendars)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100_000, help="cases per measurement")
    parser.add_argument(
        "--builds", type=int, default=50, help="calendars for the cold-index figures"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    china = china_5x8(lunch_break=True)
    _bench_calendar(
        "China 5x8, 09:00-12:00 + 13:30-18:00, CN holidays",
        china,
        timedelta(hours=7, minutes=30),
        args.calls,
        rng,
    )
    _bench_calendar(
        "24x7", CalendarSpec.always("Asia/Shanghai"), timedelta(days=1), args.calls, rng
    )
    _bench_build(args.builds)


if __name__ == "__main__":
    main()
