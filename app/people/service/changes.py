"""PATCH applied to a row: the fields given, none of the not-null ones set to null; and
the new version and update time of a changed row."""

from __future__ import annotations

from typing import Any

from app.core.clock import get_clock
from app.people.models import Engineer, OnCallRotation, Team
from app.people.service.checks import invalid


def apply_changes(row: Any, changes: dict[str, Any], not_null: set[str]) -> None:
    for field, value in changes.items():
        if value is None and field in not_null:
            raise invalid(field, f"{field} cannot be null.", "not_null")
        setattr(row, field, value)


def touch(row: Team | Engineer | OnCallRotation) -> None:
    row.version += 1
    row.updated_at = get_clock().now()
