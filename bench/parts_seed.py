"""bench/parts_seed: **recreates** `sl_bench_parts_5m` and bulk-loads a spare-parts ledger
for bench/parts stock: 10,000 parts x 100 warehouses (1,000,000 balances) and
5,000,000 ledger rows consistent with them (each balance is the sum of its rows).

    .venv/bin/python -m bench.parts_seed [--parts 10000] [--warehouses 100] [--rows 5000000]

What is loaded:

* 10 branches, 100 warehouses (1 central, 9 regional, 90 branch depots), 10,000
  unserialised parts (unit cost 20-20,000 CNY).
* Every (part, warehouse) starts with a receipt; the other 4,000,000 rows go to the
  parts by a log-normal weight (sigma 1: a part has 100 to a few thousand rows, the
  median about 400), each to a random warehouse of the part. Rows of a (part, warehouse)
  are in time order over two years ending an hour ago, and each is chosen so that the
  running balances never go negative: issues (good -1/-2), receipts, defective returns
  (defective +1), scrap of defective units, count adjustments (good +-1, with a reason),
  good returns. No transfers, serials or reservations: in transit, loaners and reserved
  are 0, on hand and defective are the sums of the rows.
* The balances are computed here, independently of the rows' SQL sums, so `supportline
  stock-check` afterwards compares two computations.

How: two generator processes (parts split in halves) stream rows as text COPY into an
UNLOGGED stage table and the balances straight into stock_balances; then one
INSERT ... SELECT ... ORDER BY at fills stock_movements, so the heap is in time order
and `seq` follows it, as a live ledger appended over two years would be (a part's rows
are scattered over the table, not side by side). The two non-unique secondary indexes
are dropped for the load and rebuilt; foreign keys are not checked row by row
(session_replication_role = replica) but by anti-joins afterwards; the ledger's
append-only trigger refuses UPDATE and DELETE only, so the INSERT is fine. Then
VACUUM (ANALYZE), as autovacuum would have done on a live table.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing as mp
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from bench import common
from bench.seed_db import uuid7_at

DB = "sl_bench_parts_5m"
STAGE = "bench_parts_stage"
# Secondary indexes rebuilt after the load (the unique ones and the partial ones, whose
# rows are all NULL here, stay).
REBUILT = ("ix_stock_movements_part_wh_at", "ix_stock_movements_at")
SPAN_DAYS = 730
ADJUST_REASON = "盘点差异 / stock count difference"
FK_CHECKS = [("part_id", "parts"), ("warehouse_id", "warehouses")]


def _ids(n: int, start_ms: int, rng: random.Random) -> list[uuid.UUID]:
    return [uuid7_at(start_ms + i, i, rng) for i in range(n)]


def reference(a: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    base = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
    branches = [common.BRANCH_ID, *_ids(9, base, rng)]
    warehouses = _ids(a.warehouses, base + 1000, rng)
    parts = _ids(a.parts, base + 100_000, rng)
    return {"branches": branches, "warehouses": warehouses, "parts": parts}


def plan_rows(a: argparse.Namespace, n_parts: int, rng: random.Random) -> list[int]:
    """Rows per part beyond the first receipt of each warehouse: log-normal weights,
    scaled to exactly rows - parts x warehouses."""
    extra = a.rows - n_parts * a.warehouses
    if extra < 0:
        raise SystemExit("--rows must be at least parts x warehouses")
    w = [rng.lognormvariate(0, 1) for _ in range(n_parts)]
    total = sum(w)
    out = [int(extra * x / total) for x in w]
    for i in rng.sample(range(n_parts), extra - sum(out)):
        out[i] += 1
    return out


def pair_rows(rng: random.Random, n: int, start: datetime, end: datetime
              ) -> tuple[list[tuple[datetime, str, str, int, str | None]], int, int]:  # fmt: skip
    """`n` rows of one (part, warehouse) in time order, the first a receipt: (at, kind,
    bucket, quantity, reason), and the final on hand and defective."""
    span = (end - start).total_seconds()
    first = start + timedelta(seconds=rng.uniform(0, span * 0.1))
    rest = (end - first).total_seconds()
    times = sorted(first + timedelta(seconds=rng.uniform(1, rest)) for _ in range(n - 1))
    good = rng.randint(5, 20) + n // 2
    defective = 0
    rows: list[tuple[datetime, str, str, int, str | None]] = [(first, "receipt", "good", good,
                                                                None)]  # fmt: skip
    for at in times:
        r = rng.random()
        if r < 0.45 and good >= 2:
            q = rng.choice((1, 1, 1, 2))
            rows.append((at, "issue", "good", -q, None))
            good -= q
        elif r < 0.60:
            rows.append((at, "return_defective", "defective", 1, None))
            defective += 1
        elif r < 0.70 and defective >= 1:
            rows.append((at, "scrap", "defective", -1, None))
            defective -= 1
        elif r < 0.75:
            q = 1 if good == 0 or rng.random() < 0.5 else -1
            rows.append((at, "adjustment", "good", q, ADJUST_REASON))
            good += q
        elif r < 0.80:
            rows.append((at, "return_good", "good", 1, None))
            good += 1
        else:
            q = rng.randint(1, 20)
            rows.append((at, "receipt", "good", q, None))
            good += q
    return rows, good, defective


def _generate(args: tuple[Any, ...]) -> dict[str, float]:
    dsn, parts, warehouses, extras, costs, seed, end_iso, span_days, who = args

    async def go() -> dict[str, float]:
        rng = random.Random(seed)
        end = datetime.fromisoformat(end_iso)
        start = end - timedelta(days=span_days)
        now = datetime.now(UTC).isoformat()
        balances: list[str] = []
        count = 0
        t0 = time.perf_counter()

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal count
            buf: list[str] = []
            for i, part in enumerate(parts):
                per = [1] * len(warehouses)
                for _ in range(extras[i]):
                    per[rng.randrange(len(warehouses))] += 1
                p = str(part)
                cost = costs[part]
                for wh, n in zip(warehouses, per, strict=True):
                    rows, good, defective = pair_rows(rng, n, start, end)
                    w = str(wh)
                    for at, kind, bucket, qty, reason in rows:
                        ms = int(at.timestamp() * 1000)
                        rid = uuid7_at(ms, count, rng)
                        buf.append(f"{rid}\t{at.isoformat()}\t{kind}\t{p}\t{w}\t{bucket}\t{qty}"
                                   f"\t{cost}\t{reason if reason else chr(92) + 'N'}\n")  # fmt: skip
                        count += 1
                    balances.append(f"{p}\t{w}\t{good}\t0\t{defective}\t0\t0\tf\t{now}\n")
                if len(buf) >= 20_000:
                    yield "".join(buf).encode()
                    buf.clear()
                if i and i % 1000 == 0:
                    el = time.perf_counter() - t0
                    common.log(f"  generator {who}: {i:,} parts, {count:,} rows, "
                               f"{count / el:,.0f} rows/s")  # fmt: skip
            if buf:
                yield "".join(buf).encode()

        conn = await asyncpg.connect(dsn)
        try:
            await conn.copy_to_table(STAGE, source=chunks(), columns=[
                "id", "at", "kind", "part_id", "warehouse_id", "bucket", "quantity", "unit_cost",
                "reason"])  # fmt: skip
            rows_s = time.perf_counter() - t0

            async def bal() -> AsyncIterator[bytes]:
                for k in range(0, len(balances), 50_000):
                    yield "".join(balances[k : k + 50_000]).encode()

            await conn.execute("SET session_replication_role = replica")
            await conn.copy_to_table("stock_balances", source=bal(), columns=[
                "part_id", "warehouse_id", "on_hand", "reserved", "defective", "in_transit",
                "loaners", "below_reorder", "updated_at"])  # fmt: skip
        finally:
            await conn.close()
        return {"rows": count, "rows_s": rows_s, "total_s": time.perf_counter() - t0}

    return asyncio.run(go())


async def seed(a: argparse.Namespace) -> dict[str, Any]:
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    rng = random.Random(a.random_seed)
    t0 = time.perf_counter()
    await common.fresh_database(a.db, a.server)
    timings["create+migrate+fixtures"] = time.perf_counter() - t0
    dsn = common.dsn(a.db, a.server)
    conn = await asyncpg.connect(dsn)
    try:
        t0 = time.perf_counter()
        ref = reference(a, rng)
        costs = await load_reference(conn, ref, rng)
        timings["reference"] = time.perf_counter() - t0
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'stock_movements'"
            " AND indexname = ANY($1::text[])",
            list(REBUILT),
        )
        for r in indexes:
            await conn.execute(f'DROP INDEX "{r["indexname"]}"')
        await conn.execute(
            f"DROP TABLE IF EXISTS {STAGE}; CREATE UNLOGGED TABLE {STAGE} (id uuid, at timestamptz,"
            " kind text, part_id uuid, warehouse_id uuid, bucket text, quantity int,"
            " unit_cost numeric(14, 2), reason text)"
        )
        extras = plan_rows(a, len(ref["parts"]), rng)
        end = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
        half = len(ref["parts"]) // 2
        jobs = []
        for who, (lo, hi) in enumerate(((0, half), (half, len(ref["parts"])))):
            jobs.append((dsn, ref["parts"][lo:hi], ref["warehouses"], extras[lo:hi], costs,
                         a.random_seed + 1 + who, end.isoformat(), SPAN_DAYS, who))  # fmt: skip
        t0 = time.perf_counter()
        common.log(f"generating {a.rows:,} ledger rows in 2 processes (text COPY to {STAGE})")
        with mp.get_context("spawn").Pool(2) as pool:
            gen = pool.map(_generate, jobs)
        timings["generate+copy (2 processes)"] = time.perf_counter() - t0
        common.log(f"  {sum(g['rows'] for g in gen):,} rows staged in "
                   f"{timings['generate+copy (2 processes)']:.1f} s")  # fmt: skip
        t0 = time.perf_counter()
        await conn.execute("SET work_mem = '1GB'")
        await conn.execute("SET session_replication_role = replica")
        common.log("INSERT INTO stock_movements ... SELECT ... ORDER BY at (heap in time order)")
        await conn.execute(
            f"""
            INSERT INTO stock_movements (id, at, kind, part_id, warehouse_id, bucket, quantity,
                unit_cost, batch_id, reason, actor_name)
            SELECT id, at, kind, part_id, warehouse_id, bucket, quantity, unit_cost, id,
                reason, 'bench-seed'
            FROM {STAGE} ORDER BY at, id
            """
        )
        await conn.execute("SET session_replication_role = origin")
        timings["insert from stage"] = time.perf_counter() - t0
        await conn.execute(f"DROP TABLE {STAGE}")
        t0 = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '1GB'")
        for r in indexes:
            t1 = time.perf_counter()
            await conn.execute(r["indexdef"])
            common.log(f"  index {r['indexname']}: {time.perf_counter() - t1:.1f} s")
        timings["indexes"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for col, table in FK_CHECKS:
            for child in ("stock_movements", "stock_balances"):
                bad = await conn.fetchval(
                    f"SELECT count(*) FROM {child} c WHERE NOT EXISTS"
                    f" (SELECT 1 FROM {table} r WHERE r.id = c.{col})"
                )
                if bad:
                    raise SystemExit(f"seed bug: {bad} rows of {child} with a dangling {col}")
        timings["foreign key checks"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        common.log("VACUUM (ANALYZE)")
        await conn.execute("VACUUM (ANALYZE) stock_movements")
        await conn.execute("VACUUM (ANALYZE) stock_balances")
        await conn.execute("ANALYZE")
        timings["vacuum analyze"] = time.perf_counter() - t0
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM parts) AS parts,"
            " (SELECT count(*) FROM warehouses) AS warehouses,"
            " (SELECT count(*) FROM stock_balances) AS balances,"
            " (SELECT count(*) FROM stock_movements) AS movements,"
            " pg_size_pretty(pg_total_relation_size('stock_movements')) AS ledger_size"
        )
        per_part = await conn.fetchrow(
            "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY n) AS p50,"
            " percentile_disc(0.99) WITHIN GROUP (ORDER BY n) AS p99, max(n) AS max, min(n) AS min"
            " FROM (SELECT count(*) AS n FROM stock_movements GROUP BY part_id) x"
        )
    finally:
        await conn.close()
    timings["total"] = time.perf_counter() - t_all
    return {"counts": dict(counts), "rows_per_part": dict(per_part), "timings": timings,
            "generators": gen, "ledger_end": end}  # fmt: skip


async def load_reference(conn: asyncpg.Connection, ref: dict[str, Any],
                         rng: random.Random) -> dict[uuid.UUID, str]:  # fmt: skip
    """Branches, warehouses (INSERT) and parts (COPY); returns each part's unit cost."""
    now = datetime.now(UTC)
    cols = await common.table_columns(conn, "parts")
    costs: dict[uuid.UUID, str] = {}
    branches = [{"id": b, "code": f"B{i:02d}", "name": f"第{i}分公司", "name_en": f"Branch {i}",
                 "region": "华北", "timezone": "Asia/Shanghai"}
                for i, b in enumerate(ref["branches"]) if i]  # fmt: skip
    await common.insert_rows(conn, "branches", branches)
    whs = []
    for i, w in enumerate(ref["warehouses"]):
        kind = "central" if i == 0 else "regional" if i < 10 else "branch"
        whs.append({"id": w, "code": f"WH-{i:03d}", "name": f"备件库 {i:03d}", "kind": kind,
                    "branch_id": ref["branches"][i % len(ref["branches"])],
                    "address": f"北京市海淀区中关村大街 {i + 1} 号"})  # fmt: skip
    await common.insert_rows(conn, "warehouses", whs)
    records = []
    for i, p in enumerate(ref["parts"]):
        cost = f"{math.exp(rng.uniform(math.log(20), math.log(20_000))):.2f}"
        costs[p] = cost
        row = {"id": p, "number": f"P{i:06d}", "name": f"备件 {i:06d}",
               "name_en": f"Spare part {i:06d}", "unit_cost": cost, "currency": "CNY",
               "serialised": False, "lifecycle": "active", "version": 1, "created_at": now,
               "updated_at": now}  # fmt: skip
        records.append({k: v for k, v in row.items() if k in cols})
    names = list(records[0])
    await conn.copy_records_to_table(
        "parts",
        records=[tuple(Decimal(r[n]) if n == "unit_cost" else r[n] for n in names)
                 for r in records],
        columns=names,
    )  # fmt: skip
    return costs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--server", default=common.DEFAULT_SERVER)
    p.add_argument("--db", default=DB, help="database (recreated)")
    p.add_argument("--parts", type=int, default=10_000)
    p.add_argument("--warehouses", type=int, default=100)
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--random-seed", type=int, default=11)
    a = p.parse_args()
    res = common.run(seed(a))
    c, r = res["counts"], res["rows_per_part"]
    print(f"\n# parts_seed  ({common.machine()})")
    print(f"{a.db}: {c['parts']:,} parts, {c['warehouses']:,} warehouses, {c['balances']:,} "
          f"balances, {c['movements']:,} ledger rows ({c['ledger_size']} with indexes), ending "
          f"{res['ledger_end']:%Y-%m-%d %H:%M} UTC")  # fmt: skip
    print(f"ledger rows per part: min {r['min']:,}, median {r['p50']:,}, p99 {r['p99']:,}, "
          f"max {r['max']:,}")  # fmt: skip
    print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in res["timings"].items()))
    path = common.save("parts-seed", {"args": vars(a), "machine": common.machine(), **res})
    print(f"saved {path.relative_to(common.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
