"""The public survey page's data (满意度调查) and its answer: nothing beyond the ticket's
number and subject is shown to whoever holds the link."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from app.core.inputs import InputModel, Text
from app.core.outputs import OutputModel


class SurveyView(OutputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "ticket_number": "T2026-000123",
                "subject": "核心交换机电源模块告警",
                "state": "open",
                "expires_at": "2026-03-16T07:00:00Z",
            }
        }
    )

    ticket_number: str
    subject: str
    state: Literal["open", "answered", "expired"] = Field(
        description="open: an answer is accepted; answered: it was given (once only); "
        "expired: the link is past its validity."
    )
    expires_at: datetime


class SurveyAnswer(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"rating": 5, "comment": "工程师响应及时, 问题彻底解决"}},
    )

    # Strict: a public page's answer is a JSON integer; `true` or "5" is a client's
    # mistake, not a rating (lax, `true` was taken as 1, poor).
    rating: int = Field(ge=1, le=5, strict=True, description="1 (poor) to 5 (excellent).")
    comment: Text | None = Field(None, max_length=4000)
