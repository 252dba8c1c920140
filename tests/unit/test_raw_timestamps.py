"""The raw pool reads `timestamp without time zone` as the API's text of a UTC instant
(`core.db.api_time`, the lists' fast path). That is only safe while no column has that
type, and the text must be exactly what pydantic writes for the same instant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter
from sqlalchemy import DateTime
from sqlmodel import SQLModel

import app.main  # noqa: F401  (imports every model)
from app.core.db import api_time, raw_pool

INSTANTS = [
    datetime(2026, 12, 2, 19, 25, 34, 139239, tzinfo=UTC),
    datetime(2026, 12, 2, 19, 25, 34, tzinfo=UTC),
    datetime(2026, 12, 2, 19, 25, 34, 170000, tzinfo=UTC),
    datetime(2026, 12, 2, 19, 25, 34, 5, tzinfo=UTC),
    datetime(2026, 12, 2, 19, 25, 34, 100, tzinfo=UTC),
    datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


def _postgres_text(value: datetime) -> str:
    # PostgreSQL's ISO output: fraction without trailing zeros, none when zero.
    text = f"{value.year:04d}-" + value.strftime("%m-%d %H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text


@pytest.mark.parametrize("value", INSTANTS)
def test_api_time_is_what_pydantic_writes(value: datetime) -> None:
    expected = TypeAdapter(datetime).dump_python(value, mode="json")
    assert api_time(_postgres_text(value)) == expected


def test_no_column_is_a_naive_timestamp() -> None:
    naive = [
        f"{table.name}.{column.name}"
        for table in SQLModel.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, DateTime) and not column.type.timezone
    ]
    assert naive == []


async def test_the_raw_pool_reads_postgres_text_as_api_time(app: object) -> None:
    pool = await raw_pool()
    got = await pool.fetchval(
        "SELECT ('2026-12-02 19:25:34.17+08'::timestamptz AT TIME ZONE 'UTC')"
    )
    assert got == "2026-12-02T11:25:34.170000Z"
    # Aware timestamps stay datetimes for every other raw statement.
    aware = await pool.fetchval("SELECT '2026-12-02 19:25:34+00'::timestamptz")
    assert aware == datetime(2026, 12, 2, 19, 25, 34, tzinfo=UTC)
