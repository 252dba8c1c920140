"""Satisfaction surveys (满意度调查): one per resolution, made with it; its link (in the
resolution mail) carries a signed, expiring token and needs no login; a rating 1-5 and a
comment, accepted once; the answer on the ticket's timeline and in the outbox.

What the link shows is the ticket's number and subject and the survey's state: whoever
holds it (a forwarded mail) learns nothing else. A forged or altered token is refused
as unknown (404, `survey-link-invalid`), an expired one as gone (410, `survey-expired`),
a second answer as a conflict (409, `survey-answered`). A survey stays answerable when
the ticket is closed or reopened afterwards: how that resolution went is still worth
hearing, and a reopened ticket gets a survey of its own at its next resolution.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from app.access.defaults import SYSTEM_ID
from app.callbacks.models import Survey
from app.callbacks.repository import surveys as repo
from app.callbacks.schemas.surveys import SurveyAnswer, SurveyView
from app.callbacks.service import tokens
from app.callbacks.service.timeline import note, system
from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import AppError
from app.core.security import Principal, Role
from app.tickets import interface as tickets
from app.tickets.interface import Ticket

# The timeline's actor of an answer: the reporter, through the survey page.
RESPONDENT = Principal(SYSTEM_ID, "满意度调查 (survey)", Role.integration, None)


class SurveyLinkInvalid(AppError):
    status, slug, title = 404, "survey-link-invalid", "Survey link not valid"


class SurveyExpired(AppError):
    status, slug, title = 410, "survey-expired", "Survey link expired"


class SurveyAnswered(AppError):
    status, slug, title = 409, "survey-answered", "Survey already answered"


def _expiry(now: datetime) -> datetime:
    return tokens.whole_seconds(now + timedelta(days=get_settings().survey_valid_days))


async def create_for(uow: UnitOfWork, ticket: Ticket, now: datetime) -> Survey:
    """The survey of the ticket's current resolution (its reopen count), made once."""
    found = await repo.of_resolution(uow, ticket.id, ticket.reopen_count)
    if found is not None:
        return found
    survey = Survey(ticket_id=ticket.id, resolution_no=ticket.reopen_count,
                    contact_id=ticket.contact_id, expires_at=_expiry(now), created_at=now)  # fmt: skip
    repo.add(uow, survey)
    await repo.flush(uow)
    data = {"survey_id": str(survey.id), "resolution_no": survey.resolution_no,
            "contact_id": str(survey.contact_id) if survey.contact_id else None,
            "expires_at": survey.expires_at.isoformat()}  # fmt: skip
    await note(uow, system(), ticket, "survey.created", data)
    return survey


def state_of(survey: Survey, now: datetime) -> str:
    if survey.answered_at is not None:
        return "answered"
    return "expired" if now >= survey.expires_at else "open"


def url_for(survey: Survey) -> str:
    token = tokens.sign(survey.id, survey.expires_at)
    return get_settings().mail_survey_url.format(token=token)


async def link(uow: UnitOfWork, ticket_id: uuid.UUID) -> str | None:
    """The link of the ticket's current resolution's survey while it can be answered
    (the ticket resolved, or closed since; the survey neither answered nor expired)."""
    ticket = await tickets.get_any(uow, ticket_id)
    if ticket is None or ticket.status not in ("resolved", "closed"):
        return None
    survey = await repo.of_resolution(uow, ticket.id, ticket.reopen_count)
    if survey is None or state_of(survey, get_clock().now()) != "open":
        return None
    return url_for(survey)


async def _genuine(uow: UnitOfWork, token: str) -> tuple[Survey, Ticket]:
    refused = SurveyLinkInvalid(
        "This survey link is not valid: use the link from the mail as it was sent."
    )
    try:
        survey_id, expires = tokens.verify(token)
    except tokens.BadToken:
        raise refused from None
    survey = await repo.get(uow, survey_id)
    # The expiry is part of what was signed: a link made for another expiry is not this one.
    if survey is None or tokens.whole_seconds(survey.expires_at) != expires:
        raise refused
    ticket = await tickets.get_any(uow, survey.ticket_id)
    if ticket is None:
        raise refused
    return survey, ticket


def _view(survey: Survey, ticket: Ticket, now: datetime) -> SurveyView:
    return SurveyView(ticket_number=ticket.number, subject=ticket.subject,
                      state=state_of(survey, now), expires_at=survey.expires_at)  # type: ignore[arg-type]  # fmt: skip


async def view(uow: UnitOfWork, token: str) -> SurveyView:
    survey, ticket = await _genuine(uow, token)
    return _view(survey, ticket, get_clock().now())


def _refusal(survey: Survey, now: datetime) -> AppError:
    if survey.answered_at is not None:
        return SurveyAnswered("This survey was answered already; thank you.",
                              answered_at=survey.answered_at.isoformat())  # fmt: skip
    return SurveyExpired("This survey link has expired.", expired_at=survey.expires_at.isoformat())


async def answer(uow: UnitOfWork, token: str, body: SurveyAnswer) -> SurveyView:
    survey, ticket = await _genuine(uow, token)
    return await _record(uow, survey, ticket, body)


async def answer_resolution(
    uow: UnitOfWork, ticket_id: uuid.UUID, resolution_no: int, body: SurveyAnswer
) -> SurveyView:
    """The same answer without the link (the demo data's reporter, an import)."""
    survey = await repo.of_resolution(uow, ticket_id, resolution_no)
    ticket = await tickets.get_any(uow, ticket_id)
    if survey is None or ticket is None:
        raise SurveyLinkInvalid("No survey for this resolution.")
    return await _record(uow, survey, ticket, body)


async def _record(
    uow: UnitOfWork, survey: Survey, ticket: Ticket, body: SurveyAnswer
) -> SurveyView:
    now = get_clock().now()
    if state_of(survey, now) != "open":
        raise _refusal(survey, now)
    # One conditional UPDATE: of two answers sent at once, one finds it answered.
    if not await repo.answer(uow, survey.id, body.rating, body.comment, now):
        again = await repo.get(uow, survey.id)
        raise _refusal(again or survey, now)
    answered = await repo.get(uow, survey.id)
    assert answered is not None
    data = {"survey_id": str(survey.id), "resolution_no": survey.resolution_no,
            "contact_id": str(survey.contact_id) if survey.contact_id else None,
            "rating": body.rating, "comment": body.comment}  # fmt: skip
    await note(uow, RESPONDENT, ticket, "survey.answered", data, channel="web")
    return _view(answered, ticket, now)
