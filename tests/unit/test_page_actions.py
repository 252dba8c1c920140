"""`lifecycle.PageActions` (the list's allowed actions, one table per page) must give
what `lifecycle.allowed_actions` gives for every status, including a closed ticket at
the very edge of the reopen window and one a microsecond past it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.tickets import lifecycle
from app.tickets.models import STATUSES

NOW = datetime(2026, 12, 2, 16, 0, 0, 123456, tzinfo=UTC)
WINDOW = timedelta(days=7)
CLOSED_AT = [
    None,
    NOW,
    NOW - WINDOW,
    NOW - WINDOW - timedelta(microseconds=1),
    NOW - WINDOW + timedelta(microseconds=1),
    NOW - timedelta(days=400),
]


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("closed_at", CLOSED_AT)
def test_page_actions_match_allowed_actions(status: str, closed_at: datetime | None) -> None:
    table = lifecycle.PageActions(NOW, WINDOW)
    assert table.of(status, closed_at) == lifecycle.allowed_actions(status, closed_at, NOW, WINDOW)
