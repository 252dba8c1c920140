"""Outbound notices over HTTP: who hears of which notice (rules), opt-ins and opt-outs
(subscriptions), each recipient's quiet-hours calendar, digest and emergency-group
membership (profiles), and the preview of a notice."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from app.access.deps import CurrentPrincipal, require
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import NOT_MODIFIED, set_etag
from app.core.etag import IfMatchStale as IfMatch
from app.core.pagination import CodePageParams, Page, PageParams, code_page_params, page_params
from app.core.security import Permission, Principal
from app.mail.schemas.notices import (
    CustomerProfileIn,
    EngineerProfileIn,
    PreviewIn,
    PreviewOut,
    ProfileOut,
    RuleOut,
    RuleUpdate,
    SubjectKind,
    SubscriptionIn,
    SubscriptionOut,
)
from app.mail.service import notices as service

router = APIRouter(prefix="/v1/mail", tags=["mail"])
Manager = Annotated[Principal, Depends(require(Permission.mail_manage))]
EventType = Annotated[
    str, Path(min_length=1, max_length=64, description="A notice type, e.g. sla.breached.")
]
Subject = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        description="A role's name, or an engineer's or a customer's id.",
    ),
]


# -- rules


@router.get(
    "/rules",
    operation_id="listNotificationRules",
    summary="List the notification rules (who hears of which notice), by notice type",
    response_model=Page[RuleOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_rules(
    principal: Manager, uow: UoW, page: Annotated[CodePageParams, Depends(code_page_params)]
) -> Page[RuleOut]:
    return await service.list_rules(uow, page)


@router.get(
    "/rules/{event_type}",
    operation_id="getNotificationRule",
    summary="Get the notification rule of a notice type",
    response_model=RuleOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_rule(
    event_type: EventType, principal: Manager, uow: UoW, response: Response
) -> RuleOut:
    rule = await service.get_rule(uow, event_type)
    set_etag(response, rule.version)
    return RuleOut.model_validate(rule)


@router.patch(
    "/rules/{event_type}",
    operation_id="updateNotificationRule",
    summary="Change who hears of a notice, whether it is urgent, or turn it off",
    description="Needs a key of all branches. Only the fields sent change.",
    response_model=RuleOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def update_rule(
    event_type: EventType,
    body: RuleUpdate,
    principal: Manager,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> RuleOut:
    rule = await service.update_rule(uow, principal, event_type, body, if_match)
    set_etag(response, rule.version)
    return RuleOut.model_validate(rule)


# -- subscriptions


@router.get(
    "/subscriptions",
    operation_id="listNotificationSubscriptions",
    summary="List subscriptions (opt-ins and opt-outs), newest first",
    description="With mail:manage, every subscription of the key's branch (and the "
    "roles'); otherwise the caller's own.",
    response_model=Page[SubscriptionOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_subscriptions(
    principal: CurrentPrincipal,
    uow: UoW,
    page: Annotated[PageParams, Depends(page_params)],
    subject_kind: SubjectKind | None = None,
    subject: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    event_type: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> Page[SubscriptionOut]:
    return await service.list_subscriptions(
        uow, principal, page, subject_kind=subject_kind, subject=subject, event_type=event_type
    )


@router.put(
    "/subscriptions/{subject_kind}/{subject}/{event_type}",
    operation_id="setNotificationSubscription",
    summary="Opt a role, an engineer or a customer's contacts in or out of a notice",
    description="The most specific word wins: an engineer's or a customer's own "
    "subscription, then the role's, then the rule. An opt-in reaches only events that "
    "concern the subject. A role's subscription needs a key of all branches; an engineer "
    "may set his own.",
    response_model=SubscriptionOut,
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def put_subscription(
    subject_kind: SubjectKind,
    subject: Subject,
    event_type: EventType,
    body: SubscriptionIn,
    principal: CurrentPrincipal,
    uow: UoW,
) -> SubscriptionOut:
    return await service.put_subscription(
        uow, principal, subject_kind, subject, event_type, body.subscribed
    )


@router.delete(
    "/subscriptions/{subject_kind}/{subject}/{event_type}",
    operation_id="deleteNotificationSubscription",
    summary="Remove a subscription: the role's word or the rule applies again",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_subscription(
    subject_kind: SubjectKind,
    subject: Subject,
    event_type: EventType,
    principal: CurrentPrincipal,
    uow: UoW,
) -> Response:
    await service.delete_subscription(uow, principal, subject_kind, subject, event_type)
    return Response(status_code=204)


# -- profiles


def _profile_etag(response: Response, out: ProfileOut) -> None:
    # A profile never stored is version 0, tagged W/"0.default": If-Match with it (the
    # version before the dot) creates the profile only if nobody did meanwhile.
    set_etag(response, out.version, "" if out.stored else "default")


@router.get(
    "/profiles/engineers/{engineer_id}",
    operation_id="getEngineerNotificationProfile",
    summary="An engineer's notice profile: quiet-hours calendar, digest, emergency group",
    response_model=ProfileOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_engineer_profile(
    engineer_id: uuid.UUID, principal: CurrentPrincipal, uow: UoW, response: Response
) -> ProfileOut:
    out = await service.get_profile(uow, principal, "engineer", engineer_id)
    _profile_etag(response, out)
    return out


@router.put(
    "/profiles/engineers/{engineer_id}",
    operation_id="setEngineerNotificationProfile",
    summary="Set an engineer's quiet-hours calendar, digest and emergency-group membership",
    response_model=ProfileOut,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
)
async def put_engineer_profile(
    engineer_id: uuid.UUID,
    body: EngineerProfileIn,
    principal: CurrentPrincipal,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> ProfileOut:
    out = await service.put_profile(uow, principal, "engineer", engineer_id, body, if_match)
    _profile_etag(response, out)
    return out


@router.get(
    "/profiles/customers/{customer_id}",
    operation_id="getCustomerNotificationProfile",
    summary="A customer's notice profile (its contacts' quiet-hours calendar and digest)",
    response_model=ProfileOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_customer_profile(
    customer_id: uuid.UUID, principal: Manager, uow: UoW, response: Response
) -> ProfileOut:
    out = await service.get_profile(uow, principal, "customer", customer_id)
    _profile_etag(response, out)
    return out


@router.put(
    "/profiles/customers/{customer_id}",
    operation_id="setCustomerNotificationProfile",
    summary="Set a customer's quiet-hours calendar and digest for its contacts",
    response_model=ProfileOut,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
)
async def put_customer_profile(
    customer_id: uuid.UUID,
    body: CustomerProfileIn,
    principal: Manager,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> ProfileOut:
    out = await service.put_profile(uow, principal, "customer", customer_id, body, if_match)
    _profile_etag(response, out)
    return out


# -- preview


@router.post(
    "/preview",
    operation_id="previewNotice",
    summary="Render a notice for its recipients and say what would happen, writing nothing",
    description="For an outbox message (`outbox_id`), or a notice type about a ticket "
    "(`event_type`, `ticket_id`, sample `data`): each recipient with the rendered "
    "subject, text and HTML, and whether it would be queued (and held until when), "
    "digested, suppressed or skipped, and why.",
    response_model=PreviewOut,
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def preview(body: PreviewIn, principal: Manager, uow: UoW) -> PreviewOut:
    return await service.preview(uow, principal, body)
