"""The demo's API keys: issued through the access service, remembered as principals
for the later steps, and written to DATA_DIR/demo-keys.txt."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.security import Principal, Role
from app.demo.context import KEYS_FILE, MARKER_KEY_NAME, DemoContext, DemoKey
from app.demo.data.archive import KEYS


async def issue_key(
    uow: UnitOfWork,
    ctx: DemoContext,
    name: str,
    role: Role,
    branch_id: uuid.UUID | None = None,
    alias: str | None = None,
) -> Principal:
    """Issues a key and remembers its principal (as `resolve()` would build it) under
    `alias`, so later steps act as that person through the services."""
    from app.access import service

    key, plain = await service.create_key(uow, name, role, branch_id)
    ctx.keys.append(DemoKey(role=role, name=name, plain=plain, branch_id=branch_id))
    principal = Principal(id=key.id, name=key.name, role=Role(key.role), branch_id=key.branch_id)
    ctx.principals[alias or role.value] = principal
    ctx.count("api keys")
    return principal


async def step_admin_key(uow: UnitOfWork, ctx: DemoContext) -> None:
    """The marker: an all-branches admin key (the first line of demo-keys.txt)."""
    await issue_key(uow, ctx, MARKER_KEY_NAME, Role.admin)


async def issue_keys(
    uow: UnitOfWork, ctx: DemoContext, keys: list[tuple[str, Role, str, str | None]]
) -> None:
    for alias, role, name, branch in keys:
        branch_id = ctx.ids[f"branch:{branch}"] if branch else None
        await issue_key(uow, ctx, name, role, branch_id, alias=alias)


async def step_keys(uow: UnitOfWork, ctx: DemoContext) -> None:
    await issue_keys(uow, ctx, KEYS)


def keys_path() -> Path:
    return Path(get_settings().data_dir) / KEYS_FILE


def write_keys(ctx: DemoContext) -> Path:
    path = keys_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Supportline demo API keys: <role> <key>  # <name>",
        "# Use as `Authorization: Bearer <key>`. Shown once; only their hashes are stored.",
    ]
    for key in ctx.keys:
        scope = f" (branch {key.branch_id})" if key.branch_id else ""
        lines.append(f"{key.role.value} {key.plain}  # {key.name}{scope}")
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    tmp.replace(path)
    return path
