"""Settings, read only from the environment (and `.env` in development)."""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/supportline"
    redis_url: str = "redis://127.0.0.1:6379/0"
    data_dir: str = ".data"
    log_level: str = "INFO"
    log_json: bool = True
    otel_enabled: bool = False

    db_pool_size: int = 20
    db_max_overflow: int = 10
    db_raw_pool_size: int = Field(10, ge=1)
    db_statement_timeout_ms: int = 15000

    api_key_cache_seconds: float = 30.0
    default_page_size: int = 50
    max_page_size: int = 200
    idempotency_ttl_hours: int = 24

    attachment_max_bytes: int = 10 * 1024 * 1024
    attachment_allowed_types: list[str] = Field(
        default_factory=lambda: [
            "text/plain",
            "text/csv",
            "application/json",
            "application/pdf",
            "application/zip",
            "application/gzip",
            "application/x-tar",
            "application/octet-stream",
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
        ]
    )

    reopen_window_days: int = 14

    outbox_batch_size: int = 100
    outbox_poll_seconds: int = 1
    outbox_max_attempts: int = 8
    outbox_backoff_base_seconds: float = 2.0
    outbox_backoff_max_seconds: float = 600.0
    outbox_consumers: list[str] = Field(default_factory=list)
    outbox_retention_days: int = Field(default=14, ge=1)

    timer_poll_seconds: int = Field(default=2, ge=1, le=60)
    timer_horizon_seconds: int = Field(default=300, ge=10, le=3600)
    timer_overdue_grace_seconds: int = Field(default=5, ge=1)
    timer_max_attempts: int = Field(default=8, ge=1)
    timer_backoff_base_seconds: float = Field(default=5.0, gt=0)
    timer_backoff_max_seconds: float = Field(default=900.0, gt=0)
    # Extra modules registering timer handlers (the domains' own are always loaded).
    timer_handler_modules: list[str] = Field(default_factory=list)

    # A major incident is declared when more than this many P1 tickets on one product
    # family open within the window (DOMAIN section 5); 0 turns the rule off.
    incident_auto_threshold: int = Field(default=5, ge=0)
    incident_auto_window_minutes: int = Field(default=30, ge=1)

    # Spare parts (DOMAIN section 6). A part request needs a manager's approval when the
    # ticket is uncontracted, the part is not covered, or its value is above this.
    parts_approval_threshold: Decimal = Field(default=Decimal("5000"), ge=0)
    parts_currency: str = Field(default="CNY", pattern="^[A-Z]{3}$")
    # After fitting, the defective part is expected back within this many days.
    parts_defective_return_days: int = Field(default=7, ge=1)
    rma_validity_days: int = Field(default=30, ge=1, le=365)
    # A loaner's reminder goes this many hours before its due-back date begins.
    loan_reminder_hours: int = Field(default=24, ge=1)

    # E-mail out (DOMAIN 2, 7, 8): the SMTP server, how deliveries retry, flood caps.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    # Messages sent per SMTP session before it is closed and another opened.
    smtp_batch_size: int = Field(default=50, ge=1, le=1000)
    mail_enabled: bool = True
    mail_from: str = "Supportline 技术支持中心 <support@supportline.local>"
    # Our own domain: Message-IDs are made in it, and mail from it is never answered.
    mail_domain: str = "supportline.local"
    # The staff links in notices (ticket pages of the frontend) and the survey links.
    mail_staff_url: str = "http://127.0.0.1:8000/tickets/{ticket_id}"
    mail_survey_url: str = "http://127.0.0.1:8000/v1/surveys/{token}"
    mail_poll_seconds: int = Field(default=2, ge=1, le=60)
    mail_max_attempts: int = Field(default=8, ge=1)
    mail_backoff_base_seconds: float = Field(default=30.0, gt=0)
    mail_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    # A delivery left `sending` longer than this (its worker died between DATA and the
    # record) is sent again with the same Message-ID.
    mail_sending_stale_seconds: int = Field(default=120, ge=5)
    # Flood caps per recipient: beyond them notices merge into a digest.
    mail_cap_per_ticket: int = Field(default=10, ge=1)
    mail_cap_total: int = Field(default=30, ge=1)
    mail_cap_window_minutes: int = Field(default=10, ge=1)
    mail_suppress_after_bounces: int = Field(default=3, ge=1)
    # Hard bounces count toward suppression while they are this close together: an
    # address that bounced once a year ago and once today has not bounced "repeatedly".
    mail_bounce_window_days: int = Field(default=30, ge=1, le=3650)
    # Mail in: who may open tickets by mail when the sender is no known contact.
    mail_in_default_customer: str | None = Field(
        default=None, description="Customer code for unknown senders; unset: refuse them."
    )
    mail_in_host: str = "127.0.0.1"
    mail_in_port: int = Field(default=8024, ge=1, le=65535)
    mail_in_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    # A ticket opened by mail: nobody has triaged it yet, so the mildest bucket and P3
    # (DOMAIN 2: runs, reports errors); an agent reclassifies it when he takes it.
    mail_in_category: str = Field(default="consultation", min_length=1, max_length=64)
    mail_in_priority: Literal["P1", "P2", "P3", "P4"] = "P3"

    # Callbacks and surveys: the survey links are signed with this secret (HMAC-SHA256).
    # Required in production (the settings refuse to load without it, and signing or
    # checking a link fails loudly should it be missing all the same);
    # elsewhere a fixed development secret is used, so dev links survive restarts.
    survey_secret: str | None = None
    survey_valid_days: int = Field(default=14, ge=1, le=365)
    # A callback not done this long after its due time raises `callback.overdue`.
    callback_overdue_grace_minutes: int = Field(default=60, ge=0, le=1440)

    # Webhooks in (issue 13): what one request may carry, how far its signed timestamp
    # may be off, and how many requests a source may send a minute (a source may set
    # its own, lower or higher).
    hook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    hook_timestamp_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    hook_rate_limit_per_minute: int = Field(default=600, ge=1)
    # Webhooks out: targets must resolve to global addresses, unless in these networks
    # (CIDRs, e.g. ["10.20.0.0/16"] for a receiver inside the company network).
    webhook_allow_networks: list[str] = Field(default_factory=list)
    webhook_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_read_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    # A subscription whose deliveries have failed for this long, without one success
    # in between, is disabled (and a `webhook.subscription_disabled` event says so).
    webhook_disable_after_days: int = Field(default=5, ge=1, le=90)
    # After a secret's rotation the previous secret signs too, for this long.
    webhook_secret_overlap_hours: int = Field(default=24, ge=0, le=720)
    webhook_poll_seconds: int = Field(default=2, ge=1, le=60)
    webhook_batch_size: int = Field(default=100, ge=1, le=1000)
    webhook_concurrency: int = Field(default=16, ge=1, le=256)
    webhook_response_excerpt_bytes: int = Field(default=1024, ge=0, le=65536)
    # A delivery left `sending` longer than this (its worker died) is tried again.
    webhook_sending_stale_seconds: int = Field(default=120, ge=5)

    worker_health_check_interval: int = 10
    worker_max_jobs: int = 20

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.max_page_size < self.default_page_size:
            raise ValueError("MAX_PAGE_SIZE must be >= DEFAULT_PAGE_SIZE")
        for network in self.webhook_allow_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                # Refused at start-up, not as a 500 when a subscription is registered.
                raise ValueError(f"WEBHOOK_ALLOW_NETWORKS: {network!r} is no network") from None
        if self.env == "production" and not self.survey_secret:
            # Refused at start-up rather than as a 500 on the public survey page.
            raise ValueError("SURVEY_SECRET is required with ENV=production")
        return self

    @property
    def sync_database_url(self) -> str:
        return self.database_url.replace("+asyncpg", "+psycopg2")


@lru_cache
def get_settings() -> Settings:
    return Settings()
