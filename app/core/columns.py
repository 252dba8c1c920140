"""Column conventions shared by every table: UUIDv7 ids, timestamptz, text enums."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime
from sqlmodel import Field

from app.core.ids import uuid7


def utcnow() -> datetime:
    return datetime.now(UTC)


def id_field() -> Any:
    return Field(default_factory=uuid7, primary_key=True)


def ts_field(nullable: bool = False, index: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=DateTime(timezone=True), nullable=True, index=index)
    return Field(
        default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=False, index=index
    )


def enum_check(column: str, values: list[str] | tuple[str, ...], name: str) -> CheckConstraint:
    """Enumerations are text with a check constraint: extending one is a one-line migration."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=name)


def new_id() -> uuid.UUID:
    return uuid7()
