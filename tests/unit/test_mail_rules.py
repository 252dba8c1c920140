"""The mailer's pure rules (app/mail/rules.py): which notice an outbox message is, what
is urgent, what an address hears of once, whom an event names, and who decides."""

from __future__ import annotations

import uuid
from fnmatch import fnmatchcase

import pytest

from app.mail import rules
from app.mail.consumer import consume
from app.mail.defaults import NOTICE_TYPES, RULES
from app.mail.models import RECIPIENT_ROLES
from app.mail.render import LANGUAGES, has_template


@pytest.mark.parametrize(
    ("event_type", "aggregate", "data", "notice"),
    [
        ("ticket.created", "ticket", {}, "ticket.created"),
        ("ticket.waiting", "ticket", {"waiting_on": "customer"}, "ticket.waiting_customer"),
        ("ticket.waiting", "ticket", {"waiting_on": "parts"}, "ticket.waiting_parts"),
        ("ticket.waiting", "ticket", {"waiting_on": "vendor"}, "ticket.waiting_vendor"),
        ("ticket.waiting", "ticket", {"waiting_on": "godot"}, None),
        ("ticket.waiting", "ticket", {}, None),
        ("part_request.created", "ticket", {"state": "awaiting_approval"},
         "part_request.awaiting_approval"),
        ("part_request.created", "ticket", {"state": "approved"}, None),
        ("rma.shipped_back", "ticket", {"state": "shipped_back"}, "rma.changed"),
        # The same steps on their own aggregates are announced on the ticket too: once.
        ("rma.shipped_back", "rma", {}, None),
        ("loan.overdue", "loan", {}, None),
        ("stock.low", "stock", {}, None),
        ("incident.declared", "incident", {}, "incident.declared"),
        ("ticket.created", "incident", {}, None),
    ],
)  # fmt: skip
def test_the_notice_type_of_an_outbox_message(
    event_type: str, aggregate: str, data: dict[str, str], notice: str | None
) -> None:
    assert rules.notice_type(event_type, aggregate, {"data": data}) == notice


def test_a_payload_of_the_wrong_shape_is_no_notice_but_no_error() -> None:
    assert rules.notice_type("ticket.waiting", "ticket", {"data": ["customer"]}) is None
    assert rules.notice_type("ticket.waiting", "ticket", {}) is None
    assert rules.flood_key("sla.warning", {"data": "x"}) is None
    assert rules.chain_recipients({"recipients": "role:admin"}) == ([], [])
    assert rules.named("ticket.assigned", {"after": ["x"]}) == rules.Named()


def test_urgent_notices_are_p1_p2_incidents_and_urgent_rules() -> None:
    assert rules.is_urgent(False, "ticket", "P1") and rules.is_urgent(False, "ticket", "P2")
    assert not rules.is_urgent(False, "ticket", "P3")
    assert not rules.is_urgent(False, "ticket", "P4")
    assert rules.is_urgent(True, "ticket", "P4")
    assert rules.is_urgent(False, "incident", None)
    assert not rules.is_urgent(False, "ticket", None)


def test_an_sla_target_is_one_mail_per_level() -> None:
    clock = str(uuid.uuid4())
    warning = rules.flood_key("sla.warning", {"data": {"clock_id": clock}})
    breach = rules.flood_key("sla.breached", {"data": {"clock_id": clock}})
    other = rules.flood_key("sla.warning", {"data": {"clock_id": str(uuid.uuid4())}})
    assert warning == f"sla.warning:{clock}" and breach == f"sla.breached:{clock}"
    assert len({warning, breach, other}) == 3
    level = {"clock_id": clock, "after": "breach", "level": 1}
    assert (
        rules.flood_key("ticket.escalation_notice", {"data": level})
        == f"escalation:{clock}:breach:1"
    )
    assert rules.flood_key("ticket.escalation_notice", {"data": {**level, "level": 2}}) != (
        rules.flood_key("ticket.escalation_notice", {"data": level})
    )
    assert rules.flood_key("ticket.comment_added", {"data": {"clock_id": clock}}) is None
    assert rules.flood_key("sla.warning", {"data": {}}) is None


def test_whom_an_event_names_and_a_chains_recipients() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert rules.named("ticket.assigned", {"after": {"owner_id": str(a)}}).owner_id == a
    assert rules.named("ticket.secondary_assigned",
                       {"after": {"secondary_owner_id": str(b)}}).secondary_id == b  # fmt: skip
    assert rules.named("ticket.handoff_started", {"data": {"to_id": str(b)}}).secondary_id == b
    assert rules.named("ticket.assigned", {"after": {"owner_id": "nobody"}}).owner_id is None
    ids, roles = rules.chain_recipients(
        {"data": {"recipients": [str(a), "role:manager", str(a), "junk", 7, "group:emergency"]}}
    )
    assert ids == [a] and roles == ["manager"]
    assert rules.chain_recipients({"recipients": ["group:emergency", "role:admin"]}) == (
        [],
        ["admin"],
    )


@pytest.mark.parametrize(
    ("roles", "role_word", "person_word", "included", "source"),
    [
        (["owner"], None, None, True, "rule"),
        ([], None, None, False, "none"),
        (["owner"], False, None, False, "role"),
        ([], True, None, True, "role"),
        (["owner"], False, ("engineer", True), True, "engineer"),
        (["owner"], True, ("engineer", False), False, "engineer"),
        ([], None, ("customer", True), True, "customer"),
    ],
)  # fmt: skip
def test_the_most_specific_word_wins(
    roles: list[str], role_word: bool | None, person_word: tuple[str, bool] | None,
    included: bool, source: str,
) -> None:  # fmt: skip
    d = rules.decide("owner", roles, role_word, person_word)
    assert (d.included, d.source) == (included, source)


def test_every_default_rule_has_templates_roles_and_reaches_the_consumer() -> None:
    assert len(set(NOTICE_TYPES)) == len(NOTICE_TYPES)
    assert len({r["id"] for r in RULES}) == len(RULES)
    wanted = consume.event_types  # type: ignore[attr-defined]
    for r in RULES:
        assert set(r["roles"]) <= set(RECIPIENT_ROLES), r
        for language in LANGUAGES:
            assert has_template(language, r["event_type"]), (language, r["event_type"])
        source = rules.source_event(r["event_type"])
        assert any(fnmatchcase(source, p) or source == p for p in wanted), source
    assert consume.consumer_name == "mail"  # type: ignore[attr-defined]
    # Only urgent by rule: major incidents (P1/P2 are urgent whatever the rule).
    assert {r["event_type"] for r in RULES if r["urgent"]} == {
        "incident.declared", "incident.updated", "incident.update_due", "incident.resolved"
    }  # fmt: skip
