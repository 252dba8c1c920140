"""The satisfaction survey over HTTP (满意度调查): public, no key. The link's signed token
is the only credential, and what it shows is the ticket's number and subject."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from app.callbacks.schemas.surveys import SurveyAnswer, SurveyView
from app.callbacks.service import surveys as service
from app.core.db import UoW
from app.core.errors import problem_responses

router = APIRouter(prefix="/v1", tags=["callbacks"])
Token = Annotated[str, Path(description="The token of the survey link.")]
# Links are personal: no cache between the reporter and us keeps the page.
_PRIVATE = {"Cache-Control": "no-store"}


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    out = problem_responses(*statuses)
    if 404 in out:
        out[404] = {**out[404], "description": "Not a survey link of ours (forged or altered)."}
    if 409 in out:
        out[409] = {**out[409], "description": "The survey was answered already (once only)."}
    if 410 in out:
        out[410] = {**out[410], "description": "The survey link has expired."}
    return out


@router.get(
    "/surveys/{token}",
    operation_id="getSurvey",
    summary="The survey of a survey link: the ticket's number and subject, and its state",
    response_model=SurveyView,
    responses=_responses(404, 422),
)
async def get_survey(token: Token, uow: UoW, response: Response) -> SurveyView:
    response.headers.update(_PRIVATE)
    return await service.view(uow, token)


@router.post(
    "/surveys/{token}",
    operation_id="answerSurvey",
    summary="Answer a survey: a rating 1-5 and a comment, accepted once",
    response_model=SurveyView,
    responses=_responses(400, 404, 409, 410, 422),
)
async def answer_survey(
    token: Token, body: SurveyAnswer, uow: UoW, response: Response
) -> SurveyView:
    response.headers.update(_PRIVATE)
    return await service.answer(uow, token, body)
