"""`lifecycle.PageActions` (the list's allowed actions, one table per page) must give
what `lifecycle.allowed_actions` gives for every status, including a closed ticket at
the very edge of the reopen window and one a microsecond past it. The list hands it
`closed_at` as the API's text (`core.db.api_time`), with and without a fraction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
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
    # Whole seconds are written without a fraction: text order must still be time order.
    (NOW - WINDOW).replace(microsecond=0),
    (NOW - WINDOW).replace(microsecond=0) + timedelta(seconds=1),
    datetime(2026, 11, 25, 16, 0, 0, 123456, tzinfo=UTC).replace(microsecond=0),
]


def _api_text(value: datetime) -> str:
    text: str = orjson.loads(orjson.dumps(value, option=orjson.OPT_UTC_Z))
    return text


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("closed_at", CLOSED_AT)
def test_page_actions_match_allowed_actions(status: str, closed_at: datetime | None) -> None:
    table = lifecycle.PageActions(NOW, WINDOW)
    as_text = None if closed_at is None else _api_text(closed_at)
    expected = lifecycle.allowed_actions(status, closed_at, NOW, WINDOW)
    assert table.of(status, as_text) == expected
