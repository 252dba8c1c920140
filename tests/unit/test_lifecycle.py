from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.tickets import lifecycle

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = timedelta(days=14)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("new", ["acknowledge", "assign", "start", "cancel"]),
        ("assigned", ["assign", "start", "cancel"]),
        ("in_progress", ["assign", "wait", "resolve", "cancel"]),
        ("waiting_customer", ["assign", "resume", "resolve", "cancel"]),
        ("waiting_parts", ["assign", "resume", "resolve", "cancel"]),
        ("waiting_vendor", ["assign", "resume", "resolve", "cancel"]),
        ("resolved", ["confirm", "reopen"]),
        ("cancelled", []),
    ],
)
def test_allowed_actions_per_state(status: str, expected: list[str]) -> None:
    assert lifecycle.allowed_actions(status, None, NOW, WINDOW) == expected


def test_closed_reopens_only_within_window() -> None:
    assert lifecycle.allowed_actions("closed", NOW - timedelta(days=3), NOW, WINDOW) == ["reopen"]
    assert lifecycle.allowed_actions("closed", NOW - timedelta(days=15), NOW, WINDOW) == []
    assert lifecycle.allowed_actions("closed", NOW - WINDOW, NOW, WINDOW) == ["reopen"]


@pytest.mark.parametrize(
    ("action", "status", "wait_on", "target"),
    [
        ("acknowledge", "new", None, "assigned"),
        ("assign", "new", None, "assigned"),
        ("assign", "in_progress", None, "in_progress"),
        ("start", "assigned", None, "in_progress"),
        ("wait", "in_progress", "parts", "waiting_parts"),
        ("wait", "in_progress", "vendor", "waiting_vendor"),
        ("resume", "waiting_customer", None, "in_progress"),
        ("resolve", "waiting_vendor", None, "resolved"),
        ("confirm", "resolved", None, "closed"),
        ("reopen", "closed", None, "in_progress"),
        ("cancel", "assigned", None, "cancelled"),
    ],
)
def test_targets(action: str, status: str, wait_on: str | None, target: str) -> None:
    assert lifecycle.target_status(action, status, wait_on) == target


def test_every_status_is_reachable_and_terminal_states_are_terminal() -> None:
    reachable = {"new"}
    frontier = ["new"]
    while frontier:
        status = frontier.pop()
        for action in lifecycle.allowed_actions(status, NOW, NOW, WINDOW):
            for wait_on in ("customer", "parts", "vendor") if action == "wait" else (None,):
                nxt = lifecycle.target_status(action, status, wait_on)
                if nxt not in reachable:
                    reachable.add(nxt)
                    frontier.append(nxt)
    from app.tickets.models import STATUSES

    assert reachable == set(STATUSES)
    assert lifecycle.allowed_actions("cancelled", None, NOW, WINDOW) == []


@pytest.mark.parametrize(
    ("impact", "urgency", "priority"),
    [
        ("high", "high", "P1"),
        ("high", "medium", "P2"),
        ("medium", "high", "P2"),
        ("high", "low", "P3"),
        ("medium", "medium", "P3"),
        ("low", "high", "P3"),
        ("medium", "low", "P4"),
        ("low", "medium", "P4"),
        ("low", "low", "P4"),
    ],
)
def test_priority_matrix(impact: str, urgency: str, priority: str) -> None:
    assert lifecycle.derive_priority(None, impact, urgency) == (priority, "derived")


def test_given_priority_wins_and_missing_inputs_give_none() -> None:
    assert lifecycle.derive_priority("P4", "high", "high") == ("P4", "given")
    assert lifecycle.derive_priority(None, "high", None) is None
    assert lifecycle.derive_priority(None, None, None) is None


def test_matrix_is_monotonic() -> None:
    order = {"high": 0, "medium": 1, "low": 2}
    for (i1, u1), p1 in lifecycle.PRIORITY_MATRIX.items():
        for (i2, u2), p2 in lifecycle.PRIORITY_MATRIX.items():
            if order[i1] <= order[i2] and order[u1] <= order[u2]:
                assert p1 <= p2
