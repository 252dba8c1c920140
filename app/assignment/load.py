"""Engineers' open load, kept exact in the transaction that changes a ticket's owner,
status or priority.

A ticket counts towards its primary owner while it is open (new .. waiting), weighted by
priority. Gains by assignment are conditional updates (`open_tickets + 1 <= max_load`):
the engineer's row lock serialises two assignments racing for the last slot, so the
second one sees the first's count and is refused; no one ends over the maximum. Rows are
updated in id order so two tickets swapping owners cannot deadlock.

An identity without an engineer profile (an admin) has no counter row, and one whose
profile is being created has a row this transaction cannot see yet: its creation counts
the identity's open tickets, which cannot see this transaction's change either, so the
change would be lost (the count one short, or one too many). Both sides therefore meet
on the identity's API key row: a change that finds no counter row takes that row FOR
SHARE and looks again, and the profile's creation takes it FOR NO KEY UPDATE before it
inserts and counts (`people.repository.lock_identity`; the count is this module's
`recount`, run by assignment's handler of `people.events.EngineerCreated`). Either the change waits for the new profile and
then moves its counter, or the count waits for the change and includes it. (KEY SHARE,
the lock of foreign-key checks, conflicts with neither, so tickets keep being assigned
to the identity meanwhile; only the rare no-profile path pays the extra statement.)
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from app.assignment import repository
from app.core.db import UnitOfWork
from app.core.errors import AtMaximumLoad
from app.tickets.events import Holding
from app.tickets.interface import OPEN_STATUSES

# An engineer with one P1 carries more than one with a P4 (DOMAIN section 2's levels).
WEIGHTS = {"P1": 4, "P2": 3, "P3": 2, "P4": 1}


def counted(h: Holding) -> bool:
    """Whether the ticket weighs on an owner: it has one and is open."""
    return h.owner_id is not None and h.status in OPEN_STATUSES


async def adjust(
    uow: UnitOfWork, before: Holding, after: Holding, now: datetime, assigned: bool
) -> None:
    """Moves the ticket's weight from its old owner to its new one. `assigned`: the
    new owner gains it by an assignment (hand or automatic), so the maximum applies and
    `last_assigned_at` moves; a ticket coming back to its owner (reopen) is not refused."""
    deltas: dict[uuid.UUID, list[int]] = {}
    if counted(before):
        assert before.owner_id is not None
        d = deltas.setdefault(before.owner_id, [0, 0])
        d[0] -= 1
        d[1] -= WEIGHTS[before.priority]
    if counted(after):
        assert after.owner_id is not None
        d = deltas.setdefault(after.owner_id, [0, 0])
        d[0] += 1
        d[1] += WEIGHTS[after.priority]
    if not deltas:
        return
    conn = await uow.connection()
    for owner in sorted(deltas):
        n, w = deltas[owner]
        if n == 0 and w == 0:
            continue
        gain = n > 0 and assigned and owner == after.owner_id
        if await _move(conn, owner, n, w, now, gain):
            continue
        # No counter row visible: no profile, or one being created right now. Wait for
        # such a creation to end (see the module's docstring), then look again.
        await repository.share_identity(conn, owner)
        await _move(conn, owner, n, w, now, gain)


async def _move(
    conn: asyncpg.Connection, owner: uuid.UUID, n: int, w: int, now: datetime, gain: bool
) -> bool:
    """Moves one engineer's counters; False when the identity has no counter row."""
    if not gain:
        return await repository.change_load(conn, owner, n, w)
    if await repository.gain_load(conn, owner, n, w, now):
        return True
    row = await repository.max_load(conn, owner)
    if row is None:
        return False
    raise AtMaximumLoad(  # an engineer, and full
        f"The engineer already has {row['open_tickets']} open tickets, "
        f"the most allowed ({row['max_load']}).",
        field="owner_id",
        max_load=row["max_load"],
        open_tickets=row["open_tickets"],
    )


async def recount(uow: UnitOfWork, engineer_id: uuid.UUID) -> None:
    """Counts an engineer's open tickets from scratch (a profile created for an
    identity that already owns tickets)."""
    await repository.recount(uow, engineer_id, list(OPEN_STATUSES))
