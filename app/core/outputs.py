"""The base of every response model: how responses are described to clients."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class OutputModel(BaseModel):
    """Base of response bodies and the parts they are made of.

    A field with a default is still always present in a response (FastAPI serialises
    every field), so the response schema lists it as required: a strict client (a
    generated TypeScript one) need not test for `undefined`. Validation of models built
    by the server is unchanged."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)
