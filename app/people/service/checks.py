"""The checks the people services share: 422s shaped like request validation errors,
and the references every record type names (a branch, an active API key, a time zone)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from app.access.models import ApiKey
from app.branches.models import Branch
from app.core.db import UnitOfWork
from app.core.errors import Unprocessable
from app.core.security import Principal
from app.people import repository


def invalid(
    field: str, msg: str, kind: str, loc: Sequence[str | int] | None = None, where: str = "body"
) -> Unprocessable:
    """A 422 naming the field, shaped like a request validation error."""
    return Unprocessable(
        msg,
        field=field,
        errors=[{"loc": [where, *(loc if loc is not None else [field])], "msg": msg, "type": kind}],
    )


def problems(field: str, errors: list[dict[str, Any]]) -> Unprocessable:
    """One 422 for several problems of a list field, each in `errors`."""
    msgs = [e["msg"] for e in errors]
    detail = msgs[0] if len(msgs) == 1 else f"{len(msgs)} problems: " + "; ".join(msgs)
    return Unprocessable(detail, field=field, errors=errors)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_zone(tz: str) -> None:
    if tz not in _zones():
        raise invalid(
            "timezone", f"'{tz}' is not an IANA time zone (e.g. Asia/Shanghai).", "unknown_tz"
        )


async def branch_in_scope(uow: UnitOfWork, principal: Principal, branch_id: uuid.UUID) -> Branch:
    # Outside the key's scope: 404, as for any other branch's object.
    principal.check_branch(branch_id, "Branch")
    branch = await repository.get_branch(uow, branch_id)
    if branch is None:
        raise invalid("branch_id", "branch_id does not name a branch.", "unknown_branch")
    return branch


async def active_key(uow: UnitOfWork, key_id: uuid.UUID) -> ApiKey | None:
    key = await repository.get_api_key(uow, key_id)
    return key if key is not None and key.active else None
