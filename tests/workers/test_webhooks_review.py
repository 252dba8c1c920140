"""Outbound webhooks under attack and under trouble (a review's findings, each kept as a
test): TLS names and certificates on shared addresses, hostile receivers (endless,
trickling or huge answers), a delivery whose URL the HTTP client refuses, and a name
whose first address cannot be reached. Real HTTP(S) against tests/webhookreceiver.py;
the fixtures are those of tests/workers/test_webhooks_delivery.py."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from app.core.config import Settings
from app.hooks import sender, ssrf
from app.outbox.dispatcher import Dispatcher
from tests.webhookreceiver import Receiver, Reply
from tests.workers import test_webhooks_delivery as base

# The fixtures of the delivery tests, used here under the same names.
hooks, rx, disp = base.hooks, base.rx, base.disp
deliveries, emit, send, subscribe = base.deliveries, base.emit, base.send, base.subscribe


async def attempts(db: asyncpg.Connection, subscription_id: str) -> list[asyncpg.Record]:
    return list(await db.fetch(
        "SELECT a.* FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id "
        "WHERE d.subscription_id = $1 ORDER BY a.started_at, a.id", uuid.UUID(subscription_id),
    ))  # fmt: skip


# --- TLS: the name is what the certificate is checked for, whatever the pool holds -----------------


@pytest.fixture
def localhost_cert(tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate for the name `localhost` only (no IP address in it)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.fixture
def tls_rx(localhost_cert: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """An https receiver whose certificate the sender trusts (as it would a real CA's)."""
    monkeypatch.setattr(
        sender, "tls_context", lambda: ssl.create_default_context(cafile=localhost_cert[0])
    )
    with Receiver(tls=localhost_cert) as r:
        yield r


async def test_the_certificate_is_checked_for_the_urls_name_on_every_connection(
    hooks: Settings, tls_rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Two names on one address: `localhost` (the certificate's name) and `127.0.0.1`
    (not in it). The first connects to 127.0.0.1 with SNI `localhost` and passes; the
    second must be refused by the certificate check, not slip through on the first one's
    kept-alive connection (httpx pools by the URL's origin, the checked IP)."""
    monkeypatch.setattr(hooks, "webhook_allow_networks", ["127.0.0.0/8", "::1/128"])
    monkeypatch.setattr(hooks, "webhook_concurrency", 1)  # one after the other: reuse
    named = await subscribe(client, admin, tls_rx.url_for("/named", host="localhost"), ["a.*"])
    by_ip = await subscribe(client, admin, tls_rx.url_for("/by-ip"), ["b.*"])
    await emit(disp, "a.first")
    await emit(disp, "b.second")
    assert await send() == 2
    [req] = tls_rx.requests
    assert req.path == "/named" and req.headers["host"] == f"localhost:{tls_rx.port}"
    [ok] = await attempts(db, named["id"])
    assert ok["outcome"] == "success" and ok["address"] == "127.0.0.1"
    [refused] = await attempts(db, by_ip["id"])
    assert refused["outcome"] == "network_error" and refused["address"] == "127.0.0.1"
    assert "certificate" in refused["error"].lower(), refused["error"]
    [row] = await deliveries(db, by_ip["id"])
    assert row["state"] == "retrying"  # a TLS failure is a failed attempt, not a crash


async def test_an_untrusted_certificate_is_a_failed_attempt(
    hooks: Settings, localhost_cert: tuple[str, str], disp: Dispatcher,
    client: httpx.AsyncClient, admin: dict[str, str], db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(hooks, "webhook_allow_networks", ["127.0.0.0/8", "::1/128"])
    with Receiver(tls=localhost_cert) as self_signed:  # the sender's CAs do not know it
        sub = await subscribe(client, admin, self_signed.url_for(host="localhost"))
        await emit(disp)
        assert await send() == 1
        assert self_signed.count() == 0
    [attempt] = await attempts(db, sub["id"])
    assert attempt["outcome"] == "network_error" and "certificate" in attempt["error"].lower()


# --- hostile receivers -----------------------------------------------------------------------------


async def test_an_endless_answer_is_read_no_further_than_the_excerpt(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], db: asyncpg.Connection,
) -> None:  # fmt: skip
    rx.script(Reply(body=b"", drip=1 << 30, drip_chunk=b"z" * 65536))  # a gibibyte, chunked
    sub = await subscribe(client, admin, rx.url)
    await emit(disp)
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        await send()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - t0 < 5
    assert peak < 16 * 1024 * 1024, peak  # a few chunks, never the answer
    [attempt] = await attempts(db, sub["id"])
    assert attempt["outcome"] == "success" and attempt["response_excerpt"] == "z" * 64


async def test_a_trickling_answer_is_cut_by_the_attempts_time_budget(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A byte every 0.1 s never trips the read time-out (0.3 s); the attempt's whole
    budget (2 x connect + read = 0.7 s) ends it."""
    monkeypatch.setattr(hooks, "webhook_connect_timeout_seconds", 0.2)
    monkeypatch.setattr(hooks, "webhook_read_timeout_seconds", 0.3)
    rx.script(Reply(body=b"", drip=200, drip_every=0.1))
    sub = await subscribe(client, admin, rx.url)
    await emit(disp)
    t0 = time.monotonic()
    await send()
    assert time.monotonic() - t0 < 2
    [attempt] = await attempts(db, sub["id"])
    assert attempt["outcome"] == "timeout" and 600 <= attempt["duration_ms"] < 2000


async def test_a_huge_header_is_a_failed_attempt_and_the_batch_goes_on(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], db: asyncpg.Connection,
) -> None:  # fmt: skip
    rx.script(Reply(headers={"x-big": "a" * 300_000}), path="/big")
    big = await subscribe(client, admin, rx.url_for("/big"))
    fine = await subscribe(client, admin, rx.url_for("/fine"))
    await emit(disp)
    assert await send() == 2
    [attempt] = await attempts(db, big["id"])
    assert attempt["outcome"] == "network_error" and attempt["status_code"] is None
    assert [r["state"] for r in await deliveries(db, fine["id"])] == ["delivered"]


async def test_the_answer_is_asked_for_uncompressed(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str],
) -> None:  # fmt: skip
    """The excerpt is the answer's raw first bytes: gzip there would be unreadable."""
    await subscribe(client, admin, rx.url)
    await emit(disp)
    await send()
    assert rx.requests[0].headers["accept-encoding"] == "identity"


async def test_proxies_from_the_environment_are_ignored(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A proxy would resolve and connect to the name itself, past the check: the sender
    goes straight to the checked address whatever HTTP(S)_PROXY says."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: nothing there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    await subscribe(client, admin, rx.url)
    await emit(disp)
    await send()
    assert rx.count() == 1 and [r["state"] for r in await deliveries(db)] == ["delivered"]


# --- one bad row does not sink the batch ---------------------------------------------------------------


async def test_a_url_the_http_client_refuses_fails_that_delivery_only(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], db: asyncpg.Connection,
) -> None:  # fmt: skip
    """A stored URL httpx will not build a request for (written before a rule existed,
    or by hand): its delivery fails, the others of the batch are recorded. Raised out of
    the pass, the whole batch would wait for its lease and go out again, every lease."""
    bad = await subscribe(client, admin, rx.url_for("/bad"))
    good = await subscribe(client, admin, rx.url_for("/good"))
    await db.execute(
        "UPDATE webhook_subscriptions SET url = $1 WHERE id = $2",
        rx.url_for("/bad\x7f"), uuid.UUID(bad["id"]),
    )  # fmt: skip
    await emit(disp)
    assert await send() == 2
    assert [r.path for r in rx.requests] == ["/good"]
    [attempt] = await attempts(db, bad["id"])
    assert attempt["outcome"] == "network_error" and "InvalidURL" in attempt["error"]
    assert [r["state"] for r in await deliveries(db, bad["id"])] == ["retrying"]
    assert [r["state"] for r in await deliveries(db, good["id"])] == ["delivered"]
    assert await send() == 0  # nothing left claimed


# --- a name with an address that cannot be reached -----------------------------------------------------


async def test_the_next_checked_address_is_tried_when_the_first_refuses_the_connection(
    hooks: Settings, rx: Receiver
) -> None:
    """As for a name with an unroutable IPv6 address first: 127.0.0.2 has nothing on the
    port (the receiver listens on 127.0.0.1 only)."""
    url = urlsplit(rx.url)
    target = ssrf.Target(url, "http", "127.0.0.1", rx.port, "127.0.0.2", ("127.0.0.2", "127.0.0.1"))
    tried: list[str] = []
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await sender._connect(http, target, b"{}", {}, tried)
        await response.aclose()
    assert response.status_code == 200 and tried == ["127.0.0.2", "127.0.0.1"]
    assert rx.count() == 1
    with pytest.raises(ValueError):
        target.request_url("10.0.0.1")  # only a checked address is ever connected to
