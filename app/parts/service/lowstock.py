"""Low-stock warnings (预警提示): when a balance's available units (on hand less reserved)
fall below its reorder point, one `stock.low` event per crossing, with a suggested
transfer from the nearest warehouse holding a surplus, or else a purchase; none again
until available is back at the reorder point or above (`stock.recovered`). The
`below_reorder` flag on the balance row, changed under the row's lock, is what makes it
one event per crossing whatever the interleaving."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.core.db import UnitOfWork
from app.outbox.service import publish
from app.parts.models import StockBalance
from app.parts.repository import lowstock as repo

Key = tuple[Any, Any]


def _target(b: StockBalance) -> int:
    assert b.reorder_point is not None
    return b.target_level if b.target_level is not None else b.reorder_point


async def suggestion(uow: UnitOfWork, b: StockBalance) -> dict[str, Any]:
    """What to do about a low balance: move units from the nearest warehouse whose
    available stock is above its own target level, or buy them."""
    wanted = _target(b) - (b.on_hand - b.reserved)
    wanted = max(wanted, 1)
    source = await repo.nearest_surplus(uow, b.part_id, b.warehouse_id)
    if source is not None:
        return {"action": "transfer", "from_warehouse_id": str(source.warehouse_id),
                "quantity": min(wanted, source.surplus)}  # fmt: skip
    return {"action": "purchase", "quantity": wanted}


def _data(b: StockBalance, now: datetime) -> dict[str, Any]:
    return {
        "part_id": str(b.part_id),
        "warehouse_id": str(b.warehouse_id),
        "on_hand": b.on_hand,
        "reserved": b.reserved,
        "available": b.on_hand - b.reserved,
        "reorder_point": b.reorder_point,
        "target_level": b.target_level,
        "at": now.isoformat(),
    }


async def evaluate(
    uow: UnitOfWork, balances: dict[Key, StockBalance], before: dict[Key, int], now: datetime
) -> None:
    """After a change of these (locked) balances: raise or clear their low-stock state."""
    for b in balances.values():
        if b.reorder_point is None:
            continue
        available = b.on_hand - b.reserved
        if not b.below_reorder and available < b.reorder_point:
            b.below_reorder = True
            data = _data(b, now) | {"suggestion": await suggestion(uow, b)}
            publish(uow, "stock.low", "stock", b.part_id, data)
        elif b.below_reorder and available >= b.reorder_point:
            b.below_reorder = False
            publish(uow, "stock.recovered", "stock", b.part_id, _data(b, now))
