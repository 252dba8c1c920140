"""`supportline` console command: serve | worker | migrate | create-api-key | openapi | demo |
mail-in | stock-check | dev."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.embedded import EmbeddedServices

ROOT = Path(__file__).resolve().parent.parent


def _alembic_config() -> Any:
    """alembic.ini next to the source tree (a checkout, an editable install), else in the
    working directory (the container image installs the package and keeps alembic.ini and
    alembic/ in its WORKDIR)."""
    from alembic.config import Config

    ini = next(
        (p for p in (ROOT / "alembic.ini", Path.cwd() / "alembic.ini") if p.is_file()),
        None,
    )
    if ini is None:
        raise SystemExit("alembic.ini not found next to the package or in the current directory.")
    cfg = Config(str(ini))
    cfg.set_main_option("script_location", str(ini.parent / "alembic"))
    return cfg


def cmd_migrate(args: argparse.Namespace) -> int:
    from alembic import command

    cfg = _alembic_config()
    if args.downgrade:
        command.downgrade(cfg, args.downgrade)
    else:
        command.upgrade(cfg, args.revision)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        proxy_headers=True,
        log_config=None,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from workers.run import main as run_worker

    run_worker()
    return 0


def cmd_create_api_key(args: argparse.Namespace) -> int:
    from app import models  # noqa: F401  (complete metadata before the first query)
    from app.access import service
    from app.core.db import dispose_engine, open_uow
    from app.core.security import Role

    async def go() -> str:
        plain = ""
        async with open_uow() as uow:
            _, plain = await service.create_key(
                uow, args.name, Role(args.role), uuid.UUID(args.branch) if args.branch else None
            )
        await dispose_engine()
        return plain

    print(asyncio.run(go()))
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from app.main import create_app

    spec = json.dumps(create_app().openapi(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    if args.check:
        current = Path(args.check).read_text(encoding="utf-8") if Path(args.check).exists() else ""
        if current != spec:
            print(
                f"{args.check} is out of date: run `make openapi` and commit it.", file=sys.stderr
            )
            return 1
        print(f"{args.check} is up to date.")
        return 0
    sys.stdout.write(spec)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from app import models  # noqa: F401  (complete metadata before the first query)
    from app.demo import load_demo

    return asyncio.run(load_demo(force=args.force))


def _wait_ready(url: str, procs: list[subprocess.Popen[bytes]], timeout: float) -> bool:
    """Polls /readyz until it answers 200; False if a child died or time ran out."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our own URL
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False


@dataclass
class DevRun:
    """What `dev` started, and the stop flag every one of its waits polls."""

    host: str
    port: int
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    services: EmbeddedServices | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stop_signal: list[int] = field(default_factory=list)
    mail_sink: Any = None  # app.mail.devsink.DevMailSink, when SMTP_HOST is unset
    webhook_receiver: Any = None  # app.hooks.devreceiver.DevWebhookReceiver, when it bound

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def trap_signals(self) -> None:
        """From here on a signal only sets a flag: every wait polls it, so shutdown
        always runs (children first, then the embedded servers)."""

        def _stop(signum: int, frame: Any) -> None:
            self.stop_signal.append(signum)

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)


def cmd_dev(args: argparse.Namespace) -> int:
    """make run: embedded services when URLs are unset, migrate, demo data once, API + worker.

    Ctrl-C (SIGINT) or SIGTERM stops the API and the worker, then the embedded
    PostgreSQL and Redis this command started, and returns once they are gone."""
    from app.core.config import get_settings
    from app.embedded import EmbeddedServices

    run = DevRun(args.host, args.port)
    run.trap_signals()
    data_dir = Path(get_settings().data_dir).resolve()
    run.services = EmbeddedServices()
    try:
        _dev_start_services(run, data_dir)
        _dev_start_mail_sink(run, data_dir)
        _dev_start_webhook_receiver(run, data_dir)
        if run.stop_signal or not _dev_cli(run, "migrate") or not _dev_cli(run, "demo"):
            return 0 if run.stop_signal else 1
        _dev_start_children(run)
        started = _dev_wait_started(run)
        if started is not None:
            return started
        _dev_print_running(run, data_dir / "demo-keys.txt")
        return _dev_watch(run)
    finally:
        _dev_shutdown(run)


def _dev_start_services(run: DevRun, data_dir: Path) -> None:
    """Embedded PostgreSQL and Redis for the URLs the environment does not set; the
    children's environment with them."""
    from app.core.config import get_settings
    from app.embedded import ensure_services

    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        print(f"Starting embedded servers in {data_dir} ...", flush=True)
    run.services = ensure_services(data_dir)
    get_settings.cache_clear()
    run.env = dict(os.environ)
    run.env.setdefault("LOG_JSON", "false")
    run.env["DATA_DIR"] = str(data_dir)


def _dev_start_mail_sink(run: DevRun, data_dir: Path) -> None:
    """Without SMTP_HOST, an SMTP sink in this process keeps the demo centre's mail in a
    Maildir (DATA_DIR/mail); the API and the worker send to it."""
    if os.environ.get("SMTP_HOST"):
        return
    from app.mail.devsink import DevMailSink

    run.mail_sink = DevMailSink(data_dir / "mail")
    run.mail_sink.start()
    run.env.update(SMTP_HOST=run.mail_sink.host, SMTP_PORT=str(run.mail_sink.port),
                   SMTP_SECURITY="none")  # fmt: skip


def _dev_start_webhook_receiver(run: DevRun, data_dir: Path) -> None:
    """The receiver the demo's outbound subscription delivers to (DATA_DIR/webhooks.jsonl),
    and loopback allowed as a webhook target for the children (the demo registers that
    URL, the worker sends to it), unless WEBHOOK_ALLOW_NETWORKS says otherwise. A taken
    port is no reason to stop: the deliveries are retried until it is free."""
    from app.hooks.devreceiver import DevWebhookReceiver

    run.env.setdefault("WEBHOOK_ALLOW_NETWORKS", '["127.0.0.1/32"]')
    receiver = DevWebhookReceiver(data_dir / "webhooks.jsonl")
    try:
        receiver.start()
    except OSError as exc:
        print(f"The dev webhook receiver cannot listen on {receiver.url} ({exc}); "
              "set DEV_WEBHOOK_PORT to another one (before the demo loads: its "
              "subscription keeps the URL it was given).", file=sys.stderr)  # fmt: skip
        return
    run.webhook_receiver = receiver


def _dev_cli(run: DevRun, *cli_args: str) -> bool:
    """Runs `supportline <cli_args>` to completion; False if it failed or we stop."""
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", *cli_args], env=run.env)
    while proc.poll() is None:
        if run.stop_signal:
            proc.terminate()
            proc.wait()
            return False
        time.sleep(0.1)
    if proc.returncode != 0:
        print(f"supportline {' '.join(cli_args)} failed ({proc.returncode}).", file=sys.stderr)
    return proc.returncode == 0


def _dev_start_children(run: DevRun) -> None:
    py = sys.executable
    serve = [py, "-m", "app.cli", "serve", "--host", run.host, "--port", str(run.port)]
    run.procs.append(subprocess.Popen(serve, env=run.env))
    run.procs.append(subprocess.Popen([py, "-m", "app.cli", "worker"], env=run.env))
    # Mail in (LMTP) as an MTA would deliver to it; on a free port unless MAIL_IN_PORT is
    # set, so a second `make run` or a busy 8024 does not stop the others.
    if "MAIL_IN_PORT" not in run.env:
        run.env["MAIL_IN_PORT"] = str(_free_port())
    mail_in = [py, "-m", "app.cli", "mail-in", "--port", run.env["MAIL_IN_PORT"]]
    run.procs.append(subprocess.Popen(mail_in, env=run.env))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dev_wait_started(run: DevRun) -> int | None:
    """Waits until the API is ready: None then, else the exit code (a child died, or
    we were told to stop)."""
    while not run.stop_signal and not _wait_ready(f"{run.base}/readyz", run.procs, timeout=1.0):
        if not run.stop_signal and any(p.poll() is not None for p in run.procs):
            print("The API, the worker or mail-in exited during start-up.", file=sys.stderr)
            return 1
    return 0 if run.stop_signal else None


def _dev_print_running(run: DevRun, keys_file: Path) -> None:
    base = run.base
    sink = run.mail_sink
    mail = (f"  Mail:      {sink.path} (Maildir: a file per message in new/;"
            f" SMTP {sink.host}:{sink.port})\n") if sink else ""  # fmt: skip
    mail += f"  Mail in:   LMTP on 127.0.0.1:{run.env.get('MAIL_IN_PORT')} (supportline mail-in)\n"
    mail += _dev_webhooks_text(run)
    print(
        f"\n  Supportline is running.\n"
        f"  API docs:  {base}/docs\n"
        f"  OpenAPI:   {base}/openapi.json\n"
        f"  Ready:     {base}/readyz\n"
        f"  Demo keys: {keys_file}\n"
        f"{mail}"
        f"  Ctrl-C stops the API, the worker, mail-in and the embedded servers.\n",
        flush=True,
    )


def _dev_webhooks_text(run: DevRun) -> str:
    from app.demo.hooks import ALERTMANAGER_KEY, ALERTMANAGER_TOKEN

    hooks_in = (f"  Hooks in:  POST {run.base}/v1/hooks/{ALERTMANAGER_KEY}"
                f" (Alertmanager; Authorization: Bearer {ALERTMANAGER_TOKEN})\n")  # fmt: skip
    receiver = run.webhook_receiver
    if receiver is None:
        return hooks_in
    return hooks_in + f"  Hooks out: {receiver.url} -> {receiver.path} (a JSON line each)\n"


def _dev_watch(run: DevRun) -> int:
    """Runs until a signal (0) or until the API or the worker exits (1)."""
    while not run.stop_signal and all(p.poll() is None for p in run.procs):
        time.sleep(0.3)
    if not run.stop_signal:
        print("The API, the worker or mail-in exited; stopping.", file=sys.stderr)
        return 1
    return 0


def _dev_shutdown(run: DevRun) -> None:
    """Stops the children (SIGTERM, killed after 20 s), then the embedded servers."""
    services = run.services
    embedded = services is not None and bool(services.database_url or services.redis_url)
    if run.procs or embedded:
        print("Stopping ...", flush=True)
    for p in run.procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in run.procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if services is not None:
        services.stop()
    if run.mail_sink is not None:
        run.mail_sink.stop()
    if run.webhook_receiver is not None:
        run.webhook_receiver.stop()
    if run.procs or embedded:
        print("Stopped.", flush=True)


def cmd_mail_in(args: argparse.Namespace) -> int:
    """The LMTP listener for inbound mail (Postfix, an Exchange connector), until
    SIGTERM or SIGINT."""
    from app import models  # noqa: F401  (complete metadata before the first query)
    from app.core.config import get_settings
    from app.mail.inbound import lmtp

    settings = get_settings()
    asyncio.run(lmtp.run(args.host or settings.mail_in_host, args.port or settings.mail_in_port))
    return 0


def cmd_stock_check(args: argparse.Namespace) -> int:
    """Recomputes every stock balance from the ledger; exit 1 on any difference."""
    from sqlalchemy import text

    from app import models  # noqa: F401  (complete metadata before the first query)
    from app.core.db import dispose_engine, open_uow
    from app.parts.service.check import stock_check

    async def go() -> int:
        async with open_uow() as uow:
            # One snapshot for the ledger and the balances: writers may go on meanwhile.
            conn = await uow.session.connection()
            await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            report = await stock_check(uow)
        await dispose_engine()
        for d in report.differences:
            print("balance differs from the ledger:", json.dumps(d, default=str), file=sys.stderr)
        for d in report.serials:
            print("serial differs from its ledger:", json.dumps(d, default=str), file=sys.stderr)
        verdict = "ok" if report.ok else "DIFFERENCES"
        print(f"stock-check: {verdict}: {report.movements} ledger rows, {report.balances} "
              f"balances, {len(report.differences)} balance and {len(report.serials)} serial "
              f"differences, {report.seconds:.2f} s")  # fmt: skip
        return 0 if report.ok else 1

    return asyncio.run(go())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="supportline")
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("serve", help="run the API (uvicorn)")
    p.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))  # noqa: S104
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    p.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    p.set_defaults(fn=cmd_serve)

    p = sub.add_parser("worker", help="run one ARQ worker")
    p.set_defaults(fn=cmd_worker)

    p = sub.add_parser("migrate", help="apply Alembic migrations")
    p.add_argument("revision", nargs="?", default="head")
    p.add_argument("--downgrade", metavar="REV")
    p.set_defaults(fn=cmd_migrate)

    p = sub.add_parser("create-api-key", help="issue an API key and print it once")
    p.add_argument("--name", default="admin")
    p.add_argument("--role", default="admin")
    p.add_argument("--branch", default=None, help="branch id to scope the key to")
    p.set_defaults(fn=cmd_create_api_key)

    p = sub.add_parser("openapi", help="print the OpenAPI spec, or --check FILE for drift")
    p.add_argument("--check", metavar="FILE")
    p.set_defaults(fn=cmd_openapi)

    p = sub.add_parser("demo", help="load demo data once (a Chinese support centre)")
    p.add_argument("--force", action="store_true")
    p.set_defaults(fn=cmd_demo)

    p = sub.add_parser("mail-in", help="run the LMTP listener for inbound mail")
    p.add_argument("--host", default=None, help="default: MAIL_IN_HOST")
    p.add_argument("--port", type=int, default=None, help="default: MAIL_IN_PORT")
    p.set_defaults(fn=cmd_mail_in)

    p = sub.add_parser("stock-check", help="recompute every stock balance from the ledger")
    p.set_defaults(fn=cmd_stock_check)

    p = sub.add_parser("dev", help="development: embedded services, migrate, demo, API + worker")
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    p.set_defaults(fn=cmd_dev)

    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except KeyboardInterrupt:
        # Ctrl-C reaches every process of the terminal's group: `dev`'s children too.
        return 130


if __name__ == "__main__":
    sys.exit(main())
