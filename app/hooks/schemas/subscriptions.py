"""Outbound webhook subscriptions: a target URL, the event types it wants, its secret."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field

from app.core.inputs import InputModel, Text
from app.core.outputs import OutputModel
from app.hooks.secrets import is_signing_secret

# fnmatch patterns as the outbox matches them (`fnmatchcase`): letters, digits, `_`,
# `-`, `.`, the wildcards `*` and `?`, and character sets `[...]` / `[!...]`.
_PATTERN = re.compile(r"^(?:[a-z0-9_.*?-]|\[!?[a-z0-9_.-]+\])+$")
MAX_PATTERNS = 50


def _pattern(value: str) -> str:
    if not _PATTERN.match(value):
        raise ValueError(
            "an event type or an fnmatch pattern of lower-case letters, digits, '_', '-', "
            "'.', '*', '?' and [sets], e.g. 'ticket.*', 'sla.breached' or '*'"
        )
    return value


def _patterns(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))  # duplicates dropped, order kept


def _secret(value: str) -> str:
    if not is_signing_secret(value):
        raise ValueError("a signing secret is 'whsec_' and the base64 of 24 to 64 bytes")
    return value


EventPattern = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_pattern)]
EventPatterns = Annotated[
    list[EventPattern],
    Field(min_length=1, max_length=MAX_PATTERNS, examples=[["ticket.*", "sla.breached"]]),
    AfterValidator(_patterns),
]
SigningSecret = Annotated[
    str,
    Field(
        min_length=30,
        max_length=200,
        description="Your own signing secret (`whsec_` + base64 of 24..64 bytes); "
        "generated when absent.",
    ),
    AfterValidator(_secret),
]
Url = Annotated[
    str,
    Field(
        min_length=8,
        max_length=2000,
        description="http or https; it must resolve to global addresses only (checked now "
        "and at every send; WEBHOOK_ALLOW_NETWORKS lists exceptions).",
    ),
]

_EXAMPLE: dict[str, Any] = {
    "id": "0192f3c4-0000-7000-8000-0000000000e1",
    "name": "工单同步 (CRM)",
    "url": "https://crm.example.cn/hooks/supportline",
    "event_types": ["ticket.*", "sla.breached"],
    "description": "把工单变化同步到 CRM",
    "active": True,
    "disabled_reason": None,
    "disabled_at": None,
    "failing_since": None,
    "previous_secret_expires_at": None,
    "created_at": "2026-03-02T08:00:00Z",
    "updated_at": "2026-03-02T08:00:00Z",
    "version": 1,
}


class WebhookSubscriptionCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "工单同步 (CRM)",
                "url": "https://crm.example.cn/hooks/supportline",
                "event_types": ["ticket.*", "sla.breached"],
                "description": "把工单变化同步到 CRM",
            }
        },
    )

    name: str = Field(min_length=1, max_length=200)
    url: Url
    event_types: EventPatterns
    description: Text = Field("", max_length=2000)
    secret: SigningSecret | None = None


class WebhookSubscriptionUpdate(InputModel):
    """Any of the fields; `active: false` pauses it (its open deliveries fail), `true`
    enables it again (as the enable action does)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"event_types": ["ticket.*"]}}
    )

    name: str | None = Field(None, min_length=1, max_length=200)
    url: Url | None = None
    event_types: EventPatterns | None = None
    description: Text | None = Field(None, max_length=2000)
    active: bool | None = None


class RotateWebhookSecretIn(InputModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {}})

    secret: SigningSecret | None = None


class WebhookRedeliverSinceIn(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"since": "2026-03-02T08:00:00Z"}}
    )

    since: datetime = Field(description="Every delivery created at or after this instant.")


class WebhookRedeliverSinceOut(OutputModel):
    model_config = ConfigDict(json_schema_extra={"example": {"redelivered": 12}})

    redelivered: int = Field(
        description="Deliveries queued again (pending, due now, a fresh schedule); one an "
        "attempt holds right now is left to that attempt."
    )


class WebhookSubscriptionOut(OutputModel):
    """A subscription as read back (its secret never is)."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": _EXAMPLE})

    id: uuid.UUID
    name: str
    url: str
    event_types: list[str]
    description: str
    active: bool
    disabled_reason: str | None = Field(
        description="Why it is disabled: `gone` (the receiver answered 410), `failing` "
        "(deliveries failed for WEBHOOK_DISABLE_AFTER_DAYS without a success), `manual`."
    )
    disabled_at: datetime | None
    failing_since: datetime | None = Field(
        description="The first failed attempt after the last success."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="After a rotation: until when the previous secret signs too."
    )
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, row: Any, now: datetime) -> WebhookSubscriptionOut:
        until = row.previous_expires_at
        return cls.model_validate(
            {
                **{k: getattr(row, k) for k in cls.model_fields if hasattr(row, k)},
                "previous_secret_expires_at": until if until is not None and until > now else None,
            }
        )


class WebhookSubscriptionWithSecret(WebhookSubscriptionOut):
    """Answered once, at creation and at a rotation: the secret is not shown again."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {**_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
        }
    )

    secret: str = Field(description="The signing secret: keep it, it is shown only now.")
