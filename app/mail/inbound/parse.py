"""A raw RFC 5322 message read into what mail in needs: who sent it, its ids and the
headers that thread it, whether it is automatic or a delivery report, its new text and
its attachments. Pure: no database, no settings (the ticket limits on attachments are
the service's to apply).

Parsed with the standard library (`email`, `policy.default`). Its header objects can
raise on some malformed values; headers are read through `_headers`, which falls back
to the raw value, so a strange header never fails the message (ids and tokens are read
raw anyway: they need no decoding). What does fail it (`Unreadable`): NUL bytes (RFC
5321/5322 forbid them, and no legitimate client sends them raw), no usable sender
address, or the parser itself giving up."""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any

from app.core.errors import Unprocessable
from app.mail.inbound import loops
from app.mail.inbound.text import (
    clean_line,
    clean_text,
    decode_bytes,
    html_to_text,
    latest_reply,
    unescape_surrogates,
)

log = logging.getLogger("supportline.mail.inbound")

MESSAGE_ID_MAX = 998  # inbound_messages.message_id
ADDRESS_MAX = 320
SUBJECT_MAX = 998
# The quoted history is looked for in this much text: a comment keeps at most 20,000
# characters, and the reply parser's patterns should not run over megabytes.
_CUT_INPUT_MAX = 50_000
_TEXT_SUFFIXES = {"log": "text/plain", "cfg": "text/plain", "conf": "text/plain"}
_MAX_DEPTH = 12  # nested multiparts followed; deeper ones are not read
_MSGID = re.compile(r"<[^<>\s]{1,990}>")
# No white space, specials nor controls (C0, DEL, C1: an address holding one is no
# mailbox, and it would end up in a ticket's text, which may hold none).
_NOT_IN_ADDRESS = r"\s@<>()\[\],;:\"\x00-\x1f\x7f-\x9f\ud800-\udfff"
_ADDRESS = re.compile(rf"^[^{_NOT_IN_ADDRESS}]+@[^{_NOT_IN_ADDRESS}]+\.?[^{_NOT_IN_ADDRESS}]*$")


class Unreadable(Unprocessable):
    """Not a message mail in can take, whatever is tried again: nothing is written."""

    slug, title = "mail-unreadable", "The message cannot be read"


@dataclass(frozen=True)
class Part:
    """An attachment as the message carries it (before the ticket's limits)."""

    filename: str
    content_type: str
    content: bytes


@dataclass
class ParsedMail:
    message_id: str
    synthetic_id: bool  # the message had no usable Message-ID: one made from its bytes
    from_address: str  # lower-cased addr-spec
    from_name: str
    subject: str
    thread_ids: list[str]  # In-Reply-To and References, as sent
    automatic: str | None  # why it is automatic (Auto-Submitted, Precedence, ...)
    report: loops.DeliveryReport | None
    text: str  # the new part of the text, clean
    full_text: str  # the whole text, clean
    parts: list[Part] = field(default_factory=list)
    size: int = 0


def _raw_headers(msg: Message, name: str) -> list[str]:
    return [str(v) for k, v in msg.raw_items() if k.lower() == name.lower()]


def _escaped(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _headers(msg: Message, name: str) -> list[str]:
    """Every value of a header, decoded. One sent as raw 8-bit bytes (UTF-8 or GBK,
    not RFC 2047) is read from its bytes: the parser would make them U+FFFD."""
    raw = _raw_headers(msg, name)
    if any(_escaped(v) for v in raw):
        return [unescape_surrogates(" ".join(v.split())) for v in raw]
    try:
        return [str(v) for v in msg.get_all(name) or []]
    except Exception:  # a header the parser's objects choke on: its raw text
        return raw


def _header(msg: Message, name: str) -> str:
    values = _headers(msg, name)
    return values[0] if values else ""


def _token_header(msg: Message, name: str) -> list[str]:
    """Every value of a header of ids or tokens (Message-ID, References, Precedence...),
    unfolded: what RFC 2047 does not apply to needs no parsing (the header objects cost
    more than half of reading a message)."""
    return [unescape_surrogates(" ".join(v.split())) for v in _raw_headers(msg, name)]


def _sender(msg: Message) -> tuple[str, str]:
    """(address lower-cased, display name) of the first From address."""
    name, address = "", ""
    try:
        header: Any = None if any(map(_escaped, _raw_headers(msg, "From"))) else msg["From"]
        found = header.addresses if header is not None else ()
        if found:
            name, address = found[0].display_name, found[0].addr_spec
    except Exception:  # noqa: S110 - a From the header objects cannot read: parsed below
        pass
    if not address:
        pairs = getaddresses([_header(msg, "From")])
        if pairs:
            name, address = pairs[0]
    address = unescape_surrogates(address).strip().lower()
    if not address or len(address) > ADDRESS_MAX or not _ADDRESS.match(address):
        raise Unreadable("The message has no usable sender (From) address.", field="From")
    return address, clean_line(name, 200)


def _message_id(msg: Message, raw: bytes) -> tuple[str, bool]:
    found = _MSGID.findall(" ".join(_token_header(msg, "Message-ID")))
    if found and found[0].isprintable() and len(found[0]) <= MESSAGE_ID_MAX:
        return found[0], False
    # No id to drop a repeat by: the bytes are the message's identity.
    return f"<sha256.{hashlib.sha256(raw).hexdigest()}@inbound.invalid>", True


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return decode_bytes(data, part.get_content_charset())


def _body(msg: EmailMessage) -> tuple[str, Message | None]:
    """The text of the message (its plain part, else its HTML made text) and the part
    it came from."""
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        part = None
    if part is None:
        return "", None
    raw = _part_text(part)
    text = html_to_text(raw) if part.get_content_subtype() == "html" else raw
    return clean_text(text), part


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    return clean_line(name or "", 255)


def _attachment(part: Message) -> Part | None:
    ctype = part.get_content_type()
    name = _filename(part)
    if ctype in ("message/rfc822", "message/global"):
        inner = part.get_payload()
        first = inner[0] if isinstance(inner, list) and inner else None
        content = first.as_bytes() if isinstance(first, Message) else b""
        return Part(name or "message.eml", ctype, content)
    payload = part.get_payload(decode=True)
    content = payload if isinstance(payload, bytes) else b""
    if ctype == "application/octet-stream" and name:
        # Many clients label every file octet-stream; its name says more (device logs
        # and configurations are text, which `mimetypes` does not know).
        suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        guessed = _TEXT_SUFFIXES.get(suffix) or mimetypes.guess_type(name, strict=False)[0]
        ctype = guessed or ctype
    return Part(name or f"attachment{mimetypes.guess_extension(ctype) or ''}", ctype, content)


def _is_inline_text(part: Message) -> bool:
    """A text part without a name that is not marked as an attachment: an alternative
    or a second piece of the body, not a file."""
    return (
        part.get_content_maintype() == "text"
        and not _filename(part)
        and part.get_content_disposition() != "attachment"
    )


def _parts(msg: Message, body: Message | None, depth: int = 0) -> list[Part]:
    """The attachments: every leaf but the body and inline texts; an attached message
    whole (a forwarded mail), a delivery report's machine parts not at all."""
    out: list[Part] = []
    if depth > _MAX_DEPTH:
        return out
    if depth == 0 and not msg.is_multipart() and msg is not body and not _is_inline_text(msg):
        found = _attachment(msg)  # the whole message is one file
        return [found] if found is not None and found.content else []
    for part in msg.iter_parts() if isinstance(msg, EmailMessage) else []:
        ctype = part.get_content_type()
        if part is body or ctype in loops.REPORT_PARTS:
            continue
        if ctype in ("message/rfc822", "message/global") or not part.is_multipart():
            if part.is_multipart() or not _is_inline_text(part):
                found = _attachment(part)
                if found is not None and found.content:
                    out.append(found)
            continue
        out.extend(_parts(part, body, depth + 1))
    return out


def parse(raw: bytes) -> ParsedMail:
    """Reads `raw`; `Unreadable` when it is no message mail in can take."""
    if b"\x00" in raw:
        raise Unreadable("The message contains NUL bytes, which mail may not carry.")
    try:
        return _parse(raw)
    except Unreadable:
        raise
    except Exception as exc:
        # The standard library's parser failing on a message (it has, on crafted
        # headers): the message can never be read, which is a refusal, not our error.
        log.warning("inbound message unreadable: %r", exc, exc_info=exc)
        raise Unreadable("The message could not be read.") from exc


def _parse(raw: bytes) -> ParsedMail:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    address, name = _sender(msg)
    message_id, synthetic = _message_id(msg, raw)
    report = loops.delivery_report(msg)
    text, body = ("", None) if report is not None else _body(msg)
    return ParsedMail(
        message_id=message_id,
        synthetic_id=synthetic,
        from_address=address,
        from_name=name,
        subject=clean_line(_header(msg, "Subject"), SUBJECT_MAX),
        thread_ids=_token_header(msg, "In-Reply-To") + _token_header(msg, "References"),
        automatic=loops.automatic(lambda h: " ".join(_token_header(msg, h)), address),
        report=report,
        text=clean_text(latest_reply(text[:_CUT_INPUT_MAX])) if text else "",
        full_text=text,
        parts=[] if report is not None else _parts(msg, body),
        size=len(raw),
    )
