"""Demo data placeholder; filled in with the records domain."""

from __future__ import annotations


async def load_demo(force: bool = False) -> int:
    return 0
