"""Prometheus metrics. Set PROMETHEUS_MULTIPROC_DIR to aggregate several uvicorn workers."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "supportline_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
REQUEST_SECONDS = Histogram(
    "supportline_http_request_seconds",
    "HTTP request duration",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OUTBOX_DELIVERED = Counter(
    "supportline_outbox_delivered_total", "Outbox rows delivered", ["event_type"]
)
OUTBOX_FAILED = Counter(
    "supportline_outbox_failures_total", "Outbox delivery failures", ["event_type", "final"]
)
OUTBOX_LAG = Gauge(
    "supportline_outbox_lag_seconds", "Age of the oldest pending outbox row at the last drain"
)
TIMERS_FIRED = Counter("supportline_timers_fired_total", "Timers fired", ["kind"])
TIMERS_FAILED = Counter(
    "supportline_timer_failures_total",
    "Timer firings whose handler failed (outcome: retry, or dead when given up)",
    ["kind", "outcome"],
)
TIMER_LAG = Histogram(
    "supportline_timer_lag_seconds",
    "How late a timer fired (fired at - due at)",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
JOB_FAILURES = Counter("supportline_job_failures_total", "Worker job failures", ["job"])
MAIL_SENT = Counter("supportline_mail_sent_total", "E-mails accepted by SMTP", ["event_type"])
MAIL_FAILED = Counter(
    "supportline_mail_failures_total",
    "E-mail attempts that failed (outcome: temporary, permanent, unknown; final: dead)",
    ["outcome", "final"],
)
MAIL_RESENT = Counter(
    "supportline_mail_resent_total", "E-mails sent again after an attempt without a record"
)
MAIL_SMTP_ERRORS = Counter(
    "supportline_mail_smtp_errors_total",
    "SMTP sessions that could not be opened (refused, time-out, TLS, AUTH)",
)
MAIL_LAG = Histogram(
    "supportline_mail_lag_seconds",
    "From when an e-mail was due (written, or the end of its quiet hours) to its acceptance",
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600),
)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
