"""`supportline` console command: serve | worker | migrate | create-api-key | openapi | demo | dev."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
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
    from app.access import service
    from app.core.db import dispose_engine, open_uow
    from app.core.security import Role

    async def go() -> str:
        plain = ""
        async for uow in open_uow():
            key, plain = await service.create_key(
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
    from app.demo import load_demo

    return asyncio.run(load_demo(force=args.force))


def cmd_dev(args: argparse.Namespace) -> int:
    """make run: embedded services when URLs are unset, migrate, demo data once, API + worker."""
    from app.core.config import get_settings
    from app.embedded import ensure_services

    settings = get_settings()
    services = ensure_services(settings.data_dir)
    get_settings.cache_clear()
    env = dict(os.environ)
    env.setdefault("LOG_JSON", "false")
    py = sys.executable
    procs: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([py, "-m", "app.cli", "migrate"], env=env, check=True)
        subprocess.run([py, "-m", "app.cli", "demo"], env=env, check=True)
        procs.append(
            subprocess.Popen(
                [py, "-m", "app.cli", "serve", "--host", args.host, "--port", str(args.port)],
                env=env,
            )
        )
        procs.append(subprocess.Popen([py, "-m", "app.cli", "worker"], env=env))
        print(
            f"\n  Supportline is running.\n"
            f"  API docs:  http://{args.host}:{args.port}/docs\n"
            f"  OpenAPI:   http://{args.host}:{args.port}/openapi.json\n"
            f"  Ready:     http://{args.host}:{args.port}/readyz\n"
            f"  Demo keys: {Path(settings.data_dir) / 'demo-keys.txt'}\n"
            f"  Ctrl-C stops the API, the worker and the embedded servers.\n",
            flush=True,
        )
        stop = False

        def _stop(signum: int, frame: Any) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        while not stop and all(p.poll() is None for p in procs):
            time.sleep(0.3)
        return 0 if stop else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        services.stop()


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

    p = sub.add_parser("dev", help="development: embedded services, migrate, demo, API + worker")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    p.set_defaults(fn=cmd_dev)

    args = parser.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
