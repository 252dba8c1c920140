from __future__ import annotations

from typing import Any

import pytest

from tests.factories import World, build_world


@pytest.fixture(autouse=True)
def _isolated(clean_db: None) -> None:
    """Every test here starts from, and leaves, an empty database."""


@pytest.fixture
async def world(app: Any) -> World:
    """A branch, customer, contact, device and contract to open tickets on (modules with
    a world of their own define this fixture again)."""
    return await build_world()
