"""bench/instructions: instructions per request of the API process, under callgrind.

On a shared machine CPU time is noisy; instruction counts are not. This runs
`bench.inproc` under `valgrind --tool=callgrind` twice, with N1 and N2 measured requests
(the same warm-up), and prints (I2 - I1) / (N2 - N1): start-up, imports and warm-up
cancel out. The kernel's share (socket sends and receives) is not counted, so compare
routes by this figure and take the closing milliseconds from bench/ticket_create.
Running `ceiling` too gives the ratio to the framework's ceiling, whose CPU per request
is known from bench/ticket_create, and so an estimate in milliseconds.

    .venv/bin/python -m bench.instructions create ceiling list --db-list sl_bench_1m
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

_COLLECTED = re.compile(r"Collected : (\d+)")


def count(what: str, requests: int, extra: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out",
            sys.executable, "-m", "bench.inproc", what, "--requests", str(requests),
            "--warmup", "50", *extra,
        ]  # fmt: skip
        env = dict(os.environ, PYTHONMALLOC="malloc")
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        found = _COLLECTED.search(run.stderr)
        if run.returncode != 0 or found is None:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{run.stdout}\n{run.stderr[-3000:]}")
        return int(found.group(1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("what", nargs="+", choices=("create", "list", "ceiling"))
    p.add_argument("--n1", type=int, default=100)
    p.add_argument("--n2", type=int, default=400)
    p.add_argument("--db-create", default="sl_bench_inproc", help="an existing, migrated db")
    p.add_argument("--db-list", default="sl_bench_1m")
    p.add_argument("--path", default=None, help="for list: the URL (default ?limit=50)")
    p.add_argument("--ceiling-ms", type=float, default=0.14, help="ceiling CPU ms/request")
    a = p.parse_args()
    per: dict[str, float] = {}
    for what in a.what:
        extra = {"create": ["--db", a.db_create], "list": ["--db", a.db_list], "ceiling": []}[what]
        if what == "list" and a.path:
            extra += ["--path", a.path]
        i1, i2 = count(what, a.n1, extra), count(what, a.n2, extra)
        per[what] = (i2 - i1) / (a.n2 - a.n1)
        print(f"{what}: {per[what] / 1e6:.2f} M instructions/request", flush=True)
    if "ceiling" in per:
        for what, n in per.items():
            ms = a.ceiling_ms * n / per["ceiling"]
            print(
                f"{what}: {n / per['ceiling']:.2f}x the ceiling, ~{ms:.2f} ms at {a.ceiling_ms} ms"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
