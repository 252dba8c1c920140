"""`load_demo()`: the loader steps in dependency order, run once in one transaction."""

from __future__ import annotations

from app.core.db import dispose_engine, open_uow
from app.demo import repository
from app.demo.archive import (
    step_branches,
    step_catalogue,
    step_contracts,
    step_customers,
    step_devices,
    step_people,
)
from app.demo.callbacks import step_callbacks
from app.demo.context import MARKER_KEY_NAME, DemoContext, Step
from app.demo.hooks import step_hooks
from app.demo.keys import keys_path, step_admin_key, step_keys, write_keys
from app.demo.parts import step_parts, step_parts_follow_up
from app.demo.tickets import step_incident, step_tickets

# Loader steps, in dependency order.
STEPS: list[Step] = [
    step_catalogue,
    step_admin_key,
    step_branches,
    step_keys,
    step_people,
    step_customers,
    step_devices,
    step_contracts,
    step_parts,
    step_tickets,
    step_incident,
    step_parts_follow_up,
    step_callbacks,
    step_hooks,
]


async def load_demo(force: bool = False) -> int:
    """Loads the demo data once (again with force). Returns a process exit code."""
    ctx = DemoContext()
    if not await run_steps(ctx, force):
        print(f"Demo data already loaded; its API keys are in {keys_path()}", flush=True)
        return 0
    path = write_keys(ctx)
    print_loaded(ctx, str(path))
    return 0


async def run_steps(ctx: DemoContext, force: bool) -> bool:
    """Runs STEPS unless the marker key exists (or with `force`); whether they ran."""
    loaded = False
    try:
        async with open_uow() as uow:
            await repository.lock_run(uow)
            if force or not await repository.key_named(uow, MARKER_KEY_NAME):
                for step in STEPS:
                    await step(uow, ctx)
                loaded = True
    finally:
        await dispose_engine()
    return loaded


def print_loaded(ctx: DemoContext, path: str) -> None:
    print(f"Demo data loaded. API keys (also in {path}):", flush=True)
    for key in ctx.keys:
        print(f"  {key.role.value:<12} {key.plain}   {key.name}", flush=True)
    if ctx.counts:
        made = ", ".join(f"{n} {what}" for what, n in ctx.counts.items())
        print(f"  Records: {made}.", flush=True)
