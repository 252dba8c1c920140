"""The one place that writes rows of `outbox` in SQL (the ORM's `OutboxMessage`, in
models.py, is the other form): every hot path and batch that adds outbox rows inside a
larger statement takes its INSERT from here, so the column list and the defaults of a
new row (pending, no attempt, available at once) are stated once."""

from __future__ import annotations


def insert_select(
    *,
    id: str,
    event_type: str,
    aggregate_type: str,
    aggregate_id: str,
    event_id: str,
    payload: str,
    now: str,
    source: str,
) -> str:
    """`INSERT INTO outbox ... SELECT <expressions> FROM <source>`: each argument is a SQL
    expression over `source` (a CTE, an `unnest(...)`), with `:name` parameters."""
    return f"""INSERT INTO outbox (id, event_type, aggregate_type, aggregate_id, event_id,
                        payload, status, attempts, created_at, available_at)
    SELECT {id}, {event_type}, {aggregate_type}, {aggregate_id}, {event_id}, {payload},
           'pending', 0, {now}, {now}
    FROM {source}"""
