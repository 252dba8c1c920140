"""Where surplus stock of a part is, nearest first to a warehouse's branch."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from app.core.db import UnitOfWork

# Surplus: available above the warehouse's own target level (or reorder point; all of
# it when neither is set). Customer-site depots are kept for their contract: never a
# source. Nearest by the rank the low warehouse's branch gives the source.
_NEAREST_SURPLUS = text(
    """
    SELECT b.warehouse_id,
           (b.on_hand - b.reserved - COALESCE(b.target_level, b.reorder_point, 0)) AS surplus
    FROM stock_balances b
    JOIN warehouses w ON w.id = b.warehouse_id AND w.active AND w.kind <> 'customer_site'
    JOIN warehouses low ON low.id = :warehouse_id
    LEFT JOIN warehouse_ranks r ON r.branch_id = low.branch_id AND r.warehouse_id = w.id
    WHERE b.part_id = :part_id AND b.warehouse_id <> :warehouse_id
      AND b.on_hand - b.reserved - COALESCE(b.target_level, b.reorder_point, 0) > 0
    ORDER BY r.rank NULLS LAST, surplus DESC, b.warehouse_id
    LIMIT 1
    """
)


async def nearest_surplus(
    uow: UnitOfWork, part_id: uuid.UUID, warehouse_id: uuid.UUID
) -> Any | None:
    params = {"part_id": part_id, "warehouse_id": warehouse_id}
    return (await uow.session.execute(_NEAREST_SURPLUS, params)).first()
