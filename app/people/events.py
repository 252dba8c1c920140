"""The events the people domain publishes (`app.core.events`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EngineerCreated:
    """An API identity got its engineer profile (its identity row locked meanwhile, so
    no load change of it runs unseen: assignment/load.py)."""

    engineer_id: uuid.UUID
