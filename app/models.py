"""Imports every domain's tables so SQLModel.metadata is complete (Alembic, tests)."""

from app.access.models import ApiKey
from app.branches.models import Branch
from app.core.idempotency import IdempotencyRecord

__all__ = ["ApiKey", "Branch", "IdempotencyRecord"]
