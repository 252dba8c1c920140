"""bench/profile: py-spy a uvicorn worker of the real API while wrk drives one endpoint,
then print where the worker's time goes (inclusive and self, by function).

    bench/profile create                 # POST /v1/tickets on a fresh sl_bench
    bench/profile list                   # GET /v1/tickets?limit=50 on sl_bench_1m
    bench/profile list --path '/v1/tickets?q=%E5%91%8A%E8%AD%A6&limit=50'

Needs py-spy in the venv (`.venv/bin/pip install py-spy`; not a project dependency).
The collapsed stacks are saved under bench/results/ (feed them to flamegraph.pl or
speedscope for a picture).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from bench import common


def pyspy() -> str:
    path = common.VENV_BIN / "py-spy"
    if path.exists():
        return str(path)
    found = shutil.which("py-spy")
    if not found:
        raise SystemExit("py-spy is missing: .venv/bin/pip install py-spy")
    return found


def workers(pid: int) -> list[int]:
    kids = psutil.Process(pid).children(recursive=True)
    return [k.pid for k in kids if "resource_tracker" not in " ".join(k.cmdline())]


def summarize(raw: Path, top: int) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    self_: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        count = int(n)
        total += count
        frames = stack.split(";")
        for f in set(frames):
            inclusive[_short(f)] += count
        self_[_short(frames[-1])] += count
    out = [f"samples: {total}", "", "inclusive (function: % of worker samples)"]
    for name, n in inclusive.most_common(top):
        out.append(f"  {100 * n / total:5.1f}%  {name}")
    out += ["", "self"]
    for name, n in self_.most_common(top):
        out.append(f"  {100 * n / total:5.1f}%  {name}")
    return "\n".join(out)


def _short(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)": drop the line number
    # so one function is one row, and trim site-packages paths.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/work/main/" in path:
        path = path.split("/work/main/", 1)[1]
    return f"{name} ({path})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("what", choices=["create", "list"])
    p.add_argument("--server", default=common.DEFAULT_SERVER)
    p.add_argument("--db", help="default: sl_bench (create, recreated) / sl_bench_1m (list)")
    p.add_argument("--path", help="request path (list), default /v1/tickets?limit=50")
    p.add_argument("--duration", type=int, default=15)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=45)
    p.add_argument("--gil", action="store_true", help="only samples holding the GIL")
    a = p.parse_args()
    spy = pyspy()
    if a.what == "create":
        db = a.db or "sl_bench"
        key = common.run(common.fresh_database(db, a.server))
        path, method, body = "/v1/tickets", "POST", common.CREATE_BODY
    else:
        db = a.db or "sl_bench_1m"
        key = common.create_api_key(db, a.server)
        path, method, body = a.path or "/v1/tickets?limit=50", "GET", None
    srv = common.api_server(db, a.server)
    common.RESULTS.mkdir(exist_ok=True)
    raw = common.RESULTS / f"pyspy-{a.what}-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    with common.running(srv):
        assert srv.proc is not None
        status, text = common.probe(srv.base + path, method, body, key)
        common.log(f"probe {method} {path} -> {status} {text[:200]}")
        common.run_wrk("warmup", srv.base + path, duration=3, method=method, body=body, auth=key)
        target = workers(srv.proc.pid)[0]
        result: dict[str, common.Result] = {}

        def load() -> None:
            result["r"] = common.run_wrk(
                a.what,
                srv.base + path,
                duration=a.duration + 2,
                method=method,
                body=body,
                auth=key,
            )

        t = threading.Thread(target=load)
        t.start()
        time.sleep(1)
        cmd = [
            spy,
            "record",
            "--pid",
            str(target),
            "--duration",
            str(a.duration),
            "--rate",
            str(a.rate),
            "--format",
            "raw",
            "--nonblocking",
            "-o",
            str(raw),
        ]
        if a.gil:
            cmd.append("--gil")
        subprocess.run(cmd, check=True, capture_output=True)
        t.join()
    r = result["r"]
    print(
        f"\n{method} {path} under profile: {r.rps:,.0f} req/s, p50 {r.p50_ms:.1f} ms, "
        f"p99 {r.p99_ms:.1f} ms, errors {r.errors} (py-spy slows the worker it samples)"
    )
    print(summarize(raw, a.top))
    print(f"\ncollapsed stacks: {raw.relative_to(common.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
