"""The send pass: due deliveries out over SMTP, exactly once as far as SMTP allows.

One pass is one SMTP session of up to SMTP_BATCH_SIZE messages:

1. Anything due? (one indexed EXISTS; an idle worker costs nothing more.)
2. Open the session (TLS/STARTTLS, AUTH) *before* claiming: a server that cannot be
   reached is about the server, not about any message, so no delivery is touched and
   no delivery spends an attempt on it. The sender backs off (per server, in process:
   exponential with jitter, 2 s doubling to 60 s) and mail waits `queued`; when the
   server returns, the next pass sends it all. (Spending the messages' attempts on an
   outage would dead-letter them: with the default backoff, eight attempts span about
   an hour, and the issue wants an hour's outage to lose nothing.)
3. Claim a batch (`FOR UPDATE SKIP LOCKED`, committed at once: the rows are `sending`
   under a lease, so any number of workers share the work). Suppressed addresses are
   marked `suppressed` by the same statement instead of being claimed.
4. Per message: mark the attempt started (committed) → MAIL, RCPT, DATA → record the
   outcome in a new short statement right after the answer. Accepted: `sent`, and
   nothing after that can send it again (a failure to record is retried on fresh
   connections for as long as the attempt's lease holds; only a record that never lands
   leaves it to the lease, a counted resend). A refusal of MAIL FROM is about us, not the
   message (AUTH, our sender, the server's trouble): the try is not counted, nothing is
   dead-lettered, and the server is left alone as an unreachable one is.
   A 5xx: `dead` (that delivery only; the session goes on). A 4xx or a connection lost
   before DATA: `retrying` with exponential backoff and jitter, `dead` after
   MAIL_MAX_ATTEMPTS. No answer after the body went out: `retrying`, marked so that the
   next attempt counts as a resend (same `Message-ID`: receivers drop the copy).
5. A broken session gives back the rows it did not start (due again at once).

A worker killed between DATA and the record leaves the row `sending` with its attempt
in progress; its lease (MAIL_SENDING_STALE_SECONDS, at least four SMTP time-outs) runs
out, the next pass claims it and sends it again, counted in `resends`.

MAIL_ENABLED=false sends nothing: deliveries stay queued until it is true again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.core.clock import get_clock
from app.core.config import Settings, get_settings
from app.core.db import UnitOfWork, sessionmaker
from app.core.ids import uuid7
from app.core.metrics import MAIL_FAILED, MAIL_LAG, MAIL_RESENT, MAIL_SENT, MAIL_SMTP_ERRORS
from app.mail import smtp
from app.mail.repository import sending as repo
from app.outbox.drain import backoff_seconds

log = logging.getLogger("supportline.mail")

# Sessions side by side while there is a backlog: one overlaps its database and SMTP
# round trips with the other's. More would add connections to the server, not speed:
# the worker is one process, and its CPU (about 1.5 ms a message) is the limit.
PARALLEL_SESSIONS = 2
CONNECT_BACKOFF_BASE = 2.0
CONNECT_BACKOFF_MAX = 60.0
# A record that fails is tried again after these pauses on a fresh connection; after
# acceptance, then every RECORD_PAUSE_MAX while the attempt's lease holds, before the
# pass gives up (the lease then makes it a counted resend).
RECORD_RETRIES = (0.2, 0.5, 1.0, 2.0)
RECORD_PAUSE_MAX = 5.0
LEASE_MARGIN_SECONDS = 30.0  # beyond the SMTP waits: the database statements around them
# Synchronous refusals at RCPT that say the address itself is bad count as hard
# bounces toward the suppression list (RFC 3463 5.1.x; the bare codes of servers that
# give no enhanced status). Mailbox full (5.2.2) and policy refusals (5.7.x) do not.
_BAD_ADDRESS_CODES = (550, 551, 553)


@dataclass
class PassResult:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    released: int = 0
    skipped: int = 0  # claimed, then taken over by another worker (lease ran out)
    blocked: bool = False  # mail disabled, or the server could not be reached


@dataclass
class _Circuit:
    """Per SMTP server, in this process: how long to leave it alone after failures."""

    failures: int = 0
    until: datetime | None = None
    last_error: str = ""

    def fail(self, now: datetime, error: str) -> float:
        self.failures += 1
        self.last_error = error
        delay = backoff_seconds(self.failures, CONNECT_BACKOFF_BASE, CONNECT_BACKOFF_MAX)
        self.until = now + timedelta(seconds=delay)
        return delay

    def ok(self) -> None:
        self.failures, self.until, self.last_error = 0, None, ""


_circuits: dict[str, _Circuit] = {}


def reset_circuits() -> None:
    """Forgets every server's failures (tests; a worker starts with none)."""
    _circuits.clear()


def circuit_state(server: str) -> tuple[int, datetime | None, str]:
    c = _circuits.get(server, _Circuit())
    return c.failures, c.until, c.last_error


def lease_seconds(settings: Settings) -> float:
    """How long a claimed or started delivery is ours. More than four SMTP time-outs
    (one message's waits: MAIL, RCPT, DATA's 354 and its final answer), with room for
    the statements around them, so a slow but live attempt is never taken over and sent
    twice."""
    return max(
        float(settings.mail_sending_stale_seconds),
        4 * settings.smtp_timeout_seconds + LEASE_MARGIN_SECONDS,
    )


async def send_pass(batch_size: int | None = None, sessions: int = 1) -> PassResult:
    """Up to `sessions` SMTP sessions side by side, each with a batch of its own. Never
    raises for SMTP trouble; a database failure propagates (what was claimed and not
    started waits for its lease)."""
    settings = get_settings()
    if not settings.mail_enabled:
        return PassResult(blocked=True)
    server = smtp.server_of(settings)
    circuit = _circuits.setdefault(server, _Circuit())
    now = get_clock().now()
    if circuit.until is not None and now < circuit.until:
        return PassResult(blocked=True)
    uow = UnitOfWork(sessionmaker())
    try:
        if not await repo.any_due(uow, now):
            return PassResult()
    finally:
        await uow.close()
    size = batch_size or settings.smtp_batch_size
    results = await asyncio.gather(
        *(_session(settings, circuit, size) for _ in range(max(sessions, 1)))
    )
    total = PassResult()
    for r in results:
        for name in ("claimed", "sent", "failed", "suppressed", "released", "skipped"):
            setattr(total, name, getattr(total, name) + getattr(r, name))
        total.blocked = total.blocked or r.blocked
    return total


async def _session(settings: Settings, circuit: _Circuit, size: int) -> PassResult:
    """One SMTP session: connect (before claiming anything), claim, send, close."""
    clock = get_clock()
    try:
        session = await smtp.Session.open(settings)
    except smtp.ConnectFailed as exc:
        delay = circuit.fail(clock.now(), str(exc))
        MAIL_SMTP_ERRORS.inc()
        log.warning(
            "SMTP server unavailable; mail waits",
            extra={"fields": {"server": smtp.server_of(settings), "error": str(exc),
                              "failures": circuit.failures,
                              "retry_in_seconds": round(delay, 3)}},
        )  # fmt: skip
        return PassResult(blocked=True)
    circuit.ok()
    uow = UnitOfWork(sessionmaker())
    try:
        result = await _run_session(uow, session, settings, size)
    finally:
        await session.close()
        await uow.close()
    if session.refused_us is not None:
        # The server will not take mail from us (AUTH, our sender address, its own
        # trouble): left alone like an unreachable one, and said loudly, since only a
        # person can fix it. Nothing was dead-lettered for it.
        error = _error_text(session.refused_us)
        delay = circuit.fail(clock.now(), error)
        MAIL_SMTP_ERRORS.inc()
        log.error(
            "SMTP server refuses our mail; mail waits",
            extra={"fields": {"server": session.server, "error": error,
                              "failures": circuit.failures,
                              "retry_in_seconds": round(delay, 3)}},
        )  # fmt: skip
        result.blocked = True
    return result


@dataclass
class _Batch:
    rows: list[Any]
    token: datetime  # the claim's lease
    started: int = 0  # how many of `rows` were taken in hand (marked, or skipped)
    result: PassResult = field(default_factory=PassResult)


async def _run_session(
    uow: UnitOfWork, session: smtp.Session, settings: Settings, size: int
) -> PassResult:
    clock = get_clock()
    # Before the claim: a MAIL_FROM without an address fails the pass, not its rows.
    sender = smtp.sender_address(settings)
    now = clock.now()
    token = now + timedelta(seconds=lease_seconds(settings))
    claimed = await repo.claim(uow, now, token, size)
    rows = [r for r in claimed if r["state"] == "sending"]
    batch = _Batch(rows, token, result=PassResult(claimed=len(claimed)))
    batch.result.suppressed = len(claimed) - len(rows)
    done: _Done | None = None
    try:
        for row in rows:
            if session.broken:
                break
            batch.started += 1
            work = asyncio.ensure_future(_step(uow, session, row, done, batch, sender, settings))
            try:
                done = await asyncio.shield(work)
            except asyncio.CancelledError:
                # Stopping (a shutdown, the job's time-out): the message in hand is
                # finished and recorded first (bounded by the SMTP time-outs), so a
                # deploy never turns into a resend.
                last = await work
                if last is not None:
                    await _record(uow, last, None)
                raise
        if done is not None:
            await _record(uow, done, None)
    finally:
        left = [r["id"] for r in rows[batch.started :]]
        if left:
            # Cancelled (job time-out, shutdown), the database failing, or a broken
            # session: give back what was not started. Best effort: the lease covers it.
            try:
                batch.result.released = await asyncio.shield(
                    repo.release(uow, left, token, clock.now())
                )
            except Exception:
                log.warning("could not release claimed deliveries; their lease will",
                            exc_info=True)  # fmt: skip
    return batch.result


async def _step(
    uow: UnitOfWork,
    session: smtp.Session,
    row: Any,
    done: _Done | None,
    batch: _Batch,
    sender: str,
    settings: Settings,
) -> _Done | None:
    """The outcome of the last message and the start of this one (one statement), then
    this one over SMTP. Its outcome, to record with the next start."""
    started, begin = await _record(uow, done, _begin(row, batch, session, settings))
    if started is None or begin is None:
        batch.result.skipped += 1  # the claim's lease ran out and another worker took it
        return None
    return await _send_one(session, row, begin, started, sender, settings, batch)


@dataclass
class _Done:
    """An answer to record, and what to do once it is recorded."""

    outcome: repo.Outcome
    row: Any
    reply: smtp.Reply
    attempts: int
    final: bool


def _begin(row: Any, batch: _Batch, session: smtp.Session, settings: Settings) -> repo.Start:
    now = get_clock().now()
    return repo.Start(
        delivery_id=row["id"],
        attempt_id=uuid7(),
        token=batch.token,
        lease=now + timedelta(seconds=lease_seconds(settings)),
        server=session.server,
    )


async def _send_one(
    session: smtp.Session,
    row: Any,
    begin: repo.Start,
    started: tuple[int, bool],
    sender: str,
    settings: Settings,
    batch: _Batch,
) -> _Done:
    attempts, resend = started
    if resend:
        MAIL_RESENT.inc()
        log.info("e-mail sent again after an unrecorded attempt",
                 extra={"fields": {"delivery_id": str(row["id"]), "attempts": attempts}})  # fmt: skip
    out = smtp.outgoing(row)
    try:
        data = session.flatten(smtp.build_message(out, settings), out.address)
        reply = await session.send(sender, out.address, data)
    except smtp.Unbuildable as exc:
        reply = smtp.permanent(str(exc))
    if reply.verdict is smtp.Verdict.ACCEPTED:
        batch.result.sent += 1
        sent = repo.Outcome(row["id"], begin.attempt_id, begin.lease, "sent", "sent",
                            reply.code, reply.text)  # fmt: skip
        return _Done(sent, row, reply, attempts, final=True)
    batch.result.failed += 1
    return _failure(row, begin, attempts, reply, settings)


def _failure(
    row: Any, begin: repo.Start, attempts: int, reply: smtp.Reply, settings: Settings
) -> _Done:
    now = get_clock().now()
    outcome = {smtp.Verdict.TEMPORARY: "temporary", smtp.Verdict.PERMANENT: "permanent",
               smtp.Verdict.UNKNOWN: "unknown"}[reply.verdict]  # fmt: skip
    error = _error_text(reply)
    if reply.about_us:
        # Not the message's fault: due again as it was (the circuit keeps this process
        # away from the server meanwhile), the try not counted against it.
        state = "queued" if attempts <= 1 else "retrying"
        waiting = repo.Outcome(row["id"], begin.attempt_id, begin.lease, state, outcome,
                               reply.code, error, error=error, available_at=now,
                               uncounted=True)  # fmt: skip
        return _Done(waiting, row, reply, attempts - 1, final=False)
    final = reply.verdict is smtp.Verdict.PERMANENT or attempts >= settings.mail_max_attempts
    delay = 0.0 if final else backoff_seconds(
        attempts, settings.mail_backoff_base_seconds, settings.mail_backoff_max_seconds
    )  # fmt: skip
    failed = repo.Outcome(
        row["id"], begin.attempt_id, begin.lease, "dead" if final else "retrying", outcome,
        reply.code, error, error=error, available_at=now + timedelta(seconds=delay),
        maybe_delivered=reply.verdict is smtp.Verdict.UNKNOWN,
    )  # fmt: skip
    return _Done(failed, row, reply, attempts, final)


async def _record(
    uow: UnitOfWork, done: _Done | None, begin: repo.Start | None
) -> tuple[Any, repo.Start | None]:
    """Records `done` (right after its answer) and marks `begin`, in one statement,
    again on a fresh connection after a failure: a record lost after acceptance would
    turn into a resend. Returns what `repo.step` says of `begin`, and `begin` as marked:
    its lease counts from the try that marked it, so time spent retrying the record is
    never taken from the SMTP exchange the lease must cover."""
    pauses = _pauses(done)  # lazily: the lease's deadline is read as the tries go
    while True:
        now = get_clock().now()
        if begin is not None:
            lease = now + timedelta(seconds=lease_seconds(get_settings()))
            begin = dataclasses.replace(begin, lease=max(lease, begin.lease))
        try:
            _, started = await repo.step(uow, now, done.outcome if done else None, begin)
            break
        except Exception:
            pause = next(pauses, None)
            if pause is None:
                raise
            log.warning("could not record an e-mail's outcome; trying again", exc_info=True)
            await uow.close()  # drops the raw connection; the next call takes another
            await asyncio.sleep(pause)
    if done is not None:
        await _after(uow, done)
    return started, begin


def _pauses(done: _Done | None) -> Iterator[float]:
    """The pauses between tries of a record: RECORD_RETRIES; for an accepted message,
    then on every RECORD_PAUSE_MAX for as long as its attempt's lease holds (nobody
    else may take the row before it ends), so a database fail-over of a minute after
    acceptance is waited out rather than turned into a resend."""
    yield from RECORD_RETRIES
    if done is None or done.outcome.state != "sent":
        return
    left = (done.outcome.token - get_clock().now()).total_seconds() - sum(RECORD_RETRIES)
    deadline = time.monotonic() + left - RECORD_PAUSE_MAX
    while time.monotonic() < deadline:
        yield RECORD_PAUSE_MAX


async def _after(uow: UnitOfWork, done: _Done) -> None:
    """Metrics, logs and the bounce count of an outcome once it is recorded."""
    row, reply, o = done.row, done.reply, done.outcome
    if o.state == "sent":
        MAIL_SENT.labels(row["event_type"]).inc()
        due = row["held_until"] or row["created_at"]
        MAIL_LAG.observe(max((get_clock().now() - due).total_seconds(), 0.0))
        return
    MAIL_FAILED.labels(o.outcome, "true" if done.final else "false").inc()
    fields = {"delivery_id": str(row["id"]), "event_type": row["event_type"],
              "attempts": done.attempts, "outcome": o.outcome, "code": reply.code,
              "phase": reply.phase}  # fmt: skip
    if done.final:
        log.error("e-mail dead-lettered", extra={"fields": fields})
    else:
        retry_in = (o.available_at - get_clock().now()).total_seconds() if o.available_at else 0
        log.warning("e-mail failed, will retry",
                    extra={"fields": {**fields, "retry_in_seconds": round(retry_in, 3)}})  # fmt: skip
    if _bad_address(reply):
        settings = get_settings()
        now = get_clock().now()
        since = now - timedelta(days=settings.mail_bounce_window_days)
        suppressed = await repo.hard_bounce(uow, row["address"], o.reply, now,
                                            settings.mail_suppress_after_bounces, since)  # fmt: skip
        if suppressed:
            log.warning("address suppressed after hard bounces",
                        extra={"fields": {"delivery_id": str(row["id"])}})  # fmt: skip


def _error_text(reply: smtp.Reply) -> str:
    code = f"{reply.code} " if reply.code is not None else ""
    return f"{reply.phase}: {code}{reply.text}"[:2000]


def _bad_address(reply: smtp.Reply) -> bool:
    if not reply.recipient_refused or reply.code is None:
        return False
    enhanced = reply.text.split(" ", 1)[0]
    if enhanced[:2] == "5." and enhanced.count(".") == 2:
        return enhanced.startswith("5.1.")
    return reply.code in _BAD_ADDRESS_CODES
