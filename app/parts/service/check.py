"""`supportline stock-check`: every balance recomputed from the ledger (and the active
reservations), every serial's place compared with its last ledger row. The balances are
kept in the ledger row's transaction, so any difference is a defect to look at, never
something to merge later: the check reports, it does not repair."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from app.core.db import UnitOfWork
from app.parts.repository import stock as repo


@dataclass
class CheckReport:
    movements: int
    balances: int
    seconds: float
    differences: list[dict[str, Any]] = field(default_factory=list)
    serials: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences and not self.serials


async def stock_check(uow: UnitOfWork) -> CheckReport:
    """Run in one REPEATABLE READ snapshot (the caller's transaction should be one): the
    ledger and the balances are read as of the same instant."""
    started = time.perf_counter()
    differences = [dict(r) for r in await repo.stock_differences(uow)]
    serials = [dict(r) for r in await repo.serial_differences(uow)]
    movements, balances = await repo.ledger_size(uow)
    return CheckReport(movements, balances, time.perf_counter() - started, differences, serials)
