"""The SMTP side of a delivery: the message built from its stored row, and the session
it goes out in (aiosmtplib: TLS or STARTTLS and AUTH from the settings, many messages
per session).

Each delivery is its own SMTP transaction (MAIL, one RCPT, DATA): its message is
addressed to one person (its `To`, its `Message-ID`), so a refusal of one recipient
concerns one delivery and the session goes on with the next. The phases are sent one by
one rather than through `sendmail`, because what a failure means depends on where it
happened: an answer with a code (a refusal at MAIL, RCPT or DATA, or after the body) is
definite; a time-out or a lost connection *before* DATA means nothing was handed over;
the same *after* the body went out means the server may have accepted it (`UNKNOWN`),
and the next try is a resend with the same `Message-ID`.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import socket
from dataclasses import dataclass
from datetime import datetime
from email.generator import BytesGenerator
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTPUTF8, Policy, compat32
from email.utils import format_datetime, formataddr, getaddresses, parseaddr
from enum import StrEnum
from typing import Any

import aiosmtplib

from app.core.config import Settings

REPLY_MAX = 1000  # email_delivery_attempts.reply
_ENHANCED = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")  # RFC 3463 status codes


class Verdict(StrEnum):
    ACCEPTED = "accepted"  # 2xx after DATA: the one step that cannot be undone
    TEMPORARY = "temporary"  # 4xx, or the connection lost before DATA: not handed over
    PERMANENT = "permanent"  # 5xx, or an address SMTP cannot carry
    UNKNOWN = "unknown"  # no answer after the body went out: it may have been accepted


@dataclass(frozen=True, slots=True)
class Reply:
    verdict: Verdict
    code: int | None
    text: str
    phase: str  # mail, rcpt, data, build

    @property
    def recipient_refused(self) -> bool:
        """The server refused this address itself (a synchronous hard bounce)."""
        return self.verdict is Verdict.PERMANENT and self.phase == "rcpt"

    @property
    def about_us(self) -> bool:
        """The server refused for a reason of its own or ours, not this message's: at MAIL
        FROM (AUTH required, our sender address not allowed, its own trouble), or a 421
        at MAIL or RCPT (it is closing the session). Every message would be refused the
        same, so none may be dead-lettered or charged an attempt for it. The refusals at
        MAIL FROM that are about the message are of what its MAIL FROM says of it: its
        size (X.3.4, or a bare 552) and its non-ASCII address (X.6.7)."""
        if self.code == 421 and self.phase in ("mail", "rcpt"):
            return True  # the server is closing the session: its trouble, at any step
        if self.phase != "mail" or self.code is None:
            return False
        enhanced = self.text.split(" ", 1)[0]
        if _ENHANCED.fullmatch(enhanced):
            return not enhanced.endswith((".3.4", ".6.7"))
        return self.code != 552


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What a message is built from: a delivery row as stored (the bodies rendered)."""

    address: str
    display_name: str | None
    subject: str
    text_body: str
    html_body: str
    message_id: str
    in_reply_to: str | None
    date: datetime


class Unbuildable(ValueError):
    """The stored row cannot make a valid message (an address or a header SMTP cannot
    carry): permanent, sending it again would fail the same way."""


def _clip(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= REPLY_MAX else text[: REPLY_MAX - 1] + "…"


def sender_address(settings: Settings) -> str:
    """The envelope sender (MAIL FROM): the address of MAIL_FROM, where bounces return."""
    found = getaddresses([settings.mail_from])
    address = found[0][1] if found else ""
    if not address or "@" not in address:
        raise ValueError(f"MAIL_FROM has no address: {settings.mail_from!r}")
    return address


# Controls (C0, DEL, C1) and the Unicode line and paragraph separators: none belongs in
# a header, and some parsers end a line at any of them.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What an address the sender puts on an RCPT line may not hold besides: white space, a
# second `@`, and the specials that would need quoting (planning writes none of them).
_NOT_IN_ADDRESS = re.compile(r"[\s@<>()\[\],;:\"\\]")
LOCAL_MAX, ADDRESS_MAX = 64, 254  # RFC 5321 4.5.3.1.1 and the 256-octet path


def _one_line(value: str, what: str) -> str:
    """A header value as one line: a rendered subject's or a display name's stray line
    breaks and controls become spaces; an id with a control character is refused (no
    header injection)."""
    if what in ("Subject", "To"):
        return " ".join(_UNSAFE.sub(" ", value).split())
    if _UNSAFE.search(value):
        raise Unbuildable(f"{what} contains a control character")
    return value


def check_address(address: str) -> None:
    """`Unbuildable` unless `address` is one mailbox SMTP can carry as it is: local@domain,
    neither empty, within the lengths servers must accept, nothing to quote or escape.
    Refused here, it is dead without a word to the server (which would answer 5xx and
    count a bounce against an address nobody can have)."""
    local, at, domain = address.partition("@")
    if (
        not at
        or not local
        or not domain
        or _UNSAFE.search(address)
        or _NOT_IN_ADDRESS.search(local)
        or _NOT_IN_ADDRESS.search(domain)
        or len(local.encode()) > LOCAL_MAX
        or len(address.encode()) > ADDRESS_MAX
        or domain.startswith(".")
        or ".." in domain
    ):
        raise Unbuildable(f"not an address SMTP can carry: {address[:100]!r}")


def build_message(row: Outgoing, settings: Settings) -> Message:
    """The message as the recipient reads it: From MAIL_FROM, To with the display name,
    the subject, `Message-ID`, the ticket's thread headers, `Date`, the auto-submitted
    marks, and multipart/alternative of the text and the HTML part (base64, 7-bit
    clean: it passes servers without 8BITMIME unchanged). Everything comes from the
    stored row, the MIME boundary too, so a resend is the same message byte for byte
    (same `Message-ID`), which is what lets a receiver drop the copy.

    Built with the standard library's `email.mime` classes (the compat32 API): the
    modern `EmailMessage` API parses and refolds every header, 2.3 ms a message here
    against 0.5 ms, half of one worker's budget at 200 messages a second. An address
    that is not ASCII (RFC 6531) needs raw UTF-8 headers, which only the modern API
    writes: that rare message is built with it."""
    check_address(row.address)
    if not row.address.isascii():
        return _build_utf8(row, settings)
    try:
        return _build_ascii(row, settings)
    except Unbuildable:
        raise
    except Exception as exc:
        # Whatever the email package refuses in a stored row (it checks headers for
        # embedded ones): this row can never be sent, and it must not break the session
        # it is in, nor come back after every lease as a poison message.
        raise Unbuildable(f"cannot build the message: {exc}") from exc


def _build_ascii(row: Outgoing, settings: Settings) -> Message:
    boundary = "sl-" + hashlib.sha256(row.message_id.encode()).hexdigest()[:32]
    message = MIMEMultipart("alternative", boundary=boundary)
    _headers(message, row, settings, None)
    for body, subtype in ((row.text_body, "plain"), (row.html_body, "html")):
        if body or subtype == "plain":
            part = MIMEText(_canonical(body), subtype, "utf-8")
            del part["MIME-Version"]  # only the top level carries it
            message.attach(part)
    return message


def _canonical(body: str | None) -> str:
    """Text in its canonical form before base64 (RFC 2045 6.8): lines end in CRLF."""
    return (body or "").replace("\r\n", "\n").replace("\n", "\r\n")


class _Folded:
    """A subject already encoded and folded (RFC 2047 words of at most 75 characters,
    lines of at most 78): written as it is by the compat32 generator, which is told not
    to fold (it would fold a long `Message-ID` onto a line of its own)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def encode(self, linesep: str = "\n", maxlinelen: int | None = None) -> str:
        return self.text.replace("\n", linesep)

    def __str__(self) -> str:
        return self.text


def _folded(name: str, text: str) -> _Folded:
    charset = "us-ascii" if text.isascii() else "utf-8"
    return _Folded(Header(text, charset, header_name=name).encode(linesep="\n", maxlinelen=78))


def _mailbox(display_name: str, address: str) -> str:
    """One encoded word for a name that is not ASCII (quoted when an ASCII one needs
    it): parsers of structured headers disagree on the space between several words."""
    return formataddr((display_name, address), "utf-8")


def _headers(message: Message, row: Outgoing, settings: Settings, to: Any) -> None:
    modern = isinstance(message, EmailMessage)
    subject = _one_line(row.subject, "Subject")
    if modern:
        message["From"], message["To"], message["Subject"] = settings.mail_from, to, subject
    else:
        name, address = parseaddr(settings.mail_from)
        message["From"] = _mailbox(name, address)
        message["To"] = _mailbox(_one_line(row.display_name or "", "To"), row.address)
        folded: Any = _folded("Subject", subject)
        message["Subject"] = folded
    message["Date"] = format_datetime(row.date)
    message["Message-ID"] = _one_line(row.message_id, "Message-ID")
    if row.in_reply_to:
        # The ticket's root id: every mail of a ticket answers it, so readers thread
        # them together (ids.py); References starts with it for the clients that
        # thread by References only.
        message["In-Reply-To"] = _one_line(row.in_reply_to, "In-Reply-To")
        message["References"] = message["In-Reply-To"]
    # RFC 3834: nothing should answer us automatically (vacation replies, Exchange's
    # out-of-office and read receipts), which also breaks bounce/notice loops.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"


def _build_utf8(row: Outgoing, settings: Settings) -> EmailMessage:
    message = EmailMessage()
    try:
        local, _, domain = row.address.rpartition("@")
        name = _one_line(row.display_name or "", "To")
        to = Address(display_name=name, username=local, domain=domain)
        _headers(message, row, settings, to)
        message.set_content(row.text_body or "", charset="utf-8")
        if row.html_body:
            message.add_alternative(row.html_body, subtype="html", charset="utf-8")
        message.set_boundary("sl-" + hashlib.sha256(row.message_id.encode()).hexdigest()[:32])
    except Unbuildable:
        raise
    except Exception as exc:  # as in build_message: never a poison row
        raise Unbuildable(f"cannot build the message: {exc}") from exc
    return message


_FLAT = compat32.clone(linesep="\r\n", max_line_length=0)  # no folding: see _Folded


def flatten(message: Message, policy: Policy = _FLAT) -> bytes:
    """The bytes of a message built by `build_message` (compat32, or the modern kind
    for an address that is not ASCII, with its own policy)."""
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=policy).flatten(message)
    return buffer.getvalue()


def needs_utf8(address: str) -> bool:
    return not address.isascii()


_local_hostname: str | None = None


async def local_hostname() -> str:
    """The name we greet with (EHLO): this host's FQDN, looked up once per process
    (aiosmtplib would look it up again for every connection)."""
    global _local_hostname
    if _local_hostname is None:
        name = await asyncio.to_thread(socket.getfqdn)
        _local_hostname = name if name and name.isascii() else "localhost"
    return _local_hostname


class ConnectFailed(Exception):
    """The session could not be opened (refused, time-out, greeting, TLS, AUTH): about
    the server, not about any message."""


def server_of(settings: Settings) -> str:
    return f"{settings.smtp_host}:{settings.smtp_port}"


class Session:
    """One SMTP connection; `send` one message after another until it is `broken`."""

    def __init__(self, client: aiosmtplib.SMTP, server: str) -> None:
        self.client = client
        self.server = server
        self.broken = False
        # Set when the server refused us rather than a message (`Reply.about_us`): the
        # session ends and the sender leaves the server alone for a while.
        self.refused_us: Reply | None = None

    @classmethod
    async def open(cls, settings: Settings) -> Session:
        security = settings.smtp_security
        client = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            timeout=settings.smtp_timeout_seconds,
            use_tls=security == "tls",
            # "none" means none: no opportunistic upgrade a misconfigured server could
            # break; "starttls" requires it (aiosmtplib fails when it is not offered).
            start_tls=security == "starttls",
            local_hostname=await local_hostname(),
            username=settings.smtp_username or None,
            password=settings.smtp_password if settings.smtp_username else None,
        )
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()  # the extensions decide how each message is sent
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            client.close()
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        return cls(client, server_of(settings))

    def _options(self, size: int, utf8: bool) -> list[str]:
        options = []
        if self.client.supports_extension("size"):
            options.append(f"SIZE={size}")  # a server that cannot take it says so first
        if self.client.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")
        if utf8:
            options.append("SMTPUTF8")
        return options

    def flatten(self, message: Message, address: str) -> bytes:
        utf8 = needs_utf8(address)
        if utf8 and not self.client.supports_extension("smtputf8"):
            raise Unbuildable("the address is not ASCII and the server does not offer SMTPUTF8")
        try:
            if isinstance(message, EmailMessage):
                cte = "8bit" if self.client.supports_extension("8bitmime") else "7bit"
                return flatten(message, SMTPUTF8.clone(cte_type=cte, max_line_length=998))
            return flatten(message)
        except Exception as exc:  # the generator's own header checks: see build_message
            raise Unbuildable(f"cannot write the message: {exc}") from exc

    async def send(self, sender: str, recipient: str, data: bytes) -> Reply:
        """One transaction. Never raises for what the server or the network did: the
        answer says what it means for this delivery; `broken` whether to go on."""
        utf8 = needs_utf8(recipient)
        encoding = "utf-8" if utf8 else "ascii"
        phase = "mail"
        try:
            await self.client.mail(
                sender, options=self._options(len(data), utf8), encoding=encoding
            )
            phase = "rcpt"
            await self.client.rcpt(recipient, encoding=encoding)
        except aiosmtplib.SMTPResponseException as exc:
            return await self._refused(exc, phase)
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            self.broken = True  # nothing was handed over: a plain retry
            return Reply(Verdict.TEMPORARY, None, _describe(exc), phase)
        watch = _BodyWatch(self.client)
        try:
            with watch:
                response = await self.client.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            if watch.body_sent and 200 <= exc.code < 300:
                # A 2xx other than 250 after the body: taken all the same (aiosmtplib
                # calls it an error), and sending it again would be a duplicate.
                return Reply(Verdict.ACCEPTED, exc.code, _clip(exc.message), "data")
            # A code: the server refused DATA or, after the body, refused the message.
            return await self._refused(exc, "data")
        except (aiosmtplib.SMTPException, OSError) as exc:
            self.broken = True
            if not watch.body_sent:
                # Lost before the server said 354 (it closed after RCPT, or never
                # answered DATA): the body never left, so this is a plain retry.
                return Reply(Verdict.TEMPORARY, None, _describe(exc), "data")
            # The body may have reached the server and been accepted: no way to know.
            return Reply(Verdict.UNKNOWN, None, _describe(exc), "data")
        return Reply(Verdict.ACCEPTED, response.code, _clip(response.message), "data")

    async def _refused(self, exc: aiosmtplib.SMTPResponseException, phase: str) -> Reply:
        code = int(exc.code)
        verdict = Verdict.PERMANENT if 500 <= code < 600 else Verdict.TEMPORARY
        reply = Reply(verdict, code, _clip(exc.message), phase)
        if reply.about_us:
            self.broken, self.refused_us = True, reply
        elif code == 421 or not self.client.is_connected:
            self.broken = True  # 421: the server is closing the connection
        else:
            await self._reset()
        return reply

    async def _reset(self) -> None:
        """RSET, so the next transaction starts with an empty envelope."""
        try:
            await self.client.rset()
        except (aiosmtplib.SMTPException, OSError):
            self.broken = True

    async def close(self) -> None:
        """QUIT politely when we can; close the socket in any case."""
        try:
            if self.client.is_connected and not self.broken:
                await self.client.quit()
        except (aiosmtplib.SMTPException, OSError):
            pass
        finally:
            self.client.close()


class _BodyWatch:
    """Whether the body went out during `SMTP.data`: aiosmtplib writes the DATA command,
    waits for 354, then writes the body, and reports a connection lost or a time-out
    the same way at either wait. Its protocol's `write` is watched for the second
    write, the body (the one public way to tell the two apart)."""

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.protocol = client.protocol
        self.writes = 0

    @property
    def body_sent(self) -> bool:
        # Unwatched (no protocol: nothing can have been written) means not sent.
        return self.writes >= 2

    def __enter__(self) -> _BodyWatch:
        protocol = self.protocol
        if protocol is not None:
            original = protocol.write

            def write(data: bytes) -> None:
                original(data)  # counted once handed to the transport (it may raise)
                self.writes += 1

            protocol.write = write  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.protocol is not None:
            del self.protocol.write  # the class's method again


def _describe(exc: BaseException) -> str:
    return _clip(f"{type(exc).__name__}: {exc}")


def permanent(text: str, phase: str = "build") -> Reply:
    return Reply(Verdict.PERMANENT, None, _clip(text), phase)


def outgoing(row: Any) -> Outgoing:
    """The builder's view of a claimed row (a record or an object with these fields)."""
    get = row.get if hasattr(row, "get") else lambda k: getattr(row, k)
    return Outgoing(
        address=get("address"),
        display_name=get("display_name"),
        subject=get("subject"),
        text_body=get("text_body"),
        html_body=get("html_body"),
        message_id=get("message_id"),
        in_reply_to=get("in_reply_to"),
        date=get("held_until") or get("created_at"),
    )
