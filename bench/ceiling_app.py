"""The framework's ceiling: one FastAPI POST endpoint that validates the same
TicketCreate body as POST /v1/tickets and answers a small JSON, touching no database.
Whatever the real endpoint does beyond this is the cost of the application itself."""

from __future__ import annotations

import uuid

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
