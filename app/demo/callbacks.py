"""The demo's callbacks step: a contact plan for a key customer and an answered survey,
made through the callbacks services (the resolved stories' callbacks and every
resolution's survey were made by the ticket steps' resolutions)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from app.core.db import UnitOfWork
from app.demo.context import BUSINESS_TZ, DemoContext
from app.demo.data.callbacks import (
    PLAN_AGENT,
    PLAN_CONTACT,
    PLAN_CUSTOMER,
    PLAN_EVERY_WEEKS,
    PLAN_NOTE,
    SURVEY_ANSWERED_MINUTES,
    SURVEY_COMMENT,
    SURVEY_RATING,
    SURVEY_TICKET,
)
from app.demo.tickets import pinned_clock


def _next_monday_ten(now: datetime) -> datetime:
    """10:00 in Shanghai on the first Monday at least a day after `now`."""
    day = (now + timedelta(days=1)).astimezone(BUSINESS_TZ).date()
    day += timedelta(days=(7 - day.weekday()) % 7)
    return datetime.combine(day, time(10), BUSINESS_TZ)


async def step_callbacks(uow: UnitOfWork, ctx: DemoContext) -> None:
    from app.callbacks.schemas.plans import ContactPlanCreate
    from app.callbacks.schemas.surveys import SurveyAnswer
    from app.callbacks.service import plans, surveys

    with pinned_clock(ctx.now):
        body = ContactPlanCreate(
            customer_id=ctx.ids[f"customer:{PLAN_CUSTOMER}"],
            contact_id=ctx.ids[f"contact:{PLAN_CONTACT}"],
            agent_id=ctx.principals[PLAN_AGENT].id,
            every_weeks=PLAN_EVERY_WEEKS,
            first_due_at=_next_monday_ten(ctx.now),
            note=PLAN_NOTE,
        )
        await plans.create(uow, ctx.principals["manager"], body)
    ctx.count("contact plans")
    answered = ctx.ids[f"registered:{SURVEY_TICKET}"] + timedelta(minutes=SURVEY_ANSWERED_MINUTES)
    with pinned_clock(answered):
        answer = SurveyAnswer(rating=SURVEY_RATING, comment=SURVEY_COMMENT)
        await surveys.answer_resolution(uow, ctx.ids[f"ticket:{SURVEY_TICKET}"], 0, answer)
    ctx.count("survey answers")
