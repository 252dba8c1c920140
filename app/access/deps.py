"""Authentication and authorisation dependencies for routers."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.access import service
from app.core.db import UoW
from app.core.errors import Unauthorized
from app.core.idempotency import IdempotentRequest
from app.core.logging import principal_var
from app.core.security import Permission, Principal

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer sl_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Alternative to Bearer.")


async def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Principal:
    plain = bearer.credentials if bearer else header
    if not plain:
        raise Unauthorized("Send an API key as `Authorization: Bearer <key>` or `X-API-Key`.")
    principal = await service.resolve(plain)
    if principal is None:
        raise Unauthorized("The API key is unknown or revoked.")
    principal_var.set(str(principal.id))
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(permission: Permission) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def dep(principal: CurrentPrincipal) -> Principal:
        principal.require(permission)
        return principal

    return dep


async def idempotent(request: Request, principal: CurrentPrincipal, uow: UoW) -> IdempotentRequest:
    return await IdempotentRequest.begin(uow, principal.id, request)


Idem = Annotated[IdempotentRequest, Depends(idempotent)]
