"""What must never be answered nor become a comment: automatic mail (auto-replies,
bulk, mail from our own domain) and delivery status notifications (bounces).

GLPI's loop (bounce -> follow-up -> notification -> bounce) starts where a system
answers what a machine sent. Here a message is automatic when it says so (RFC 3834
`Auto-Submitted` other than `no`; Exchange's `X-Auto-Response-Suppress`; `Precedence:
bulk/list/junk`; the common `X-Autoreply`/`X-Autorespond`), when its return path is
null (`<>`, RFC 5321 4.5.5: only notifications use it) or when a mailer daemon sent
it. Such a message is recorded and nothing else happens: no comment, no ticket, no
notice. A delivery report (RFC 3464 `multipart/report; report-type=delivery-status`)
is read for the deliveries it names instead."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import HeaderParser

from app.mail.inbound.text import clean_line, decode_bytes

# The machine-readable parts of a report: read here, never kept as attachments.
STATUS_PARTS = ("message/delivery-status", "message/global-delivery-status")
HEADER_PARTS = ("text/rfc822-headers", "message/global-headers")
ORIGINAL_PARTS = ("message/rfc822", "message/global")
REPORT_PARTS = (*STATUS_PARTS, *HEADER_PARTS)
_BULK = ("bulk", "list", "junk")
_DAEMONS = ("mailer-daemon", "postmaster")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_MSGID = re.compile(r"<[^<>\s]{1,990}>")


@dataclass(frozen=True)
class Recipient:
    """One recipient's fields of a report (RFC 3464 2.3)."""

    address: str  # Final-Recipient, lower-cased
    original: str  # Original-Recipient, lower-cased ('' when absent)
    action: str  # failed, delayed, delivered, relayed, expanded
    status: str  # "5.1.1"; '' when absent
    diagnostic: str

    @property
    def hard(self) -> bool:
        """A permanent failure: the address itself is refused (5.x.x)."""
        return self.action == "failed" and self.status.startswith("5")


@dataclass(frozen=True)
class DeliveryReport:
    recipients: list[Recipient] = field(default_factory=list)
    original_ids: list[str] = field(default_factory=list)  # the returned mail's Message-ID


def automatic(header: Callable[[str], str], address: str) -> str | None:
    """Why the message is automatic (a short reason), or None for a person's mail."""
    submitted = header("Auto-Submitted").split(";")[0].strip().lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted[:40]}"
    if header("X-Auto-Response-Suppress").strip():
        return "X-Auto-Response-Suppress"
    precedence = header("Precedence").strip().lower()
    if precedence in _BULK:
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if header(name).strip():
            return name
    if header("Return-Path").strip() == "<>":
        return "null return path"
    local = address.split("@", 1)[0]
    if local in _DAEMONS:
        return f"sent by {local}"
    return None


def from_domains(address: str, domains: list[str]) -> bool:
    """Whether `address` is in one of `domains` (or a subdomain of one)."""
    domain = address.rsplit("@", 1)[-1].lower().rstrip(".")
    return any(domain == d or domain.endswith("." + d) for d in (x.lower() for x in domains if x))


def _address(value: str | None) -> str:
    # "rfc822; nobody@example.cn" (the type may be missing or be utf-8)
    return (value or "").split(";", 1)[-1].strip().strip("<>").strip().lower()


def _recipient(block: Message) -> Recipient | None:
    final = _address(block.get("Final-Recipient"))
    if not final:
        return None
    status = _STATUS.search(str(block.get("Status") or ""))
    diagnostic = str(block.get("Diagnostic-Code") or "").split(";", 1)[-1]
    return Recipient(
        address=final,
        original=_address(block.get("Original-Recipient")),
        action=str(block.get("Action") or "").strip().lower(),
        status=status.group(0) if status else "",
        diagnostic=clean_line(diagnostic, 500),
    )


def _blocks(part: Message) -> list[Message]:
    """The field groups of a status part (the parser makes them sub-messages of
    `message/delivery-status`; other types are split here, at blank lines)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [b for b in payload if isinstance(b, Message)]
    raw = part.get_payload(decode=True)
    text = decode_bytes(raw, "utf-8") if isinstance(raw, bytes) else str(payload or "")
    parser = HeaderParser(policy=policy.compat32)
    return [parser.parsestr(chunk) for chunk in re.split(r"\r?\n\s*\r?\n", text) if chunk.strip()]


def _original_id(part: Message) -> list[str]:
    if part.get_content_type() in ORIGINAL_PARTS:
        inner = part.get_payload()
        headers = inner[0] if isinstance(inner, list) and inner else None
    else:
        raw = part.get_payload(decode=True)
        text = decode_bytes(raw, "utf-8") if isinstance(raw, bytes) else str(part.get_payload())
        headers = HeaderParser(policy=policy.compat32).parsestr(text, headersonly=True)
    if not isinstance(headers, Message):
        return []
    return _MSGID.findall(str(headers.get("Message-ID") or ""))


def delivery_report(msg: Message) -> DeliveryReport | None:
    """The report a DSN carries, or None when the message is not one."""
    if msg.get_content_type() != "multipart/report":
        return None
    if str(msg.get_param("report-type") or "").lower() != "delivery-status":
        return None
    report = DeliveryReport()
    parts = msg.get_payload()
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, Message):
            continue
        ctype = part.get_content_type()
        try:
            if ctype in STATUS_PARTS:
                found = (_recipient(b) for b in _blocks(part))
                report.recipients.extend(r for r in found if r is not None)
            elif ctype in HEADER_PARTS or ctype in ORIGINAL_PARTS:
                report.original_ids.extend(_original_id(part))
        except Exception:  # noqa: S112 - a broken part of a report: read the others
            continue
    return report
