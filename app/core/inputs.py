"""The base of every request body and query model: the rules every text input obeys,
kept at one place so that no field and no later domain can forget them."""

from __future__ import annotations

from pydantic import BaseModel


class InputModel(BaseModel):
    """Base of request bodies, query models and the parts they are made of."""
