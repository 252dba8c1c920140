"""The framework's ceiling: one FastAPI POST endpoint that validates the same
TicketCreate body as POST /v1/tickets and answers a small JSON, touching no database.
Whatever the real endpoint does beyond this is the cost of the application itself."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from app.tickets.schemas import TicketCreate

app = FastAPI(title="bench ceiling")


class Created(BaseModel):
    id: uuid.UUID
    subject: str


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/tickets", status_code=201)
async def create_ticket(body: TicketCreate) -> Created:
    return Created(id=uuid.uuid4(), subject=body.subject)


class Received(BaseModel):
    request_id: uuid.UUID
    alerts: int


@app.post("/v1/hooks/{key}", status_code=202)
async def receive_hook(key: str, body: dict[str, Any]) -> Received:
    """bench/hooks_in's ceiling: the same Alertmanager payload parsed as JSON, no database."""
    alerts = body.get("alerts")
    return Received(request_id=uuid.uuid4(), alerts=len(alerts) if isinstance(alerts, list) else 0)
