"""Callback policies: the one that applies to a customer (its own, else the default),
its calendar, and the API's reads and writes.

The policy is read when it is used: at the resolution for the callback's due time and
the silence close (those stay as scheduled if the policy changes later), at each
unanswered try for the retry and the attempts left. A customer's own policy is a whole
policy (PUT replaces every field), not a set of overrides, so what applies is always
one row that can be read in full.

A policy's calendar must have business days: a PUT naming one without any in the next
`business.MAX_SEARCH_DAYS` days is refused, and a calendar emptied after a policy named
it (its weekly hours or dated overrides changed) makes the rules fall back to the
default calendar, with a warning, instead of failing the resolution or the call that
needs them."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import time
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from app.calendars import service as calendars
from app.calendars.businesstime import CalendarSpec
from app.calendars.defaults import CALENDAR_CN_5X8
from app.callbacks.defaults import DEFAULT_POLICY
from app.callbacks.models import CallbackPolicy
from app.callbacks.repository import policies as repo
from app.callbacks.schemas.policies import CallbackPolicyIn, CallbackPolicyOut
from app.callbacks.service import business
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.security import Principal
from app.customers import service as customers

INHERITED_VERSION = 0  # the ETag version of a customer's answer when the default applies
log = logging.getLogger("supportline.callbacks")
T = TypeVar("T")


async def effective(uow: UnitOfWork, customer_id: uuid.UUID) -> CallbackPolicy:
    """The policy of the customer: its own, else the default row, else (a database
    without the default row) the shipped default, unsaved."""
    row = await repo.effective(uow, customer_id)
    return row if row is not None else CallbackPolicy(**DEFAULT_POLICY)


async def calendar(uow: UnitOfWork, policy: CallbackPolicy) -> CalendarSpec:
    found = await calendars.specs(uow, [policy.calendar_id, CALENDAR_CN_5X8])
    spec = found.get(policy.calendar_id) or found.get(CALENDAR_CN_5X8)
    if spec is None:
        raise RuntimeError(f"callback policy {policy.id}: its calendar is gone")
    return spec


async def in_calendar(
    uow: UnitOfWork, policy: CallbackPolicy, rule: Callable[[CalendarSpec], T]
) -> T:
    """`rule` (a business-day computation of `business`) in the policy's calendar, or in
    the default calendar when the policy's has no business day where the rule looks
    (`business` raises ValueError rather than search forever)."""
    cal = await calendar(uow, policy)
    try:
        return rule(cal)
    except ValueError:
        found = await calendars.specs(uow, [CALENDAR_CN_5X8])
        fallback = found.get(CALENDAR_CN_5X8)
        if fallback is None or policy.calendar_id == CALENDAR_CN_5X8:
            raise
        log.warning("callback policy %s: calendar %s has no business day; the default "
                    "calendar is used", policy.id, policy.calendar_id)  # fmt: skip
        return rule(fallback)


def local_time(policy: CallbackPolicy) -> time:
    return time.fromisoformat(policy.local_time)


# --- the API ----------------------------------------------------------------------


def _out(row: CallbackPolicy, customer_id: uuid.UUID | None, inherited: bool) -> CallbackPolicyOut:
    data = row.model_dump()
    return CallbackPolicyOut.model_validate(
        data | {"customer_id": customer_id, "inherited": inherited}
    )


async def _default(uow: UnitOfWork, lock: bool = False) -> CallbackPolicy:
    row = await repo.default(uow, lock=lock)
    if row is None:
        raise NotFound("The default callback policy is missing (run the migrations).")
    return row


async def get_default(uow: UnitOfWork) -> CallbackPolicyOut:
    return _out(await _default(uow), None, False)


async def _check_calendar(uow: UnitOfWork, calendar_id: uuid.UUID) -> None:
    cal = (await calendars.specs(uow, [calendar_id])).get(calendar_id)
    if cal is None:
        raise Unprocessable("calendar_id does not name a calendar.", field="calendar_id")
    if not business.has_business_day(cal, get_clock().now()):
        raise Unprocessable(f"calendar_id names a calendar without a business day in the "
                            f"next {business.MAX_SEARCH_DAYS} days.", field="calendar_id")  # fmt: skip


def _apply(row: CallbackPolicy, body: CallbackPolicyIn) -> None:
    for name, value in body.model_dump().items():
        setattr(row, name, value)
    row.version += 1
    row.updated_at = get_clock().now()


async def put_default(
    uow: UnitOfWork, principal: Principal, body: CallbackPolicyIn, if_match: str | None
) -> CallbackPolicyOut:
    if principal.branch_id is not None:
        raise Forbidden(
            "A branch's key may not change the default policy of every branch; set the "
            "customer's own policy instead."
        )
    row = await _default(uow, lock=True)
    check_if_match(if_match, row.version)
    await _check_calendar(uow, body.calendar_id)
    _apply(row, body)
    await repo.flush(uow)
    return _out(row, None, False)


async def get_for_customer(
    uow: UnitOfWork, principal: Principal, customer_id: uuid.UUID
) -> CallbackPolicyOut:
    await customers.get_customer(uow, principal, customer_id)  # 404 outside the scope
    own = await repo.own(uow, customer_id)
    if own is not None:
        return _out(own, customer_id, False)
    return _out(await _default(uow), customer_id, True)


async def put_for_customer(
    uow: UnitOfWork,
    principal: Principal,
    customer_id: uuid.UUID,
    body: CallbackPolicyIn,
    if_match: str | None,
) -> tuple[CallbackPolicyOut, bool]:
    """The customer's own policy and whether it is new."""
    await customers.get_customer(uow, principal, customer_id)
    row = await repo.own(uow, customer_id, lock=True)
    check_if_match(if_match, row.version if row is not None else INHERITED_VERSION)
    await _check_calendar(uow, body.calendar_id)
    if row is not None:
        _apply(row, body)
        await repo.flush(uow)
        return _out(row, customer_id, False), False
    now = get_clock().now()
    row = CallbackPolicy(customer_id=customer_id, **body.model_dump(), created_at=now,
                         updated_at=now)  # fmt: skip
    try:
        async with uow.session.begin_nested():
            repo.add(uow, row)
            await repo.flush(uow)
    except IntegrityError as exc:  # a concurrent PUT made it first
        raise Conflict("The customer's policy was just created; read it and retry.") from exc
    return _out(row, customer_id, False), True


async def delete_for_customer(
    uow: UnitOfWork, principal: Principal, customer_id: uuid.UUID, if_match: str | None
) -> None:
    """The customer goes back to the default policy."""
    await customers.get_customer(uow, principal, customer_id)
    row = await repo.own(uow, customer_id, lock=True)
    if row is None:
        raise NotFound("The customer has no policy of its own (the default applies).")
    check_if_match(if_match, row.version)
    await repo.delete(uow, row)
