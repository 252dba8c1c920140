"""ARQ WorkerSettings: job functions, cron jobs, startup and shutdown."""

from __future__ import annotations

import logging
import socket
from typing import Any

from arq import cron

from app import models  # noqa: F401  (complete metadata before the first query)
from app.core.config import get_settings
from app.core.db import dispose_engine
from app.core.logging import configure_logging
from app.core.queue import job_deserializer, job_serializer, redis_settings
from app.hooks.jobs import send_webhooks
from app.mail.jobs import send_digests, send_mail
from app.outbox.dispatcher import load_configured_consumers
from app.outbox.jobs import DRAIN_JOB_TIMEOUT_SECONDS, drain_outbox, purge_outbox
from app.timers.jobs import (
    SCHEDULE_JOB_TIMEOUT_SECONDS,
    fire_timer,
    fire_timers,
    schedule_timers,
)
from app.timers.registry import load_handlers
from workers.maintenance import purge_idempotency_keys

log = logging.getLogger("supportline.worker")


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    # Fails the worker's start when a configured consumer cannot be imported: better than
    # draining messages past a consumer that is missing.
    consumers = load_configured_consumers(settings)
    timer_modules = load_handlers(settings)
    log.info(
        "worker started",
        extra={
            "fields": {
                "outbox_consumers": [c.name for c in consumers],
                "timer_handler_modules": timer_modules,
            }
        },
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    await dispose_engine()


_settings = get_settings()


def _every(seconds: int) -> set[int]:
    """Cron seconds for "every n seconds" (1..60; uneven when n does not divide 60)."""
    step = min(max(seconds, 1), 60)
    return set(range(0, 60, step))


class WorkerSettings:
    functions: list[Any] = [
        purge_idempotency_keys,
        drain_outbox,
        purge_outbox,
        fire_timers,
        fire_timer,  # the previous release's per-timer jobs (rolling deploy)
        schedule_timers,
        send_mail,
        send_digests,
        send_webhooks,
    ]
    cron_jobs: list[Any] = [
        cron(purge_idempotency_keys, minute={7}, run_at_startup=False),
        # Overlapping ticks are safe without an advisory lock: see app/outbox/jobs.py.
        cron(
            drain_outbox,
            second=_every(_settings.outbox_poll_seconds),
            run_at_startup=True,
            unique=True,
            timeout=DRAIN_JOB_TIMEOUT_SECONDS,
        ),
        cron(purge_outbox, hour={3}, minute={17}, run_at_startup=False),
        # Concurrent passes (several workers) give way to each other with an advisory lock.
        cron(
            schedule_timers,
            second=_every(_settings.timer_poll_seconds),
            run_at_startup=True,
            unique=True,
            timeout=SCHEDULE_JOB_TIMEOUT_SECONDS,
        ),
        # Overlapping passes are safe: deliveries are claimed with SKIP LOCKED.
        cron(
            send_mail,
            second=_every(_settings.mail_poll_seconds),
            run_at_startup=True,
            unique=True,
            timeout=300,
        ),
        cron(send_digests, minute=set(range(0, 60, 5)), run_at_startup=False, unique=True),
        # Overlapping passes are safe: deliveries are claimed with SKIP LOCKED.
        cron(
            send_webhooks,
            second=_every(_settings.webhook_poll_seconds),
            run_at_startup=True,
            unique=True,
            timeout=300,
        ),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings()
    job_serializer = staticmethod(job_serializer)
    job_deserializer = staticmethod(job_deserializer)
    max_jobs = _settings.worker_max_jobs
    # How often an idle worker asks Redis for jobs that came due (ARQ's default is 0.5 s):
    # part of every timer's lag, and a poll is one cheap ZRANGEBYSCORE.
    poll_delay = 0.1
    # One key per worker host (container): `arq --check workers.settings.WorkerSettings`
    # run on that host reads the same key.
    health_check_key = f"supportline:worker:{socket.gethostname()}:health-check"
    health_check_interval = _settings.worker_health_check_interval
    keep_result = 0
    allow_abort_jobs = False
