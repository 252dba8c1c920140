"""The base of every response model: how responses are described to clients."""

from __future__ import annotations

from pydantic import BaseModel


class OutputModel(BaseModel):
    """Base of response bodies and the parts they are made of."""
