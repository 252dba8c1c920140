"""ARQ WorkerSettings: job functions, cron jobs, startup and shutdown."""

from __future__ import annotations

from typing import Any

from arq import cron

from app.core.config import get_settings
from app.core.db import dispose_engine
from app.core.logging import configure_logging
from app.core.queue import job_deserializer, job_serializer, redis_settings
from workers.maintenance import purge_idempotency_keys


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)


async def shutdown(ctx: dict[str, Any]) -> None:
    await dispose_engine()


_settings = get_settings()


class WorkerSettings:
    functions: list[Any] = [purge_idempotency_keys]
    cron_jobs: list[Any] = [cron(purge_idempotency_keys, minute={7}, run_at_startup=False)]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings()
    job_serializer = staticmethod(job_serializer)
    job_deserializer = staticmethod(job_deserializer)
    max_jobs = _settings.worker_max_jobs
    health_check_interval = _settings.worker_health_check_interval
    keep_result = 0
    allow_abort_jobs = False
