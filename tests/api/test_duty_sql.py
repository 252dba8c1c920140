"""The assignment's one-statement on-duty query (roster.top_candidates) against the pure
rules of duty.py (roster.on_duty) on random rosters: weekly, one-off and overnight shifts
with validity dates, absences and on-call rotations, in three time zones (one with DST),
at random instants. They must agree on who is on duty."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from app.core.db import open_uow
from app.people import roster
from app.people.models import Absence, Engineer, EngineerSkill, OnCallRotation, Shift, Team
from tests.conftest import issue_key
from tests.factories import build_world

ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York"]


def _time(rng: random.Random) -> time:
    return time(rng.randrange(24), rng.choice([0, 15, 30, 45]))


async def test_sql_and_pure_rules_agree_on_who_is_on_duty(app: Any) -> None:
    rng = random.Random(20261124)
    world = await build_world()
    base = datetime(2026, 3, 27, tzinfo=UTC)  # Berlin's DST change is on the 29th
    engineers: list[uuid.UUID] = []
    async with open_uow() as uow:
        teams = []
        for i, zone in enumerate(ZONES):
            team = Team(code=f"T{i}{uuid.uuid4().hex[:4]}", name=f"组{i}", line="l1",
                        branch_id=world.branch_id, timezone=zone)  # fmt: skip
            uow.session.add(team)
            teams.append(team)
        await uow.session.flush()
    for n in range(36):
        headers = await issue_key("engineer")
        async with open_uow() as uow:
            from sqlalchemy import text

            key = (
                await uow.session.execute(
                    text("SELECT id FROM api_keys ORDER BY created_at DESC, id DESC LIMIT 1")
                )
            ).scalar_one()
        _ = headers
        engineers.append(key)
        async with open_uow() as uow:
            uow.session.add(Engineer(id=key, name=f"工程师{n}", line="l1", branch_id=world.branch_id,
                                     team_id=teams[n % 3].id, max_load=1000))  # fmt: skip
            await uow.session.flush()
            uow.session.add(EngineerSkill(engineer_id=key, kind="category", code="hardware"))
            for _ in range(rng.randrange(0, 4)):
                starts, ends = _time(rng), _time(rng)
                if rng.random() < 0.75:
                    first = base.date() + timedelta(days=rng.randrange(-3, 3))
                    uow.session.add(Shift(
                        engineer_id=key, weekday=rng.randrange(7), starts=starts, ends=ends,
                        valid_from=first if rng.random() < 0.3 else None,
                        valid_until=first + timedelta(days=3) if rng.random() < 0.3 else None,
                    ))  # fmt: skip
                else:
                    day: date = base.date() + timedelta(days=rng.randrange(-1, 5))
                    uow.session.add(Shift(engineer_id=key, on_date=day, starts=starts, ends=ends))
            if rng.random() < 0.2:
                start = base + timedelta(hours=rng.randrange(0, 96))
                uow.session.add(Absence(engineer_id=key, starts_at=start,
                                        ends_at=start + timedelta(hours=rng.randrange(1, 30))))  # fmt: skip
    async with open_uow() as uow:
        uow.session.add(OnCallRotation(team_id=teams[0].id, name="7x24值班",
                                       starts_at=base - timedelta(days=2), period_hours=13,
                                       members=engineers[:4]))  # fmt: skip
    checked = on_duty_seen = 0
    for _ in range(120):
        at = base + timedelta(minutes=rng.randrange(0, 5 * 24 * 60))
        async with open_uow() as uow:
            pure = {c.id for c in await roster.on_duty(uow, at, "l1", [("category", "hardware")])}
            top, considered = await roster.top_candidates(
                uow, at, "l1", [("category", "hardware")], world.branch_id, None, None, None,
                limit=1000,
            )  # fmt: skip
        sql = {c.id for c in top}
        assert sql == pure, (at, sorted(map(str, sql ^ pure)))
        assert considered == len(pure)
        checked += 1
        on_duty_seen += len(pure)
    assert checked == 120 and on_duty_seen > 100  # the rosters do put people on duty
