"""Webhooks in from the real Prometheus Alertmanager (issue 13, item 4): Debian's
`prometheus-alertmanager` (installed by .ci/alertmanager.sh) as its own process, its
webhook receiver pointed at a real API process (`supportline serve` on a free port) with
a bearer token (`http_config.authorization`: Alertmanager cannot sign), alerts pushed to
it through its own API (`POST /api/v2/alerts`). So the payload is what Alertmanager
sends, grouping, repeats and resolves included, not our reading of its documentation.

What it shows: two firing alerts that Alertmanager sends as one group are two tickets
(one per fingerprint, the fingerprints Alertmanager computed); its repeats of the group
open nothing; one alert resolved is a recovery on its own ticket while the other stays
firing. And an HA pair of Alertmanagers that do not gossip, so that each sends every
notification (nearly at the same moment): still a ticket per alert and one recovery.

Skipped, with the reason, where there is no Alertmanager binary (a developer's `make
test`). .ci/run sets CI_ALERTMANAGER=required once .ci/alertmanager.sh has succeeded: then
a missing binary fails instead, so CI cannot pass without having run it.

Alertmanager 0.25.0 (Debian's 0.25.0-1+b4) takes sub-second intervals (100ms checks)
but refuses a zero one; group_wait 1s, group_interval 1s and repeat_interval 2s make it flush a group every
second and repeat an unchanged one every ~3 s (the repeat is due at the first flush 2 s
on), which bounds each test to seconds. Once it has notified an alert resolved it drops
it from the group (a later push of the same resolved alert is not notified again)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest

from app.access.defaults import ensure_identities
from app.core.db import open_uow
from tests.conftest import ROOT, issue_key
from tests.factories import World, build_world

pytestmark = pytest.mark.slow

T = TypeVar("T")
REQUIRED = os.environ.get("CI_ALERTMANAGER") == "required"
NAMES = ("prometheus-alertmanager", "alertmanager")  # Debian's name, upstream's
# Every wait polls and returns as soon as it can; generous for a busy 2-core machine.
START_DEADLINE = 60.0
DEADLINE = 30.0
ALERTNAME = "IDCPowerSupplyFailure"
# Alertmanager's timing (see the module's docstring).
GROUP_WAIT, GROUP_INTERVAL, REPEAT_INTERVAL = "1s", "1s", "2s"
RECOVERY_EVENT = "alert.recovered"  # the ticket event a resolved alert records


def _require(ok: bool, reason: str) -> None:
    if ok:
        return
    if REQUIRED:
        pytest.fail(f"CI_ALERTMANAGER=required, but {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, n: int = 30) -> str:
    if not path.exists():
        return f"({path.name}: none)"
    lines = path.read_text(errors="replace").splitlines()[-n:]
    return f"--- {path.name} ---\n" + "\n".join(lines)


@pytest.fixture(scope="session")
def binary() -> str:
    found = next((p for p in map(shutil.which, NAMES) if p), None)
    _require(found is not None, "no Alertmanager binary (prometheus-alertmanager) on PATH; "
             "`bash .ci/alertmanager.sh` installs Debian's")  # fmt: skip
    assert found is not None
    out = subprocess.run([found, "--version"], capture_output=True, timeout=30, check=False)
    version = (out.stdout + out.stderr).decode(errors="replace")
    _require(out.returncode == 0 and "version" in version, f"{found} --version: {version}")
    return found


class Process:
    """A child process with its output in a file; always gone after `stop()`."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    async def ready(self, url: str, what: str) -> None:
        end = time.monotonic() + START_DEADLINE
        async with httpx.AsyncClient(timeout=2) as c:
            while True:
                assert self.proc.poll() is None, f"{what} exited:\n{_tail(self.log)}"
                try:
                    if (await c.get(url)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert time.monotonic() < end, f"{what} not ready:\n{_tail(self.log)}"
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@dataclass
class Api:
    url: str
    process: Process
    headers: dict[str, str]
    client: httpx.AsyncClient

    async def get(self, path: str) -> Any:
        r = await self.client.get(f"{self.url}{path}", headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
async def world(services: dict[str, str]) -> World:
    world = await build_world()
    async with open_uow() as uow:
        await ensure_identities(uow)
    return world


@pytest.fixture
async def api(services: dict[str, str], binary: str, tmp_path: Path) -> AsyncIterator[Api]:
    """`supportline serve` over the test database, on a free port of 127.0.0.1."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": services["database_url"],
           "REDIS_URL": services["redis_url"], "LOG_LEVEL": "WARNING"}  # fmt: skip
    cmd = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = Process(cmd, env, tmp_path / "api.out")
    try:
        url = f"http://127.0.0.1:{port}"
        await process.ready(f"{url}/readyz", "the API")
        async with httpx.AsyncClient(timeout=10) as client:
            yield Api(url, process, await issue_key("admin"), client)
    finally:
        process.stop()


@dataclass
class Alertmanager:
    url: str
    process: Process
    client: httpx.AsyncClient

    async def push(self, *alerts: dict[str, Any]) -> None:
        r = await self.client.post(f"{self.url}/api/v2/alerts", json=list(alerts))
        assert r.status_code == 200, r.text

    async def fingerprints(self) -> dict[str, str]:
        """Alertmanager's own fingerprint of each alert it holds, by its instance label."""
        r = await self.client.get(f"{self.url}/api/v2/alerts")
        assert r.status_code == 200, r.text
        return {a["labels"]["instance"]: a["fingerprint"] for a in r.json()}


def write_config(path: Path, receiver_url: str, token: str) -> None:
    """One route, grouped by alertname, to one webhook receiver with a bearer token.
    (JSON is YAML: no YAML writer needed.)"""
    config = {
        "route": {
            "receiver": "supportline",
            "group_by": ["alertname"],
            "group_wait": GROUP_WAIT,
            "group_interval": GROUP_INTERVAL,
            "repeat_interval": REPEAT_INTERVAL,
        },
        "receivers": [
            {
                "name": "supportline",
                "webhook_configs": [
                    {
                        "url": receiver_url,
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
                    }
                ],
            }
        ],
    }
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")


Starter = Callable[[str, str], Awaitable[Alertmanager]]


@pytest.fixture
async def alertmanager(binary: str, tmp_path: Path) -> AsyncIterator[Starter]:
    """Starts an Alertmanager for a receiver URL and token (each call another one): its
    own configuration and storage in tmp_path, the web API on a free port of 127.0.0.1,
    no cluster (an empty --cluster.listen-address: no gossip port, no peers to settle
    with). All killed at teardown, whatever happened."""
    started: list[Process] = []

    async def start(receiver_url: str, token: str) -> Alertmanager:
        n = len(started) + 1
        config = tmp_path / f"alertmanager-{n}.yml"
        write_config(config, receiver_url, token)
        port = _free_port()
        cmd = [binary, f"--config.file={config}", f"--storage.path={tmp_path / f'am-{n}'}",
               f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
               "--log.level=debug"]  # fmt: skip
        process = Process(cmd, dict(os.environ), tmp_path / f"alertmanager-{n}.out")
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        await process.ready(f"{url}/-/ready", "Alertmanager")
        return Alertmanager(url, process, client)

    async with httpx.AsyncClient(timeout=10) as client:
        try:
            yield start
        finally:
            for process in started:
                process.stop()


def alert(instance: str, summary: str, started: datetime) -> dict[str, Any]:
    return {
        "labels": {"alertname": ALERTNAME, "instance": instance, "severity": "critical",
                   "job": "idc-pdu"},
        "annotations": {"summary": summary, "description": f"{summary}（机房 A 区）"},
        "generatorURL": "http://prometheus.idc.example/graph?g0.expr=pdu_up%3D%3D0",
        "startsAt": iso(started),
    }  # fmt: skip


def resolved(alert: dict[str, Any]) -> dict[str, Any]:
    """The alert as Prometheus sends it once it stopped firing: endsAt now (after its
    startsAt, which Alertmanager requires, and past by the group's next flush)."""
    return {**alert, "endsAt": iso(datetime.now(UTC))}


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def two_alerts() -> tuple[dict[str, Any], dict[str, Any]]:
    """Two power alerts of one alertname (so one group), starting now: Alertmanager
    flushes a new group at once, without its group_wait, when its first alert started
    longer than group_wait ago, and the second alert could then miss that flush."""
    started = datetime.now(UTC)
    return (
        alert("pdu-a01:9100", "A01 机柜 PDU 断电 (PDU A01 lost power)", started),
        alert("pdu-b07:9100", "B07 机柜 PDU 断电 (PDU B07 lost power)", started),
    )


class Scene:
    """The test's view of both sides, and the wait that explains itself on a timeout."""

    def __init__(self, api: Api, db: asyncpg.Connection) -> None:
        self.api, self.db = api, db
        self.source_id = ""
        self.ams: list[Alertmanager] = []

    async def start(self, alertmanager: Starter, world: World, instances: int = 1) -> None:
        """A bearer source through the API, and Alertmanagers that post to it."""
        key = f"am-e2e-{uuid.uuid4().hex[:8]}"
        r = await self.api.client.post(
            f"{self.api.url}/v1/hooks/sources",
            headers=self.api.headers,
            json={"key": key, "name": "机房监控 Alertmanager (e2e)", "kind": "alertmanager",
                  "auth": "bearer", "customer_id": str(world.customer_id),
                  "category": "hardware", "priority": "P3"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        self.source_id = r.json()["id"]
        url, token = f"{self.api.url}/v1/hooks/{key}", r.json()["secret"]
        self.ams = [await alertmanager(url, token) for _ in range(instances)]

    async def push(self, *alerts: dict[str, Any]) -> None:
        """To every Alertmanager, as Prometheus sends to all it is configured with."""
        for am in self.ams:
            await am.push(*alerts)

    async def requests(self) -> list[dict[str, Any]]:
        """The accepted requests, oldest first."""
        page = await self.api.get(f"/v1/hooks/sources/{self.source_id}/requests?limit=200")
        accepted = [r for r in page["items"] if r["outcome"] == "accepted"]
        return sorted(accepted, key=lambda r: r["received_at"])

    async def alerts(self) -> dict[str, dict[str, Any]]:
        page = await self.api.get(f"/v1/hooks/sources/{self.source_id}/alerts?limit=200")
        return {a["fingerprint"]: a for a in page["items"]}

    async def tickets(self) -> list[asyncpg.Record]:
        return await self.db.fetch(
            "SELECT id, number, channel, status, priority FROM tickets ORDER BY id"
        )

    async def recoveries(self, ticket_id: str) -> int:
        page = await self.api.get(f"/v1/tickets/{ticket_id}/events?limit=200")
        return sum(1 for e in page["items"] if e["type"] == RECOVERY_EVENT)

    async def until(self, check: Callable[[], Awaitable[T | None]], what: str) -> T:
        end = time.monotonic() + DEADLINE
        while not (got := await check()):
            if time.monotonic() > end:
                logs = "\n".join(_tail(am.process.log, 12) for am in self.ams)
                pytest.fail(
                    f"{what}: not within {DEADLINE:.0f} s.\nrequests: {await self.requests()}\n"
                    f"alerts: {await self.alerts()}\n{logs}\n{_tail(self.api.process.log)}",
                    pytrace=False,
                )
            await asyncio.sleep(0.2)
        return got

    async def requests_beyond(self, n: int, what: str) -> list[dict[str, Any]]:
        async def more() -> list[dict[str, Any]] | None:
            got = await self.requests()
            return got if len(got) > n else None

        return await self.until(more, what)

    async def with_resolved(self, fingerprint: str, n: int) -> list[dict[str, Any]]:
        """Once `n` requests reported `fingerprint` resolved: those requests."""

        async def found() -> list[dict[str, Any]] | None:
            got = [q for q in await self.requests() if actions(q).get(fingerprint, ("",))[0]
                   == "resolved"]  # fmt: skip
            return got if len(got) >= n else None

        return await self.until(found, f"{n} request(s) with the resolved alert")


def actions(request: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Per fingerprint of a request: (the alert's status, what was done)."""
    return {a["fingerprint"]: (a["status"], a["action"]) for a in request["alerts"]}


@pytest.fixture
async def scene(api: Api, db: asyncpg.Connection) -> Scene:
    return Scene(api, db)


async def test_one_group_two_tickets_repeats_nothing_recovery_on_its_own_ticket(
    scene: Scene, alertmanager: Starter, world: World
) -> None:
    await scene.start(alertmanager, world)
    pdu_a, pdu_b = two_alerts()
    await scene.push(pdu_a, pdu_b)
    fingerprints = await scene.ams[0].fingerprints()
    fp_a, fp_b = fingerprints["pdu-a01:9100"], fingerprints["pdu-b07:9100"]
    assert fp_a != fp_b

    # One notification with the group's two alerts: a ticket per alert.
    first, *_ = await scene.requests_beyond(0, "Alertmanager's first notification")
    assert first["status_code"] == 202
    assert actions(first) == {fp_a: ("firing", "opened"), fp_b: ("firing", "opened")}
    followed = await scene.alerts()
    assert set(followed) == {fp_a, fp_b}  # the fingerprints Alertmanager computed
    tickets = await scene.tickets()
    assert {str(t["id"]) for t in tickets} == {a["ticket_id"] for a in followed.values()}
    assert len(tickets) == 2 and {t["channel"] for t in tickets} == {"webhook"}
    # severity "critical", by the default mapping, over the source's P3.
    assert {t["priority"] for t in tickets} == {"P1"}

    # Alertmanager repeats the unchanged group every repeat_interval: nothing new opens.
    repeats = (await scene.requests_beyond(2, "Alertmanager repeating the group twice"))[1:]
    for repeat in repeats:
        assert actions(repeat) == {fp_a: ("firing", "repeated"), fp_b: ("firing", "repeated")}
    again = await scene.alerts()
    assert {f: a["ticket_id"] for f, a in again.items()} == {
        f: a["ticket_id"] for f, a in followed.items()
    }
    assert all(a["fire_count"] >= 3 and a["state"] == "firing" for a in again.values()), again
    assert len(await scene.tickets()) == 2

    # A01 resolved: notified at the group's next flush, beside B07 still firing; the
    # recovery is on A01's ticket only.
    await scene.push(resolved(pdu_a))
    (resolution,) = await scene.with_resolved(fp_a, 1)
    assert actions(resolution) == {fp_a: ("resolved", "recovered"), fp_b: ("firing", "repeated")}
    after = await scene.alerts()
    assert (after[fp_a]["state"], after[fp_b]["state"]) == ("resolved", "firing")
    assert await scene.recoveries(after[fp_a]["ticket_id"]) == 1
    assert await scene.recoveries(after[fp_b]["ticket_id"]) == 0

    # Alertmanager drops A01 once it notified it resolved; B07 repeats on, alone.
    seen = len(await scene.requests())
    later = (await scene.requests_beyond(seen, "a repeat after the resolve"))[seen:]
    assert [actions(q) for q in later] == [{fp_b: ("firing", "repeated")}] * len(later)
    assert await scene.recoveries(after[fp_a]["ticket_id"]) == 1
    assert [t["status"] for t in await scene.tickets()] == ["new", "new"]
    # Every request was Alertmanager's, authenticated by its bearer token.
    assert {q["status_code"] for q in await scene.requests()} == {202}


async def test_an_ha_pair_without_gossip_sends_everything_twice_and_changes_nothing_twice(
    scene: Scene, alertmanager: Starter, world: World
) -> None:
    """Two Alertmanagers that do not gossip (a pair whose cluster is split, or never
    set up) each notify every group: the same firing alerts twice, nearly at once, and
    the same resolve twice. Still one ticket per alert and one recovery."""
    await scene.start(alertmanager, world, instances=2)
    pdu_a, pdu_b = two_alerts()
    await scene.push(pdu_a, pdu_b)
    fp_a = (await scene.ams[0].fingerprints())["pdu-a01:9100"]
    assert (await scene.ams[1].fingerprints())["pdu-a01:9100"] == fp_a

    both = await scene.requests_beyond(1, "both Alertmanagers' first notifications")
    opened = [f for q in both for f, (_, action) in actions(q).items() if action == "opened"]
    assert sorted(opened) == sorted(await scene.alerts()), both  # each alert opened once
    assert len(await scene.tickets()) == 2

    await scene.push(resolved(pdu_a))
    twice = await scene.with_resolved(fp_a, 2)
    assert sorted(actions(q)[fp_a][1] for q in twice) == ["already_resolved", "recovered"]
    ticket_a = (await scene.alerts())[fp_a]["ticket_id"]
    assert await scene.recoveries(ticket_a) == 1
    assert len(await scene.tickets()) == 2
