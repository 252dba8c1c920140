"""Shared machinery of the benchmarks: the benchmark database, its fixtures, servers run
the production way, wrk with bench/wrk/report.lua, the RSS sampler and the tables.

Nothing here is imported by the application; bench/ only drives it from outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
SUPPORTLINE = str(VENV_BIN / "supportline")
LUA = BENCH / "wrk" / "report.lua"
RESULTS = BENCH / "results"

DEFAULT_SERVER = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
CONCURRENCY = 32
WRK_THREADS = 2
WORKERS = 2

# Fixed ids: the POST body names them, and every phase sends the same body.
BRANCH_ID = uuid.UUID("01900000-0000-7000-8000-000000000001")
CUSTOMER_ID = uuid.UUID("01900000-0000-7000-8000-000000000002")
CONTACT_ID = uuid.UUID("01900000-0000-7000-8000-000000000003")
DEVICE_ID = uuid.UUID("01900000-0000-7000-8000-000000000004")
CONTRACT_ID = uuid.UUID("01900000-0000-7000-8000-000000000005")

CATEGORIES = [
    ("hardware", "硬件故障", "Hardware fault"),
    ("software", "软件问题", "Software issue"),
    ("network", "网络故障", "Network fault"),
    ("storage", "存储故障", "Storage fault"),
    ("security", "安全事件", "Security incident"),
    ("license", "许可证", "Licensing"),
    ("consulting", "技术咨询", "Consulting"),
    ("installation", "安装实施", "Installation"),
]
PRODUCT_FAMILIES = [
    ("switch", "交换机", "Switches", "Huawei"),
    ("router", "路由器", "Routers", "Cisco"),
    ("firewall", "防火墙", "Firewalls", "Fortinet"),
    ("server", "服务器", "Servers", "Dell"),
    ("storage", "存储", "Storage", "NetApp"),
    ("ups", "不间断电源", "UPS", "APC"),
    ("wlan", "无线", "Wireless", "H3C"),
    ("loadbalancer", "负载均衡", "Load balancers", "F5"),
]
SERVICE_LEVELS = [
    ("standard", "标准服务", "Standard", True),
    ("gold", "金牌服务", "Gold", False),
    ("platinum", "白金服务", "Platinum", False),
]

# The body every create phase sends (TicketCreate), the lead's own example shape.
CREATE_BODY: dict[str, Any] = {
    "customer_id": str(CUSTOMER_ID),
    "contact_id": str(CONTACT_ID),
    "device_id": str(DEVICE_ID),
    "channel": "phone",
    "category": "hardware",
    "service_type": "onsite",
    "impact": "high",
    "urgency": "medium",
    "subject": "核心交换机电源模块告警,业务中断 PSU alarm on core switch",
    "description": (
        "机房A的核心交换机两路电源均告警,下联业务全部中断。已远程登录查看日志,"
        "发现 PSU2 输出电压异常, BGP session flapping since 08:40. 请尽快安排工程师现场更换电源模块。"
    ),
    "fault_started_at": "2026-03-02T08:40:00+08:00",
    "affected_system": "生产网核心",
    "product_version": "V8.2.1",
}


def dsn(db: str, server: str = DEFAULT_SERVER) -> str:
    return f"{server.rstrip('/')}/{db}"


def app_database_url(db: str, server: str = DEFAULT_SERVER) -> str:
    return dsn(db, server).replace("postgresql://", "postgresql+asyncpg://", 1)


def machine() -> str:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# Database


async def recreate_database(db: str, server: str = DEFAULT_SERVER) -> None:
    if not db.replace("_", "").isalnum():
        raise SystemExit(f"refusing odd database name {db!r}")
    conn = await asyncpg.connect(dsn("postgres", server))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{db}"')
    finally:
        await conn.close()


async def database_exists(db: str, server: str = DEFAULT_SERVER) -> bool:
    conn = await asyncpg.connect(dsn("postgres", server))
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db))
    finally:
        await conn.close()


def app_env(db: str, server: str = DEFAULT_SERVER, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=app_database_url(db, server),
        LOG_LEVEL="WARNING",
        ENV="production",
        # Production refuses to start without it (app/core/config.py); a bench's own.
        SURVEY_SECRET=os.environ.get("SURVEY_SECRET", "bench-survey-secret-not-for-production"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def migrate(db: str, server: str = DEFAULT_SERVER) -> None:
    subprocess.run(
        [SUPPORTLINE, "migrate"], env=app_env(db, server), cwd=ROOT, check=True, stdout=sys.stderr
    )


def create_api_key(
    db: str, server: str = DEFAULT_SERVER, role: str = "admin", branch: uuid.UUID | None = None
) -> str:
    """`supportline create-api-key`; returns the plain key it prints."""
    cmd = [SUPPORTLINE, "create-api-key", "--name", f"bench-{role}", "--role", role]
    if branch is not None:
        cmd += ["--branch", str(branch)]
    out = subprocess.run(
        cmd,
        env=app_env(db, server),
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1].strip()


async def table_columns(conn: asyncpg.Connection, table: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = $1",
        table,
    )
    return {r["column_name"] for r in rows}


async def insert_rows(conn: asyncpg.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, filling the conventional columns (created_at,
    updated_at, version, active) when the table has them: the schema is still moving,
    and the benchmarks should not break on a new audit column."""
    if not rows:
        return
    cols = await table_columns(conn, table)
    now = datetime.now(UTC)
    conventional = {"created_at": now, "updated_at": now, "version": 1, "active": True}
    full = []
    for row in rows:
        r = {k: v for k, v in row.items() if k in cols}
        for k, v in conventional.items():
            if k in cols and k not in r:
                r[k] = v
        full.append(r)
    names = list(full[0])
    sql = (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES "
        f"({', '.join(f'${i + 1}' for i in range(len(names)))}) ON CONFLICT DO NOTHING"
    )
    await conn.executemany(sql, [tuple(r[n] for n in names) for r in full])


async def insert_fixtures(conn: asyncpg.Connection) -> None:
    """Catalogue rows when the catalogue is empty (a defaults migration may have filled
    it), and the one branch / customer / contact / device / contract the create body
    names."""
    if not await conn.fetchval("SELECT count(*) FROM categories"):
        await insert_rows(
            conn,
            "categories",
            [{"code": c, "parent_code": None, "name": n, "name_en": e} for c, n, e in CATEGORIES],
        )
    await insert_rows(
        conn,
        "categories",
        [{"code": "hardware", "parent_code": None, "name": "硬件", "name_en": "Hardware"}],
    )
    if not await conn.fetchval("SELECT count(*) FROM product_families"):
        await insert_rows(
            conn,
            "product_families",
            [{"code": c, "name": n, "name_en": e, "vendor": v} for c, n, e, v in PRODUCT_FAMILIES],
        )
    if not await conn.fetchval("SELECT count(*) FROM service_levels"):
        await insert_rows(
            conn,
            "service_levels",
            [
                {"code": c, "name": n, "name_en": e, "is_default": d}
                for c, n, e, d in SERVICE_LEVELS
            ],
        )
    family = await conn.fetchval(
        "SELECT code FROM product_families ORDER BY code = 'switch' DESC, code LIMIT 1"
    )
    level = await conn.fetchval("SELECT code FROM service_levels ORDER BY is_default, code LIMIT 1")
    await insert_rows(
        conn,
        "branches",
        [
            {
                "id": BRANCH_ID,
                "code": "BJ",
                "name": "北京分公司",
                "name_en": "Beijing",
                "region": "华北",
                "timezone": "Asia/Shanghai",
            }
        ],
    )
    await insert_rows(
        conn,
        "customers",
        [
            {
                "id": CUSTOMER_ID,
                "branch_id": BRANCH_ID,
                "code": "C-BENCH",
                "name": "基准测试银行股份有限公司",
                "name_en": "Bench Bank",
                "industry": "金融",
            }
        ],
    )
    await insert_rows(
        conn,
        "contacts",
        [
            {
                "id": CONTACT_ID,
                "customer_id": CUSTOMER_ID,
                "name": "张伟",
                "title": "网络主管",
                "phone": "13800000000",
                "email": "zhang.wei@bench.example",
                "language": "zh-CN",
            }
        ],
    )
    await insert_rows(
        conn,
        "devices",
        [
            {
                "id": DEVICE_ID,
                "customer_id": CUSTOMER_ID,
                "serial": "SN-BENCH-0001",
                "model": "S12700E-8",
                "product_family": family,
                "software_version": "V8.2.1",
                "site": "机房A",
                "install_date": date(2024, 1, 15),
                "warranty_end": date(2028, 1, 14),
            }
        ],
    )
    await insert_rows(
        conn,
        "contracts",
        [
            {
                "id": CONTRACT_ID,
                "customer_id": CUSTOMER_ID,
                "number": "HT-BENCH-0001",
                "service_level": level,
                "starts_on": date(2024, 1, 1),
                "ends_on": date(2030, 12, 31),
                "status": "active",
            }
        ],
    )
    await insert_rows(
        conn, "contract_devices", [{"contract_id": CONTRACT_ID, "device_id": DEVICE_ID}]
    )


async def fresh_database(db: str, server: str = DEFAULT_SERVER) -> str:
    """Drop and create `db`, migrate it, add the fixtures; returns an admin API key."""
    log(f"creating database {db}")
    await recreate_database(db, server)
    log("migrating (supportline migrate)")
    migrate(db, server)
    conn = await asyncpg.connect(dsn(db, server))
    try:
        await insert_fixtures(conn)
    finally:
        await conn.close()
    return create_api_key(db, server)


# --------------------------------------------------------------------------------------
# Servers


@contextlib.asynccontextmanager
async def one_run(server: str, lock: int, name: str) -> AsyncIterator[None]:
    """One run of bench `name` at a time on this PostgreSQL server (an advisory lock,
    held by a connection of its own), and Ctrl-C or SIGTERM cancelling the run, so that
    its `finally` blocks stop the processes it started."""
    guard = await asyncpg.connect(dsn("postgres", server))
    try:
        if not await guard.fetchval("SELECT pg_try_advisory_lock($1)", lock):
            raise SystemExit(f"another bench/{name} run is in progress on this server")
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
        yield
    finally:
        await guard.close()


class Arrivals:
    """What a bench's sink records: (key of what arrived, when), thread-safe, so the
    phase can wait for `count()` and read `since(n)`. The SMTP sink and the webhook
    receiver are both one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted: list[tuple[str, float]] = []
        self.sessions = 0

    def arrived(self, key: str) -> None:
        with self.lock:
            self.accepted.append((key, time.time()))

    def count(self) -> int:
        with self.lock:
            return len(self.accepted)

    def since(self, n: int) -> list[tuple[str, float]]:
        with self.lock:
            return self.accepted[n:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _role(p: psutil.Process) -> str:
    cmd = " ".join(p.cmdline())
    if "resource_tracker" in cmd:
        return "resource_tracker"
    return "worker" if "multiprocessing" in cmd else p.name()


class CpuMeter:
    """CPU seconds used during a run by the server's process tree, PostgreSQL's
    processes and wrk: divided by the requests, what one request costs each of them."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.start = self.snapshot()

    def snapshot(self) -> dict[int, tuple[str, float]]:
        tree: set[int] = set()
        if self.server_pid:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(self.server_pid)
                tree = {root.pid, *(c.pid for c in root.children(recursive=True))}
        out: dict[int, tuple[str, float]] = {}
        for p in psutil.process_iter(["name"]):
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                name = p.info["name"] or ""
                group = (
                    "api"
                    if p.pid in tree
                    else "postgres"
                    if name.startswith("postgres")
                    else "wrk"
                    if name == "wrk"
                    else "other"
                )
                out[p.pid] = (group, t.user + t.system)
        return out

    def stop(self) -> dict[str, float]:
        end = self.snapshot()
        used: dict[str, float] = {}
        for pid, (group, cpu) in end.items():
            before = self.start.get(pid, (group, 0.0))[1]
            used[group] = used.get(group, 0.0) + max(0.0, cpu - before)
        return used


class RssSampler:
    """Every 100 ms: RSS of the server's process tree (uvicorn master + workers)."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_total = 0
        self.peak_single = 0
        self.samples = 0
        self.per_process: dict[int, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def sample(self) -> int:
        total = 0
        for p in self.tree():
            with contextlib.suppress(psutil.Error):
                rss = p.memory_info().rss
                total += rss
                self.peak_single = max(self.peak_single, rss)
                role = "master" if p.pid == self.pid else _role(p)
                old = self.per_process.get(p.pid, (role, 0))[1]
                self.per_process[p.pid] = (role, max(old, rss))
        self.peak_total = max(self.peak_total, total)
        self.samples += 1
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Server:
    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    ready_path: str = "/healthz"
    proc: subprocess.Popen[bytes] | None = None
    logfile: Any = None
    idle_rss: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        self.logfile = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix=f"bench-{self.name}-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            self.cmd,
            env=self.env,
            cwd=ROOT,
            stdout=self.logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.tail()}")
            try:
                with urllib.request.urlopen(self.base + self.ready_path, timeout=2) as r:
                    if r.status == 200 and self._workers_up():
                        break
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError(f"{self.name} not ready in {timeout}s: {self.tail()}")
        # Let every worker finish importing before the measurement starts.
        time.sleep(1.0)
        self.idle_rss = RssSampler(self.proc.pid).sample()
        return self

    def _workers_up(self) -> bool:
        assert self.proc is not None
        try:
            kids = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return False
        # uvicorn --workers N: N spawn()ed workers (+ multiprocessing's resource tracker).
        return sum(1 for k in kids if "resource_tracker" not in " ".join(k.cmdline())) >= WORKERS

    def tail(self, n: int = 4000) -> str:
        if self.logfile is None:
            return ""
        self.logfile.flush()
        return Path(self.logfile.name).read_text(errors="replace")[-n:]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # Anything left in the group (a worker that outlived the master) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.logfile is not None:
            self.logfile.close()
            with contextlib.suppress(OSError):
                os.unlink(self.logfile.name)
        self.proc = None


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def uvicorn_server(name: str, app: str, env: dict[str, str], port: int | None = None) -> Server:
    """A bench ASGI app under uvicorn with exactly the options `supportline serve` uses."""
    port = port or free_port()
    cmd = [PYTHON, "-m", "bench.serve", app, "--port", str(port), "--workers", str(WORKERS)]
    return Server(name, cmd, env, port)


def api_server(db: str, server: str = DEFAULT_SERVER, port: int | None = None) -> Server:
    """The real API, started the production way."""
    port = port or free_port()
    cmd = [
        SUPPORTLINE,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
    ]
    return Server("api", cmd, app_env(db, server), port, ready_path="/readyz")


# --------------------------------------------------------------------------------------
# wrk


@dataclass
class Result:
    name: str
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    errors: int = 0
    non2xx: int = 0
    socket_errors: int = 0
    first_bad_status: int = 0
    first_bad_body: str = ""
    peak_rss_mb: float | None = None
    peak_worker_rss_mb: float | None = None
    idle_rss_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def wrk_available() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    return path


def run_wrk(
    name: str,
    url: str,
    *,
    duration: int,
    method: str = "GET",
    body: dict[str, Any] | None = None,
    auth: str | None = None,
    connections: int = CONCURRENCY,
    threads: int = WRK_THREADS,
    rss_pid: int | None = None,
    bodies_file: str | None = None,
) -> Result:
    env = dict(os.environ)
    env["BENCH_METHOD"] = method
    env["BENCH_THREADS"] = str(threads)
    if bodies_file:  # one JSON body per line, sent in turn (bench/wrk/report.lua)
        env["BENCH_BODIES_FILE"] = bodies_file
    body_path = None
    if body is not None:
        fd, body_path = tempfile.mkstemp(prefix="bench-body-", suffix=".json")
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps(body, ensure_ascii=False).encode())
        env["BENCH_BODY_FILE"] = body_path
    if auth:
        env["BENCH_AUTH"] = f"Bearer {auth}"
    cmd = [
        wrk_available(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA),
        url,
    ]
    sampler = RssSampler(rss_pid).start() if rss_pid else None
    meter = CpuMeter(rss_pid)
    kids0 = os.times()
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    finally:
        if sampler:
            sampler.stop()
        if body_path:
            os.unlink(body_path)
    cpu = meter.stop()
    kids1 = os.times()
    # wrk has exited: its CPU shows in our children's times, not in a live process.
    cpu["wrk"] = (kids1.children_user - kids0.children_user) + (
        kids1.children_system - kids0.children_system
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out.stdout}\n{out.stderr}")
    raw = json.loads(line.split(" ", 1)[1])
    seconds = raw["duration_us"] / 1e6
    sock = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    res = Result(
        name=name,
        requests=raw["requests"],
        rps=raw["requests"] / seconds if seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        non2xx=raw["non2xx"],
        socket_errors=sock,
        errors=raw["non2xx"] + sock,
        first_bad_status=raw["first_bad_status"],
        first_bad_body=raw["first_bad_body"],
        extra={"wrk": raw, "cpu_s": cpu},
    )
    if raw["requests"]:
        res.extra["cpu_ms_per_request"] = {
            k: round(1000 * v / raw["requests"], 3) for k, v in cpu.items()
        }
    if sampler:
        res.peak_rss_mb = sampler.peak_total / 2**20
        res.peak_worker_rss_mb = sampler.peak_single / 2**20
        res.extra["rss_peak_mb_by_process"] = [
            {"pid": pid, "role": role, "mb": round(rss / 2**20, 1)}
            for pid, (role, rss) in sorted(sampler.per_process.items())
        ]
    return res


def probe(
    url: str, method: str = "GET", body: dict[str, Any] | None = None, auth: str | None = None
) -> tuple[int, str]:
    """One request, to show what an endpoint answers before it is hammered."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if auth:
        req.add_header("Authorization", f"Bearer {auth}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, repr(e)


# --------------------------------------------------------------------------------------
# Output


def table(rows: Sequence[Result], with_rss: bool = True) -> str:
    head = ["phase", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "requests", "errors"]
    head += ["CPU ms/req app|pg|wrk"]
    if with_rss:
        head += ["peak RSS MB (sum)", "max proc MB"]
    lines = [head]
    for r in rows:
        line = [
            r.name,
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p90_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.max_ms:.1f}",
            f"{r.requests:,}",
            f"{r.errors:,}" + (f" ({r.non2xx:,} non-2xx)" if r.non2xx else ""),
            _cpu(r),
        ]
        if with_rss:
            line += [
                f"{r.peak_rss_mb:.0f}" if r.peak_rss_mb is not None else "-",
                f"{r.peak_worker_rss_mb:.0f}" if r.peak_worker_rss_mb is not None else "-",
            ]
        lines.append(line)
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(head))]
    out = []
    for i, row in enumerate(lines):
        out.append(
            "  ".join(
                str(c).ljust(widths[j]) if j == 0 else str(c).rjust(widths[j])
                for j, c in enumerate(row)
            )
        )
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _cpu(r: Result) -> str:
    c = r.extra.get("cpu_ms_per_request")
    if not c:
        return "-"
    return f"{c.get('api', 0):.2f}|{c.get('postgres', 0):.2f}|{c.get('wrk', 0):.2f}"


def save(kind: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
    return path


def run(coro: Any) -> Any:
    return asyncio.run(coro)
