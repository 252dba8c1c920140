"""A real SMTP server in the test process (aiosmtpd, in its own thread): records what it
receives, and misbehaves on demand: 550 for chosen recipients, 451 for chosen recipients
or for the next DATA commands, no answer after the body (a time-out, or the connection
dropped after the message was taken), and a stop in the middle of a session. It can be
stopped and started again on the same port.

    sink = MailSink(); sink.start()
    ... sink.received, sink.by_message_id(), sink.copies(message_id) ...
    sink.stop(); sink.start()       # same port
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: Any  # (host, port) of the client: one value per SMTP session
    mail_options: list[str]
    at: float = field(default_factory=time.time)

    @property
    def message(self) -> EmailMessage:
        # Parsed from text: the bytes parser reads raw UTF-8 headers (RFC 6532, an
        # address that is not ASCII) as undecodable bytes.
        text = self.data.decode("utf-8")
        return cast(EmailMessage, email.message_from_string(text, policy=policy.default))

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        sink = self.sink
        if sink.stop_before_mail is not None and sink.accepted_count() >= sink.stop_before_mail:
            # The server goes away in the middle of the session: this command is never
            # answered (the stop cancels it), and the port is closed until start().
            sink.stop_before_mail = None
            threading.Thread(target=sink.stop, daemon=True).start()
            await asyncio.sleep(3600)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        key = address.lower()
        if key in self.sink.reject:
            return self.sink.reject[key]
        if key in self.sink.tempfail:
            return "451 4.2.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        sink = self.sink
        with sink.lock:
            if sink.tempfail_data > 0:
                sink.tempfail_data -= 1
                return "451 4.3.0 Temporary failure, try again later"
            if sink.reject_data > 0:
                sink.reject_data -= 1
                return "554 5.7.1 Message refused"
            data = cast(bytes, envelope.original_content or envelope.content)
            sink.received.append(
                Received(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    data,
                    session.peer,
                    list(envelope.mail_options),
                )
            )
            silent = sink.silent_after_data > 0
            if silent:
                sink.silent_after_data -= 1
        if sink.on_data is not None:
            sink.on_data(sink.received[-1])  # taken, not answered yet
        if sink.data_delay:
            await asyncio.sleep(sink.data_delay)  # a slow server: the answer comes late
        if silent:
            # The message is taken, the answer never comes: the client cannot know.
            if sink.drop_silently:
                assert server.transport is not None
                server.transport.abort()  # type: ignore[attr-defined]
            await asyncio.sleep(3600)
        return "250 2.0.0 Ok: queued"


class MailSink:
    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.reject: dict[str, str] = {}  # address -> the refusal (e.g. "550 5.1.1 ...")
        self.tempfail: set[str] = set()  # addresses answering 451 at RCPT
        self.tempfail_data = 0  # the next n DATA commands answer 451
        self.reject_data = 0  # the next n DATA commands answer 554
        self.silent_after_data = 0  # the next n messages are taken and never answered
        self.drop_silently = True  # ...by dropping the connection (else: a time-out)
        self.stop_before_mail: int | None = None  # once n messages are taken: stop
        self.on_data: Callable[[Received], None] | None = None  # after taking, before 250
        self.data_delay = 0.0  # seconds before the answer to DATA
        self._controller: Controller | None = None

    # --- running ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        assert self._controller is None, "already running"
        # A new controller each time: a stopped one has closed its event loop.
        controller = Controller(_Handler(self), hostname=self.host, port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                controller.start()
                break
            except OSError:  # the port is still being released
                assert time.monotonic() < deadline, f"port {self.port} stays busy"
                time.sleep(0.05)
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    # --- what arrived -------------------------------------------------------------------

    def accepted_count(self) -> int:
        with self.lock:
            return len(self.received)

    def by_message_id(self) -> dict[str, list[Received]]:
        found: dict[str, list[Received]] = {}
        with self.lock:
            for r in self.received:
                found.setdefault(r.message_id, []).append(r)
        return found

    def copies(self, message_id: str) -> int:
        return len(self.by_message_id().get(message_id, []))

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.rcpt_tos]

    def clear(self) -> None:
        with self.lock:
            self.received.clear()

    async def wait_for(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.accepted_count() < count:
            assert time.monotonic() < deadline, f"{self.accepted_count()} of {count} arrived"
            await asyncio.sleep(0.02)


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink()
    sink.start()
    yield sink
    sink.stop()
