"""Inbound webhook sources over HTTP: what an admin writes, and what reads show (never a
secret but at creation and rotation), with the request log and the followed alerts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.core.inputs import InputModel
from app.core.outputs import OutputModel
from app.hooks.mapping import MAX_PATHS
from app.hooks.models import ALERT_STATES, AUTH_SCHEMES, REQUEST_OUTCOMES, SOURCE_KINDS
from app.hooks.schemas.ingress import AlertResult

Kind = Literal["alertmanager", "generic"]
Auth = Literal["signature", "bearer", "basic"]
Priority = Literal["P1", "P2", "P3", "P4"]
Outcome = Literal["accepted", "replay", "rejected"]
AlertState = Literal["firing", "resolved"]
assert set(Kind.__args__) == set(SOURCE_KINDS)  # type: ignore[attr-defined]
assert set(Auth.__args__) == set(AUTH_SCHEMES)  # type: ignore[attr-defined]
assert set(Outcome.__args__) == set(REQUEST_OUTCOMES)  # type: ignore[attr-defined]
assert set(AlertState.__args__) == set(ALERT_STATES)  # type: ignore[attr-defined]

KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{1,63}$"
RESERVED_KEYS = ("sources",)  # /v1/hooks/sources is the admin API
Path = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\s]+$")]
# One path or a list of them (a single string is taken as a list of one; no union, so a
# refusal's `loc` is the field's own path).
Paths = Annotated[
    list[Path],
    BeforeValidator(lambda v: [v] if isinstance(v, str) else v),
    Field(min_length=1, max_length=MAX_PATHS, description="A path, or a list of paths."),
]
ValueMap = Annotated[
    dict[Annotated[str, StringConstraints(max_length=256)],
         Annotated[str, StringConstraints(min_length=1, max_length=200)]],
    Field(max_length=500),
]  # fmt: skip
Secret = Annotated[str, StringConstraints(min_length=32, max_length=200, pattern=r"^[!-~]+$")]

_MAPPING_EXAMPLE: dict[str, Any] = {
    "customer_code": ["labels.customer"],
    "device_serial": ["labels.serial", "labels.instance"],
    "priority": ["labels.severity"],
    "values": {"priority": {"critical": "P1", "warning": "P3"}},
}


class ValueMaps(InputModel):
    """Per target, a sender's value -> ours (matched exactly, then ignoring case)."""

    model_config = ConfigDict(extra="forbid")

    customer_code: ValueMap | None = None
    device_serial: ValueMap | None = None
    category: ValueMap | None = None
    priority: dict[Annotated[str, StringConstraints(max_length=256)], Priority] | None = Field(
        None, max_length=500
    )


class HookMapping(InputModel):
    """Where in an alert its customer code, device serial, category and priority are
    (app/hooks/mapping.py: `labels.<name>`, `annotations.<name>`, or dotted fields of a
    generic alert); a target not given reads the default labels (`customer`, `serial`,
    `category`, `priority`/`severity`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": _MAPPING_EXAMPLE})

    customer_code: Paths | None = None
    device_serial: Paths | None = None
    category: Paths | None = None
    priority: Paths | None = None
    values: ValueMaps | None = None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class HookSourceCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "key": "prom-sh",
                "name": "上海机房 Alertmanager",
                "kind": "alertmanager",
                "auth": "bearer",
                "customer_id": "0192f3c4-0000-7000-8000-000000000001",
                "category": "hardware",
                "priority": "P3",
                "mapping": _MAPPING_EXAMPLE,
                "resolve_on_recovery": True,
            }
        },
    )

    key: str = Field(pattern=KEY_PATTERN, description="The URL's segment: `/v1/hooks/{key}`.")
    name: str = Field(min_length=1, max_length=200)
    kind: Kind
    auth: Auth = Field(
        description="signature: Standard Webhooks; bearer / basic: for senders that cannot "
        "sign (Alertmanager's `http_config`)."
    )
    basic_username: str | None = Field(
        None, min_length=1, max_length=200, pattern=r"^[^:]+$", description="basic only."
    )
    secret: Secret | None = Field(
        None,
        description="Generated when absent. signature: `whsec_` + base64 of 24-64 bytes; "
        "bearer token or basic password: 32 or more printable characters.",
    )
    customer_id: uuid.UUID = Field(description="Tickets go here unless the mapping finds one.")
    category: str = Field(min_length=1, max_length=64, description="A category code.")
    priority: Priority = "P3"
    mapping: HookMapping = Field(default_factory=HookMapping)
    resolve_on_recovery: bool = Field(
        False, description="Resolve the ticket when its alert recovers (if work has started)."
    )
    rate_limit_per_minute: int | None = Field(
        None, ge=1, le=1_000_000, description="Default: HOOK_RATE_LIMIT_PER_MINUTE."
    )

    @field_validator("key")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_KEYS:
            raise ValueError(f"'{value}' is a reserved path segment.")
        return value

    @model_validator(mode="after")
    def _basic_user(self) -> HookSourceCreate:
        if (self.auth == "basic") != (self.basic_username is not None):
            raise ValueError("basic_username is required with auth basic, and only with it.")
        return self


class HookSourceUpdate(InputModel):
    """`key`, `kind` and `auth` are fixed (a sender is configured with them): make a new
    source instead. `active=false` answers the source's requests 404."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"priority": "P2", "active": True}}
    )

    name: str | None = Field(None, min_length=1, max_length=200)
    basic_username: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[^:]+$")
    customer_id: uuid.UUID | None = None
    category: str | None = Field(None, min_length=1, max_length=64)
    priority: Priority | None = None
    mapping: HookMapping | None = None
    resolve_on_recovery: bool | None = None
    rate_limit_per_minute: int | None = Field(None, ge=1, le=1_000_000)
    active: bool | None = None


class RotateSecret(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"secret": "whsec_" + "c2VjcmV0" * 4}}
    )

    secret: Secret | None = Field(None, description="Generated when absent.")


class HookSourceOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    key: str
    url_path: str = Field(description="Where the sender posts: `/v1/hooks/{key}`.")
    name: str
    kind: Kind
    auth: Auth
    basic_username: str | None
    customer_id: uuid.UUID
    category: str
    priority: Priority
    mapping: dict[str, Any]
    resolve_on_recovery: bool
    rate_limit_per_minute: int | None
    active: bool
    previous_expires_at: datetime | None = Field(
        description="Until then the secret before the last rotation is accepted too."
    )
    created_at: datetime
    updated_at: datetime
    version: int


class HookSourceWithSecret(HookSourceOut):
    secret: str = Field(description="Shown this once: store it in the sender's configuration.")


class HookRequestOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source_id: uuid.UUID
    webhook_id: str | None
    received_at: datetime
    outcome: Outcome
    status_code: int
    body_bytes: int
    alerts: list[AlertResult] = Field(
        description="Per alert, what was done (as the sender was answered)."
    )
    error: str | None


class HookAlertOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source_id: uuid.UUID
    fingerprint: str
    state: AlertState
    ticket_id: uuid.UUID | None
    previous_ticket_id: uuid.UUID | None = Field(
        description="The ticket before, when the alert fired again after it was closed."
    )
    name: str
    labels: dict[str, Any]
    annotations: dict[str, Any]
    generator_url: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    fire_count: int
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
