"""What a new installation starts with, from every domain that has defaults, in the
order their rows refer to each other: the system calendars, the catalogue (categories,
product families, service levels), then the SLA policies that name both. Each domain's own
module holds its rows (and says which migration froze them); this is the one place that
knows the order, above the domains, so that none of them calls another's defaults.
For places that start from an empty database without migrating (tests after a
TRUNCATE, the demo loader); every insert is ON CONFLICT DO NOTHING."""

from __future__ import annotations

from app.access.defaults import ensure_identities
from app.calendars.defaults import ensure_calendars
from app.callbacks.defaults import ensure_callback_defaults
from app.catalogue.defaults import ensure_catalogue
from app.core.db import UnitOfWork
from app.mail.defaults import ensure_mail_defaults
from app.sla.defaults import ensure_sla_defaults


async def ensure_defaults(uow: UnitOfWork) -> None:
    await ensure_identities(uow)
    await ensure_calendars(uow)
    await ensure_catalogue(uow)
    await ensure_sla_defaults(uow)
    await ensure_callback_defaults(uow)
    await ensure_mail_defaults(uow)
