"""What other domains (the e-mail notices) use of callbacks and surveys."""

from __future__ import annotations

import uuid

from app.core.db import UnitOfWork


async def survey_link(uow: UnitOfWork, ticket_id: uuid.UUID) -> str | None:
    """The survey link of the ticket's current resolution, or None (placeholder)."""
    return None
