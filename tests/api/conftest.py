from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(clean_db: None) -> None:
    """Every test here starts from, and leaves, an empty database."""
