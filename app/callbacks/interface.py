"""What other domains (the e-mail notices) use of callbacks and surveys."""

from __future__ import annotations

import uuid

from app.callbacks.service import surveys
from app.core.db import UnitOfWork


async def survey_link(uow: UnitOfWork, ticket_id: uuid.UUID) -> str | None:
    """The survey link of the ticket's current resolution while it can be answered (the
    ticket resolved, or closed since; the survey neither answered nor expired), else
    None. Signing needs SURVEY_SECRET in production: without it this raises."""
    return await surveys.link(uow, ticket_id)
