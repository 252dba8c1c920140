"""Outbox consumers for the worker tests; a real worker loads them by dotted path
(OUTBOX_CONSUMERS='["tests.workers.consumers:slow_record"]')."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from sqlalchemy import text

EFFECTS_TABLE = "outbox_test_effects"
CREATE_EFFECTS = f"""
CREATE TABLE IF NOT EXISTS {EFFECTS_TABLE} (
    message_id uuid PRIMARY KEY,  -- a second delivery of a message would violate it
    consumer text NOT NULL,
    pid integer NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""
DROP_EFFECTS = f"DROP TABLE IF EXISTS {EFFECTS_TABLE}"


async def record_effect(uow: Any, message: Any, consumer: str) -> None:
    await uow.session.execute(
        text(f"INSERT INTO {EFFECTS_TABLE} (message_id, consumer, pid) VALUES (:id, :c, :pid)"),
        {"id": message.id, "c": consumer, "pid": os.getpid()},
    )


async def slow_record(uow: Any, message: Any) -> None:
    """Writes one effect row per message, then takes SLOW_RECORD_MS (default 5) ms."""
    await record_effect(uow, message, slow_record.consumer_name)  # type: ignore[attr-defined]
    await asyncio.sleep(float(os.environ.get("SLOW_RECORD_MS", "5")) / 1000)


slow_record.consumer_name = "test.slow_record"  # type: ignore[attr-defined]
slow_record.event_types = ["test.*"]  # type: ignore[attr-defined]
