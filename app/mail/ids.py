"""The `Message-ID`s we make, and how a reply's headers lead back to a ticket.

Every delivery has a deterministic id: the same (event, address) always gives the same
`Message-ID`, so a resend after an unrecorded attempt carries the id the receiver has
already seen and drops. A ticket's mails all answer one root id, `<ticket.<uuid>@domain>`
(sent as `In-Reply-To` and first in `References`), so readers thread them together and
a reply's headers name the ticket even when the subject was rewritten."""

from __future__ import annotations

import hashlib
import re
import uuid

# A UUID exactly as we write it (8-4-4-4-12 hex digits): a reply's headers are the
# sender's to forge, and `<ticket.------------------------------------@...>` must lead
# nowhere, not to a ValueError.
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_TICKET_ROOT = re.compile(rf"<ticket\.({_UUID})@([^>\s]+)>", re.IGNORECASE)
_DELIVERY = re.compile(rf"<sl\.({_UUID})\.([0-9a-f]{{16}})@([^>\s]+)>", re.IGNORECASE)
_NUMBER = re.compile(r"\[(T\d{4}-\d{6,})\]")


def delivery_message_id(outbox_id: uuid.UUID, address: str, domain: str) -> str:
    digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()[:16]
    return f"<sl.{outbox_id}.{digest}@{domain}>"


def digest_message_id(digest_id: uuid.UUID, domain: str) -> str:
    return f"<sl.{digest_id}.{'0' * 16}@{domain}>"


def ticket_root_id(ticket_id: uuid.UUID, domain: str) -> str:
    return f"<ticket.{ticket_id}@{domain}>"


def ticket_from_headers(values: list[str], domain: str) -> uuid.UUID | None:
    """The ticket a reply's `In-Reply-To`/`References` name through its root id, if any."""
    for value in values:
        for match in _TICKET_ROOT.finditer(value):
            if match.group(2).lower() == domain.lower():
                return uuid.UUID(match.group(1))
    return None


def deliveries_from_headers(values: list[str], domain: str) -> list[str]:
    """Our delivery `Message-ID`s among the headers (a bounce's or a reply's)."""
    found: list[str] = []
    for value in values:
        for match in _DELIVERY.finditer(value):
            if match.group(3).lower() == domain.lower():
                found.append(match.group(0))
    return found


def number_from_subject(subject: str) -> str | None:
    """The ticket number in a subject, `[T2026-000123]`."""
    match = _NUMBER.search(subject or "")
    return match.group(1) if match else None


def subject_tag(number: str) -> str:
    return f"[{number}]"
