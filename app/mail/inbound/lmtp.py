"""The LMTP listener of `supportline mail-in` (RFC 2033, `aiosmtpd`): Postfix or an
Exchange connector delivers to it, and it hands each message to mail in.

LMTP answers DATA once per recipient, and the MTA keeps (and tries again) exactly the
recipients that got a 4xx: so every reply here says what became of the message. 250:
stored (a repeat of a message already stored too, and a loop, which is dropped rather
than bounced: a bounce to our own domain is the loop). 5xx: what will never be taken
(no sender address, NUL bytes, too large, an unknown sender refused by setting). 4xx:
anything else, a database down or a setting to fix, so the MTA holds the message and
nothing is lost. A message is handled once for all its recipients (they are all our
mailboxes, and its `Message-ID` would drop the second anyway).

aiosmtpd's `LMTP` answers DATA with one reply even when it refuses the data itself (too
large, a line too long); `_Server` repeats such a reply for each recipient, as RFC 2033
wants, or the MTA would wait for the missing replies."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any, AnyStr

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import Envelope, Session

from app.core.config import get_settings
from app.core.db import open_uow
from app.mail.service import inbound as service

log = logging.getLogger("supportline.mail.lmtp")

MAX_RECIPIENTS = 100
# RFC 5321 allows 998 characters a line; mail from broken clients has longer ones, and
# Postfix passes them on. A refused line is a lost message, so allow much longer lines.
LINE_LIMIT = 64 * 1024
SHUTDOWN_GRACE_SECONDS = 30.0


def _ascii(text: str, limit: int = 300) -> str:
    """A reply's text: one line of ASCII (SMTP replies are ASCII unless SMTPUTF8)."""
    flat = " ".join(text.split())
    return flat.encode("ascii", errors="replace").decode()[:limit]


def reply_for(received: service.Received) -> str:
    m = received.message
    code = received.refusal
    seen = " (received before)" if received.duplicate else ""
    if code is None:
        return _ascii(f"250 2.0.0 {m.outcome}{seen} {m.id}")
    if code in service.LOOPS:
        return _ascii(f"250 2.0.0 Discarded{seen}: {m.reason}")
    return _ascii(f"550 5.7.1 Refused{seen}: {m.reason}")


class InboundHandler:
    """aiosmtpd's handler: recipients counted, each message given to the service in a
    unit of work of its own. `active` counts messages being handled, for shutdown."""

    def __init__(self) -> None:
        self.active = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        sender = envelope.mail_from or ""
        reply = await self.deliver(raw, "" if sender == "<>" else sender)
        # One reply per recipient, in order (RFC 2033 4.2).
        return "\r\n".join(reply for _ in envelope.rcpt_tos)

    async def deliver(self, raw: bytes, envelope_from: str) -> str:
        self.active += 1
        self.idle.clear()
        try:
            async with open_uow() as uow:
                received = await service.receive(uow, raw, "lmtp", envelope_from=envelope_from)
            return reply_for(received)
        except service.Unreadable as exc:
            return _ascii(f"550 5.6.0 {exc.detail}")
        except service.MailDeferred as exc:
            log.warning("inbound mail deferred: %s", exc.detail)
            return _ascii(f"451 4.3.0 {exc.detail}")
        except Exception:
            # Whatever it was (the database gone, a bug): the MTA keeps the message and
            # tries again later, rather than bouncing a customer's mail.
            log.exception("inbound mail failed; answered 451")
            return "451 4.3.0 Temporary failure, please try again later"
        finally:
            self.active -= 1
            if self.active == 0:
                self.idle.set()


class _Server(LMTP):
    """aiosmtpd's LMTP, with longer lines allowed and its own refusals of the data (too
    large, a line too long) answered once per recipient, as the handler's replies are."""

    line_length_limit = LINE_LIMIT
    _in_data_reply = False
    _recipients = 0

    async def smtp_DATA(self, arg: str) -> None:
        self._recipients = len(self.envelope.rcpt_tos) if self.envelope else 0
        try:
            await super().smtp_DATA(arg)
        finally:
            self._in_data_reply = False

    async def push(self, status: AnyStr) -> None:
        text = status.decode() if isinstance(status, bytes) else str(status)
        if self._in_data_reply and "\r\n" not in text and self._recipients > 1:
            # aiosmtpd's own refusal of the data: once per recipient.
            text = "\r\n".join(text for _ in range(self._recipients))
            self._in_data_reply = False
        elif text.startswith("354"):
            self._in_data_reply = True
        elif self._in_data_reply:
            self._in_data_reply = False
        await super().push(text)


async def start(host: str, port: int, handler: InboundHandler | None = None) -> asyncio.Server:
    """The listener, serving in the running event loop (port 0: any free port)."""
    loop = asyncio.get_running_loop()
    handler = handler or InboundHandler()
    limit = get_settings().mail_in_max_bytes

    def protocol() -> _Server:
        return _Server(
            handler,
            data_size_limit=limit,
            enable_SMTPUTF8=True,
            ident="Supportline LMTP",
            timeout=300,
            loop=loop,
        )

    # SO_REUSEPORT: several `supportline mail-in` processes may listen on one port and
    # the kernel spreads the MTA's connections over them (one process uses one core).
    return await loop.create_server(protocol, host=host, port=port, reuse_port=True)


async def run(host: str, port: int) -> None:
    """Serves until SIGTERM or SIGINT; then stops listening and lets the messages being
    handled finish (a message cut short is rolled back, unanswered: the MTA resends it)."""
    from app.core.db import dispose_engine

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    handler = InboundHandler()
    server = await start(host, port, handler)
    bound = ", ".join(f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in server.sockets)
    log.info("mail-in: LMTP listening on %s", bound)
    print(f"supportline mail-in: LMTP listening on {bound}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        try:
            await asyncio.wait_for(handler.idle.wait(), SHUTDOWN_GRACE_SECONDS)
        except TimeoutError:
            log.warning("mail-in: stopped with %d message(s) still being handled", handler.active)
        await dispose_engine()
        print("supportline mail-in: stopped", flush=True)
