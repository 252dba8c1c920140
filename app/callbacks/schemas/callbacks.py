"""Requests and answers of callbacks (客户回访): the call to make, each attempt made, a
new agent or due time."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from app.callbacks.schemas.instants import Instant
from app.core.inputs import InputModel, Text
from app.core.outputs import OutputModel

_ID = "0192f3c4-0000-7000-8000-00000000c001"
_TICKET = "0192f3c4-0000-7000-8000-000000000001"
_AGENT = "0192f3c4-0000-7000-8000-00000000a001"
CallbackState = Literal["open", "done", "cancelled"]
CallbackOutcome = Literal["satisfied", "not_solved", "no_answer", "unreachable", "done"]
AttemptOutcome = Literal["satisfied", "not_solved", "no_answer", "done"]

_OUT: dict[str, Any] = {
    "id": _ID,
    "reason": "resolution",
    "ticket_id": _TICKET,
    "plan_id": None,
    "branch_id": "0192f3c4-0000-7000-8000-000000000002",
    "customer_id": "0192f3c4-0000-7000-8000-000000000010",
    "contact_id": "0192f3c4-0000-7000-8000-000000000011",
    "agent_id": _AGENT,
    "due_at": "2026-03-03T02:00:00Z",
    "state": "open",
    "outcome": None,
    "attempts": 1,
    "max_attempts": 3,
    "note": None,
    "overdue": False,
    "overdue_at": None,
    "completed_at": None,
    "version": 2,
    "created_at": "2026-03-02T07:00:00Z",
    "updated_at": "2026-03-03T02:05:00Z",
}
_ATTEMPT: dict[str, Any] = {
    "id": "0192f3c4-0000-7000-8000-00000000c101",
    "agent_id": _AGENT,
    "outcome": "no_answer",
    "note": "无人接听",
    "at": "2026-03-03T02:05:00Z",
}


class CallbackOut(OutputModel):
    """A call to make: after a resolution (to confirm it) or from a contact plan."""

    model_config = ConfigDict(json_schema_extra={"example": _OUT})

    id: uuid.UUID
    reason: Literal["resolution", "plan"] = Field(
        description="resolution: confirm a resolved ticket with its reporter; plan: a "
        "periodic call of a contact plan (定期主动式电话支持)."
    )
    ticket_id: uuid.UUID | None = Field(description="The resolved ticket (resolution only).")
    plan_id: uuid.UUID | None
    branch_id: uuid.UUID
    customer_id: uuid.UUID
    contact_id: uuid.UUID | None = Field(description="Whom to call.")
    agent_id: uuid.UUID | None = Field(description="Who calls; null: anyone of the branch.")
    due_at: datetime = Field(description="When to call (moved by each unanswered try).")
    state: CallbackState
    outcome: CallbackOutcome | None = Field(
        description="How it ended: satisfied (the ticket closed), not_solved (reopened), "
        "unreachable (every try unanswered), done (a plan's call made)."
    )
    attempts: int = Field(description="Calls tried so far.")
    max_attempts: int = Field(description="Calls tried before giving up (the policy's).")
    note: str | None
    overdue: bool = Field(description="Still open after its due time and the grace.")
    overdue_at: datetime | None = Field(description="When it was noticed overdue.")
    completed_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class CallbackAttemptOut(OutputModel):
    model_config = ConfigDict(json_schema_extra={"example": _ATTEMPT})

    id: uuid.UUID
    agent_id: uuid.UUID | None
    outcome: AttemptOutcome
    note: str | None
    at: datetime


class CallbackDetail(CallbackOut):
    """A callback with the calls made, oldest first."""

    model_config = ConfigDict(json_schema_extra={"example": {**_OUT, "history": [_ATTEMPT]}})

    history: list[CallbackAttemptOut]


class CallbackAttemptIn(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"outcome": "satisfied", "note": "客户确认设备运行正常"}},
    )

    outcome: AttemptOutcome = Field(
        description="satisfied: the reporter confirms (the ticket closes); not_solved: the "
        "problem remains (the ticket reopens with the note, which is then required); "
        "no_answer: tried again later, up to the policy's attempts; done: a plan's call "
        "made (plan callbacks only)."
    )
    note: Text | None = Field(None, max_length=4000, description="What was said.")


class CallbackUpdate(InputModel):
    """Reassign or reschedule an open callback; a field left out is unchanged."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "agent_id": _AGENT,
                "due_at": "2026-03-04T06:00:00Z",
                "note": "客户要求下午再联系",
            }
        },
    )

    agent_id: uuid.UUID | None = Field(
        None, description="Who calls (an identity that makes callbacks); null: anyone."
    )
    due_at: Instant | None = Field(None, description="A new due time, from now to 365 days ahead.")
    note: Text | None = Field(None, max_length=4000)
