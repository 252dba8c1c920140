"""Attachments: stored in PostgreSQL with their content hash, limited in size, served
back with a safe file name."""

from __future__ import annotations

import hashlib
import uuid

from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import (
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from app.core.security import Principal
from app.tickets import repository
from app.tickets.models import (
    Attachment,
    AttachmentBlob,
)
from app.tickets.service.changes import _event


def _safe_filename(name: str | None) -> str:
    base = (name or "attachment").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*;')
    return (cleaned.strip(" .") or "attachment")[:255]


async def add_attachment(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    filename: str | None,
    content_type: str | None,
    content: bytes,
    channel: str | None,
) -> Attachment:
    settings = get_settings()
    ticket = await repository.get_for_update(uow, principal, ticket_id)
    if len(content) > settings.attachment_max_bytes:
        raise PayloadTooLarge(
            f"Attachments are limited to {settings.attachment_max_bytes} bytes.",
            limit=settings.attachment_max_bytes,
        )
    if len(content) == 0:
        raise Unprocessable("The file is empty.", field="file")
    media = (content_type or "application/octet-stream").split(";")[0].strip().lower()
    if media not in settings.attachment_allowed_types:
        raise UnsupportedMediaType(
            f"Files of type '{media}' are not accepted.", allowed=settings.attachment_allowed_types
        )
    attachment = Attachment(
        ticket_id=ticket.id,
        filename=_safe_filename(filename),
        content_type=media,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=principal.id,
        created_at=get_clock().now(),
    )
    uow.session.add(attachment)
    await uow.session.flush()
    uow.session.add(AttachmentBlob(attachment_id=attachment.id, data=content))
    _event(
        uow,
        ticket,
        principal,
        channel,
        "ticket.attachment_added",
        data={
            "attachment_id": str(attachment.id),
            "filename": attachment.filename,
            "size": attachment.size,
            "content_type": media,
        },
        announce=False,
    )
    await uow.session.flush()
    return attachment


async def list_attachments(
    uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID
) -> list[Attachment]:
    await repository.get(uow, principal, ticket_id)
    return await repository.attachments_of(uow, ticket_id)


async def get_attachment_content(
    uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID, attachment_id: uuid.UUID
) -> tuple[Attachment, bytes]:
    await repository.get(uow, principal, ticket_id)
    found = await repository.attachment_with_content(uow, ticket_id, attachment_id)
    if found is None:
        raise NotFound("Attachment not found.")
    return found
