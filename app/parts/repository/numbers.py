"""Human numbers of part requests and RMAs: PR2026-000001, RMA2026-000001, from per-year
PostgreSQL sequences (no counter row to serialise on; gaps after a rollback accepted)."""

from __future__ import annotations

from sqlalchemy import text

from app.core.db import UnitOfWork

_ready: set[str] = set()


async def next_number(uow: UnitOfWork, prefix: str, year: int) -> str:
    seq = f"{prefix.lower()}_number_{year}"
    if seq not in _ready:
        # Concurrent first-of-the-year numbers wait for each other, not race on CREATE.
        await uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": seq})
        await uow.session.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {seq}"))

        async def remember() -> None:
            _ready.add(seq)

        uow.after_commit(remember)
    n = (await uow.session.execute(text(f"SELECT nextval('{seq}')"))).scalar_one()
    return f"{prefix}{year}-{int(n):06d}"
