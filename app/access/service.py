"""API keys: issue (shown once, stored hashed), revoke, and resolve to a principal."""

from __future__ import annotations

import time
import uuid

from app.access import repository as repo
from app.access.models import ApiKey
from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import NotFound, Unprocessable
from app.core.pagination import Page, PageParams, make_page
from app.core.security import Principal, Role, generate_api_key, hash_api_key

# Principals are cached per process (keyed by key hash) so authenticating costs no
# database round trip on the hot path. A revoked key stops working in this process at
# once and in others within API_KEY_CACHE_SECONDS.
_cache: dict[str, tuple[float, Principal | None]] = {}


def clear_cache() -> None:
    _cache.clear()


async def create_key(
    uow: UnitOfWork, name: str, role: Role, branch_id: uuid.UUID | None
) -> tuple[ApiKey, str]:
    if branch_id is not None and not await repo.branch_exists(uow, branch_id):
        raise Unprocessable("branch_id does not name a branch.", field="branch_id")
    plain, prefix, digest = generate_api_key()
    key = ApiKey(name=name, prefix=prefix, key_hash=digest, role=role.value, branch_id=branch_id)
    repo.add(uow, key)
    await repo.flush(uow)
    return key, plain


async def list_keys(uow: UnitOfWork, page: PageParams) -> Page[ApiKey]:
    """Oldest first (ids are time-ordered)."""
    return make_page(await repo.list_page(uow, page), page.limit)


async def revoke_key(uow: UnitOfWork, key_id: uuid.UUID) -> ApiKey:
    key = await repo.get(uow, key_id)
    if key is None:
        raise NotFound("API key not found.")
    if key.active:
        key.active = False
        key.revoked_at = get_clock().now()
        await repo.flush(uow)
    for digest, (_, principal) in list(_cache.items()):
        if principal is not None and principal.id == key_id:
            _cache.pop(digest, None)
    return key


async def resolve(plain: str) -> Principal | None:
    digest = hash_api_key(plain)
    now = time.monotonic()
    hit = _cache.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    row = await repo.active_by_hash(digest)
    principal = (
        Principal(id=row.id, name=row.name, role=Role(row.role), branch_id=row.branch_id)
        if row
        else None
    )
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[digest] = (now + get_settings().api_key_cache_seconds, principal)
    return principal
