"""The identities the system acts as when nobody did it by hand, so that what they write
(a comment from an e-mail, a ticket closed on silence) has an author like anything else.

They are `api_keys` rows that can never authenticate: inactive, and their `key_hash` is
no SHA-256 hex digest, so no key hashes to it. The same rows, ids included, are frozen
in `alembic/versions/0011_mail_callback_defaults.py` (the webhooks' in
`0012_webhooks.py`); `ensure_identities` is
for places that start without migrating (tests after a clean-up, the demo loader)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from app.access.models import ApiKey
from app.core.db import UnitOfWork
from app.core.security import Principal, Role

SYSTEM_ID = uuid.UUID("01a20a8b-77d6-7100-8000-000000000001")
MAIL_ID = uuid.UUID("01a20a8b-77d6-7100-8000-000000000002")
HOOKS_ID = uuid.UUID("01a20a8b-77d6-7100-8000-000000000003")

IDENTITIES: list[dict[str, Any]] = [
    {
        "id": SYSTEM_ID,
        "name": "Supportline 系统 (system)",
        "prefix": "sys_system",
        "key_hash": "never-authenticates:system",
        "role": Role.integration.value,
        "branch_id": None,
        "active": False,
    },
    {
        "id": MAIL_ID,
        "name": "邮件网关 (e-mail)",
        "prefix": "sys_mail",
        "key_hash": "never-authenticates:mail",
        "role": Role.integration.value,
        "branch_id": None,
        "active": False,
    },
    {
        "id": HOOKS_ID,
        "name": "监控告警 (webhooks)",
        "prefix": "sys_hooks",
        "key_hash": "never-authenticates:hooks",
        "role": Role.integration.value,
        "branch_id": None,
        "active": False,
    },
]


def system_principal() -> Principal:
    """Who closes a silent ticket, schedules a callback, reopens on a customer's word."""
    return Principal(SYSTEM_ID, "Supportline", Role.integration, None)


def mail_principal() -> Principal:
    """The author of what arrives by e-mail (the contact is named in the event's data)."""
    return Principal(MAIL_ID, "E-mail", Role.integration, None)


def hooks_principal() -> Principal:
    """The author of what monitoring reports through an inbound webhook source."""
    return Principal(HOOKS_ID, "Webhooks", Role.integration, None)


async def ensure_identities(uow: UnitOfWork) -> None:
    stmt = insert(ApiKey).values(IDENTITIES).on_conflict_do_nothing(index_elements=["id"])
    await uow.session.execute(stmt)
