"""Demo data for `make run` / `supportline demo`: a Chinese support centre.

`load_demo()` runs a list of loader steps in one transaction, once: the marker is the
API key named "demo admin". Each step takes the unit of work and a `DemoContext` and
adds what it needs (later steps see what earlier ones made through the context). The
plain API keys issued are written to DATA_DIR/demo-keys.txt and printed, so scripts
(and the CI smoke test) can read them.

To add demo records: write `async def _step_xxx(uow, ctx) -> None` using the domain
services (never raw SQL) and append it to STEPS in dependency order.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlmodel import col

from app.core.config import get_settings
from app.core.db import UnitOfWork, dispose_engine, open_uow
from app.core.security import Role

MARKER_KEY_NAME = "demo admin"
KEYS_FILE = "demo-keys.txt"
# Any constant works: it only serialises concurrent `supportline demo` runs.
_ADVISORY_LOCK = 0x5D_E40


@dataclass
class DemoKey:
    role: Role
    name: str
    plain: str
    branch_id: uuid.UUID | None = None


@dataclass
class DemoContext:
    """What the steps made so far, by a short name (e.g. ctx.ids["branch:shanghai"])."""

    keys: list[DemoKey] = field(default_factory=list)
    ids: dict[str, Any] = field(default_factory=dict)


Step = Callable[[UnitOfWork, DemoContext], Awaitable[None]]


async def _issue_key(
    uow: UnitOfWork, ctx: DemoContext, name: str, role: Role, branch_id: uuid.UUID | None = None
) -> None:
    from app.access import service

    _, plain = await service.create_key(uow, name, role, branch_id)
    ctx.keys.append(DemoKey(role=role, name=name, plain=plain, branch_id=branch_id))


async def _step_admin_key(uow: UnitOfWork, ctx: DemoContext) -> None:
    """The marker: an all-branches admin key."""
    await _issue_key(uow, ctx, MARKER_KEY_NAME, Role.admin)


# Loader steps, in order. Later steps (branches, catalogue, customers, contracts,
# devices, tickets, and keys for the other roles) are appended here.
STEPS: list[Step] = [
    _step_admin_key,
]


async def _already_loaded(uow: UnitOfWork) -> bool:
    from app.access.models import ApiKey

    row = await uow.session.execute(
        select(col(ApiKey.id)).where(col(ApiKey.name) == MARKER_KEY_NAME).limit(1)
    )
    return row.first() is not None


def keys_path() -> Path:
    return Path(get_settings().data_dir) / KEYS_FILE


def _write_keys(ctx: DemoContext) -> Path:
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


async def load_demo(force: bool = False) -> int:
    """Loads the demo data once (again with force). Returns a process exit code."""
    ctx = DemoContext()
    loaded = False
    try:
        async for uow in open_uow():
            await uow.session.execute(
                text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK}
            )
            if force or not await _already_loaded(uow):
                for step in STEPS:
                    await step(uow, ctx)
                loaded = True
    finally:
        await dispose_engine()

    if not loaded:
        print(f"Demo data already loaded; its API keys are in {keys_path()}", flush=True)
        return 0
    path = _write_keys(ctx)
    print(f"Demo data loaded. API keys (also in {path}):", flush=True)
    for key in ctx.keys:
        print(f"  {key.role.value:<12} {key.plain}   {key.name}", flush=True)
    return 0
