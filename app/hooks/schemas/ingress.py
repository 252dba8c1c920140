"""What a webhook sender is answered: the request's id and what became of each alert."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import ConfigDict, Field

from app.core.inputs import InputModel
from app.core.outputs import OutputModel

Action = Literal[
    "opened",  # a new ticket
    "refired",  # fired again after a recovery: a new ticket, linked to the closed one
    "closed_while_firing",  # the same firing, its ticket closed or cancelled: counted only
    "repeated",  # its open ticket got an `alert.repeated` event (counted)
    "reopened",  # its resolved ticket was reopened
    "recovered",  # recorded on its ticket (`alert.recovered`); the ticket stays as it is
    "recovered_resolved",  # recorded, and the ticket resolved (resolve_on_recovery)
    "resolved_unknown",  # a recovery of an alert never seen firing: recorded, nothing opened
    "already_resolved",  # a repeated recovery: nothing done
]
ACTIONS: tuple[str, ...] = Action.__args__  # type: ignore[attr-defined]

_EXAMPLE: dict[str, Any] = {
    "request_id": "0192f3c4-0000-7000-8000-0000000000a1",
    "outcome": "accepted",
    "alerts": [
        {
            "fingerprint": "6f9c2a1b3d4e5f60",
            "status": "firing",
            "action": "opened",
            "ticket_id": "0192f3c4-0000-7000-8000-000000000001",
            "ticket_number": "T2026-000123",
        }
    ],
}


class AlertResult(OutputModel):
    fingerprint: str
    status: Literal["firing", "resolved"]
    action: Action
    ticket_id: uuid.UUID | None
    ticket_number: str | None


class HookReceived(OutputModel):
    model_config = ConfigDict(json_schema_extra={"example": _EXAMPLE})

    request_id: uuid.UUID = Field(
        description="The request as recorded; for a replay, the first request with its id."
    )
    outcome: Literal["accepted", "replay"] = Field(
        description="replay: this `webhook-id` was received before; nothing was done and "
        "`alerts` is what the first request did."
    )
    alerts: list[AlertResult]


_PAYLOAD_EXAMPLE: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}:{alertname="NodeDown"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "supportline",
    "groupLabels": {"alertname": "NodeDown"},
    "commonLabels": {"alertname": "NodeDown", "job": "node"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "NodeDown", "instance": "10.1.2.3:9100", "job": "node",
                       "severity": "critical", "customer": "C-SH-000123"},
            "annotations": {"summary": "10.1.2.3 宕机 / down"},
            "startsAt": "2026-03-02T08:00:00.123Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0",
            "fingerprint": "6f9c2a1b3d4e5f60",
        }
    ],
}  # fmt: skip


class HookPayload(InputModel):
    """What `POST /v1/hooks/{key}` reads, for the spec only (the endpoint reads the raw
    body itself, streamed under HOOK_MAX_BODY_BYTES, and checks it in
    app/hooks/payloads.py): Alertmanager's webhook body (version 4) for an
    `alertmanager` source; for a `generic` one, one alert object (`status`,
    `fingerprint`, `name`, `summary`, `description`, `labels`, `annotations`,
    `starts_at`, `ends_at`, `url` and fields of its own) or `{"alerts": [...]}` of them."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"example": _PAYLOAD_EXAMPLE})

    alerts: list[dict[str, Any]] | None = Field(None, description="The alerts.")
