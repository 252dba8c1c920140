"""What the demo loader steps share: the context they fill in, and the names of the
marker key and the keys file."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.security import Principal, Role

MARKER_KEY_NAME = "demo admin"
KEYS_FILE = "demo-keys.txt"
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class DemoKey:
    role: Role
    name: str
    plain: str
    branch_id: uuid.UUID | None = None


@dataclass
class DemoContext:
    """What the steps made so far, by a short name (e.g. ctx.ids["branch:SH"])."""

    keys: list[DemoKey] = field(default_factory=list)
    ids: dict[str, Any] = field(default_factory=dict)
    principals: dict[str, Principal] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    # The moment of the load: ticket stories are dated back from it.
    now: datetime = field(default_factory=lambda: get_clock().now())

    @property
    def today(self) -> date:
        """The business date in China (contract and warranty dates are meant there)."""
        return self.now.astimezone(BUSINESS_TZ).date()

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


Step = Callable[[UnitOfWork, DemoContext], Awaitable[None]]
