"""The one place that writes new rows of `timers` in SQL (the ORM's `Timer` and the
upsert of `service.schedule` are the owner's own): the creation statement and the
batches that set many timers at once take their INSERT from here, so a new timer's
column list and state (pending, version 1, its fire time its due time, handed over at
once when due soon) are stated once."""

from __future__ import annotations


def insert_select(
    *,
    id: str,
    kind: str,
    subject_id: str,
    due_at: str,
    soon: str,
    now: str,
    source: str,
    on_conflict: str = "",
) -> str:
    """`INSERT INTO timers ... SELECT <expressions> FROM <source>`: each argument a SQL
    expression over `source`; `soon` a boolean one (due before the scheduler's next
    pass: the timer is enqueued at once, `enqueued_version` 1)."""
    return f"""INSERT INTO timers (id, kind, subject_id, due_at, fire_at, version, state,
                        enqueued_version, attempts, created_at, updated_at)
    SELECT {id}, {kind}, {subject_id}, {due_at}, {due_at}, 1, 'pending',
           CASE WHEN {soon} THEN 1 END, 0, {now}, {now}
    FROM {source}
    {on_conflict}"""
