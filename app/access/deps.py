"""Authentication and authorisation dependencies for routers.

Each is one dependency reading the headers itself: FastAPI's security classes
(`HTTPBearer`, `APIKeyHeader`) are dependencies of their own, and every dependency node
costs the framework tens of microseconds per request (bench/README.md, "The cost of a
request"). The spec still declares both schemes: `SECURITY_SCHEMES` and the
`authenticates` marker are what `app.core.openapi.build_openapi` adds to every operation whose
dependencies authenticate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from app.access import service
from app.core.db import UnitOfWork, UoW, open_uow
from app.core.errors import Unauthorized
from app.core.idempotency import IdempotentRequest
from app.core.logging import principal_var
from app.core.security import Permission, Principal

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "HTTPBearer": {
        "type": "http",
        "description": "`Authorization: Bearer sl_...`",
        "scheme": "bearer",
    },
    "APIKeyHeader": {
        "type": "apiKey",
        "description": "Alternative to Bearer.",
        "in": "header",
        "name": "X-API-Key",
    },
}
SECURITY_REQUIREMENT: list[dict[str, list[str]]] = [{"HTTPBearer": []}, {"APIKeyHeader": []}]


def _plain_key(request: Request) -> str | None:
    headers = request.headers
    auth = headers.get("authorization")
    if auth:
        scheme, _, credentials = auth.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return headers.get("x-api-key") or None


async def authenticate(request: Request) -> Principal:
    """The request's principal, resolved once per request whoever asks first."""
    known = request.scope.get("supportline.principal")
    if known is not None:
        return known  # type: ignore[no-any-return]
    plain = _plain_key(request)
    if not plain:
        raise Unauthorized("Send an API key as `Authorization: Bearer <key>` or `X-API-Key`.")
    principal = await service.resolve(plain)
    if principal is None:
        raise Unauthorized("The API key is unknown or revoked.")
    principal_var.set(str(principal.id))
    request.scope["supportline.principal"] = principal
    return principal


def authenticates(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Marks a dependency that authenticates, so the spec declares the key schemes."""
    fn.__supportline_authenticates__ = True  # type: ignore[attr-defined]
    return fn


current_principal = authenticates(authenticate)
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(permission: Permission) -> Callable[..., Coroutine[Any, Any, Principal]]:
    @authenticates
    async def dep(request: Request) -> Principal:
        principal = await authenticate(request)
        principal.require(permission)
        return principal

    return dep


@authenticates
async def idempotent(request: Request, uow: UoW) -> IdempotentRequest:
    principal = await authenticate(request)
    return await IdempotentRequest.begin(uow, principal.id, request)


Idem = Annotated[IdempotentRequest, Depends(idempotent)]


@dataclass(slots=True)
class IdempotentWrite:
    """What an idempotent write needs, from one dependency (see `idempotent_write`)."""

    principal: Principal
    uow: UnitOfWork
    idem: IdempotentRequest


def idempotent_write(
    permission: Permission,
) -> Callable[[Request], AsyncIterator[IdempotentWrite]]:
    """The principal (holding `permission`), the unit of work and the Idempotency-Key
    handling as one dependency of the request alone: the same checks in the same order as
    `Depends(require(permission))`, `UoW` and `Idem` side by side (401/403 first, then
    the key), with the unit of work's commit and rollback as in `get_uow`. One node and
    no sub-dependency, so that the route qualifies for `core.leanroutes` (FastAPI's
    solver and exit stacks were about a tenth of a creation, bench/README.md). Use it with
    `Depends(..., scope="function")`: the commit happens before the response leaves. The
    spec is the same (no parameters of its own, and it authenticates)."""

    @authenticates
    async def dep(request: Request) -> AsyncIterator[IdempotentWrite]:
        principal = await authenticate(request)
        principal.require(permission)
        async with open_uow() as uow:
            idem = await IdempotentRequest.begin(uow, principal.id, request)
            yield IdempotentWrite(principal, uow, idem)

    return dep
