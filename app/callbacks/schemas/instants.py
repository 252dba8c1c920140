"""The instants callbacks take from clients (a due time, a plan's date, a list's bound):
aware, and held in UTC as PostgreSQL stores them.

ISO 8601 can say instants that no UTC `datetime` holds ("9999-12-31T23:59:59-14:00" is
in year 10000 in UTC): pydantic accepts them, and the first `astimezone(UTC)` (or
asyncpg's encoding) raised OverflowError, a 500. Converting here makes that a 422 on the
field, and every instant reaches the services already in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the instant is outside the years 1-9999 in UTC") from None


Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
