"""The development mail sink of `supportline dev` (`make run`): an SMTP server in the
`dev` process (aiosmtpd, in a thread of its own) that keeps every message it receives
in a Maildir, DATA_DIR/mail/. The API and the worker send to it, so the demo centre's
notices can be read without a mail server: one file per message in mail/new/, or any
Maildir reader (`mutt -f DATA_DIR/mail`, Thunderbird with a Maildir account).

Development only: it accepts anything from anyone on its address (127.0.0.1), relays
nothing, and is not started when SMTP_HOST is set."""

from __future__ import annotations

import mailbox
import socket
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class MaildirHandler:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.maildir = mailbox.Maildir(str(path), create=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        # What a local delivery agent adds: who it was for, where bounces would go.
        trace = (f"Return-Path: <{envelope.mail_from}>\r\n"
                 f"Delivered-To: {', '.join(envelope.rcpt_tos)}\r\n").encode()  # fmt: skip
        self.maildir.add(trace + data)
        return "250 2.0.0 Ok: kept in the Maildir"


class DevMailSink:
    def __init__(self, path: Path, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.path = path
        self.host = host
        self.port = port or _free_port(host)
        self._controller: Controller | None = None

    def start(self) -> None:
        controller = Controller(MaildirHandler(self.path), hostname=self.host, port=self.port)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def messages(self) -> int:
        return len(mailbox.Maildir(str(self.path), create=False))


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
