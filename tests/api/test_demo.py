"""The demo loader (`supportline demo`, run once by `make run`): loads a support centre
through the services in one transaction, writes and prints working keys, and does
nothing the second time."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.core.security import Role

_COUNTS = {
    "branches": "SELECT count(*) FROM branches",
    "api_keys": "SELECT count(*) FROM api_keys",
    "customers": "SELECT count(*) FROM customers",
    "contacts": "SELECT count(*) FROM contacts",
    "devices": "SELECT count(*) FROM devices",
    "contracts": "SELECT count(*) FROM contracts",
    "tickets": "SELECT count(*) FROM tickets",
    "events": "SELECT count(*) FROM ticket_events",
    "warehouses": "SELECT count(*) FROM warehouses",
    "parts": "SELECT count(*) FROM parts",
    "part_requests": "SELECT count(*) FROM part_requests",
    "hook_sources": "SELECT count(*) FROM hook_sources",
    "webhook_subscriptions": "SELECT count(*) FROM webhook_subscriptions",
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """DATA_DIR (where demo-keys.txt goes) in a temporary directory for this test."""
    from app.core.config import get_settings

    before = os.environ.get("DATA_DIR")
    os.environ["DATA_DIR"] = str(tmp_path)
    get_settings.cache_clear()
    try:
        yield tmp_path
    finally:
        if before is None:
            os.environ.pop("DATA_DIR", None)
        else:
            os.environ["DATA_DIR"] = before
        get_settings.cache_clear()


async def _rows(sql: str, **params: Any) -> list[Any]:
    from app.core.db import open_uow

    async with open_uow() as uow:
        return list(await uow.session.execute(text(sql), params))
    return []


async def _counts() -> dict[str, int]:
    return {name: (await _rows(sql))[0][0] for name, sql in _COUNTS.items()}


async def _stock_ok() -> bool:
    """`supportline stock-check` over the loaded data: no difference found."""
    from app.core.db import open_uow
    from app.parts.service.check import stock_check

    async with open_uow() as uow:
        report = await stock_check(uow)
    assert report.movements > 0 and report.balances > 0
    return report.ok


def _keys(path: Path) -> list[tuple[str, str, str]]:
    """(role, key, comment) per key line: `<role> <key>  # <name>`."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, comment = line.partition("  # ")
        role, key = head.split()
        out.append((role, key, comment))
    return out


async def test_demo_loads_once_with_working_keys_and_tickets_in_every_state(
    app: Any, client: httpx.AsyncClient, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.demo import MARKER_KEY_NAME, load_demo

    # (How long it takes is not a test's business: timed assertions fail on a busy
    # machine; it is bench material, not a test.)
    assert await load_demo() == 0
    printed = capsys.readouterr().out
    assert "Demo data loaded" in printed

    # The keys file: every role, each key authenticates as its role; the admin marker key
    # is the first admin line (what the smoke test's awk picks).
    keys_file = data_dir / "demo-keys.txt"
    assert keys_file.is_file()
    keys = _keys(keys_file)
    assert {role for role, _, _ in keys} == {r.value for r in Role}
    admin_lines = [(k, c) for r, k, c in keys if r == "admin"]
    assert admin_lines[0][1].startswith(MARKER_KEY_NAME)
    assert sum(1 for r, _, _ in keys if r == "engineer") >= 2
    for role, key, comment in keys:
        assert key in printed
        r = await client.get("/v1/me", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, (role, comment, r.text)
        assert r.json()["role"] == role

    counts = await _counts()
    assert counts["branches"] >= 3
    assert counts["customers"] >= 8
    assert counts["devices"] >= 20
    assert counts["contracts"] >= 5
    assert counts["tickets"] >= 15

    statuses = {r[0]: r[1] for r in await _rows("SELECT status, count(*) FROM tickets GROUP BY 1")}
    assert len(statuses) >= 8, statuses
    channels = {r[0] for r in await _rows("SELECT DISTINCT channel FROM tickets")}
    assert {"phone", "email", "web", "chat", "webhook", "proactive"} <= channels
    priorities = {r[0] for r in await _rows("SELECT DISTINCT priority FROM tickets")}
    assert priorities == {"P1", "P2", "P3", "P4"}
    sources = {r[0] for r in await _rows("SELECT DISTINCT priority_source FROM tickets")}
    assert sources == {"given", "derived"}

    # The stories the demo promises.
    reopened = await _rows("SELECT status FROM tickets WHERE reopen_count > 0")
    assert [r[0] for r in reopened] == ["in_progress"]
    failed_twice = await _rows(
        "SELECT t.status FROM tickets t JOIN ticket_attempts a ON a.ticket_id = t.id "
        "WHERE a.outcome = 'failed' GROUP BY t.id, t.status HAVING count(*) = 2"
    )
    assert [r[0] for r in failed_twice] == ["waiting_vendor"]
    visits = await _rows("SELECT arrived_at, departed_at FROM ticket_visits")
    assert visits and all(d is not None and d > a for a, d in visits)
    closed = await _rows("SELECT close_reason FROM tickets WHERE status = 'closed'")
    assert closed and {r[0] for r in closed} == {"confirmed_by_reporter"}
    levels = {(r[0], r[1]) for r in await _rows("SELECT uncontracted, service_level FROM tickets")}
    assert (False, "7x24") in levels and (False, "5x8") in levels and (True, "basic") in levels
    visibility = {r[0] for r in await _rows("SELECT DISTINCT visibility FROM ticket_comments")}
    assert visibility == {"public", "internal"}
    english = await _rows("SELECT count(*) FROM contacts WHERE language = 'en'")
    assert english[0][0] >= 1
    contract_states = {r[0] for r in await _rows("SELECT DISTINCT status FROM contracts")}
    assert {"active", "suspended"} <= contract_states
    expired = await _rows("SELECT count(*) FROM contracts WHERE ends_on < current_date")
    assert expired[0][0] >= 1
    # Stories are dated in the past, and nothing after the load.
    span = await _rows(
        "SELECT min(at) < now() - interval '2 days', max(at) <= now() FROM ticket_events"
    )
    assert span[0] == (True, True)

    # The API shows them (the admin key sees every branch).
    admin_key = admin_lines[0][0]
    r = await client.get(
        "/v1/tickets", params={"limit": 100}, headers={"Authorization": f"Bearer {admin_key}"}
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == counts["tickets"]

    # The second run adds nothing and leaves the keys file alone.
    before = keys_file.read_bytes()
    assert await load_demo() == 0
    assert "Demo data already loaded" in capsys.readouterr().out
    assert await _counts() == counts
    assert keys_file.read_bytes() == before

    # `--force` loads again over the first load: new keys and tickets, the records with
    # a natural key (branches, teams, customers, devices, contracts) found, not doubled.
    assert await load_demo(force=True) == 0
    again = await _counts()
    assert again["tickets"] == 2 * counts["tickets"]
    assert again["customers"] == counts["customers"]
    assert again["branches"] == counts["branches"]
    assert again["hook_sources"] == counts["hook_sources"] == 1
    assert again["webhook_subscriptions"] == counts["webhook_subscriptions"] == 1
    # Warehouses and parts are found again, the stories take their parts from what the
    # first load left, and the ledger still agrees with every balance and serial.
    assert (await _rows("SELECT count(*) FROM warehouses"))[0][0] == counts["warehouses"]
    assert (await _rows("SELECT count(*) FROM parts"))[0][0] == counts["parts"]
    assert await _stock_ok()


async def _fire_every_due_timer() -> int:
    """What the workers do when they start after the load: fire every due timer (one
    kind per transaction, as the wake-up job does), until none is left."""
    from app.core.db import open_uow
    from app.timers import firing, registry
    from app.timers import service as timers

    registry.load_handlers()
    fired = 0
    while True:
        taken = 0
        for kind in timers.known_kinds():
            async with open_uow() as uow:
                batch = await firing.fire_due(uow, 100, kinds=[kind])
            taken += batch.taken
            fired += batch.fired
        if taken == 0:
            return fired


async def test_demo_warnings_and_breaches_are_stamped_when_they_fell_due(
    app: Any, data_dir: Path
) -> None:
    from datetime import UTC, datetime

    from app.demo import load_demo

    loaded_at = datetime.now(UTC)
    assert await load_demo() == 0
    # The demo's tickets are back-dated: their clocks' warnings and breaches fall due
    # hours or days before the load, and the timers fire only now.
    assert await _fire_every_due_timer() > 0

    clocks = await _rows(
        "SELECT state, warn_at, warned_at, due_at, breached_at, stopped_at FROM ticket_clocks"
        " WHERE warned_at IS NOT NULL OR breached_at IS NOT NULL"
    )
    running = [c for c in clocks if c.state == "running"]
    assert any(c.breached_at is not None for c in running), clocks
    for c in running:
        assert c.warned_at == c.warn_at
        assert c.breached_at is None or c.breached_at == c.due_at
    for c in clocks:
        assert c.warned_at is None or c.warned_at < loaded_at
        assert c.breached_at is None or c.breached_at < loaded_at
        assert c.stopped_at is None or c.breached_at is None or c.breached_at <= c.stopped_at

    # The timeline says the same.
    events = await _rows(
        "SELECT type, at, data->>'warn_at' AS warn_at, data->>'due_at' AS due_at"
        " FROM ticket_events WHERE type IN ('sla.warning', 'sla.breached')"
    )
    assert {e.type for e in events} == {"sla.warning", "sla.breached"}
    for e in events:
        point = e.warn_at if e.type == "sla.warning" else e.due_at
        assert e.at == datetime.fromisoformat(point), e

    # Escalation counts from the same instants: each notice is due its level's delay
    # after the warning or breach it follows, not after the late firing.
    notices = await _rows(
        "SELECT n.after, n.due_at, c.warn_at, c.due_at AS clock_due"
        " FROM escalation_notices n JOIN ticket_clocks c ON c.id = n.clock_id"
        " WHERE c.state = 'running'"
    )
    assert notices
    for n in notices:
        fell_due = n.warn_at if n.after == "warning" else n.clock_due
        delay = (n.due_at - fell_due).total_seconds()
        assert delay >= 0 and delay % 60 == 0 and n.due_at < loaded_at, n


async def test_demo_engineers_have_contact_details_and_an_incident_is_open(
    app: Any, client: httpx.AsyncClient, data_dir: Path
) -> None:
    import re

    from app.demo import load_demo

    assert await load_demo() == 0
    admin = next(k for r, k, _ in _keys(data_dir / "demo-keys.txt") if r == "admin")
    h = {"Authorization": f"Bearer {admin}"}

    r = await client.get("/v1/engineers", params={"limit": 100}, headers=h)
    assert r.status_code == 200, r.text
    engineers = r.json()["items"]
    assert len(engineers) >= 6
    for e in engineers:
        assert re.fullmatch(r"[a-z]+\.[a-z]+@supportline\.example\.cn", e["email"]), e
        assert re.fullmatch(r"138\d{8}", e["phone"]), e
    assert len({e["email"] for e in engineers}) == len(engineers)

    r = await client.get("/v1/incidents", headers=h)
    assert r.status_code == 200, r.text
    incidents = r.json()["items"]
    assert len(incidents) == 1
    incident = incidents[0]
    assert incident["state"] == "open"
    assert "调度数据网" in incident["title"] and "dispatch network" in incident["title"]
    updates = (await client.get(f"/v1/incidents/{incident['id']}/updates", headers=h)).json()
    updates = updates["items"] if isinstance(updates, dict) else updates
    assert len(updates) == 2
    linked = await _rows("SELECT count(*) FROM incident_tickets")
    assert linked[0][0] == 2


async def test_demo_tells_the_spare_parts_story(
    app: Any, client: httpx.AsyncClient, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.demo import load_demo

    assert await load_demo() == 0
    printed = capsys.readouterr().out
    for what in ("warehouses", "parts", "part requests", "RMAs", "loaners out"):
        assert f" {what}" in printed, printed
    admin = next(k for r, k, _ in _keys(data_dir / "demo-keys.txt") if r == "admin")
    h = {"Authorization": f"Bearer {admin}"}

    # Warehouses of every kind, one kept at the bank under its contract.
    kinds = {r[0]: r[1] for r in await _rows("SELECT kind, count(*) FROM warehouses GROUP BY 1")}
    assert sum(kinds.values()) >= 4 and set(kinds) == {"central", "regional", "branch",
                                                       "customer_site"}, kinds  # fmt: skip
    site = await _rows(
        "SELECT c.number FROM warehouses w JOIN contracts c ON c.id = w.contract_id"
        " WHERE w.kind = 'customer_site' ORDER BY 1"
    )
    assert "HT-2025-SH-0018" in {r[0] for r in site}

    # The catalogue: a discontinued part names its active substitute.
    subs = await _rows(
        "SELECT s.lifecycle FROM parts p JOIN parts s ON s.id = p.substitute_id"
        " WHERE p.lifecycle = 'discontinued'"
    )
    assert [r[0] for r in subs] == ["active"]
    serialised = {r[0] for r in await _rows("SELECT DISTINCT serialised FROM parts")}
    assert serialised == {True, False}

    # Stock in several warehouses, levels on some balances, a loaner in a pool.
    stocked = await _rows(
        "SELECT count(DISTINCT warehouse_id), count(*) FILTER (WHERE reorder_point IS NOT NULL)"
        " FROM stock_balances WHERE on_hand > 0"
    )
    assert stocked[0][0] >= 4 and stocked[0][1] >= 2, stocked
    transfers = {r[0] for r in await _rows("SELECT DISTINCT state FROM stock_transfers")}
    assert transfers == {"received", "in_transit"}

    # The stories' part requests: the disk still on its way (the ticket waiting on
    # parts), the fan fitted (its old module awaited), the board fitted and returned.
    states = await _rows(
        "SELECT r.state, t.status, r.returned_at IS NOT NULL FROM part_requests r"
        " JOIN tickets t ON t.id = r.ticket_id ORDER BY r.created_at"
    )
    assert [tuple(r) for r in states] == [
        ("closed", "closed", True), ("fitted", "closed", False),
        ("dispatched", "waiting_parts", False),
    ], states  # fmt: skip
    waiting = await _rows("SELECT id FROM tickets WHERE status = 'waiting_parts'")
    assert len(waiting) == 1
    r = await client.get(f"/v1/tickets/{waiting[0][0]}/part-requests", headers=h)
    assert r.status_code == 200, r.text
    [in_flight] = r.json()["items"]
    assert in_flight["state"] == "dispatched" and in_flight["dispatched_at"]
    assert in_flight["delivered_at"] is None and in_flight["reservations"]

    # The defective board under an RMA, with the vendor; the loaner out for a week.
    rmas = await _rows("SELECT state, vendor, serial_number FROM rmas")
    assert [r[0] for r in rmas] == ["in_repair"] and rmas[0][1], rmas
    at_vendor = await _rows(
        "SELECT place, condition FROM part_serials WHERE serial = :serial", serial=rmas[0][2]
    )
    assert [tuple(r) for r in at_vendor] == [("vendor", "defective")]
    loans = await _rows(
        "SELECT l.state, l.due_back_on - current_date, t.status FROM loans l"
        " JOIN tickets t ON t.id = l.ticket_id"
    )
    assert len(loans) == 1 and loans[0][0] == "out" and 6 <= loans[0][1] <= 8, loans
    assert loans[0][2] not in ("closed", "cancelled")

    # Every part step is on its ticket's timeline, dated before the load.
    types = {r[0] for r in await _rows(
        "SELECT DISTINCT type FROM ticket_events"
        " WHERE type LIKE 'part_request.%' OR type LIKE 'rma.%' OR type LIKE 'loan.%'"
    )}  # fmt: skip
    assert {"part_request.created", "part_request.dispatched", "part_request.delivered",
            "part_request.fitted", "part_request.defective_returned", "rma.in_repair",
            "loan.lent"} <= types, types  # fmt: skip
    assert (await _rows("SELECT max(at) <= now() FROM stock_movements"))[0][0]

    assert await _stock_ok()


async def test_demo_has_an_alertmanager_source_and_a_subscription_to_the_dev_receiver(
    app: Any, client: httpx.AsyncClient, data_dir: Path
) -> None:
    """The demo's Alertmanager source answers its documented token (a `critical` alert
    is a P1 ticket of the bank's data centre); its subscription targets the receiver
    that `make run` starts, signing with the secret that receiver knows."""
    from app.demo import load_demo
    from app.demo.hooks import ALERTMANAGER_KEY, ALERTMANAGER_TOKEN
    from app.hooks.devreceiver import DEMO_SECRET, dev_url

    assert await load_demo() == 0
    payload = {
        "version": "4", "groupKey": "{}:{alertname=\"UPSOnBattery\"}", "status": "firing",
        "receiver": "supportline", "groupLabels": {"alertname": "UPSOnBattery"},
        "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am.idc:9093",
        "truncatedAlerts": 0,
        "alerts": [{
            "status": "firing", "fingerprint": "5f1c0de0a1b2c3d4",
            "labels": {"alertname": "UPSOnBattery", "severity": "紧急", "instance": "ups-1"},
            "annotations": {"summary": "UPS 1 转电池供电 (UPS 1 on battery)"},
            "startsAt": "2026-01-05T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.idc:9090/graph",
        }],
    }  # fmt: skip
    url = f"/v1/hooks/{ALERTMANAGER_KEY}"
    r = await client.post(url, json=payload)
    assert r.status_code == 401, r.text
    auth = {"Authorization": f"Bearer {ALERTMANAGER_TOKEN}"}
    r = await client.post(url, json=payload, headers=auth)
    assert r.status_code == 202, r.text
    [opened] = r.json()["alerts"]
    assert opened["action"] == "opened"
    ticket = await _rows(
        "SELECT t.priority, c.code FROM tickets t JOIN customers c ON c.id = t.customer_id"
        " WHERE t.id = :id",
        id=opened["ticket_id"],
    )
    assert [tuple(t) for t in ticket] == [("P1", "C-SH-000101")]

    subscriptions = await _rows(
        "SELECT url, secret, event_types, active FROM webhook_subscriptions"
    )
    [(sub_url, secret, event_types, active)] = [tuple(s) for s in subscriptions]
    assert (sub_url, secret, active) == (dev_url(), DEMO_SECRET, True)
    assert {"ticket.*", "incident.*", "sla.*"} <= set(event_types)
