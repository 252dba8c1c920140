"""The send pass: due webhook deliveries out over HTTP, signed, SSRF-checked, retried.

One pass:

1. Anything due? (one indexed EXISTS: an idle worker costs nothing more.)
2. Claim up to WEBHOOK_BATCH_SIZE rows (`FOR UPDATE SKIP LOCKED`, committed at once:
   they are `sending` under a lease; see app/hooks/repository/deliveries.py). No
   transaction is held while anything goes over the network.
3. Send them concurrently (at most WEBHOOK_CONCURRENCY at once, an `httpx.AsyncClient`
   per target name for the pass: `_Pools` says why): for each, the URL is checked again
   (app.hooks.ssrf: resolved, every address global or allowed) and the request goes to
   the checked address (the next checked one if no connection could be made), with
   `Host` and the TLS server name, and so the certificate check, set to the URL's host.
   Redirects are not followed (a 3xx is a failure, recorded with its status), the
   environment's proxies are ignored (a proxy would connect to the name itself), connect
   and read time-outs come from the settings and the whole attempt is bounded by their
   sum. The first WEBHOOK_RESPONSE_EXCERPT_BYTES of the answer are read, no more.
4. Record the batch in one transaction: an attempt row each (outcome, status, duration,
   address, excerpt), the delivery's state, and the subscriptions' health:
   - 2xx: `delivered`; the subscription's `failing_since` is cleared;
   - 410 Gone: the subscription is disabled (reason `gone`) and its open deliveries fail;
   - any other failure (an HTTP status, refused by the SSRF check, a network error, a
     time-out): `retrying` at the next step of the schedule (app.hooks.schedule, with
     `Retry-After` on 429/503), or `failed` after the eighth attempt. The subscription's
     `failing_since` is set at its first failure; when it is more than
     WEBHOOK_DISABLE_AFTER_DAYS old, the subscription is disabled (reason `failing`).
   Either automatic disable publishes `webhook.subscription_disabled` to the outbox (the
   disabled subscription itself is not sent its own notice).

**A refusal at send time is retried.** A target that passed at registration and now
resolves to a private address is most likely a DNS change (a failover, a record being
moved); nothing is sent to it, the attempt is logged `refused` with the reason, and the
schedule goes on, so a temporary change costs a delay and a lasting one ends as failed
deliveries and, after WEBHOOK_DISABLE_AFTER_DAYS, a disabled subscription.

**At least once, the same id.** A delivery whose answer was recorded is never sent
again by the sender (only a redelivery through the API sends it again). A worker that
dies after sending and before recording leaves the row `sending`; once its lease runs
out (WEBHOOK_SENDING_STALE_SECONDS, or longer for a big batch: `lease_seconds`) the next
pass claims and sends it again with the same body and `webhook-id`. Receivers de-duplicate
on `webhook-id` (docs/api-guide.md says so).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import ssl
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from app.core.clock import get_clock
from app.core.config import Settings, get_settings
from app.core.db import UnitOfWork, open_uow
from app.core.ids import uuid7
from app.hooks import schedule, signing, ssrf
from app.hooks.repository import deliveries as repo
from app.hooks.repository import subscriptions as subs_repo
from app.hooks.secrets import in_use
from app.outbox.service import publish

log = logging.getLogger("supportline.webhooks")

USER_AGENT = "Supportline-Webhooks/1"
DISABLED_EVENT = "webhook.subscription_disabled"
LEASE_MARGIN_SECONDS = 30.0
_CHUNK = 16 * 1024


@dataclass
class PassResult:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0  # attempts that failed (retrying or failed)
    skipped: int = 0  # claimed rows of disabled subscriptions (failed by the claim)
    unrecorded: int = 0  # failures whose row another worker had taken over meanwhile
    disabled: list[uuid.UUID] = field(default_factory=list)


def attempt_budget_seconds(settings: Settings) -> float:
    """The longest one attempt may take: resolution and connection, then the answer."""
    return settings.webhook_connect_timeout_seconds * 2 + settings.webhook_read_timeout_seconds


def lease_seconds(settings: Settings, size: int) -> float:
    """How long a claim is ours: every wave of the batch at its longest, plus the
    record's margin, and never less than WEBHOOK_SENDING_STALE_SECONDS. A slow but live
    pass is never taken over (that would send its rows twice)."""
    waves = math.ceil(max(size, 1) / settings.webhook_concurrency)
    needed = waves * attempt_budget_seconds(settings) + LEASE_MARGIN_SECONDS
    return max(float(settings.webhook_sending_stale_seconds), needed)


async def send_pass(batch_size: int | None = None) -> PassResult:
    """Claims, sends, records one batch. Never raises for a receiver's trouble; a
    database failure propagates (what was claimed waits for its lease)."""
    settings = get_settings()
    clock = get_clock()
    async with open_uow() as uow:  # raw autocommit statements: the claim is durable
        now = clock.now()
        if not await repo.any_due(uow, now):
            return PassResult()
        size = batch_size or settings.webhook_batch_size
        lease = now + timedelta(seconds=lease_seconds(settings, size))
        claimed = await repo.claim(uow, now, lease, size)
    result = PassResult(claimed=len(claimed))
    rows = [r for r in claimed if r["state"] == "sending"]
    result.skipped = len(claimed) - len(rows)
    if not rows:
        return result
    outcomes = await _send_all(rows, lease, settings)
    await _record(outcomes, rows, result, settings)
    return result


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The certificate authorities a receiver's certificate is checked against (httpx's
    default, certifi's bundle); built once, shared by every pool (loading it costs more
    than a pass to an idle receiver)."""
    return httpx.create_ssl_context()


class _Pools:
    """The pass's HTTP clients: one connection pool per target name (scheme, host, port).

    Why not one client for the pass: httpx pools connections by the URL's origin, and
    the URL holds the checked IP, not the name. Two names on one address (a CDN, a
    shared host) would then share a TLS connection set up, and its certificate checked,
    for the first name only: the second name's certificate would never be checked and
    its requests would go with the first name's SNI."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[tuple[str, str, int], httpx.AsyncClient] = {}

    def for_target(self, target: ssrf.Target) -> httpx.AsyncClient:
        key = (target.scheme, target.host, target.port)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self._new()
        return client

    def _new(self) -> httpx.AsyncClient:
        s = self._settings
        timeout = httpx.Timeout(
            connect=s.webhook_connect_timeout_seconds,
            read=s.webhook_read_timeout_seconds,
            write=s.webhook_read_timeout_seconds,
            pool=s.webhook_connect_timeout_seconds,
        )
        limits = httpx.Limits(
            max_connections=s.webhook_concurrency, max_keepalive_connections=s.webhook_concurrency
        )
        # trust_env=False: no proxy from the environment (a proxy would resolve and
        # connect to the name itself, past the check), no netrc, no SSL_CERT_* override.
        return httpx.AsyncClient(
            timeout=timeout, limits=limits, follow_redirects=False, trust_env=False,
            verify=tls_context(),
        )  # fmt: skip

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()


@dataclass
class _Answer:
    """What one attempt came to over the wire."""

    outcome: str
    status: int | None = None
    excerpt: str | None = None
    error: str | None = None
    address: str | None = None
    retry_after: str | None = None


async def _send_all(rows: list[Any], lease: datetime, settings: Settings) -> list[repo.Outcome]:
    gate = asyncio.Semaphore(settings.webhook_concurrency)
    pools = _Pools(settings)
    try:

        async def one(row: Any) -> repo.Outcome:
            async with gate:
                return await _attempt(pools, row, lease, settings)

        return list(await asyncio.gather(*(one(r) for r in rows)))
    finally:
        await pools.aclose()


async def _attempt(pools: _Pools, row: Any, lease: datetime, settings: Settings) -> repo.Outcome:
    clock = get_clock()
    started = clock.now()
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(attempt_budget_seconds(settings)):
            answer = await _exchange(pools, row, started, settings)
    except TimeoutError:
        answer = _Answer("timeout", error="no answer within the time-outs")
    except Exception as exc:
        # One delivery's unforeseen trouble (a URL httpx refuses, a TLS library error
        # not mapped to httpx's) is that delivery's failed attempt: raised, it would
        # abandon the whole batch's outcomes, and the batch would go out again and
        # again, once per lease.
        log.exception("webhook attempt failed unexpectedly",
                      extra={"fields": {"delivery_id": str(row["id"])}})  # fmt: skip
        answer = _Answer("network_error", error=_error_text(exc))
    duration = int((time.monotonic() - t0) * 1000)
    return _outcome(row, lease, started, duration, answer)


def _secrets(row: Any, now: datetime) -> list[str]:
    return in_use(row["secret"], row["previous_secret"], row["previous_expires_at"], now)


async def _exchange(pools: _Pools, row: Any, started: datetime, settings: Settings) -> _Answer:
    try:
        target = await ssrf.check(
            row["url"], settings.webhook_allow_networks, settings.webhook_connect_timeout_seconds
        )
    except ssrf.Refused as exc:
        return _Answer("refused", error=str(exc))
    except ssrf.Unresolvable as exc:
        return _Answer("network_error", error=str(exc))
    body = row["body"].encode()
    headers = {
        **signing.headers(_secrets(row, started), row["event_id"], started, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": target.host_header,
        # The excerpt is the answer's first bytes as sent: compressed, they would be
        # unreadable in the log (and inflating them is work a receiver could multiply).
        "accept-encoding": "identity",
    }
    client = pools.for_target(target)
    tried: list[str] = []
    try:
        response = await _connect(client, target, body, headers, tried)
        try:
            excerpt = await _excerpt(response, settings.webhook_response_excerpt_bytes)
        finally:
            await response.aclose()
    except httpx.TimeoutException as exc:
        return _Answer("timeout", error=_error_text(exc), address=tried[-1])
    except (httpx.HTTPError, OSError) as exc:
        return _Answer("network_error", error=_error_text(exc), address=tried[-1])
    status = response.status_code
    return _Answer(
        "success" if 200 <= status < 300 else "http_error",
        status=status,
        excerpt=excerpt,
        error=None if 200 <= status < 300 else _status_text(response),
        address=tried[-1],
        retry_after=response.headers.get("retry-after"),
    )


async def _connect(
    client: httpx.AsyncClient, target: ssrf.Target, body: bytes, headers: dict[str, str],
    tried: list[str],
) -> httpx.Response:  # fmt: skip
    """The answer's head (its body unread), from the checked addresses in the resolver's
    order: the next one only when no connection to the one before could be made (a name
    with an IPv6 address the worker cannot route to must not fail for ever). Nothing was
    sent then, so trying the next cannot deliver twice. `tried` gets each address tried:
    the last one is the attempt's."""
    for address in target.addresses:
        tried.append(address)
        request = client.build_request(
            "POST", target.request_url(address), content=body, headers=headers,
            extensions=target.extensions(),
        )  # fmt: skip
        try:
            return await client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            if address == target.addresses[-1]:
                raise
    raise AssertionError("unreachable: the last address re-raises")


async def _excerpt(response: httpx.Response, limit: int) -> str:
    """The first `limit` bytes of the answer as text (the rest is not read)."""
    data = b""
    if limit > 0:
        async for chunk in response.aiter_raw(_CHUNK):
            data += chunk
            if len(data) >= limit:
                break
    # PostgreSQL text holds no NUL; a cut in the middle of a character is replaced.
    return data[:limit].decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _status_text(response: httpx.Response) -> str:
    if 300 <= response.status_code < 400:
        where = response.headers.get("location", "")[:500]
        return f"HTTP {response.status_code}: redirects are not followed (Location: {where})"
    return f"HTTP {response.status_code} {response.reason_phrase}"[:2000]


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:2000]


def _outcome(
    row: Any, lease: datetime, started: datetime, duration: int, answer: _Answer
) -> repo.Outcome:
    attempts = int(row["attempts"]) + 1
    ok = answer.outcome == "success"
    next_at: datetime | None = None
    if ok:
        state = "delivered"
    elif answer.status == 410:
        state = "failed"
    else:
        next_at = schedule.next_attempt_at(
            get_clock().now(), attempts, answer.status, answer.retry_after
        )
        state = "retrying" if next_at is not None else "failed"
    return repo.Outcome(
        delivery_id=row["id"], token=lease, state=state, next_at=next_at, ok=ok,
        attempt_id=uuid7(), started_at=started, duration_ms=duration, address=answer.address,
        outcome=answer.outcome, status=answer.status, excerpt=answer.excerpt,
        error=answer.error,
    )  # fmt: skip


async def _record(
    outcomes: list[repo.Outcome], rows: list[Any], result: PassResult, settings: Settings
) -> None:
    """The batch's attempts and states, and its subscriptions' health, in one
    transaction."""
    by_id = {r["id"]: r for r in rows}
    async with open_uow() as uow:
        uow.session  # noqa: B018  (the session first: the raw statements join its transaction)
        now = get_clock().now()
        recorded = await repo.record(uow, outcomes, now)
        ok_subs, failing, gone = _tally(outcomes, by_id, recorded, result)
        await subs_repo.mark_succeeded(uow, sorted(ok_subs))
        limit = now - timedelta(days=settings.webhook_disable_after_days)
        long_failing = [
            sub for sub, since in await subs_repo.mark_failing(uow, failing) if since <= limit
        ]
        result.disabled += await _disable(uow, sorted(gone), "gone", now)
        result.disabled += await _disable(uow, sorted(set(long_failing) - gone), "failing", now)
    _log(outcomes, by_id)


def _tally(
    outcomes: list[repo.Outcome], by_id: dict[uuid.UUID, Any], recorded: set[uuid.UUID],
    result: PassResult,
) -> tuple[set[uuid.UUID], dict[uuid.UUID, datetime], set[uuid.UUID]]:  # fmt: skip
    """Per subscription: which had a success in the batch, which only failures (since
    their first one's start), which answered 410."""
    ok_subs: set[uuid.UUID] = set()
    failing: dict[uuid.UUID, datetime] = {}
    gone: set[uuid.UUID] = set()
    for o in outcomes:
        sub = by_id[o.delivery_id]["subscription_id"]
        if o.ok:
            result.delivered += 1
            ok_subs.add(sub)
            continue
        result.failed += 1
        if o.delivery_id not in recorded:
            result.unrecorded += 1
        if o.status == 410:
            gone.add(sub)
        failing[sub] = min(failing.get(sub, o.started_at), o.started_at)
    for sub in ok_subs:
        failing.pop(sub, None)  # a success in the batch: the subscription works
    return ok_subs, failing, gone


async def _disable(
    uow: UnitOfWork, subscription_ids: Iterable[uuid.UUID], reason: str, now: datetime
) -> list[uuid.UUID]:
    """Disables the subscriptions, fails their open deliveries, and says so in the
    outbox (`webhook.subscription_disabled`)."""
    disabled = await subs_repo.disable(uow, list(subscription_ids), reason, now)
    if not disabled:
        return []
    await subs_repo.fail_open_deliveries(
        uow, [s.id for s in disabled], f"the subscription was disabled ({reason})"
    )
    for s in disabled:
        publish(uow, DISABLED_EVENT, "webhook_subscription", s.id, disabled_payload(s, reason))
        log.warning(
            "webhook subscription disabled",
            extra={"fields": {"subscription_id": str(s.id), "reason": reason}},
        )
    return [s.id for s in disabled]


def disabled_payload(subscription: Any, reason: str) -> dict[str, Any]:
    """The data of `webhook.subscription_disabled`."""
    since = subscription.failing_since
    return {
        "subscription_id": str(subscription.id),
        "name": subscription.name,
        "url": subscription.url,
        "reason": reason,
        "failing_since": since.isoformat() if since is not None else None,
        "disabled_at": subscription.disabled_at.isoformat(),
    }


def _log(outcomes: list[repo.Outcome], by_id: dict[uuid.UUID, Any]) -> None:
    for o in outcomes:
        if o.ok:
            continue
        log.info(
            "webhook attempt failed",
            extra={"fields": {"delivery_id": str(o.delivery_id), "outcome": o.outcome,
                              "status": o.status, "state": o.state,
                              "event_type": by_id[o.delivery_id]["event_type"]}},
        )  # fmt: skip
